"""The training loop, callbacks and metrics, against PyTorch loops and scikit-learn's metrics."""

from __future__ import annotations

import io
import signal
import sys
import types
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import metrics, optim
from chainrule.callbacks import EarlyStopping, LambdaCallback, PrintProgress, RichProgress
from chainrule.errors import ConfigError, DataError
from chainrule.train import fit, loss_and_grad_fn, resolve_loss

torch = pytest.importorskip("torch")


def blobs(n=120, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 > 0.3).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return x.astype(dtype), y


def weights(net):
    return [p.data.copy() for p in net.parameters()]


def torch_copy(net):
    """The same MLP in PyTorch (float64); our weight (n_in, n_out) is PyTorch's weight.T."""
    layers = []
    for linear, act in net.layers():
        t = torch.nn.Linear(linear.n_in, linear.n_out).double()
        with torch.no_grad():
            t.weight.copy_(torch.tensor(linear.weight.data.T))
            t.bias.copy_(torch.tensor(linear.bias.data))
        layers.append(t)
        if act is not None and act.name == "tanh":
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


# ------------------------------------------------------------------ loss_and_grad_fn
@pytest.mark.parametrize("path", ["plan", "graph"])
def test_loss_and_grad_matches_pytorch_and_replaces_grads(path):
    x, y = blobs(20)
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=20)
    net = cr.MLP([3, 6, 3], activation="tanh", seed=0)
    if path == "plan":
        f = loss_and_grad_fn(net, "cross_entropy_with_logits")
    else:  # a loss function of the user's own cannot be captured: backward() through the graph
        f = loss_and_grad_fn(net, lambda out, t, sw=None: cr.losses.cross_entropy_with_logits(out, t, sw))
        assert f.plan is None
    first = f(x, y, w)
    grads = [p.grad.copy() for p in net.parameters()]
    second = f(x, y, w)  # a second call replaces the gradients, it does not add to them
    assert second == first
    tnet = torch_copy(net)
    per_sample = torch.nn.functional.cross_entropy(tnet(torch.tensor(x)), torch.tensor(y), reduction="none")
    tw = torch.tensor(w)
    loss = (per_sample * tw).sum() / tw.sum()
    loss.backward()
    assert first == pytest.approx(loss.item(), rel=1e-12)
    tgrads = [tnet[0].weight.grad.T, tnet[0].bias.grad, tnet[2].weight.grad.T, tnet[2].bias.grad]
    for ours, theirs, g0 in zip(net.parameters(), tgrads, grads):
        np.testing.assert_allclose(ours.grad, theirs.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_array_equal(ours.grad, g0)


def test_loss_and_grad_uses_a_plan_when_plan_module_offers_one(monkeypatch):
    calls = []

    class FakePlan:
        def loss_and_grad(self, x, target, sample_weight=None):
            calls.append(x.shape)
            return 1.5

    fake = types.ModuleType("chainrule.plan")
    fake.compile_plan = lambda model, loss: FakePlan() if loss == "mse" else None
    monkeypatch.setitem(sys.modules, "chainrule.plan", fake)
    net = cr.MLP([3, 2], seed=0)
    f = loss_and_grad_fn(net, cr.losses.mse)  # a built-in loss reaches compile_plan by name
    assert isinstance(f.plan, FakePlan) and f(np.zeros((4, 3)), np.zeros((4, 2))) == 1.5 and calls == [(4, 3)]
    g = loss_and_grad_fn(net, "half_squared_error")  # compile_plan declines: the graph path
    assert g.plan is None
    assert g(np.ones((2, 3)), np.zeros((2, 2))) > 0 and net[0].weight.grad is not None


# ------------------------------------------------------------------ fit against a PyTorch loop
def test_fit_matches_a_pytorch_loop_with_the_same_batches():
    x, y = blobs(50)
    target = np.stack([np.sin(x[:, 0]), x[:, 1] * x[:, 2]], axis=1)
    net = cr.MLP([3, 5, 2], activation="tanh", seed=3)
    tnet = torch_copy(net)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(7)  # fit's documented batching: one permutation per epoch from default_rng(seed)
    for _ in range(3):
        order = rng.permutation(50)
        for lo in range(0, 50, 16):
            idx = order[lo:lo + 16]
            topt.zero_grad()
            torch.nn.functional.mse_loss(tnet(torch.tensor(x[idx])), torch.tensor(target[idx])).backward()
            topt.step()
    history = fit(net, x, target, loss="mse", optimizer=optim.SGD(net, lr=0.05, momentum=0.9), epochs=3,
                  batch_size=16, seed=7, progress=False)
    assert history.epochs == 3 and history.stop_reason == "completed"
    theirs = [tnet[0].weight.T, tnet[0].bias, tnet[2].weight.T, tnet[2].bias]
    for ours, t in zip(net.parameters(), theirs):
        np.testing.assert_allclose(ours.data, t.detach().numpy(), rtol=1e-10, atol=1e-13)


def test_same_seed_gives_bit_identical_weights_and_another_seed_does_not():
    x, y = blobs()
    runs = []
    for seed in (5, 5, 6):
        net = cr.MLP([3, 8, 3], activation="relu", seed=0)
        fit(net, x, y, epochs=3, batch_size=10, seed=seed, progress=False)
        runs.append(weights(net))
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(runs[0], runs[2]))


