"""``check``: is a hand-derived formula for dE/dq right, and if not, which mistake is it?

The formula is read as a learner writes it (:mod:`chainrule.learn.formula` for the
language and its budgets, :mod:`chainrule.learn.judge` for the names: Leibniz partials,
sigma'(net), sums over a layer, LaTeX). It is then evaluated in floating point at the
sample and at many random points of the network's whole weight, input and target space
(:class:`~chainrule.learn.space.Space`), each point's dE/dq computed by the engine's
``backward()``. The verdict:

``correct``
    equal to backprop at every point: it holds for all weights and inputs.
``number``
    a number typed in that equals backprop at this sample (right, but no derivation).
``sample``
    equal at this sample only: the formula is a different function.
``circular``
    it restates the quantity (its own name, ``dE/dw5``, ``(w5 - w5_new)/eta``).
``parameter_as_function``
    a weight written as a function of a neuron (``dw7/dh1``): weights are constants of the pass.
``wrong``
    with the mistake that explains it identically (:mod:`chainrule.learn.diagnose`) or ``unknown``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.errors import FormulaError
from chainrule.learn import expr as ex
from chainrule.learn.conventions import LossSpec, get_loss_spec
from chainrule.learn.diagnose import Mistake, diagnose, same
from chainrule.learn.explain import Derivation, explain
from chainrule.learn.formula import FUNCTIONS
from chainrule.learn.judge import Resolver, evaluate
from chainrule.learn.space import DEFAULT_POINTS, Space

__all__ = ["Verdict", "check", "Checker", "FUNCTIONS"]

_HOLDS = "holds for all weights and inputs"
_SAMPLE = "agrees only at this sample"


@dataclass
class Verdict:
    """The judgement of ``formula`` for dE/d``wrt``.

    ``status`` is correct, number, sample, circular, parameter_as_function or wrong;
    ``mistake`` the key of the mistake (None when right); ``hint`` says it in words.
    """

    correct: bool
    wrt: str
    target: str
    formula: str
    parsed: str
    expected: float
    numeric: float
    got: float
    hint: str | None
    derivation: Derivation
    points: list[tuple[float, float]] = field(default_factory=list)
    status: str = "wrong"
    mistake: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    lr: float = 0.5
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.correct

    @property
    def holds(self) -> str | None:
        """"holds for all weights and inputs", "agrees only at this sample", or None."""
        return {"correct": _HOLDS, "sample": _SAMPLE, "number": _SAMPLE}.get(self.status)

    def _verdict_words(self) -> str:
        return {"correct": f"correct: it {_HOLDS}",
                "number": "the right number at this sample, typed in: correct here, but a number is not a derivation",
                "sample": f"not correct: it {_SAMPLE}",
                "circular": "circular: it restates the quantity instead of deriving it",
                "parameter_as_function": "not a derivation: a weight is written as a function of a neuron",
                }.get(self.status, "not correct")

    def _shown(self, value: float) -> str:
        scale = max(abs(self.expected), 1e-300)
        tiny = value == 0 or (np.isfinite(value) and abs(value) < 1e-12 * scale)
        return "0" if tiny else ex.format_number(value, 12)

    def to_text(self) -> str:
        names = self.derivation.names
        lines = [f"{names.text(self.target)} = {self.formula}: {self._verdict_words()}"]
        if self.status == "correct":
            lines.append(f"  checked against backprop at this sample and at {len(self.points)} random points of the "
                         "whole weight, input and target space")
        lines.append(f"  at this sample: backprop {ex.format_number(self.expected, 12)} (finite differences "
                     f"{ex.format_number(self.numeric, 12)}), the formula {self._shown(self.got)}")
        if self.mistake:
            lines.append(f"  mistake ({self.mistake}): {self.hint}")
        elif self.hint:
            lines.append(f"  {self.hint}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return (f"Verdict(status={self.status!r}, mistake={self.mistake!r}, quantity={self.target!r}, "
                f"formula={self.formula!r})")

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready data (the CLI's ``--format json``)."""
        return {"verdict": self.status, "correct": self.correct, "holds": self.holds, "mistake": self.mistake,
                "explanation": self.hint, "hint": self.hint, "detail": self.detail,
                "quantity": self.derivation.names.text(self.target),
                "formula": self.formula, "read_as": self.parsed, "expected": self.expected,
                "finite_difference": self.numeric, "got": float(self._shown(self.got)) if np.isfinite(self.got)
                else None, "random_points": len(self.points), "eta": self.lr, "notes": self.notes}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        lines = [f"**{self.derivation.names.text(self.target)}** = `{self.formula}`: {self._verdict_words()}", "",
                 f"- at this sample: backprop {ex.format_number(self.expected, 12)}, "
                 f"the formula {self._shown(self.got)}"]
        if self.hint:
            lines.append(f"- {'mistake `' + self.mistake + '`: ' if self.mistake else ''}{self.hint}")
        return "\n".join(lines)

    def to_latex(self) -> str:
        """The verdict as a LaTeX paragraph: the quantity, the formula as read, the verdict in words."""
        from chainrule.learn.render import latex_text

        names = self.derivation.names
        label = self._label or (lambda n: _latex_name(names, n, None))
        body = ex.render(self._tree, "latex", label=label) if self._tree else ""
        words = latex_text(self._verdict_words())
        hint = f"\\\\\n{latex_text(self.hint)}" if self.hint else ""
        return f"\\[ {names.latex(self.target)} = {body} \\]\n{words}{hint}\n"

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.correct else "#b42318"
        rows = "".join(f"<li>{html.escape(line.strip())}</li>" for line in self.to_text().splitlines()[1:])
        return (f"<div><p><code>{html.escape(self.derivation.names.text(self.target))} = "
                f"{html.escape(self.formula)}</code>: <b style='color:{colour}'>{html.escape(self._verdict_words())}"
                f"</b></p><ul>{rows}</ul></div>")

    _tree: Any = field(default=None, repr=False)
    _label: Any = field(default=None, repr=False)


