"""``check_rule``: an indexed rule checked for every neuron of every layer it applies to.

A learner's rule in Learning From Data's notation, with free indices,

    delta_j^(l) = (sum_k delta_k^(l+1)*w_jk^(l+1))*theta'(s_j^(l))
    dE/dw_ij^(l) = delta_j^(l)*x_i^(l-1)

is instantiated for every layer l and every neuron j (and input i) of the network; an
instance applies when all its names exist there (delta_k^(l+1) does not at the output
layer). Each instance is judged by :class:`~chainrule.learn.check.Checker` for all
weights and inputs. The answer is "holds for all 14 neurons of layers 1-3", or the first
counterexample with its diagnosis: the learner's own answer to "does the delta rule
extend to any number of layers?".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chainrule.errors import ConfigError, FormulaError
from chainrule.learn.check import Checker, Verdict
from chainrule.learn.conventions import LossSpec, checked_loss_spec
from chainrule.learn.naming import Names
from chainrule.learn.network import read_network

__all__ = ["RuleVerdict", "check_rule"]

_NAME = re.compile(r"(?P<base>[A-Za-z]+)_\{?(?P<sub>[0-9a-z,]+)\}?\^\{?\((?P<sup>[^()]*)\)\}?")


@dataclass
class RuleVerdict:
    """Every instance of a rule judged; ``holds`` when all of them hold for all weights and inputs."""

    quantity: str
    formula: str
    instances: list[tuple[str, Verdict]] = field(default_factory=list)
    layers: list[int] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    kind: str = "neurons"

    @property
    def holds(self) -> bool:
        return (bool(self.instances) and not self.unreadable
                and all(v.status == "correct" for _, v in self.instances))

    @property
    def counterexample(self) -> tuple[str, Verdict] | None:
        return next(((q, v) for q, v in self.instances if v.status != "correct"), None)

    def __bool__(self) -> bool:
        return self.holds

    def to_text(self) -> str:
        span = (f"layer {self.layers[0]}" if len(self.layers) == 1 else
                f"layers {self.layers[0]}-{self.layers[-1]}") if self.layers else "no layer"
        head = f"{self.quantity} = {self.formula}"
        if self.unreadable:
            quantity, why = self.unreadable[0]
            return f"{head}: does not hold at {quantity}: {why}"
        if not self.instances:
            return f"{head}: applies to no layer of this network (a name of the rule exists in none)"
        if self.holds:
            return (f"{head}: holds for all {len(self.instances)} {self.kind} of {span} "
                    "(each for all weights and inputs)")
        quantity, verdict = self.counterexample
        return (f"{head}: does not hold; checked {len(self.instances)} instances of {span}, the first "
                f"counterexample is {quantity}:\n" + "\n".join("  " + line for line in verdict.to_text().splitlines()))

    def __str__(self) -> str:
        return self.to_text()


def _instantiate(text: str, values: Mapping[str, int], free: set[str]) -> str:
    def replace(match: re.Match) -> str:
        sub = "".join(str(values[c]) if c in free and c in values else c for c in match.group("sub"))
        sup = "".join(str(values[c]) if c in free and c in values else c for c in match.group("sup"))
        arithmetic = re.fullmatch(r"\s*(\d+)\s*([+-])\s*(\d+)\s*", sup)
        if arithmetic:
            a, sign, b = arithmetic.groups()
            sup = str(int(a) + int(b) if sign == "+" else int(a) - int(b))
        if latex:  # braces keep w_{1k}^{(2)} one name: in LaTeX w_1k is w_1 times k
            return f"{match.group('base')}_{{{sub}}}^{{({sup})}}"
        return f"{match.group('base')}_{sub}^({sup})"

    latex = "\\" in text
    return _NAME.sub(replace, text)


def check_rule(net: Any, quantity: str, formula: str, x: Any, target: Any,
               loss: str | LossSpec = "half_squared_error", *, bias: str = "per_neuron",
               aliases: Mapping[str, str] | None = None, points: int = 8, lr: float = 0.5,
               allow_mismatch: bool = False) -> RuleVerdict:
    """Check ``quantity = formula`` for every layer l and neuron j (and input i) it applies to.

    Parameters
    ----------
    quantity : str
        The left-hand side with free indices in Learning From Data's notation:
        ``"delta_j^(l)"``, ``"dE/dw_ij^(l)"`` (also ``"de/dw_ij^(l)"``).
    formula : str
        The right-hand side; ``l+1``/``l-1`` in a superscript are computed, other letters
        (k) are indices of sums.

    Returns
    -------
    RuleVerdict

    Examples
    --------
    >>> from chainrule import MLP
    >>> net = MLP([2, 3, 3, 1], activation="tanh", output_activation="sigmoid", seed=0)
    >>> rule = check_rule(net, "delta_j^(l)", "(sum_k delta_k^(l+1)*w_jk^(l+1))*theta'(s_j^(l))",
    ...                   [0.1, -0.2], [0.7])
    >>> rule.holds, len(rule.instances), rule.layers
    (True, 6, [1, 2])
    """
    network = read_network(net)
    checked_loss_spec(loss, network.activations[-1], allow_mismatch)  # once, before any neuron
    sizes = network.sizes
    lhs = quantity.replace("de/d", "dE/d").replace("∂", "d")
    wrt_text = lhs[4:] if lhs.startswith("dE/d") else lhs
    match = _NAME.fullmatch(wrt_text.strip())
    if match is None:
        raise ConfigError(f"write the rule's quantity in Learning From Data's notation with free indices, such as "
                          f"delta_j^(l) or dE/dw_ij^(l); got {quantity!r}")
    layer_letter = match.group("sup")
    sub = match.group("sub").replace(",", "")
    if not re.fullmatch(r"[a-z]", layer_letter) or not re.fullmatch(r"[a-z]{1,2}", sub):
        raise ConfigError(f"the quantity {quantity!r} needs a letter for the layer and one or two for the "
                          "neurons, such as delta_j^(l) or dE/dw_ij^(l)")
    free = set(sub) | {layer_letter}
    result = RuleVerdict(quantity, formula, kind="neurons" if len(sub) == 1 else "weights")
    names = Names(sizes, "layer", bias, network.has_bias)
    for layer in range(1, len(sizes)):
        neurons = [(j,) for j in range(1, sizes[layer] + 1)] if len(sub) == 1 else [
            (i, j) for j in range(1, sizes[layer] + 1) for i in range(1, sizes[layer - 1] + 1)]
        applied = False
        for index in neurons:
            values = {layer_letter: layer, **dict(zip(sub, index))}
            here_q = _instantiate(wrt_text, values, free)
            here_f = _instantiate(formula, values, free)
            outside = [int(m.group("sup")) for m in _NAME.finditer(here_f) if m.group("sup").isdigit()
                       and not 0 <= int(m.group("sup")) <= len(sizes) - 1]
            if outside:
                continue  # the rule names a layer this network lacks (delta^(l+1) at the output layer)
            try:
                names.find(_instantiate_ascii(here_q))
                verdict = Checker(net, here_q, x, target, loss, "layer", bias=bias, aliases=aliases,
                                  points=points, lr=lr, allow_mismatch=True).judge(here_f)
            except FormulaError as error:
                result.unreadable.append((here_q, str(error).split("; names available")[0]))
                result.layers.append(layer)
                return result
            applied = True
            result.instances.append((here_q, verdict))
            if verdict.status != "correct":
                result.layers.append(layer)
                return result
        if applied:
            result.layers.append(layer)
    return result


def _instantiate_ascii(text: str) -> str:
    m = _NAME.fullmatch(text)
    if m is None:
        return text
    return f"{m.group('base')}_{m.group('sub')}^({m.group('sup')})"