def test_float32_stays_float32():
    x, y = blobs(dtype=np.float64)
    net = cr.MLP([3, 8, 3], activation="tanh", seed=0, dtype=np.float32)
    history = fit(net, x, y, epochs=2, seed=0, progress=False, validation_split=0.25, metrics=["accuracy"])
    assert all(p.data.dtype == np.float32 and p.grad.dtype == np.float32 for p in net.parameters())
    assert metrics.predict(net, x).dtype == np.float32
    assert np.isfinite(history.loss).all() and len(history["val_accuracy"]) == 2


def test_sample_weight_two_equals_a_duplicated_sample():
    x, y = blobs(30)
    w = np.ones(30)
    w[:5] = 2.0
    a = cr.MLP([3, 4, 3], activation="tanh", seed=1)
    b = cr.MLP([3, 4, 3], activation="tanh", seed=1)
    fit(a, x, y, optimizer="sgd", lr=0.3, epochs=4, batch_size=30, shuffle=False, sample_weight=w, progress=False)
    fit(b, np.r_[x, x[:5]], np.r_[y, y[:5]], optimizer="sgd", lr=0.3, epochs=4, batch_size=35, shuffle=False,
        progress=False)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12, atol=1e-14)


def test_validation_split_holds_out_the_last_rows():
    x, y = blobs(100)
    net = cr.MLP([3, 6, 3], activation="tanh", seed=0)
    history = fit(net, x, y, epochs=2, validation_split=0.2, metrics=("accuracy",), seed=0, progress=False)
    held_out = cr.evaluate(net, x[80:], y[80:], loss="cross_entropy_with_logits")
    assert history["val_loss"][-1] == pytest.approx(held_out["loss"], rel=1e-12)
    assert history["val_accuracy"][-1] == held_out["accuracy"]
    assert set(history.history) == {"loss", "val_loss", "val_accuracy", "lr"} and len(history.epoch_time) == 2


def test_clip_norm_limits_the_step():
    x, y = blobs(40)
    net = cr.MLP([3, 3], seed=0)
    before = np.concatenate([w.ravel() for w in weights(net)])
    fit(net, x, np.eye(3)[y] * 50.0, loss="mse", optimizer="sgd", lr=1.0, epochs=1, batch_size=40, clip_norm=0.1,
        progress=False)
    step = np.concatenate([w.ravel() for w in weights(net)]) - before
    assert np.linalg.norm(step) == pytest.approx(0.1, rel=1e-5)


def test_lr_schedule_sets_each_epochs_lr():
    x, y = blobs(40)
    net = cr.MLP([3, 3], seed=0)
    history = fit(net, x, y, optimizer="sgd", lr=0.1, epochs=5, lr_schedule=optim.StepDecay(2, gamma=0.5),
                  progress=False)
    np.testing.assert_allclose(history["lr"], [0.1, 0.1, 0.05, 0.05, 0.025], rtol=1e-15)