def _latex_name(names: Any, name: str, resolver: Resolver | None) -> str:
    """A formula's name in LaTeX: the quantity's own LaTeX form when it is one, else the name as written."""
    def one(text: str) -> str:
        quantity = resolver.quantity(text) if resolver is not None else (text if text in names.entries else None)
        if quantity is not None:
            return names.latex(quantity)
        return r"\mathrm{" + text.replace("_", r"\_").replace("{", r"\{").replace("}", r"\}") + "}"

    if name.startswith("d") and "/d" in name:
        a, b = name[1:].split("/d", 1)
        return rf"\frac{{\partial {one(a) if a != 'E' else 'E'}}}{{\partial {one(b)}}}"
    return one(name)


def _spelled(net: Any, wrt: str, scheme: str, bias: str, aliases: Mapping[str, str] | None) -> str:
    """``wrt`` as the ASCII name explain knows, read with the learner's spellings and aliases."""
    from chainrule.learn.naming import Names
    from chainrule.learn.network import read_network

    try:
        network = read_network(net)
        resolver = Resolver(Names(network.sizes, scheme, bias, network.has_bias), None, aliases)
    except Exception:  # explain reports a network it cannot follow in its own words
        return wrt
    text = str(wrt).replace("∂", "d")
    if text.startswith("d") and "/d" in text:
        a, b = text[1:].split("/d", 1)
        if resolver.partial_kind(a, b) == "total":
            return resolver.quantity(b) or wrt
    return resolver.quantity(text) or wrt


