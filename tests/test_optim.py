"""Optimizers and schedules against PyTorch (float64) and scikit-learn's own code."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.errors import ConfigError, ShapeError

torch = pytest.importorskip("torch")

SHAPES = [(4, 3), (3,), (2, 5)]


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def run_pair(ours_cls, torch_cls, kwargs, torch_kwargs=None, steps=7, lr_changes=None, seed=0, skip=None):
    """Drive ours and PyTorch's optimizer with the same random gradients; compare after every step."""
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=s) for s in SHAPES]
    ours = [cr.Parameter(w.copy()) for w in start]
    theirs = [torch.tensor(w.copy(), dtype=torch.float64, requires_grad=True) for w in start]
    opt = ours_cls(ours, **kwargs)
    topt = torch_cls(theirs, **(torch_kwargs or kwargs))
    for t in range(steps):
        if lr_changes and t in lr_changes:
            opt.lr = lr_changes[t]
            for group in topt.param_groups:
                group["lr"] = lr_changes[t]
        for i, (p, q) in enumerate(zip(ours, theirs)):
            if skip and (t, i) in skip:  # a parameter without a gradient this step
                p.grad, q.grad = None, None
                continue
            g = rng.normal(size=p.shape) * rng.uniform(0.1, 3.0)
            p.grad = g.copy()
            q.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        topt.step()
        for p, q in zip(ours, theirs):
            assert rel_error(p.data, q.detach().numpy()) < 1e-12, (ours_cls.__name__, kwargs, t)
    return opt


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.05, momentum=0.9, weight_decay=0.01),
    dict(lr=0.02, momentum=0.5, nesterov=True, weight_decay=0.1),
]


@pytest.mark.parametrize("kwargs", SGD_CASES)
def test_sgd_matches_pytorch(kwargs):
    run_pair(optim.SGD, torch.optim.SGD, kwargs, lr_changes={3: 0.2, 5: 0.01})


ADAM_CASES = [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.02, weight_decay=0.05, amsgrad=True),
]


@pytest.mark.parametrize("kwargs", ADAM_CASES)
def test_adam_matches_pytorch(kwargs):
    run_pair(optim.Adam, torch.optim.Adam, kwargs, torch_kwargs={**kwargs, "foreach": False},
             lr_changes={4: 0.003}, skip={(2, 1), (3, 1)})


@pytest.mark.parametrize("kwargs", [dict(), dict(lr=0.01, weight_decay=0.3), dict(lr=0.01, amsgrad=True)])
def test_adamw_matches_pytorch(kwargs):
    run_pair(optim.AdamW, torch.optim.AdamW, kwargs, torch_kwargs={**kwargs, "foreach": False},
             lr_changes={4: 0.003})


@pytest.mark.parametrize("kwargs", [
    dict(), dict(lr=0.003, alpha=0.9), dict(lr=0.003, momentum=0.9), dict(lr=0.003, centered=True),
    dict(lr=0.003, centered=True, momentum=0.5, weight_decay=0.1, eps=1e-4),
])
def test_rmsprop_matches_pytorch(kwargs):
    run_pair(optim.RMSprop, torch.optim.RMSprop, kwargs, torch_kwargs={**kwargs, "foreach": False},
             lr_changes={4: 0.001}, skip={(1, 0)})


@pytest.mark.parametrize("kwargs", [
    dict(), dict(lr=0.1, lr_decay=0.05), dict(lr=0.1, weight_decay=0.2, initial_accumulator_value=0.3, eps=1e-6),
])
def test_adagrad_matches_pytorch(kwargs):
    run_pair(optim.Adagrad, torch.optim.Adagrad, kwargs, torch_kwargs={**kwargs, "foreach": False},
             lr_changes={4: 0.03}, skip={(2, 2)})


def test_defaults_match_pytorch():
    w = [cr.Parameter(np.zeros(2))]
    tw = [torch.zeros(2, requires_grad=True)]
    pairs = [(optim.SGD, torch.optim.SGD, {"lr": 0.01}), (optim.Adam, torch.optim.Adam, {}),
             (optim.AdamW, torch.optim.AdamW, {}), (optim.RMSprop, torch.optim.RMSprop, {}),
             (optim.Adagrad, torch.optim.Adagrad, {})]
    for ours_cls, torch_cls, extra in pairs:
        ours, theirs = ours_cls(w, **extra), torch_cls(tw, **extra).defaults
        assert ours.lr == theirs["lr"]
        for name, value in ours.hyper.items():
            if name in theirs:
                assert value == theirs[name], (ours_cls.__name__, name)
        if "betas" in theirs:
            assert ours.betas == tuple(theirs["betas"])