def test_adaptive_schedule_stops_when_it_runs_out():
    x, y = blobs(40)
    net = cr.MLP([3, 3], seed=0)
    schedule = optim.Adaptive(tol=1e9, patience=0, min_lr=1e-3)  # nothing counts as improvement
    history = fit(net, x, y, optimizer="sgd", lr=0.1, epochs=50, lr_schedule=schedule, progress=False)
    assert history.stop_reason == "schedule" and history.epochs < 10
    assert history["lr"][:4] == pytest.approx([0.1, 0.1, 0.02, 0.004])  # the first epoch sets the best loss


# ------------------------------------------------------------------ stopping
def test_early_stopping_restores_the_best_epoch():
    x, y = blobs(60)
    net = cr.MLP([3, 16, 3], activation="relu", seed=0)
    seen = []
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((logs["val_loss"], weights(net))))
    history = fit(net, x, y, optimizer="sgd", lr=2.0, epochs=40, seed=0, validation_split=0.3,
                  early_stopping=EarlyStopping(patience=2), callbacks=[record], progress=False)
    assert history.stop_reason == "early_stopping" and "val_loss" in history.message
    best = int(np.argmin([v for v, _ in seen]))
    assert best < len(seen) - 1
    for ours, kept in zip(weights(net), seen[best][1]):
        np.testing.assert_array_equal(ours, kept)


def test_a_callback_can_stop_training():
    x, y = blobs(40)
    history = fit(cr.MLP([3, 3], seed=0), x, y, epochs=9, progress=False,
                  callbacks=[LambdaCallback(on_epoch_end=lambda epoch, logs: epoch == 2)])
    assert history.epochs == 3 and history.stop_reason == "callback"


def _stop_at(batch_to_stop, how):
    def on_batch_end(batch, logs):
        if batch == batch_to_stop:
            if how == "signal":
                signal.raise_signal(signal.SIGINT)
            else:
                return True
        return None
    return LambdaCallback(on_batch_end=on_batch_end)


def test_ctrl_c_stops_at_a_batch_boundary_and_returns_a_usable_model():
    x, y = blobs(100)
    before = signal.getsignal(signal.SIGINT)
    a = cr.MLP([3, 5, 3], activation="tanh", seed=0)
    history = fit(a, x, y, epochs=3, batch_size=10, seed=1, progress=False, callbacks=[_stop_at(3, "signal")])
    assert signal.getsignal(signal.SIGINT) is before
    assert history.stop_reason == "interrupted" and "4 of 10 batches" in history.message
    assert history.epochs == 0
    b = cr.MLP([3, 5, 3], activation="tanh", seed=0)
    fit(b, x, y, epochs=3, batch_size=10, seed=1, progress=False, callbacks=[_stop_at(3, "return")])
    for p, q in zip(a.parameters(), b.parameters()):  # exactly four whole steps happened
        np.testing.assert_array_equal(p.data, q.data)
    assert np.isfinite(cr.predict(a, x)).all()


def test_keyboard_interrupt_raised_inside_training_is_caught():
    def interrupt(batch, logs):
        raise KeyboardInterrupt

    x, y = blobs(40)
    history = fit(cr.MLP([3, 3], seed=0), x, y, epochs=2, progress=False,
                  callbacks=[LambdaCallback(on_batch_end=interrupt)])
    assert history.stop_reason == "interrupted"


@pytest.mark.parametrize("strict", [True, False])
def test_divergence_stops_and_restores_finite_weights(strict):
    x, y = blobs(60)
    net = cr.MLP([3, 8, 3], activation="relu", seed=0)
    starts = []
    grab = LambdaCallback(on_epoch_begin=lambda epoch: starts.append(weights(net)))
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="raise" if strict else "ignore"):
        warnings.simplefilter("always")
        history = fit(net, x, np.eye(3)[y] * 1e6, loss="mse", optimizer="sgd", lr=10.0, epochs=20, batch_size=6,
                      callbacks=[grab], progress=False)
    assert history.stop_reason == "non_finite"
    assert any(issubclass(w.category, RuntimeWarning) and "learning rate" in str(w.message) for w in caught)
    assert all(np.isfinite(p.data).all() for p in net.parameters())
    for ours, kept in zip(weights(net), starts[-1]):
        np.testing.assert_array_equal(ours, kept)


