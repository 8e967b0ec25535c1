"""``trace``: every number of gradient descent on one sample, written out as by hand.

For each round: every neuron's net input and output, each output's error term and
E_total, each neuron's delta, each weight's and bias's gradient and updated value,
each line as formula = numbers = result (Mazur's post, for any depth). Many rounds
are summarised: the first and last in full, the error at chosen rounds, and the
same run under the other update convention beside it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.learn import render
from chainrule.learn.conventions import Convention, LossSpec, checked_loss_spec
from chainrule.learn.descent import Descent, check_shared_biases, evaluate, gradient_descent, take_step
from chainrule.learn.expr import format_number
from chainrule.learn.lines import LineMaker, Section, output_values
from chainrule.learn.naming import Names
from chainrule.learn.network import as_sample, is_mazur, read_network

__all__ = ["Trace", "Round", "trace", "MAZUR_PUBLISHED"]

#: Figures printed in Mazur's post, "A Step by Step Backpropagation Example" (2015), as printed.
MAZUR_PUBLISHED: dict[str, str] = {
    "E_total": "0.298371109", "after_round_1": "0.291027924", "after_10000_rounds": "0.0000351085",
    "out_o1_after_10000": "0.015912196", "out_o2_after_10000": "0.984065734",
}


@dataclass
class Round:
    """One traced round: its sections of lines and every quantity's value by ASCII name."""

    number: int
    sections: list[Section]
    values: dict[str, float]


