"""``Parameter`` and ``Module``, the base of every layer and network.

Modules are plain objects. Their parameters are found by walking their attributes
in the order they were set, so ``named_parameters()`` is the same on every run.
A module's parameters can share one flat buffer (:meth:`Module.flatten_parameters`),
each ``p.data`` a view of it, so that an optimizer updates all of them at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, DataError, ShapeError
from chainrule.tensor import Tensor

__all__ = ["Module", "Parameter"]


class Parameter(Tensor):
    """A tensor a module learns: it always requires grad."""

    def __init__(self, data: Any, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=True, name=name, dtype=dtype)


class Module:
    """Base class of every layer and network.

    Subclasses set parameters and sub-modules as attributes in ``__init__`` and
    implement ``forward``. ``check_finite=True`` makes ``__call__`` refuse inputs that
    hold NaN or inf with a :class:`~chainrule.errors.DataError`.
    """

    training: bool = True
    check_finite: bool = False

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x)")

    def __call__(self, x: Any) -> Tensor:
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if self.check_finite:
            _check_finite(x.data, f"{type(self).__name__} input")
        return self.forward(x)

    # ------------------------------------------------------------ structure
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules with their attribute names, in the order they were set."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Module) for v in value):
                for i, child in enumerate(value):
                    yield f"{name}.{i}", child

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs, e.g. ``("0.weight", W)``.

        The module's own parameters come first, then each child's, each group in the
        order the attributes were set: the same order on every run.
        """
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child.named_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        """Every parameter, in the order of :meth:`named_parameters`."""
        return [p for _, p in self.named_parameters()]

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, depth first."""
        yield self
        for _, child in self.named_children():
            yield from child.modules()

    def train(self, mode: bool = True) -> Module:
        """Switch to training mode (``mode=False`` is :meth:`eval`); returns self."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Switch to evaluation mode (dropout off); returns self."""
        return self.train(False)

    @contextmanager
    def evaluating(self) -> Iterator[Module]:
        """Evaluation mode (dropout off) inside a ``with`` block; every module's previous mode comes back after.

        >>> import chainrule as cr
        >>> net = cr.MLP([2, 1], dropout=0.0)
        >>> with net.evaluating():
        ...     net.training
        False
        >>> net.training
        True
        """
        modes = [(m, m.training) for m in self.modules()]  # each module's own, a mixed model stays mixed
        self.eval()
        try:
            yield self
        finally:
            for module, training in modes:
                module.training = training

    def zero_grad(self) -> None:
        """Forget every parameter's accumulated gradient."""
        for p in self.parameters():
            p.grad = None

    def flatten_parameters(self) -> np.ndarray | None:
        """Move every parameter into one flat buffer, each ``p.data`` becoming a view of it; returns the buffer.

        The buffer holds the parameters in the order of :meth:`named_parameters`, so an
        optimizer can update all of them in a couple of NumPy calls (see :mod:`chainrule.optim`).
        Values are unchanged. Assigning a new array to ``p.data`` later takes that parameter
        out of the buffer (optimizers then update parameter by parameter); writing into
        ``p.data[...]`` keeps it in. None, and nothing moved, when the parameters do not
        share one float dtype.
        """
        params = self.parameters()
        dtypes = {p.data.dtype for p in params}
        if not params or len(dtypes) != 1 or next(iter(dtypes)).kind != "f":
            return None
        flat = np.empty(sum(p.data.size for p in params), dtype=dtypes.pop())
        start = 0
        for p in params:
            view = flat[start:start + p.data.size].reshape(p.data.shape)
            np.copyto(view, p.data)
            p.data = view
            start += view.size
        return flat

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's value, keyed by its dotted name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy values from ``state`` into the parameters, checking names and shapes.

        Raises
        ------
        ConfigError
            With ``strict``, when names are missing or unexpected.
        ShapeError
            When a value's shape differs from its parameter's.
        """
        own = dict(self.named_parameters())
        if strict:
            missing = sorted(set(own) - set(state))
            unexpected = sorted(set(state) - set(own))
            if missing or unexpected:
                raise ConfigError(
                    f"state_dict does not match {type(self).__name__}: missing {missing}, "
                    f"unexpected {unexpected}"
                )
        for name, value in state.items():
            if name not in own:
                continue
            value = np.asarray(value)
            param = own[name]
            if value.shape != param.shape:
                raise ShapeError(f"state_dict[{name!r}] has shape {value.shape}, the parameter has {param.shape}")
            if param.data.flags.writeable:
                np.copyto(param.data, value, casting="unsafe")  # in place: it stays a view of the flat buffer
            else:
                param.data = value.astype(param.dtype, copy=True)

    # ------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The hyperparameters shown inside ``repr``."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        if self.extra_repr():
            lines.append(f"  {self.extra_repr()}")
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        lines.append(")")
        return "\n".join(lines)


def _check_finite(data: np.ndarray, what: str,
                  fix: str = "clean or impute the data before the forward pass") -> None:
    bad = ~np.isfinite(data)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{what} contains {int(np.isnan(data).sum())} NaN and {int(np.isinf(data).sum())} "
            f"inf values (first at index {first}); {fix}"
        )