# ------------------------------------------------------------------ progress
def test_progress_plain_lines_when_not_a_terminal(capsys):
    x, y = blobs(40)
    fit(cr.MLP([3, 3], seed=0), x, y, epochs=2, progress=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2: loss ")
    fit(cr.MLP([3, 3], seed=0), x, y, epochs=2, progress=False)
    assert capsys.readouterr().out == ""


def test_rich_progress_on_a_terminal():
    rich_console = pytest.importorskip("rich.console")
    out = io.StringIO()
    x, y = blobs(40)
    progress = RichProgress(rich_console.Console(file=out, force_terminal=True, width=100))
    fit(cr.MLP([3, 3], seed=0), x, y, epochs=2, progress=False, callbacks=[progress])
    assert "epoch 2/2: loss" in out.getvalue()


def test_print_progress_reports_the_stop():
    out = io.StringIO()
    x, y = blobs(40)
    fit(cr.MLP([3, 3], seed=0), x, y, epochs=5, progress=False,
        callbacks=[PrintProgress(out), LambdaCallback(on_epoch_end=lambda e, logs: True)])
    assert "stopped (callback)" in out.getvalue()


# ------------------------------------------------------------------ inputs
@pytest.mark.parametrize("call,error", [
    (lambda net, x, y: fit(net, np.where(x > 1, np.nan, x), y, progress=False), DataError),
    (lambda net, x, y: fit(net, x[:, 0], y, progress=False), DataError),
    (lambda net, x, y: fit(net, x, y[:-1], progress=False), DataError),
    (lambda net, x, y: fit(net, x, np.where(x > 1, np.inf, x), loss="mse", progress=False), DataError),
    (lambda net, x, y: fit(net, [[0.0, 1.0, 2.0], [1.0, 2.0]], [0, 1], progress=False), DataError),
    (lambda net, x, y: fit(net, x, y, optimizer="lbfgs", progress=False), ConfigError),
    (lambda net, x, y: fit(net, x, y, validation_split=0.2, validation_data=(x, y), progress=False), ConfigError),
    (lambda net, x, y: fit(net, x, y, optimizer=optim.SGD(cr.MLP([3, 3]).parameters()), progress=False),
     ConfigError),
    (lambda net, x, y: fit(net, x, y, batch_size=0, progress=False), ConfigError),
    (lambda net, x, y: fit(net, x, y, early_stopping="yes", progress=False), ConfigError),
])
def test_bad_input_is_refused(call, error):
    x, y = blobs(20)
    with pytest.raises(error):
        call(cr.MLP([3, 3], seed=0), x, y)


def test_auto_loss():
    y_int = np.array([0, 1, 2])
    assert resolve_loss(cr.MLP([2, 3], output_activation="softmax"), "auto", y_int) == "cross_entropy"
    assert resolve_loss(cr.MLP([2, 1], output_activation="sigmoid"), "auto", y_int) == "binary_cross_entropy"
    assert resolve_loss(cr.MLP([2, 3]), "auto", y_int) == "cross_entropy_with_logits"
    assert resolve_loss(cr.MLP([2, 3]), "auto", np.zeros((3, 3))) == "mse"


# ------------------------------------------------------------------ predict, evaluate, metrics
def test_predict_and_evaluate():
    x, y = blobs(50)
    net = cr.MLP([3, 4, 3], activation="tanh", output_activation="softmax", seed=0)
    out = cr.predict(net, x, batch_size=7)
    with cr.no_grad():
        np.testing.assert_allclose(out, net(x).data, rtol=1e-14)
    assert net.training
    result = cr.evaluate(net, x, y, metrics=("accuracy", "top2_accuracy"))
    assert result["accuracy"] == np.mean(out.argmax(1) == y)
    assert result["loss"] == pytest.approx(-np.mean(np.log(out[np.arange(50), y])), rel=1e-12)
    with pytest.raises(DataError, match="regression"):
        cr.evaluate(cr.MLP([3, 1]), x, x[:, 0] * 0.3)


def test_metrics_match_scikit_learn():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=200)
    scores = rng.normal(size=(200, 4))
    weights_ = rng.uniform(0.1, 2, size=200)
    assert metrics.accuracy(labels, scores) == pytest.approx(skm.accuracy_score(labels, scores.argmax(1)))
    assert metrics.accuracy(np.eye(4)[labels], scores, sample_weight=weights_) == pytest.approx(
        skm.accuracy_score(labels, scores.argmax(1), sample_weight=weights_))
    for k in (1, 2, 3):
        assert metrics.top_k_accuracy(labels, scores, k=k) == pytest.approx(
            skm.top_k_accuracy_score(labels, scores, k=k, labels=range(4)))
    np.testing.assert_array_equal(metrics.confusion_matrix(labels, scores, n_classes=4),
                                  skm.confusion_matrix(labels, scores.argmax(1), labels=range(4)))
    binary = rng.integers(0, 2, size=200)
    probs = rng.uniform(size=200)
    assert metrics.accuracy(binary, probs) == pytest.approx(skm.accuracy_score(binary, probs > 0.5))
    truth, pred = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    assert metrics.mean_squared_error(truth, pred, weights_) == pytest.approx(
        skm.mean_squared_error(truth, pred, sample_weight=weights_), rel=1e-12)
    assert metrics.r2(truth, pred, weights_) == pytest.approx(skm.r2_score(truth, pred, sample_weight=weights_),
                                                             rel=1e-12)
    constant = np.c_[np.ones(200), truth[:, 0]]
    assert metrics.r2(constant, np.c_[np.zeros(200), pred[:, 0]]) == pytest.approx(
        skm.r2_score(constant, np.c_[np.zeros(200), pred[:, 0]]), rel=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_the_estimators_stop_at_a_batch_boundary_on_ctrl_c_as_fit_does(solver):
    from chainrule.sklearn import MLPClassifier

    x, y = blobs(100)
    params = dict(hidden_layer_sizes=(5,), solver=solver, batch_size=10, max_iter=3, random_state=0)
    before = signal.getsignal(signal.SIGINT)
    start = {}
    remember = LambdaCallback(on_train_begin=lambda state: start.update(state.model.state_dict()))
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        a = MLPClassifier(callbacks=[remember, _stop_at(3, "signal")], **params).fit(x, y)
    assert signal.getsignal(signal.SIGINT) is before
    b = MLPClassifier(callbacks=[_stop_at(3, "return")], **params).fit(x, y)
    assert a.n_iter_ == b.n_iter_ == 0 and a.loss_curve_ == b.loss_curve_ == []
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(p, q)  # the same four whole steps in both
    assert not np.array_equal(a.coefs_[0], start["0.weight"])  # and steps were taken
    assert np.isfinite(a.predict_proba(x)).all()


def test_fit_and_the_estimators_run_the_same_epoch_loop(monkeypatch):
    import chainrule.epochs
    from chainrule.sklearn import MLPRegressor

    policies = []
    run = chainrule.epochs.run_epochs

    def recorded(state, policy):
        policies.append(type(policy).__name__)
        return run(state, policy)

    monkeypatch.setattr(chainrule.train, "run_epochs", recorded)
    monkeypatch.setattr(chainrule.sklearn._stochastic, "run_epochs", recorded)
    x, y = blobs(40)
    fit(cr.MLP([3, 3], seed=0), x, y, epochs=1, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPRegressor(hidden_layer_sizes=(3,), max_iter=1, random_state=0).fit(x, y.astype(float))
    assert policies == ["_FitPolicy", "_SklearnPolicy"]