# ------------------------------------------------------------------ scikit-learn's momentum form
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_sklearn_form_matches_sklearn_optimizer(nesterov):
    so = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")
    rng = np.random.default_rng(1)
    start = [rng.normal(size=s) for s in SHAPES]
    ours = [cr.Parameter(w.copy()) for w in start]
    theirs = [w.copy() for w in start]
    opt = optim.SGD(ours, lr=0.1, momentum=0.9, nesterov=nesterov, momentum_form="sklearn")
    ref = so.SGDOptimizer(theirs, learning_rate_init=0.1, momentum=0.9, nesterov=nesterov)
    for t in range(8):
        if t in (3, 6):  # the forms differ only when eta changes: check we follow scikit-learn there too
            opt.lr = ref.learning_rate = 0.1 / (t + 1)
        grads = [rng.normal(size=s) for s in SHAPES]
        for p, g in zip(ours, grads):
            p.grad = g
        opt.step()
        ref.update_params(theirs, grads)
        for p, q in zip(ours, theirs):
            assert rel_error(p.data, q) < 1e-12


def test_sgd_forms_agree_at_constant_lr_and_differ_after_a_change():
    rng = np.random.default_rng(2)
    w0 = rng.normal(size=5)
    a, b = cr.Parameter(w0.copy()), cr.Parameter(w0.copy())
    oa = optim.SGD([a], lr=0.1, momentum=0.9, nesterov=True)
    ob = optim.SGD([b], lr=0.1, momentum=0.9, nesterov=True, momentum_form="sklearn")
    for _ in range(4):
        g = rng.normal(size=5)
        a.grad, b.grad = g, g.copy()
        oa.step()
        ob.step()
    assert rel_error(a.data, b.data) < 1e-12
    oa.lr = ob.lr = 0.01
    g = rng.normal(size=5)
    a.grad, b.grad = g, g.copy()
    oa.step()
    ob.step()
    assert rel_error(a.data, b.data) > 1e-6


def test_float32_parameters_stay_float32():
    w = cr.Parameter(np.ones(3, dtype=np.float32))
    opt = optim.Adam([w], lr=0.1)
    w.grad = np.ones(3, dtype=np.float32)
    opt.step()
    assert w.data.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[0].values() if isinstance(v, np.ndarray))


def test_step_skips_parameters_without_grad_and_updates_in_place():
    net = cr.MLP([2, 3, 1], seed=0)
    weight = net[0].weight
    buffer = weight.data
    opt = optim.SGD(net, lr=0.5)
    weight.grad = np.ones_like(buffer)
    before = net[2].weight.data.copy()
    opt.step()
    assert weight.data is buffer
    np.testing.assert_array_equal(net[2].weight.data, before)
    opt.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# ------------------------------------------------------------------ state
@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: optim.RMSprop(ps, centered=True, momentum=0.5),
    lambda ps: optim.Adagrad(ps, lr_decay=0.1),
])
def test_state_dict_round_trip_continues_identically(make):
    rng = np.random.default_rng(3)
    w0 = [rng.normal(size=s) for s in SHAPES]
    grads = [[rng.normal(size=s) for s in SHAPES] for _ in range(6)]
    a = [cr.Parameter(w.copy()) for w in w0]
    opt_a = make(a)
    for step in grads[:3]:
        for p, g in zip(a, step):
            p.grad = g
        opt_a.step()
    state = opt_a.state_dict()
    assert all(isinstance(v, (np.ndarray, int, float, str)) for v in state.values())
    b = [cr.Parameter(p.data.copy()) for p in a]
    opt_b = make(b)
    opt_b.load_state_dict(state)
    for step in grads[3:]:
        for p, q, g in zip(a, b, step):
            p.grad, q.grad = g, g.copy()
        opt_a.step()
        opt_b.step()
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)