class Checker:
    """One network, sample and quantity; judges many formulas against the same points.

    Parameters are those of :func:`check`; building it runs ``explain`` once and the
    engine once per point.
    """

    def __init__(self, net: Any, wrt: str, x: Any, target: Any, loss: str | LossSpec = "half_squared_error",
                 names: str = "auto", *, aliases: Mapping[str, str] | None = None, bias: str = "per_neuron",
                 points: int = DEFAULT_POINTS, seed: int = 0, lr: float = 0.5, allow_mismatch: bool = False) -> None:
        self.spec = get_loss_spec(loss)
        wrt = _spelled(net, wrt, names, bias, aliases)
        self.derivation = explain(net, wrt, x, target, self.spec, names, bias=bias, lr=lr,
                                  allow_mismatch=allow_mismatch)
        self.names = self.derivation.names
        self.lr = lr
        self.space = Space(net, x, target, self.spec, self.names, bias=bias, lr=lr, points=points, seed=seed)
        self.aliases = dict(aliases or {})
        self.resolver = Resolver(self.names, self.space, self.aliases)
        self.rtol = 1e-6 if self.derivation.rtol <= 1e-5 else 1e-3

    def judge(self, formula: str) -> Verdict:
        """The verdict on one formula (FormulaError when it cannot be read)."""
        d, names, resolver = self.derivation, self.names, self.resolver
        available = f"{resolver.available()}; functions: {', '.join(FUNCTIONS)}"
        try:
            tree = resolver.read(formula)
            resolver.usage = type(resolver.usage)()
            got = evaluate(tree, resolver)
        except FormulaError as error:
            message = str(error)
            raise FormulaError(message if "names available" in message else f"{message}; {available}") from None
        usage = resolver.usage
        truth = self.space.values[d.target]
        finite = np.isfinite(truth)
        parsed = ex.render(tree)
        notes = [f"your alias {a!r} is also a built-in name; your meaning wins in this formula"
                 for a in resolver.collisions]
        common = dict(wrt=d.wrt, target=d.target, formula=formula, parsed=parsed, expected=d.backprop,
                      numeric=d.numeric, got=float(got[0]), derivation=d, lr=self.lr, notes=notes,
                      points=[(float(truth[k]), float(got[k])) for k in range(1, len(got))])
        verdict: Verdict
        circular = self._circular(usage)
        if circular:
            verdict = Verdict(False, hint=circular, status="circular", mistake="circular", **common)
        elif usage.parameter_functions:
            weight, neuron = usage.parameter_functions[0]
            verdict = Verdict(False, hint=self._parameter_note(weight, neuron), status="parameter_as_function",
                              mistake="parameter_as_function", detail={"parameter": names.text(weight),
                                                                         "neuron": names.text(neuron)}, **common)
        elif same(got[finite], truth[finite], self.rtol, float(np.max(np.abs(truth[finite])))):
            verdict = Verdict(True, hint=None, status="correct", **common)
        else:
            at_sample = same(got[:1], truth[:1], self.rtol)
            if at_sample and not usage.names and not usage.partials:
                verdict = Verdict(True, hint="a number says nothing about how it was derived; write the formula "
                                  "to have it checked for all weights and inputs", status="number", **common)
            else:
                mistake = (diagnose(names, {k: v[finite] for k, v in self.space.values.items()},
                                    [p.factors for p in d.paths], self.space.network.layers, self.spec.name, d.wrt,
                                    d.target, got[finite], tree, self.rtol)
                           if usage.names or usage.partials else
                           Mistake("unknown", "a number, not the value of this quantity at this sample"))
                hint = mistake.text
                if at_sample:
                    k = next(k for k in range(1, len(got)) if not same(got[k:k + 1], truth[k:k + 1], self.rtol))
                    hint = (f"it equals backprop at this sample by coincidence: at a random point backprop gives "
                            f"{ex.format_number(truth[k])} and the formula {ex.format_number(got[k])}"
                            + ("" if mistake.key == "unknown" else f"; {mistake.text}"))
                verdict = Verdict(False, hint=hint, status="sample" if at_sample else "wrong",
                                  mistake=mistake.key, detail=mistake.detail, **common)
        verdict._tree = tree
        verdict._label = lambda n: _latex_name(names, n, resolver)
        return verdict

    def _circular(self, usage: Any) -> str | None:
        d, names = self.derivation, self.names
        entry = names.entries[d.wrt]
        own = {d.target}
        if entry.kind in ("weight", "bias"):
            own.add(names.new(d.wrt))
        used = usage.names & own
        if d.wrt in usage.error_partials or used:
            name = names.text(next(iter(used))) if used else f"dE/d{names.text(d.wrt)}"
            return (f"the formula uses {name}, which is the quantity itself (or made from it: "
                    f"{names.text(d.wrt)}+ = {names.text(d.wrt)} - eta*dE/d{names.text(d.wrt)}); a derivation "
                    f"expresses dE/d{names.text(d.wrt)} through the forward pass and the error")
        return None

    def _parameter_note(self, weight: str, neuron: str) -> str:
        names = self.names
        w = names.entries[weight]
        if w.kind == "weight":
            net = names.net(w.layer, w.index[1])
            below = names.out(w.layer - 1, w.index[0])
            means = (f"; the factor you mean is d{names.text(net)}/d{names.text(below)} = {names.text(weight)} "
                     f"(the weight multiplies {names.text(below)} in {names.text(net)})")
        else:
            means = ""
        return (f"{names.text(weight)} is a constant of the forward and backward pass (only the update changes it), "
                f"so d{names.text(weight)}/d{names.text(neuron)} is not a factor of the chain rule{means}")


