"""Where a chainrule training step spends its time, part by part, beside the NumPy loop's whole step.

Each part of :class:`chainrule.plan.Plan`'s step (its input checks, forward pass,
loss and output delta, backward pass) and the optimizer's update are timed on their
own, on one batch of the configuration, as the median of alternated repeats. ``fit``'s
own share is what one of its steps costs (an epoch's time over its steps) beyond those
parts. The parts are private methods of the plan: this is a measuring tool, not an API.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

import chainrule as cr
from benchmarks.configs import Config, build_model, loss_name, make_data
from benchmarks.peer_chainrule import ChainruleFit
from benchmarks.peer_numpy import NumPyLoop
from chainrule.plan import compile_plan

__all__ = ["profile_step", "profile_table"]


def _median_us(parts: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median microseconds per call of each part, the parts alternated, each repeat about 5 ms long."""
    inner = {}
    for name, fn in parts.items():
        start = time.perf_counter()
        fn()
        inner[name] = max(1, int(0.005 / max(time.perf_counter() - start, 1e-7)))
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(repeats):
        for name, fn in parts.items():
            start = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            times[name].append((time.perf_counter() - start) / inner[name] * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


def profile_step(config: Config, repeats: int = 15, seed: int = 0) -> dict[str, float]:
    """Microseconds per step of each part (learning rate 0, so repeating one batch changes nothing)."""
    data = make_data(config, seed)
    zero = Config(**{**config.__dict__, "lr": 0.0})
    model = build_model(config, seed)
    plan = compile_plan(model, loss_name(config))
    optimizer = cr.optim.SGD(model, lr=0.0)
    params = model.parameters()
    x, target = data.x[:config.batch], data.target[:config.batch]
    n = len(x)
    plan.loss_and_grad(x, target)
    bufs = plan._buffers(n)
    t = plan._targets(target, n, bufs)
    numpy_loop = NumPyLoop(zero, data, seed)
    numpy_step = (lambda: numpy_loop._mazur_epoch(x, target)) if config.task == "mazur" else \
        (lambda: numpy_loop._classify_epoch(x, target))

    def checks() -> None:
        xx, tt = plan._inputs(x, target)
        plan._targets(tt, n, plan._buffers(n).for_backward(plan._layers))

    def errstate() -> None:
        with np.errstate(under="ignore"):
            pass

    def bare_sgd() -> None:
        for p in params:
            np.subtract(p.data, np.multiply(p.grad, 0.0), out=p.data)

    with np.errstate(under="ignore"):
        parts = _median_us({
            "checks": checks, "errstate": errstate,
            "forward": lambda: plan._forward(x, bufs),
            "loss + output delta": lambda: plan._output_delta(bufs, t, None, n),
            "backward": lambda: plan._backward(x, bufs),
            "optimizer step": optimizer.step,
            "loss_and_grad (whole)": lambda: plan.loss_and_grad(x, target),
            "bare SGD update": bare_sgd,
            "NumPy loop step": numpy_step,
        }, repeats)
        fit = ChainruleFit(zero, data, seed)
        fit.epoch()
        epochs = []
        for _ in range(5):
            start = time.perf_counter()
            fit.epoch()
            epochs.append(time.perf_counter() - start)
    parts["fit, per step"] = statistics.median(epochs) / config.steps * 1e6
    return parts


def profile_table(config: Config) -> list[str]:
    """A Markdown table of :func:`profile_step` for ``config``."""
    parts = profile_step(config)
    plan_parts = ["checks", "errstate", "forward", "loss + output delta", "backward"]
    lines = [f"#### Step profile, {config.title}", "", "| part | microseconds per step |", "|---|---:|"]
    for name in plan_parts + ["loss_and_grad (whole)", "optimizer step", "bare SGD update",
                              "fit, per step", "NumPy loop step"]:
        lines.append(f"| {name} | {parts[name]:.1f} |")
    rest = parts["fit, per step"] - parts["loss_and_grad (whole)"] - parts["optimizer step"]
    lines += ["", f"fit beyond the plan and the optimizer (validation, shuffling, bookkeeping): {rest:.1f} us "
              f"per step; the optimizer beyond a bare update: "
              f"{parts['optimizer step'] - parts['bare SGD update']:.1f} us.", ""]
    return lines
