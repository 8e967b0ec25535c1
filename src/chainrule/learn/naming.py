"""Names for every number of a small network, in the learners' notations.

Two schemes, each giving every quantity an ASCII name (usable in formulas), a text
form and a LaTeX form:

``"mazur"`` / ``"auto"``
    Mazur's post, extended to any depth: inputs i1, i2; hidden layers h, j, k, ...
    (the layer after h is "j", as in the extra-layer question on Mazur's network);
    outputs o; weights w1, w2, ... numbered layer by layer and, within a layer, neuron by neuron of the next layer, each
    neuron's incoming weights in order (w1 = i1->h1, w2 = i2->h1, w3 = i1->h2, ...).
    net_h1, out_h1, delta_h1, target_o1, E_o1, E_total, dE/dw5 (``dE_dw5``),
    w5+ (``w5_new``). A bias per neuron is b_h1; one bias shared by a layer (Mazur's
    b1, b2) is b<layer>.
``"layer"``
    Learning From Data's per-layer indices: s_j^(l) (``s_1_2``), x_j^(l) (``x_1_2``, inputs are
    x_i^(0)), delta_j^(l), w_ij^(l) (``w_1_2_2``), targets y_j, error e; the bias is
    the weight w_0j^(l) from the constant input x_0 = 1.

Layers are numbered l = 1..L from the first hidden layer to the output layer,
neurons and inputs from 1 in names (0-based positions in the API).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chainrule.errors import ConfigError, FormulaError

__all__ = ["Entry", "Names", "SCHEMES", "lecture_aliases"]

SCHEMES = ("auto", "mazur", "layer")
_HIDDEN_LETTERS = "hjklmnpqrstuv"


@dataclass(frozen=True)
class Entry:
    """One named quantity.

    ``kind`` is one of input, net, out, target, delta, dE_dout, weight, bias,
    error_term, error_total, grad, new, partial, constant. ``layer`` is 0 for inputs
    and targets' layer L for outputs; for weights and biases the layer they feed.
    ``index`` is (j,) for a neuron, (i, j) for a weight, (j,) or () (shared) for a bias.
    """

    ascii: str
    text: str
    latex: str
    kind: str
    layer: int = 0
    index: tuple[int, ...] = ()


class Names:
    """The names of a network with layer sizes ``sizes`` (inputs first) under ``scheme``.

    Parameters
    ----------
    sizes : sequence of int
        [n_in, n_1, ..., n_L].
    scheme : {"auto", "mazur", "layer"}
        "mazur" is "auto" restricted to 2-2-2 networks.
    bias : {"per_neuron", "shared"}
        Whether each neuron has its own bias or each layer one (Mazur's b1, b2).
    has_bias : sequence of bool, optional
        Per layer, whether it has a bias at all.
    """

    def __init__(self, sizes: Sequence[int], scheme: str = "auto", bias: str = "per_neuron",
                 has_bias: Sequence[bool] | None = None) -> None:
        if scheme not in SCHEMES:
            raise ConfigError(f"unknown naming scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
        self.sizes = [int(n) for n in sizes]
        self.L = len(self.sizes) - 1
        if scheme == "mazur" and self.sizes != [2, 2, 2]:
            raise ConfigError(f"names='mazur' needs a 2-2-2 network like Mazur's, got sizes {self.sizes}; "
                              "use names='auto' (his scheme extended) or names='layer'")
        if scheme != "layer" and self.L - 1 > len(_HIDDEN_LETTERS):
            raise ConfigError(f"names={scheme!r} has letters for {len(_HIDDEN_LETTERS)} hidden layers, the "
                              f"network has {self.L - 1}; use names='layer'")
        self.scheme = scheme
        self.bias = bias
        self.has_bias = list(has_bias) if has_bias is not None else [True] * self.L
        self.entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        self._partials: dict[str, tuple[Entry, Entry]] = {}
        self._weight_numbers: dict[tuple[int, int, int], int] = {}
        number = 0
        for layer in range(1, self.L + 1):
            for j in range(self.sizes[layer]):
                for i in range(self.sizes[layer - 1]):
                    number += 1
                    self._weight_numbers[(layer, i, j)] = number
        self._build()

    # ------------------------------------------------------------ lookups
    def input(self, i: int) -> str:
        return self.out(0, i)

    def neuron(self, layer: int, j: int) -> str:
        """The neuron's own label: h1, o2 (Mazur) or 1^(2) (layer)."""
        if self.scheme == "layer":
            return f"{j + 1}^({layer})"
        if layer == 0:
            return f"i{j + 1}"
        letter = "o" if layer == self.L else _HIDDEN_LETTERS[layer - 1]
        return f"{letter}{j + 1}"

    def net(self, layer: int, j: int) -> str:
        return self._key("net", layer, j)

    def out(self, layer: int, j: int) -> str:
        return self._key("out", layer, j)

    def delta(self, layer: int, j: int) -> str:
        return self._key("delta", layer, j)

    def dE_dout(self, layer: int, j: int) -> str:  # noqa: N802 - the learners' dE
        return self._key("dE_dout", layer, j)

    def target(self, k: int) -> str:
        return self._key("target", self.L, k)

    def error_term(self, k: int) -> str:
        return self._key("error_term", self.L, k)

    @property
    def total(self) -> str:
        return "e" if self.scheme == "layer" else "E_total"

    @property
    def total_after(self) -> str:
        return self.total + "_new"

    @property
    def lr(self) -> str:
        return "eta"

    def weight(self, layer: int, i: int, j: int) -> str:
        """w_ij of ``layer``: from neuron (or input) i of layer - 1 to neuron j."""
        return self._key("weight", layer, i, j)

    def bias_of(self, layer: int, j: int) -> str:
        """The bias that neuron j of ``layer`` adds (the layer's one bias when shared)."""
        return self._key("bias", layer, j) if self.bias == "per_neuron" else self._key("bias", layer)

    def biases(self, layer: int) -> list[str]:
        """The distinct bias names of ``layer`` (one when shared)."""
        if not self.has_bias[layer - 1]:
            return []
        if self.bias == "shared":
            return [self._key("bias", layer)]
        return [self._key("bias", layer, j) for j in range(self.sizes[layer])]

    def grad(self, parameter: str) -> str:
        return self._derived("grad", parameter)

    def new(self, parameter: str) -> str:
        return self._derived("new", parameter)

    def partial(self, numerator: str, denominator: str) -> str:
        """The factor d(numerator)/d(denominator), e.g. dout_o1/dnet_o1 (``dout_o1_dnet_o1``)."""
        key = f"d{numerator}_d{denominator}"
        if key not in self.entries:
            num, den = self.entries[numerator], self.entries[denominator]
            self._add(Entry(key, f"d{num.text}/d{den.text}",
                            rf"\frac{{\partial {num.latex}}}{{\partial {den.latex}}}", "partial"))
            self._partials[key] = (num, den)
        return key

    def use_aliases(self, aliases: Mapping[str, str] | None) -> list[str]:
        """Show each quantity under the learner's name (``{"y": "target_o1"}``); returns notes on collisions.

        The alias replaces the quantity's text and LaTeX form in every output and is accepted
        as input. An alias that is also a built-in name of another quantity wins, and the
        note says so.
        """
        notes: list[str] = []
        seen: dict[str, str] = {}
        for alias, quantity in (aliases or {}).items():
            alias = str(alias).strip()
            entry = self.find(quantity)
            if not re.fullmatch(r"[A-Za-z][\w\[\]{},^()']*", alias):
                raise ConfigError(f"alias {alias!r} is not a name (letters, digits, _ and brackets)")
            if alias in seen and seen[alias] != entry.ascii:
                raise ConfigError(f"alias {alias!r} is given twice ({seen[alias]} and {entry.ascii})")
            seen[alias] = entry.ascii
            other = self.spellings().get(alias)
            if other is not None and other != entry.ascii:
                notes.append(f"your alias {alias} for {entry.text} is also the name of {self.entries[other].text}; "
                             f"here {alias} means {entry.text} (your alias wins)")
            latex = alias if re.fullmatch(r"[A-Za-z]+(_[A-Za-z0-9]+)?", alias) else (
                r"\mathrm{" + alias.replace("_", r"\_").replace("{", r"\{").replace("}", r"\}") + "}")
            self.entries[entry.ascii] = Entry(entry.ascii, alias, latex, entry.kind, entry.layer, entry.index)
            self._aliases[alias] = entry.ascii
        return notes

    def partial_parts(self, factor: str) -> tuple[Entry, Entry]:
        """The numerator's and denominator's entries of a factor made by :meth:`partial`."""
        return self._partials[factor]

    def text(self, name: str) -> str:
        return self.entries[name].text

    def latex(self, name: str) -> str:
        return self.entries[name].latex

    def find(self, name: str) -> Entry:
        """The entry for an ASCII name, a text form or an alias (``"dE/dw5"``, ``"w_12^(2)"``).

        Raises
        ------
        FormulaError
            For an unknown name, listing the names available.
        """
        key = name.strip()
        if key in self.entries:
            return self.entries[key]
        if key in self._aliases:
            return self.entries[self._aliases[key]]
        raise FormulaError(f"unknown quantity {name!r}; names available: {', '.join(self.available())}")

    def spellings(self) -> dict[str, str]:
        """Every spelling :meth:`find` accepts (ASCII names, text forms, aliases) -> its ASCII name."""
        return {**self._aliases, **{name: name for name in self.entries}}

    def available(self, kinds: Iterable[str] | None = None) -> list[str]:
        """ASCII names (of the given kinds), in the order they were made."""
        wanted = set(kinds) if kinds is not None else None
        return [e.ascii for e in self.entries.values()
                if e.kind != "partial" and (wanted is None or e.kind in wanted)]

    def parameters(self) -> list[str]:
        """Every weight and bias name, layer by layer (weights in Mazur's order, then biases)."""
        names = []
        for layer in range(1, self.L + 1):
            names += [self.weight(layer, i, j) for (lay, i, j) in self._weight_numbers if lay == layer]
            names += self.biases(layer)
        return names

    # ------------------------------------------------------------ construction
    def _key(self, kind: str, layer: int, *index: int) -> str:
        return self._keys[(kind, layer, index)]

    def _derived(self, kind: str, parameter: str) -> str:
        return self._keys[(kind, parameter)]

    def _add(self, entry: Entry, *aliases: str) -> None:
        self.entries[entry.ascii] = entry
        if entry.text != entry.ascii:
            self._aliases.setdefault(entry.text, entry.ascii)
        for alias in aliases:
            self._aliases.setdefault(alias, entry.ascii)

    def _build(self) -> None:
        self._keys: dict[tuple, str] = {}
        layer_scheme = self.scheme == "layer"
        total_text, total_latex = ("e", "e") if layer_scheme else ("E_total", "E_{total}")

        def put(key: tuple, entry: Entry, *aliases: str) -> None:
            self._keys[key] = entry.ascii
            self._add(entry, *aliases)

        for layer in range(0, self.L + 1):
            for j in range(self.sizes[layer]):
                if layer_scheme:
                    sub, sup = f"{j + 1}", f"({layer})"
                    base = [("out", "x", "x"), ("net", "s", "s"), ("delta", "delta", r"\delta")]
                    for kind, a, tex in base:
                        if layer == 0 and kind != "out":
                            continue
                        put((kind, layer, (j,)), Entry(f"{a}_{sub}_{layer}", f"{a}_{sub}^{sup}",
                                                        f"{tex}_{{{sub}}}^{{{sup}}}", kind, layer, (j,)),
                            *((f"{a}_{sub}^(L)", f"{a}_{sub}_L") if layer == self.L else ()))
                    if layer:
                        x = self.entries[self._keys[("out", layer, (j,))]]
                        put(("dE_dout", layer, (j,)), Entry(f"de_d{x.ascii}", f"de/d{x.text}",
                                                            rf"\frac{{\partial e}}{{\partial {x.latex}}}",
                                                            "dE_dout", layer, (j,)))
                    continue
                label = self.neuron(layer, j)
                lab_tex = f"{label[0]}{label[1:]}"
                if layer == 0:
                    put(("out", 0, (j,)), Entry(label, label, f"{label[0]}_{{{label[1:]}}}", "input", 0, (j,)))
                    continue
                for kind, a, tex in (("net", "net", "net"), ("out", "out", "out"), ("delta", "delta", r"\delta")):
                    put((kind, layer, (j,)), Entry(f"{a}_{label}", f"{a}_{label}", f"{tex}_{{{lab_tex}}}",
                                                   kind, layer, (j,)))
                put(("dE_dout", layer, (j,)), Entry(f"dE_dout_{label}", f"dE/dout_{label}",
                                                    rf"\frac{{\partial {total_latex}}}{{\partial out_{{{lab_tex}}}}}",
                                                    "dE_dout", layer, (j,)))
        for k in range(self.sizes[-1]):
            if layer_scheme:
                extra = ("y", "y_n") if self.sizes[-1] == 1 else ()
                put(("target", self.L, (k,)), Entry(f"y_{k + 1}", f"y_{k + 1}", f"y_{{{k + 1}}}", "target",
                                                    self.L, (k,)), *extra)
                put(("error_term", self.L, (k,)), Entry(f"e_{k + 1}", f"e_{k + 1}", f"e_{{{k + 1}}}",
                                                        "error_term", self.L, (k,)))
            else:
                label = self.neuron(self.L, k)
                put(("target", self.L, (k,)), Entry(f"target_{label}", f"target_{label}",
                                                    f"target_{{{label}}}", "target", self.L, (k,)))
                put(("error_term", self.L, (k,)), Entry(f"E_{label}", f"E_{label}", f"E_{{{label}}}",
                                                        "error_term", self.L, (k,)))
        self._add(Entry(self.total, total_text, total_latex, "error_total"), "E")
        self._add(Entry(self.total_after, total_text + "+", total_latex + "^{+}", "error_total"))
        self._add(Entry("eta", "eta", r"\eta", "constant"), "lr")
        for layer in range(1, self.L + 1):
            for (lay, i, j), number in self._weight_numbers.items():
                if lay == layer:
                    self._parameter(("weight", layer, (i, j)), layer, (i, j), number)
            if not self.has_bias[layer - 1]:
                continue
            if self.bias == "shared":
                self._parameter(("bias", layer, ()), layer, (), 0)
            else:
                for j in range(self.sizes[layer]):
                    self._parameter(("bias", layer, (j,)), layer, (j,), 0)

    def _parameter(self, key: tuple, layer: int, index: tuple[int, ...], number: int) -> None:
        kind = key[0]
        e_text, e_latex = ("e", "e") if self.scheme == "layer" else ("E", "E_{total}")
        if self.scheme == "layer":
            if kind == "weight":
                i, j = index[0] + 1, index[1] + 1
            else:
                i, j = 0, (index[0] + 1 if index else None)
            sub = f"{i}{j}" if j is None or (i < 10 and j < 10) else f"{i},{j}"
            sub = f"{i}" if j is None else sub
            ascii_name = f"w_{i}_{layer}" if j is None else f"w_{i}_{j}_{layer}"
            text, latex = f"w_{sub}^({layer})", f"w_{{{sub}}}^{{({layer})}}"
            aliases = [] if j is None or len(sub) != 2 else [f"w_{sub}_{layer}"]
        elif kind == "weight":
            ascii_name, text, latex, aliases = f"w{number}", f"w{number}", f"w_{{{number}}}", []
        elif index:
            label = self.neuron(layer, index[0])
            ascii_name, text, latex, aliases = f"b_{label}", f"b_{label}", f"b_{{{label}}}", []
        else:
            ascii_name, text, latex, aliases = f"b{layer}", f"b{layer}", f"b_{{{layer}}}", []
        self._keys[key] = ascii_name
        self._add(Entry(ascii_name, text, latex, kind, layer, index), *aliases)
        grad = Entry(f"d{e_text}_d{ascii_name}", f"d{e_text}/d{text}",
                     rf"\frac{{\partial {e_latex}}}{{\partial {latex}}}", "grad", layer, index)
        self._keys[("grad", ascii_name)] = grad.ascii
        self._add(grad, f"d{e_text}/d{ascii_name}", f"d{e_text}_d{text}")
        new_latex = latex[:-1] + "+}" if "^{" in latex else latex + "^{+}"
        new = Entry(f"{ascii_name}_new", f"{text}+", new_latex, "new", layer, index)
        self._keys[("new", ascii_name)] = new.ascii
        self._add(new)


def lecture_aliases(names: Names) -> dict[str, str]:
    """The lecture-note notation of a network with one hidden layer, as aliases.

    Inputs x_i, hidden outputs y_j, outputs z_k, targets zhat_k (subscripts from 1:
    ``x1``, ``x_1``), the first layer's weights ``wa[i][j]`` and the second's ``wb[j][k]``
    indexed as the notes' Python lists (from 0: ``wa[0][0]`` is the weight from x_1 to y_1).
    """
    if names.L != 2:
        raise ConfigError(f"the lecture-note notation (x, y, z with wa, wb) has one hidden layer; this network "
                          f"has {names.L - 1}")
    aliases: dict[str, str] = {}
    for letter, layer in (("x", 0), ("y", 1), ("z", 2)):
        for j in range(names.sizes[layer]):
            aliases[f"{letter}{j + 1}"] = aliases[f"{letter}_{j + 1}"] = names.out(layer, j)
    for k in range(names.sizes[2]):
        aliases[f"zhat{k + 1}"] = aliases[f"zhat_{k + 1}"] = names.target(k)
    for table, layer in (("wa", 1), ("wb", 2)):
        for i in range(names.sizes[layer - 1]):
            for j in range(names.sizes[layer]):
                aliases[f"{table}[{i}][{j}]"] = names.weight(layer, i, j)
    return aliases
