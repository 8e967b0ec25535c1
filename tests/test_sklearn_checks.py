"""scikit-learn's own estimator checks, on the defaults and with chainrule's options set."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from chainrule import functional as F
from chainrule.nn import LeakyReLU
from chainrule.sklearn import MLPClassifier, MLPRegressor


def softsign(net):
    """A custom activation written with chainrule's operations: net / (1 + |net|)."""
    return net / (1 + F.abs(net))


ESTIMATORS = [
    MLPClassifier(),
    MLPRegressor(),
    MLPClassifier(hidden_layer_sizes=(30, 20), activation=["tanh", LeakyReLU(0.1)], output_activation="softmax",
                  loss="squared_error", dropout=0.1, l1=1e-4, dtype="float64", learning_rate_init=0.01),
    MLPRegressor(hidden_layer_sizes=(30, 20), activation=["elu", "softplus"], loss="mse", dropout=0.05, l1=1e-4,
                 output_activation="tanh"),
    MLPClassifier(hidden_layer_sizes=(10,), activation=softsign),
]


def expected_failures(estimator):
    """Checks that cannot pass by design, with the reason."""
    if estimator.dropout == 0:
        return {}
    reason = ("dropout draws one mask row per sample, so a sample repeated k times gets k masks where a weight "
              "of k gets one")
    return {"check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason}


@pytest.fixture(autouse=True)
def quiet_underflow():
    # scikit-learn's checks compute their own figures (and warnings) with plain NumPy settings.
    with np.errstate(under="ignore"):
        yield


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