def test_load_state_dict_refuses_mismatches():
    params = [cr.Parameter(np.zeros(3))]
    state = optim.Adam(params).state_dict()
    with pytest.raises(ConfigError, match="Adam"):
        optim.SGD(params).load_state_dict(state)
    opt = optim.SGD(params, momentum=0.9)
    params[0].grad = np.ones(3)
    opt.step()
    state = opt.state_dict()
    state["state.0.momentum_buffer"] = np.zeros(4)
    with pytest.raises(ShapeError, match="shape"):
        optim.SGD(params, momentum=0.9).load_state_dict(state)


@pytest.mark.parametrize("bad", [
    lambda: optim.SGD([], lr=0.1),
    lambda: optim.SGD([cr.Parameter([1.0])], lr=-1),
    lambda: optim.SGD([cr.Parameter([1.0])], nesterov=True),
    lambda: optim.Adam([cr.Parameter([1.0])], betas=(1.2, 0.9)),
    lambda: optim.SGD([np.zeros(2)]),
    lambda: optim.get_optimizer("lbfgs", [cr.Parameter([1.0])]),
])
def test_bad_settings_raise_config_error(bad):
    with pytest.raises(ConfigError):
        bad()


def test_get_optimizer_by_name():
    net = cr.MLP([2, 2], seed=0)
    opt = optim.get_optimizer("sgd", net, lr=0.3, momentum=0.9)
    assert isinstance(opt, optim.SGD) and opt.lr == 0.3 and opt.hyper["momentum"] == 0.9
    assert optim.get_optimizer("adam", net).lr == 1e-3


# ------------------------------------------------------------------ clipping
@pytest.mark.parametrize("max_norm,norm_type", [(0.5, 2.0), (100.0, 2.0), (0.5, math.inf), (1.0, 1.0)])
def test_clip_grad_norm_matches_pytorch(max_norm, norm_type):
    rng = np.random.default_rng(4)
    grads = [rng.normal(size=s) for s in SHAPES]
    ours = [cr.Parameter(np.zeros(s)) for s in SHAPES]
    theirs = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for p, q, g in zip(ours, theirs, grads):
        p.grad = g.copy()
        q.grad = torch.tensor(g)
    total = optim.clip_grad_norm(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert total == pytest.approx(float(expected), rel=1e-12)
    for p, q in zip(ours, theirs):
        assert rel_error(p.grad, q.grad.numpy()) < 1e-12


# ------------------------------------------------------------------ schedules
def _torch_lrs(make_scheduler, base_lr, epochs):
    p = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([p], lr=base_lr)
    scheduler = make_scheduler(topt)
    lrs = [topt.param_groups[0]["lr"]]
    for _ in range(epochs):
        topt.step()
        scheduler.step()
        lrs.append(topt.param_groups[0]["lr"])
    return lrs


@pytest.mark.parametrize("ours,theirs", [
    (lambda: optim.StepDecay(3, gamma=0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, gamma=0.5)),
    (lambda: optim.ExponentialDecay(0.9), lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9)),
    (lambda: optim.CosineAnnealing(10, eta_min=0.001),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, eta_min=0.001)),
    (lambda: optim.Constant(), lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1.0)),
])
def test_schedules_match_torch_lr_scheduler(ours, theirs):
    epochs = 25
    expected = _torch_lrs(theirs, 0.1, epochs)
    opt = optim.SGD([cr.Parameter([0.0])], lr=0.1)
    schedule = ours().bind(opt)
    got = [opt.lr]
    for _ in range(epochs):
        got.append(schedule.step(loss=1.0, n_samples=10))
        assert opt.lr == got[-1]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_invscaling_matches_sklearn_optimizer():
    so = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")
    ref = so.SGDOptimizer([np.zeros(1)], learning_rate_init=0.2, lr_schedule="invscaling", power_t=0.3)
    opt = optim.SGD([cr.Parameter([0.0])], lr=0.2)
    schedule = optim.InvScaling(power_t=0.3, optimizer=opt)
    seen = 0
    for n in (50, 50, 50, 17):  # scikit-learn's t_ counts samples, updated after each epoch
        seen += n
        ref.iteration_ends(seen)
        assert schedule.step(n_samples=n) == pytest.approx(ref.learning_rate, rel=1e-14)


