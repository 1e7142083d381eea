"""Tables of numbers shown next to the pictures: they print as text and render as HTML in a
notebook, so a number can be read exactly where a picture only shows a shape."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, repr=False)
class Table:
    """Rows of numbers that print as text and render as an HTML table in a notebook."""

    columns: tuple[str, ...]
    rows: tuple[tuple, ...]
    title: str = ""

    @staticmethod
    def _format(value) -> str:
        if isinstance(value, float | np.floating):
            return "-" if np.isnan(value) else f"{value:.3f}"
        return str(value)

    def __str__(self) -> str:
        cells = [list(self.columns)] + [[self._format(v) for v in row] for row in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
        return "\n".join(([self.title] if self.title else []) + lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(self._format(v))}</td>" for v in row) + "</tr>"
            for row in self.rows
        )
        caption = f"<caption>{escape(self.title)}</caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
