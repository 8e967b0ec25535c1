"""The 'lbfgs' solver: scipy's L-BFGS-B on the whole training set.

L-BFGS-B minimises E(w) over the vector w of every weight and bias (all weight
matrices first, then all bias vectors, as scikit-learn packs them), asking for
E(w) and dE/dw, which one forward and backward pass over all samples gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.sklearn._network import BatchLoss, pack, unpack


def fit_lbfgs(est: Any, x: Any, y: np.ndarray, sample_weight: np.ndarray | None, batch_loss: BatchLoss) -> None:
    """Train the network with L-BFGS-B; sets ``n_iter_`` and ``loss_``, warns when it does not converge.

    x: (n_samples, n_features) in the model's dtype (sparse input is made dense
    once); y: (n_samples, n_outputs) encoded targets.
    """
    import scipy.optimize
    from sklearn.utils.optimize import _check_optimize_result

    model = batch_loss.model
    est._set_indptr(list(model.sizes))
    x = x.toarray() if hasattr(x, "toarray") else x

    def loss_and_grad(vector: np.ndarray) -> tuple[float, np.ndarray]:
        unpack(model, vector)
        value = batch_loss(x, y, sample_weight)
        return value, pack(model, grads=True)

    model.train()
    try:
        result = scipy.optimize.minimize(
            loss_and_grad, pack(model), method="L-BFGS-B", jac=True,
            options={"maxfun": est.max_fun, "maxiter": est.max_iter, "gtol": est.tol},
        )
    finally:
        model.eval()
    est.n_iter_ = _check_optimize_result("lbfgs", result, est.max_iter)
    est.loss_ = float(result.fun)
    est._unpack(result.x)  # as scikit-learn: coefs_ and intercepts_ become views of the optimum
