"""BLAS threads per fit: the rule, its overrides, and that fits really run under the chosen limit."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.callbacks import LambdaCallback
from chainrule.errors import ConfigError
from chainrule.threads import (
    ENV_VAR,
    SMALL_PRODUCT,
    available_cores,
    choose_threads,
    current_blas_threads,
    fit_threads,
    largest_product,
    layer_sizes_of,
)

threadpoolctl = pytest.importorskip("threadpoolctl")


def test_small_products_get_one_thread_and_big_ones_a_thread_per_share_of_work():
    assert largest_product([64, 128, 10], 200) == 200 * 64 * 128
    assert choose_threads([64, 128, 10], 200, environ={}).n == 1
    big = choose_threads([1024, 2048, 10], 512, environ={})
    assert big.n == min(available_cores(), 512 * 1024 * 2048 // SMALL_PRODUCT)
    assert choose_threads([2, 3], 1, requested=-1, environ={}).n == available_cores()


def test_the_parameter_beats_the_environment_which_beats_the_rule():
    env = {ENV_VAR: "3"}
    assert choose_threads([64, 128, 10], 200, environ=env) == choose_threads([2, 2], 1, requested=None, environ=env)
    assert choose_threads([64, 128, 10], 200, environ=env).n == 3
    assert choose_threads([64, 128, 10], 200, requested=2, environ=env).n == 2
    for bad in (0, -2, 1.5, "two", True):
        with pytest.raises(ConfigError, match="integer >= 1, or -1"):
            choose_threads([2, 2], 1, requested=bad, environ={})
    with pytest.raises(ConfigError, match=ENV_VAR):
        choose_threads([2, 2], 1, environ={ENV_VAR: "many"})


def test_fit_threads_limits_blas_inside_and_restores_it_after(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    before = current_blas_threads()
    with fit_threads([64, 128, 10], 200) as choice:
        assert choice.n == 1 and current_blas_threads() == 1
    assert current_blas_threads() == before
    with threadpoolctl.threadpool_limits(1, user_api="blas"), fit_threads([4096, 4096], 4096) as choice:
        assert choice.n == 1 and "already limited" in choice.reason  # an outer limit is respected


def _threads_seen_by_fit(**kw):
    seen = []
    watch = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(current_blas_threads()))
    net = cr.MLP([4, 8, 2], activation="tanh", seed=0)
    x = np.random.default_rng(0).normal(size=(40, 4))
    cr.fit(net, x, x[:, :2], loss="mse", optimizer="sgd", lr=0.1, epochs=2, batch_size=8, seed=0,
           callbacks=[watch], progress=False, **kw)
    return seen


def test_chainrule_fit_runs_small_products_on_one_thread_unless_the_environment_says(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert _threads_seen_by_fit() == [1, 1]
    default = current_blas_threads()
    monkeypatch.setenv(ENV_VAR, str(default))
    assert _threads_seen_by_fit() == [default, default]


def test_estimators_take_n_threads(monkeypatch):
    from sklearn.datasets import make_classification

    from chainrule.sklearn import MLPClassifier

    monkeypatch.delenv(ENV_VAR, raising=False)
    x, y = make_classification(60, 5, random_state=0)
    seen = []
    watch = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(current_blas_threads()))
    auto = MLPClassifier((8,), max_iter=2, random_state=0, callbacks=[watch]).fit(x, y)
    assert auto.n_threads_ == 1 and seen == [1, 1]
    default = current_blas_threads()
    seen.clear()
    forced = MLPClassifier((8,), max_iter=2, random_state=0, n_threads=default, callbacks=[watch]).fit(x, y)
    assert forced.n_threads_ == default and seen == [default, default]
    np.testing.assert_allclose(forced.coefs_[0], auto.coefs_[0], rtol=0, atol=1e-12)
    assert layer_sizes_of(auto.model_) == [5, 8, 1]
    with pytest.raises(ConfigError, match="n_threads"):
        MLPClassifier(n_threads=0).fit(x, y)