def _sklearn_adaptive_lrs(losses, tol, n_iter_no_change, lr0):
    """scikit-learn's loop (_fit_stochastic + _update_no_improvement_count), driving its own SGDOptimizer."""
    so = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")
    ref = so.SGDOptimizer([np.zeros(1)], learning_rate_init=lr0, lr_schedule="adaptive")
    best, count, lrs = np.inf, 0, []
    for loss in losses:
        count = count + 1 if loss > best - tol else 0
        best = min(best, loss)
        stopped = False
        if count > n_iter_no_change:
            stopped = ref.trigger_stopping("", False)
            if not stopped:
                count = 0
        lrs.append((ref.learning_rate, stopped))
        if stopped:
            break
    return lrs


@pytest.mark.parametrize("patience", [1, 2, 10])
def test_adaptive_matches_sklearn(patience):
    rng = np.random.default_rng(5)
    losses = list(np.r_[np.linspace(1.0, 0.5, 5), 0.5 + rng.uniform(-1e-5, 1e-3, size=140)])
    expected = _sklearn_adaptive_lrs(losses, 1e-4, patience, 0.01)
    opt = optim.SGD([cr.Parameter([0.0])], lr=0.01)
    schedule = optim.Adaptive(tol=1e-4, patience=patience).bind(opt)
    got = []
    for loss in losses:
        lr = schedule.step(loss=loss)
        got.append((lr, schedule.stop_requested))
        if schedule.stop_requested:
            break
    assert len(got) == len(expected)
    np.testing.assert_allclose([g[0] for g in got], [e[0] for e in expected], rtol=1e-14)
    assert [g[1] for g in got] == [e[1] for e in expected]
    assert min(g[0] for g in got) < 0.01 / 5  # the plateau did divide eta


def test_schedule_state_round_trip():
    opt = optim.SGD([cr.Parameter([0.0])], lr=0.01)
    a = optim.Adaptive(patience=1).bind(opt)
    for loss in (1.0, 0.9, 0.9, 0.9, 0.9):
        a.step(loss=loss)
    opt2 = optim.SGD([cr.Parameter([0.0])], lr=0.5)
    b = optim.Adaptive(patience=1)
    b.load_state_dict(a.state_dict())
    b.bind(opt2)
    for loss in (0.9, 0.9, 0.8):
        assert a.step(loss=loss) == b.step(loss=loss)


def test_get_schedule():
    assert optim.get_schedule(None) is None
    assert isinstance(optim.get_schedule("cosine", epochs=20), optim.CosineAnnealing)
    assert optim.get_schedule("cosine", epochs=20).t_max == 20
    with pytest.raises(ConfigError, match="schedule"):
        optim.get_schedule("warmup")
    with pytest.raises(ConfigError, match="bind"):
        optim.Constant().step()


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.5), lambda ps: optim.SGD(ps, lr=0.5, momentum=0.9),
                                  lambda ps: optim.Adam(ps, lr=0.5)], ids=["plain SGD", "momentum", "Adam"])
def test_step_checks_gradients_and_follows_a_replaced_parameter(make):
    w = cr.Parameter(np.ones(3))
    opt = make([w])
    w.grad = [1.0, 2.0, 3.0]  # a list is taken as an array
    opt.step()
    assert w.data.shape == (3,) and np.all(w.data < 1)
    w.grad = np.ones(4)
    with pytest.raises(ShapeError, match=r"gradient of shape \(4,\) for a parameter of shape \(3,\)"):
        opt.step()
    if isinstance(opt, optim.SGD) and opt.hyper["momentum"] == 0:
        w.data = np.ones((2, 2), np.float32)  # replaced by an array of another shape and dtype
        w.grad = np.full((2, 2), 0.5, np.float32)
        opt.step()
        np.testing.assert_array_equal(w.data, np.full((2, 2), 0.75, np.float32))
        assert w.data.dtype == np.float32


def test_plain_sgd_step_equals_the_general_update():
    rng = np.random.default_rng(0)
    start, grad = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    fast, general = cr.Parameter(start.copy()), cr.Parameter(start.copy())
    plain = optim.SGD([fast], lr=0.1)
    reference = optim.SGD([general], lr=0.1)
    for _ in range(3):
        fast.grad, general.grad = grad, grad
        plain.step()
        optim.Optimizer.step(reference)  # the per-parameter _update path
    np.testing.assert_array_equal(fast.data, general.data)
    np.testing.assert_allclose(fast.data, start - 3 * 0.1 * grad, rtol=1e-14, atol=1e-15)
