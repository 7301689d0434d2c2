"""A table as data, rendered as Markdown (table.md) or HTML (report.html) from the same cells."""

from __future__ import annotations

import html
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, emphasis, and a note shown after it."""

    text: str
    bold: bool = False
    italic: bool = False
    note: str = ""
    """Shown after the text, never bold (e.g. the published value beside our score)."""


@dataclass(frozen=True)
class Table:
    """A header, optional subheader and rows of cells, rendered by to_markdown and to_html."""

    header: list[str]
    rows: list[list[Cell]]
    subheader: list[str] = field(default_factory=list)
    """A second header line (e.g. the metric under each dataset); Markdown shows it as the first body row."""


def to_markdown(table: Table) -> str:
    """The table as a GitHub-flavoured Markdown table, columns padded to equal width; bold as **x**, italic as *x*."""
    rows = [table.header, *([table.subheader] if table.subheader else []), *map(_markdown_cells, table.rows)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines) + "\n"


def to_html(table: Table) -> str:
    """A header cell followed by empty ones spans them (a dataset over its metric columns)."""
    head = [_html_header_row(table.header)]
    if table.subheader:
        head.append(_html_header_row(table.subheader))
    body = ["<tr>" + "".join(_html_cell(cell) for cell in row) + "</tr>" for row in table.rows]
    return ("<table>\n<thead>\n" + "\n".join(head) + "\n</thead>\n<tbody>\n" + "\n".join(body)
            + "\n</tbody>\n</table>\n")


def _markdown_cells(row: list[Cell]) -> list[str]:
    return [(f"**{c.text}**" if c.bold else f"*{c.text}*" if c.italic and c.text else c.text) + c.note for c in row]


def _html_header_row(cells: list[str]) -> str:
    spans: list[tuple[str, int]] = []
    for text in cells:
        if text == "" and spans and spans[-1][0] != "":
            spans[-1] = (spans[-1][0], spans[-1][1] + 1)
        else:
            spans.append((text, 1))
    parts = [f'<th colspan="{span}">{html.escape(text)}</th>' if span > 1 else f"<th>{html.escape(text)}</th>"
             for text, span in spans]
    return "<tr>" + "".join(parts) + "</tr>"


def _html_cell(cell: Cell) -> str:
    text = html.escape(cell.text)
    if cell.bold:
        text = f"<strong>{text}</strong>"
    if cell.italic:
        text = f"<em>{text}</em>"
    return f"<td>{text}{html.escape(cell.note)}</td>"
