"""Write derivation lines as plain text, Markdown, LaTeX, HTML or rich tables.

Each :class:`~chainrule.learn.lines.Line` becomes ``name = form = ... = numbers = value``:
the symbolic forms with the scheme's names, then the last form with every quantity
replaced by its number, then the engine's value. A numbers form identical to the
value (``out_o1 = net_o1 = 0.7 = 0.7``) is left out.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from chainrule.learn import expr as ex
from chainrule.learn.lines import Line, Section
from chainrule.learn.naming import Names

__all__ = ["line_parts", "line_text", "line_latex", "sections_text", "sections_markdown", "sections_latex",
           "sections_html", "sections_rich", "markdown_table", "latex_text"]


def line_parts(line: Line, names: Names, values: Mapping[str, float], style: str = "text",
               digits: int = 9) -> tuple[str, list[str], str, str]:
    """(left side, symbolic forms, numbers form or "", value) of ``line`` in ``style``."""
    label = names.latex if style == "latex" else names.text
    forms = [ex.render(form, style, label, digits=digits) for form in line.forms]
    value = ex.render(ex.Num(line.value), style, digits=digits)
    numbers = ""
    if line.forms:
        numbers = ex.render(line.forms[-1], style, label, values, digits)
        if numbers in (value, forms[-1]):
            numbers = ""
    return label(line.name), forms, numbers, value


def line_text(line: Line, names: Names, values: Mapping[str, float], digits: int = 9) -> str:
    """``net_h1 = w1*i1 + w2*i2 + b1*1 = 0.15*0.05 + 0.2*0.1 + 0.35*1 = 0.3775``."""
    left, forms, numbers, value = line_parts(line, names, values, "text", digits)
    text = " = ".join(_distinct([left, *forms, numbers, value]))
    return text + (f"   ({line.note})" if line.note else "")


def line_latex(line: Line, names: Names, values: Mapping[str, float], digits: int = 9) -> str:
    """The line as one LaTeX math expression (no environment, no alignment marks)."""
    left, forms, numbers, value = line_parts(line, names, values, "latex", digits)
    return " = ".join(_distinct([left, *forms, numbers, value]))


def _distinct(parts: list[str]) -> list[str]:
    """The non-empty parts, each differing from the one before (no "= 1 = 1")."""
    kept: list[str] = []
    for part in parts:
        if part and (not kept or part != kept[-1]):
            kept.append(part)
    return kept


def sections_text(sections: Sequence[Section], names: Names, values: Mapping[str, float], digits: int = 9) -> str:
    blocks = []
    for section in sections:
        body = "\n".join("  " + line_text(line, names, values, digits) for line in section.lines)
        blocks.append(f"{section.title}\n{body}")
    return "\n\n".join(blocks)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table; cells are escaped for pipes."""
    def cell(text: str) -> str:
        return text.replace("|", r"\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def sections_markdown(sections: Sequence[Section], names: Names, values: Mapping[str, float],
                      digits: int = 9, level: int = 3) -> str:
    blocks = []
    for section in sections:
        rows = []
        for line in section.lines:
            left, forms, numbers, value = line_parts(line, names, values, "text", digits)
            formula = " = ".join(forms)
            rows.append([_code(left), _code(formula), _code(numbers), _code(value), line.note])
        table = markdown_table(["quantity", "formula", "numbers", "value", "note"], rows)
        blocks.append(f"{'#' * level} {section.title}\n\n{table}")
    return "\n\n".join(blocks)


def sections_latex(sections: Sequence[Section], names: Names, values: Mapping[str, float],
                   digits: int = 9) -> str:
    """One ``align*`` environment per section, one line per quantity (notes as comments)."""
    blocks = []
    for section in sections:
        rows = []
        for line in section.lines:
            math = line_latex(line, names, values, digits)
            left, _, right = math.partition(" = ")
            row = f"  {left} &= {_break_latex(right)} \\\\"
            rows.append(row + (f" % {line.note}" if line.note else ""))
        blocks.append(f"\\paragraph{{{latex_text(section.title)}}}\n\\begin{{align*}}\n" + "\n".join(rows)
                      + "\n\\end{align*}")
    return "\n\n".join(blocks)


def _break_latex(math: str, width: int = 100) -> str:
    """A long right-hand side broken across align* rows: each ``=`` part, and long sums at their + and -.

    Breaks only where braces are balanced, so every row is valid LaTeX on its own.
    """
    if len(math) <= width:
        return math
    rows: list[str] = []
    for k, part in enumerate(math.split(" = ")):
        pieces, depth, start, current = [], 0, 0, ""
        for pos, char in enumerate(part):
            depth += {"{": 1, "}": -1}.get(char, 0)
            if depth == 0 and part[pos:pos + 3] in (" + ", " - ") and pos - start > width:
                pieces.append(part[start:pos])
                start = pos + 1
        pieces.append(part[start:])
        current = pieces[0] if k == 0 else "&= " + pieces[0]
        rows.append(current)
        rows += ["&\\quad " + piece.strip() for piece in pieces[1:]]
    return " \\\\\n    ".join(rows)


def latex_text(text: str) -> str:
    """``text`` with LaTeX's special characters escaped, for use outside math."""
    escapes = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "^": r"\^{}",
               "{": r"\{", "}": r"\}", "$": r"\$", "~": r"\textasciitilde{}"}
    return "".join(escapes.get(char, char) for char in text)


def sections_html(sections: Sequence[Section], names: Names, values: Mapping[str, float], digits: int = 9) -> str:
    parts = []
    for section in sections:
        parts.append(f"<h4>{html.escape(section.title)}</h4>")
        parts.append("<table><thead><tr><th>quantity</th><th>formula</th><th>numbers</th><th>value</th>"
                     "</tr></thead><tbody>")
        for line in section.lines:
            left, forms, numbers, value = line_parts(line, names, values, "text", digits)
            note = f" <em>({html.escape(line.note)})</em>" if line.note else ""
            cells = [left, " = ".join(forms), numbers]
            parts.append("<tr>" + "".join(f"<td><code>{html.escape(c)}</code></td>" for c in cells)
                         + f"<td>{html.escape(value)}{note}</td></tr>")
        parts.append("</tbody></table>")
    return "\n".join(parts)


def sections_rich(sections: Sequence[Section], names: Names, values: Mapping[str, float],
                  digits: int = 9) -> list[Any]:
    """rich Tables, one per section (rich is imported here, only when asked)."""
    from rich.table import Table
    from rich.text import Text  # plain Text: brackets in formulas are not rich markup

    tables = []
    for section in sections:
        table = Table(title=section.title, title_justify="left", show_lines=False)
        for column in ("quantity", "formula", "numbers", "value"):
            table.add_column(column, overflow="fold", justify="right" if column == "value" else "left")
        for line in section.lines:
            left, forms, numbers, value = line_parts(line, names, values, "text", digits)
            cells = (left, " = ".join(forms), numbers, value + (f" ({line.note})" if line.note else ""))
            table.add_row(*(Text(cell) for cell in cells))
        tables.append(table)
    return tables