@dataclass
class Trace:
    """The result of :func:`trace`; print it, or render it with ``to_*``.

    ``errors[r]`` is E_total after r updates (``errors[r - 1]`` is the error computed
    in round r); ``rounds`` holds the rounds traced in full; ``comparison`` is the run
    under the other update convention (summaries only).
    """

    names: Names
    sizes: list[int]
    activations: list[str]
    loss: LossSpec
    lr: float
    convention: Convention
    rounds: list[Round]
    errors: np.ndarray
    output: np.ndarray
    summary: bool = False
    comparison: Descent | None = None
    mazur: bool = False
    digits: int = 9
    _summary_rounds: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.errors) - 1

    @property
    def values(self) -> dict[str, float]:
        """Every quantity of the last round traced in full, by ASCII name."""
        return self.rounds[-1].values

    # ------------------------------------------------------------ text pieces
    def header(self) -> list[str]:
        activations = ", ".join(self.activations)
        return [
            f"network {'-'.join(map(str, self.sizes))} ({activations}); loss {self.loss.name}: "
            f"{self.loss.definition.formula}" + (f" times {format_number(self.loss.scale)}" if self.loss.scale != 1
                                                 else ""),
            f"learning rate eta = {format_number(self.lr)}; {self.steps} step{'s' if self.steps != 1 else ''}; "
            f"names: {self.names.scheme}",
            f"conventions: {self.convention.describe()}",
            *self.notes,
        ]

    def summary_rows(self) -> tuple[list[str], list[list[str]]]:
        """The error at chosen rounds, under this convention and (when run) the other one."""
        this = self.convention.update
        header = ["round", f"E in round ({this})", f"E after update ({this})"]
        other = self.comparison
        if other is not None:
            header += [f"E in round ({other.convention.update})", f"E after update ({other.convention.update})"]
        rows = []
        for r in self._summary_rounds:
            row = [str(r), format_number(self.errors[r - 1], self.digits), format_number(self.errors[r], self.digits)]
            if other is not None:
                row += [format_number(other.errors[r - 1], self.digits), format_number(other.errors[r], self.digits)]
            rows.append(row)
        return header, rows

    def final_outputs(self) -> list[str]:
        lines = []
        runs = [(self.convention.update, self.output)]
        if self.comparison is not None:
            runs.append((self.comparison.convention.update, self.comparison.output))
        for update, output in runs:
            values = output_values(self.names, output)
            shown = ", ".join(f"{self.names.text(k)} = {format_number(v, self.digits)}" for k, v in values.items())
            lines.append(f"after {self.steps} updates ({update}): {shown}")
        return lines

    def mazur_notes(self) -> list[str]:
        """Where each of Mazur's published figures comes from (his network, his conventions, a summary)."""
        if not (self.mazur and self.comparison is not None and self.lr == 0.5
                and self.loss.name == "half_squared_error" and not self.convention.update_biases):
            return []
        runs = {self.convention.update: (self.errors, self.output),
                self.comparison.convention.update: (self.comparison.errors, self.comparison.output)}
        seq, sim = runs["sequential"], runs["simultaneous"]
        f = lambda v: format_number(v, self.digits)  # noqa: E731
        notes = [f"Mazur's E_total = {MAZUR_PUBLISHED['E_total']} before any update: {f(sim[0][0])}",
                 f"Mazur's {MAZUR_PUBLISHED['after_round_1']} 'after the first round' is E after 1 update with the "
                 f"sequential update: {f(seq[0][1])} (simultaneous: {f(sim[0][1])})"]
        if self.steps >= 10000:
            notes.append(f"Mazur's {MAZUR_PUBLISHED['after_10000_rounds']} 'after 10,000 rounds' is the error computed "
                         f"in round 10,000, after 9,999 simultaneous updates: {f(sim[0][9999])} (after 10,000 "
                         f"updates: {f(sim[0][10000])}; sequential: {f(seq[0][9999])})")
            notes.append(f"Mazur's final outputs {MAZUR_PUBLISHED['out_o1_after_10000']} and "
                         f"{MAZUR_PUBLISHED['out_o2_after_10000']} are the sequential update after 10,000 updates: "
                         f"{f(seq[1][0, 0])} and {f(seq[1][0, 1])} (simultaneous: {f(sim[1][0, 0])} and "
                         f"{f(sim[1][0, 1])})")
        return notes

    # ------------------------------------------------------------ renderings
    def to_text(self) -> str:
        """Plain text: the header, each round's lines, then the summary."""
        blocks = ["\n".join(self.header())]
        for rnd in self.rounds:
            body = render.sections_text(rnd.sections, self.names, rnd.values, self.digits)
            blocks.append(f"== Round {rnd.number} ==\n{body}")
        if self.summary:
            header, rows = self.summary_rows()
            widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
            table = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in [header, *rows]]
            blocks.append("== Summary ==\n" + "\n".join(table + self.final_outputs() + self.mazur_notes()))
        return "\n\n".join(blocks)

    def __str__(self) -> str:
        return self.to_text()

    def to_markdown(self) -> str:
        """Markdown: a table per section (formulas in code spans), a summary table."""
        blocks = ["## Trace\n\n" + "\n".join(f"- {line}" for line in self.header())]
        for rnd in self.rounds:
            blocks.append(f"## Round {rnd.number}\n\n"
                          + render.sections_markdown(rnd.sections, self.names, rnd.values, self.digits))
        if self.summary:
            header, rows = self.summary_rows()
            notes = "\n".join(f"- {line}" for line in self.final_outputs() + self.mazur_notes())
            blocks.append("## Summary\n\n" + render.markdown_table(header, rows) + "\n\n" + notes)
        return "\n\n".join(blocks) + "\n"

    def latex_lines(self) -> list[str]:
        """Every traced line as one LaTeX math expression (for checking or embedding)."""
        return [render.line_latex(line, self.names, rnd.values, self.digits)
                for rnd in self.rounds for section in rnd.sections for line in section.lines]

    def to_latex(self) -> str:
        """A LaTeX fragment (needs amsmath): an ``align*`` per section."""
        blocks = ["\n".join("% " + line for line in self.header())]
        for rnd in self.rounds:
            blocks.append(f"\\subsection*{{Round {rnd.number}}}\n"
                          + render.sections_latex(rnd.sections, self.names, rnd.values, self.digits))
        if self.summary:
            header, rows = self.summary_rows()
            body = "\n".join(" & ".join(row) + r" \\" for row in rows)
            blocks.append("\\subsection*{Summary}\n\\begin{tabular}{" + "r" * len(header) + "}\n"
                          + " & ".join(render.latex_text(h) for h in header) + " \\\\\n\\hline\n" + body
                          + "\n\\end{tabular}")
        return "\n\n".join(blocks) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``values`` maps every ASCII name of the last traced round to its number."""
        def lines_of(rnd: Round) -> list[dict[str, Any]]:
            return [{"name": line.name, "section": section.title,
                     "text": render.line_text(line, self.names, rnd.values, self.digits),
                     "latex": render.line_latex(line, self.names, rnd.values, self.digits), "value": line.value}
                    for section in rnd.sections for line in section.lines]

        result: dict[str, Any] = {
            "network": {"sizes": self.sizes, "activations": self.activations, "names": self.names.scheme},
            "loss": self.loss.name, "lr": self.lr, "steps": self.steps,
            "convention": self.convention.as_dict(),
            "errors": [float(e) for e in self.errors],
            "rounds": [{"round": rnd.number, "values": rnd.values, "lines": lines_of(rnd)} for rnd in self.rounds],
            "values": self.values,
            "output": output_values(self.names, self.output),
        }
        if self.comparison is not None:
            result["comparison"] = {"convention": self.comparison.convention.as_dict(),
                                    "errors": [float(e) for e in self.comparison.errors],
                                    "output": output_values(self.names, self.comparison.output)}
        if self.summary:
            result["summary_notes"] = self.final_outputs() + self.mazur_notes()
        return result

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def _repr_html_(self) -> str:
        import html

        parts = ["<div>" + "<br>".join(html.escape(line) for line in self.header()) + "</div>"]
        for rnd in self.rounds:
            parts.append(f"<h3>Round {rnd.number}</h3>")
            parts.append(render.sections_html(rnd.sections, self.names, rnd.values, self.digits))
        if self.summary:
            header, rows = self.summary_rows()
            cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
            notes = "<br>".join(html.escape(n) for n in self.final_outputs() + self.mazur_notes())
            parts.append(f"<h3>Summary</h3><table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"
                         f"<p>{notes}</p>")
        return "\n".join(parts)

    def print(self, console: Any = None) -> None:
        """Print as rich tables when rich is installed, else as plain text."""
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            print(self.to_text())
            return
        console = console or Console()
        console.print("\n".join(self.header()), markup=False, highlight=False)
        for rnd in self.rounds:
            console.rule(f"Round {rnd.number}")
            for table in render.sections_rich(rnd.sections, self.names, rnd.values, self.digits):
                console.print(table)
        if self.summary:
            header, rows = self.summary_rows()
            table = Table(title="Summary", title_justify="left")
            for column in header:
                table.add_column(column, justify="right")
            for row in rows:
                table.add_row(*row)
            console.print(table)
            console.print("\n".join(self.final_outputs() + self.mazur_notes()), markup=False, highlight=False)


def _summary_rounds(steps: int) -> list[int]:
    chosen = {1, 2, 3, steps} | {10 ** k for k in range(1, len(str(steps)))}
    return sorted(r for r in chosen if 1 <= r <= steps)


def trace(net: Any, x: Any, target: Any, loss: str | LossSpec = "half_squared_error", lr: float = 0.5,
          steps: int = 1, names: str = "auto", *, update: str = "simultaneous", update_biases: bool = True,
          bias: str = "per_neuron", summary: bool | None = None, digits: int = 9,
          aliases: Mapping[str, str] | None = None, allow_mismatch: bool = False,
          progress: Callable[[int, int, float], None] | None = None) -> Trace:
    """Trace gradient descent on one sample, every number with its formula.

    The network itself is not changed: the steps run on a copy.

    Parameters
    ----------
    net : Sequential or MLP
        Linear layers, each followed by at most one activation (sigmoid, tanh, relu,
        identity, softmax, ...).
    x : array_like, shape (1, n_in) or (n_in,)
        One sample (i1, i2, ...).
    target : array_like, shape (1, n_out) or (n_out,), or a class index
    loss : str
        "half_squared_error" (E = 1/2 sum_k (target_k - out_k)^2), "squared_error",
        "mse", "half_mse", "cross_entropy" or "binary_cross_entropy".
    lr : float
        eta in w+ = w - eta dE/dw.
    steps : int
        Rounds of forward pass, backward pass and update.
    names : {"auto", "mazur", "layer"}
        Naming scheme (see :mod:`chainrule.learn.naming`).
    update, update_biases, bias
        The conventions of :mod:`chainrule.learn.conventions` (defaults: textbook).
    summary : bool, optional
        Trace only the first and last rounds in full and tabulate the error, with the
        other update convention beside it; default: when steps > 10.
    digits : int
        Significant digits shown.

    aliases : dict, optional
        The learner's own names, shown in every line (``{"y": "target_o1", "z1": "out_o1"}``);
        an alias that is also another quantity's name wins, and the header says so.
    allow_mismatch : bool
        Go on with an output activation and a loss that do not belong together (cross-entropy
        on outputs that are not probabilities), with a warning instead of the ConfigError of
        :func:`chainrule.losses.check_pair`, the same refusal as ``chainrule.fit``'s.
    progress : callable, optional
        Called after every round as ``progress(round, steps, E)`` (E before that round's
        update); the command line shows it on standard error for long runs.

    Returns
    -------
    Trace

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.learn import trace
    >>> t = trace(*cr.examples.mazur(), update_biases=False, bias="shared")
    >>> print(t.to_text().splitlines()[6])
      net_h1 = w1*i1 + w2*i2 + b1*1 = 0.15*0.05 + 0.2*0.1 + 0.35*1 = 0.3775
    >>> round(t.values["w5_new"], 8)
    0.35891648
    """
    if int(steps) != steps or steps < 1:
        raise ConfigError(f"steps must be a whole number >= 1, got {steps!r}")
    if not np.isfinite(lr) or lr <= 0:
        raise ConfigError(f"lr must be a positive number, got {lr!r}")
    steps = int(steps)
    convention = Convention(update, update_biases, bias)
    original = read_network(net)
    spec = checked_loss_spec(loss, original.activations[-1], allow_mismatch)
    network = read_network(copy.deepcopy(net))
    check_shared_biases(network, convention)
    x, target = as_sample(network, x, target, one=True)
    scheme = Names(network.sizes, names, convention.bias, network.has_bias)
    alias_notes = scheme.use_aliases(aliases)
    summary = steps > 10 if summary is None else bool(summary)
    detail = {1, steps} if summary else set(range(1, steps + 1))
    errors = np.empty(steps + 1)
    rounds = []
    for r in range(1, steps + 1):
        record = take_step(network, x, target, spec, lr, convention, after=r in detail)
        errors[r - 1] = record.error
        if progress is not None:
            progress(r, steps, float(record.error))
        if r in detail:
            maker = LineMaker(network, scheme, record, spec, lr, convention)
            rounds.append(Round(r, maker.sections(), maker.values()))
    errors[-1], output = evaluate(network, x, target, spec)
    comparison = None
    if summary and len(network.layers) > 1:
        other = "sequential" if convention.update == "simultaneous" else "simultaneous"
        comparison = gradient_descent(copy.deepcopy(original.module), x, target, steps, lr, update=other,
                                      update_biases=convention.update_biases, bias=convention.bias, loss=spec,
                                      allow_mismatch=allow_mismatch)
    result = Trace(scheme, network.sizes, network.activations, spec, float(lr), convention, rounds, errors, output,
                   summary, comparison, is_mazur(net), digits, _summary_rounds(steps) if summary else [])
    result.notes = [f"your names: {', '.join(f'{a} = {q}' for a, q in (aliases or {}).items())}"] if aliases else []
    result.notes += alias_notes
    return result
