"""Finite-difference checks of backpropagation.

:func:`gradcheck` compares every parameter element's backprop gradient with the
central difference

    dE/dw ~ (E(w + eps) - E(w - eps)) / (2 eps),

whose error is O(eps^2). :func:`check_vjp` checks a whole vector-Jacobian product at
once with the random-direction identity <v, J^T u> = <J v, u>, where J v is itself a
central difference along v: cheap for large ops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.errors import GradcheckError, ShapeError
from chainrule.nn import parameters_of
from chainrule.tensor import Tensor, no_grad

__all__ = ["gradcheck", "GradcheckReport", "GradcheckRow", "check_vjp"]


@dataclass(frozen=True)
class GradcheckRow:
    """One checked element: its name, backprop's and the finite difference's values."""

    name: str
    index: tuple[int, ...]
    backprop: float
    numeric: float

    @property
    def abs_error(self) -> float:
        return abs(self.backprop - self.numeric)

    @property
    def rel_error(self) -> float:
        scale = max(abs(self.backprop), abs(self.numeric))
        return self.abs_error / scale if scale > 0 else 0.0

    @property
    def label(self) -> str:
        return f"{self.name}[{', '.join(map(str, self.index))}]" if self.index else self.name


@dataclass
class GradcheckReport:
    """The outcome of :func:`gradcheck`.

    ``passed`` is True when every element satisfies
    |backprop - numeric| <= atol + rtol * |numeric|.
    """

    rows: list[GradcheckRow] = field(default_factory=list)
    rtol: float = 1e-5
    atol: float = 1e-8

    @property
    def max_abs_error(self) -> float:
        return max((r.abs_error for r in self.rows), default=0.0)

    @property
    def max_rel_error(self) -> float:
        return max((r.rel_error for r in self.rows), default=0.0)

    @property
    def worst(self) -> GradcheckRow | None:
        """The element furthest outside (or closest to) the tolerance."""
        return max(self.rows, key=self._excess, default=None)

    def _excess(self, row: GradcheckRow) -> float:
        return row.abs_error - (self.atol + self.rtol * abs(row.numeric))

    @property
    def passed(self) -> bool:
        return all(self._excess(r) <= 0 for r in self.rows)

    @property
    def failures(self) -> list[GradcheckRow]:
        return [r for r in self.rows if self._excess(r) > 0]

    def __str__(self) -> str:
        worst = self.worst
        where = (f"; worst {worst.label}: backprop {worst.backprop:.10g} vs numeric {worst.numeric:.10g}"
                 if worst else "")
        verdict = "passed" if self.passed else f"FAILED on {len(self.failures)} of {len(self.rows)} elements"
        return (f"gradcheck {verdict}: {len(self.rows)} elements, max abs error {self.max_abs_error:.3g}, "
                f"max rel error {self.max_rel_error:.3g}{where}")


def _default_eps(dtype: np.dtype) -> float:
    return 1e-6 if dtype == np.float64 else 1e-2


def gradcheck(fn: Callable[[], Tensor], params: Any, *, eps: float | None = None, rtol: float = 1e-5,
              atol: float = 1e-8, max_elements: int | None = 200, seed: int = 0,
              raise_on_failure: bool = True) -> GradcheckReport:
    """Compare backprop with central finite differences for every parameter element.

    Parameters
    ----------
    fn : callable
        ``fn()`` recomputes the scalar loss E from the current parameter values.
    params : Module, dict of Tensor, or sequence of Tensor
        What to differentiate with respect to.
    eps : float, optional
        Step of the central difference (1e-6 in float64).
    rtol, atol : float
        Tolerance: |backprop - numeric| <= atol + rtol * |numeric|.
    max_elements : int or None
        Check at most this many elements per parameter, a seeded random subset; None checks all.
    seed : int
        Seed for that subset.
    raise_on_failure : bool
        Raise :class:`~chainrule.errors.GradcheckError` when the check fails.

    Returns
    -------
    GradcheckReport
        Max absolute and relative error and the worst element by name and index.

    Examples
    --------
    >>> import chainrule as cr
    >>> net, x, target = cr.examples.mazur()
    >>> report = cr.gradcheck(lambda: cr.losses.half_squared_error(net(x), target), net)
    >>> report.passed
    True
    """
    named = parameters_of(params)
    loss = fn()
    if loss.size != 1:
        raise ShapeError(f"gradcheck needs fn() to return a scalar loss, got shape {loss.shape}")
    for _, p in named:
        p.grad = None
    loss.backward()
    rng = np.random.default_rng(seed)
    report = GradcheckReport(rtol=rtol, atol=atol)
    for name, p in named:
        analytic = p.grad if p.grad is not None else np.zeros_like(p.data)
        step = eps if eps is not None else _default_eps(p.dtype)
        flat = np.arange(p.size)
        if max_elements is not None and p.size > max_elements:
            flat = np.sort(rng.choice(p.size, size=max_elements, replace=False))
        for k in flat:
            index = np.unravel_index(k, p.shape)
            numeric = _central_difference(fn, p, index, step)
            report.rows.append(GradcheckRow(name, tuple(int(i) for i in index),
                                            float(analytic[index]), numeric))
    if raise_on_failure and not report.passed:
        raise GradcheckError(str(report), report)
    return report


def _central_difference(fn: Callable[[], Tensor], p: Tensor, index: tuple, step: float) -> float:
    original = p.data[index].copy()
    try:
        with no_grad():
            p.data[index] = original + step
            plus = float(fn().item())
            p.data[index] = original - step
            minus = float(fn().item())
    finally:
        p.data[index] = original
    return (plus - minus) / (2 * step)


def check_vjp(fn: Callable[..., Tensor], inputs: Sequence[Any], *, eps: float = 1e-6, rtol: float = 1e-6,
              seed: int = 0) -> tuple[float, float]:
    """Check ``fn``'s backward pass with the identity <v, J^T u> = <J v, u>.

    ``u`` is a random output cotangent, ``v`` a random input direction; J^T u comes from
    ``backward(u)``, J v from a central difference of ``fn`` along v. Works for
    non-scalar ``fn`` of any size at the cost of two extra forward passes.

    Returns
    -------
    (backprop, numeric) : tuple of float
        Both sides of the identity.

    Raises
    ------
    GradcheckError
        When they differ by more than ``rtol`` relative to their size.
    """
    rng = np.random.default_rng(seed)
    tensors = [Tensor(np.array(x, dtype=np.float64), requires_grad=True) for x in inputs]
    out = fn(*tensors)
    u = rng.standard_normal(out.shape)
    out.backward(u)
    directions = [rng.standard_normal(t.shape) for t in tensors]
    backprop = float(sum(np.sum(t.grad * v) for t, v in zip(tensors, directions)))
    with no_grad():
        plus = fn(*(Tensor(t.data + eps * v) for t, v in zip(tensors, directions))).data
        minus = fn(*(Tensor(t.data - eps * v) for t, v in zip(tensors, directions))).data
    numeric = float(np.sum((plus - minus) / (2 * eps) * u))
    scale = max(abs(backprop), abs(numeric), 1e-12)
    if abs(backprop - numeric) > rtol * scale:
        raise GradcheckError(
            f"vector-Jacobian product check failed: <v, J^T u> = {backprop:.12g} but <J v, u> = {numeric:.12g} "
            f"(relative difference {abs(backprop - numeric) / scale:.3g} > rtol {rtol:g})"
        )
    return backprop, numeric
