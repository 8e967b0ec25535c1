"""Bad data into the scikit-learn drop-ins: a chainrule DataError carrying scikit-learn's own message.

scikit-learn's contract is a ``ValueError``; ``DataError`` is one, so code written for
``sklearn.neural_network.MLPClassifier`` keeps working. Each case runs the same call
on scikit-learn's estimator as the reference for the message.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from chainrule.errors import DataError

from .conftest import blobs

sk = pytest.importorskip("sklearn.neural_network")
crsk = pytest.importorskip("chainrule.sklearn")

SETTINGS = {"hidden_layer_sizes": (4,), "max_iter": 5, "random_state": 0}


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after five iterations
        return call()


def _with(x, index, value):
    x = np.array(x, dtype=np.float64)
    x[index] = value
    return x


X, Y = blobs()
CASES = {
    "nan-in-X": ("classifier", lambda est: est.fit(_with(X, (2, 1), np.nan), Y)),
    "inf-in-X": ("classifier", lambda est: est.fit(_with(X, (2, 1), np.inf), Y)),
    "nan-in-y": ("regressor", lambda est: est.fit(X, _with(Y, 4, np.nan))),
    "inf-in-y": ("regressor", lambda est: est.fit(X, _with(Y, 4, -np.inf))),
    "y-length": ("classifier", lambda est: est.fit(X, Y[:-1])),
    "empty": ("classifier", lambda est: est.fit(np.empty((0, 3)), np.empty(0))),
    "object-X": ("classifier", lambda est: est.fit(np.array([["a", 1.0, 2.0]] * 30, dtype=object), Y)),
    "word-X": ("regressor", lambda est: est.fit(np.array([["a", "b", "c"]] * 30), Y * 1.0)),
    "features-at-predict": ("classifier", lambda est: _quiet(lambda: est.fit(X, Y)).predict(X[:, :2])),
    "nan-at-predict": ("regressor", lambda est: _quiet(lambda: est.fit(X, Y * 1.0)).predict(_with(X, (0, 0), np.nan))),
    "unseen-label-at-partial-fit": ("classifier", lambda est: _quiet(
        lambda: est.partial_fit(X, Y, classes=[0, 1, 2])).partial_fit(X, np.where(Y == 2, 5, Y))),
    "partial-fit-without-classes": ("classifier", lambda est: est.partial_fit(X, Y)),
}


def _estimator(module, kind):
    cls = module.MLPClassifier if kind == "classifier" else module.MLPRegressor
    return cls(**SETTINGS)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_data_gives_scikit_learns_message_as_a_data_error(case):
    kind, call = CASES[case]
    with pytest.raises(ValueError) as reference:
        call(_estimator(sk, kind))
    with pytest.raises(DataError) as ours:
        call(_estimator(crsk, kind))
    assert str(ours.value) == str(reference.value)
    assert re.search(r"NaN|infinity|samples|sample\(s\)|float|features|classes", str(ours.value))


def test_a_single_class_is_learned_as_scikit_learn_does():
    ours = _quiet(lambda: crsk.MLPClassifier(**SETTINGS).fit(X, np.full(30, 7)))
    theirs = _quiet(lambda: sk.MLPClassifier(**SETTINGS).fit(X, np.full(30, 7)))
    np.testing.assert_array_equal(ours.classes_, [7])
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_array_equal(ours.predict(X), np.full(30, 7))


def test_divergence_is_refused_with_scikit_learns_message():
    def diverge(module):
        est = module.MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=1e6, max_iter=20,
                                  random_state=0)
        with np.errstate(all="ignore"):
            est.fit(X * 100, Y * 100.0)

    with pytest.raises(ValueError) as reference:
        _quiet(lambda: diverge(sk))
    with pytest.raises(DataError) as ours:
        _quiet(lambda: diverge(crsk))
    assert str(ours.value) == str(reference.value)
    assert "non-finite parameter weights" in str(ours.value)
