"""A fast plain-text table for long listings.

rich renders a 1,000-row table in about 0.8 s here; a listing must stay well under that, so
``cairn ls`` formats its columns itself and adds ANSI colour only on a terminal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

ANSI = {
    "bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34",
    "magenta": "35", "cyan": "36",
}


def use_color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def paint(text: str, style: str, color: bool) -> str:
    if not color or not style:
        return text
    codes = ";".join(ANSI[s] for s in style.split() if s in ANSI)
    return f"\x1b[{codes}m{text}\x1b[0m" if codes else text


@dataclass
class Column:
    header: str
    cells: list[str]
    right: bool = False
    style: str = ""
    cell_styles: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return max([len(self.header), *(len(c) for c in self.cells)])


def render(columns: Sequence[Column], *, color: bool, gap: int = 2) -> str:
    widths = [c.width for c in columns]
    lines = []
    header = (" " * gap).join(
        (c.header.rjust(w) if c.right else c.header.ljust(w)) for c, w in zip(columns, widths,
                                                                                strict=True)
    )
    lines.append(paint(header.rstrip(), "bold", color))
    rows = len(columns[0].cells) if columns else 0
    for i in range(rows):
        parts = []
        for c, w in zip(columns, widths, strict=True):
            text = c.cells[i].rjust(w) if c.right else c.cells[i].ljust(w)
            style = c.cell_styles[i] if c.cell_styles else c.style
            parts.append(paint(text, style, color))
        lines.append((" " * gap).join(parts).rstrip())
    return "\n".join(lines)
