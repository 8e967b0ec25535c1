"""Drop-in scikit-learn estimators: ``MLPClassifier`` and ``MLPRegressor`` trained by chainrule.

They take scikit-learn's parameters and give its fitted attributes; with the same
``random_state`` they draw the same initial weights and batches and make the same
updates, so ``coefs_`` match scikit-learn's to rounding. Fitted attributes set by hand
(``coefs_``, ``intercepts_``, ``out_activation_``, ...) are where ``partial_fit`` and
``warm_start`` continue from, and the solver state is under scikit-learn's names
(``_optimizer``, ``_backprop``, ``_loss_grad_lbfgs``, ...). The network is a chainrule
:class:`~chainrule.nn.MLP` (``model_``, sharing the arrays of ``coefs_``) trained with
:func:`chainrule.train.loss_and_grad_fn` and :mod:`chainrule.optim`. Beyond scikit-learn (all
opt-in): per-layer activations, output activation and loss, dropout, L1, validation loss
curve, callbacks, progress, dtype.

Importing this module imports scikit-learn and SciPy; ``import chainrule`` does not.
"""

from chainrule.sklearn._config import EstimatorParameterError
from chainrule.sklearn._estimators import MLPClassifier, MLPRegressor
from chainrule.sklearn._optimizers import SklearnAdam, SklearnSGD

__all__ = ["MLPClassifier", "MLPRegressor", "SklearnAdam", "SklearnSGD", "EstimatorParameterError"]