def check(net: Any, wrt: str, formula: str, x: Any, target: Any, loss: str | LossSpec = "half_squared_error",
          names: str = "auto", *, aliases: Mapping[str, str] | None = None, bias: str = "per_neuron",
          points: int = DEFAULT_POINTS, seed: int = 0, lr: float = 0.5, allow_mismatch: bool = False) -> Verdict:
    """Judge a hand-derived formula for dE/d``wrt`` for all weights and inputs, and name its mistake.

    Parameters
    ----------
    net : Sequential or MLP
    wrt : str
        The quantity: "w5", "dE/dw5", "delta_o1" (= dE/dnet_o1), "s_1^(2)", ...
    formula : str
        As a learner writes it: ``(out_o1 - target_o1)*out_o1*(1 - out_o1)*out_h1``,
        ``dE/dout_h1*dout_h1/dnet_h1*dnet_h1/dw1``, ``sum_k delta_ok*w_{h1,ok}*sigma'(net_h1)*i1``,
        or LaTeX (``\\frac{\\partial E_{total}}{\\partial out_{o1}} ...``). ``^`` is a power and
        juxtaposition multiplies: ``2(x - y)(1 - x^2)``.
    x, target : array_like
        One sample.
    loss : str
        As for :func:`~chainrule.learn.trace`.
    names : {"auto", "mazur", "layer"}
        The naming scheme (Mazur's post extended, or Learning From Data's s_j^(l), x_j^(l)).
    aliases : dict, optional
        Your own names, e.g. ``{"z1": "out_o1", "y": "target_o1"}``.
    points : int
        Random points of the weight, input and target space where the formula must agree too.
    lr : float
        The learning rate eta that fills the updated weights ``w5_new`` (as in ``trace``).
    allow_mismatch : bool
        As for :func:`~chainrule.learn.trace`: a loss the output activation cannot feed is a
        ConfigError (:func:`chainrule.losses.check_pair`), or with True a warning.

    Returns
    -------
    Verdict

    Raises
    ------
    FormulaError
        A formula that cannot be read (syntax, a character or name outside the language, a budget).

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.learn import check
    >>> net, x, target = cr.examples.mazur()
    >>> v = check(net, "w5", "(out_o1 - target_o1)*out_o1*(1 - out_o1)*out_h1", x, target)
    >>> v.status, v.holds
    ('correct', 'holds for all weights and inputs')
    >>> check(net, "w1", "delta_h1*i2", x, target).mistake
    'other_quantity'
    """
    checker = Checker(net, wrt, x, target, loss, names, aliases=aliases, bias=bias, points=points, seed=seed, lr=lr,
                      allow_mismatch=allow_mismatch)
    return checker.judge(formula)
