"""Small drawings as inline SVG: a run's lineage and a parallel-coordinates chart.

Both are drawn on the server so that they need no script, print well, and can be placed in a
self-contained report as they are. Every text that comes from a run is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

STATUS_COLOURS = {"running": "#0969da", "finished": "#1a7f37", "failed": "#cf222e",
                  "killed": "#9a6700", "crashed": "#8250df"}
VERDICT_COLOURS = {"REPRODUCED": "#1a7f37", "DIVERGED": "#9a6700", "FAILED": "#cf222e"}
RELATION_LABELS = {"parent": "parent of", "forked_from": "forked into",
                   "reproduces": "reproduced by"}


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _num(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


# -- lineage -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GraphNode:
    title: str
    subtitle: str
    href: str | None
    status: str | None = None
    verdict: str | None = None


NODE_W, NODE_H, GAP, COL_GAP = 220, 46, 14, 150
MAX_NODES = 10


def _node(node: GraphNode, x: float, y: float, *, centre: bool = False) -> str:
    colour = STATUS_COLOURS.get(node.status or "", "#8c959f")
    stroke = 2.5 if centre else 1.2
    fill = "#f6f8fa" if not centre else "#ffffff"
    verdict = ""
    if node.verdict:
        vc = VERDICT_COLOURS.get(node.verdict, "#57606a")
        verdict = f' <tspan fill="{vc}" font-weight="600">{escape(node.verdict)}</tspan>'
    body = (
        f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="7" fill="{fill}" '
        f'stroke="{colour}" stroke-width="{stroke}"/>'
        f'<text x="{x + 12}" y="{y + 19}" font-size="13" font-weight="600" fill="#1f2328">'
        f"{escape(_short(node.title, 28))}</text>"
        f'<text x="{x + 12}" y="{y + 36}" font-size="11.5" fill="{colour}">'
        f"{escape(_short(node.subtitle, 30))}{verdict}</text>"
    )
    if node.href:
        return f'<a href="{escape(node.href)}"><title>{escape(node.title)}</title>{body}</a>'
    return f"<g><title>{escape(node.title)}</title>{body}</g>"


def _edge(x1: float, y1: float, x2: float, y2: float, label: str) -> str:
    mid = (x1 + x2) / 2
    path = f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2 - 6},{y2}"
    lx, ly = mid, (y1 + y2) / 2
    width = 6.4 * len(label) + 10
    return (
        f'<path d="{path}" fill="none" stroke="#8c959f" stroke-width="1.4" '
        f'marker-end="url(#cairn-arrow)"/>'
        f'<rect x="{lx - width / 2}" y="{ly - 9}" width="{width}" height="17" rx="8" '
        f'fill="#ffffff" stroke="#d0d7de"/>'
        f'<text x="{lx}" y="{ly + 4}" font-size="11" text-anchor="middle" fill="#57606a">'
        f"{escape(label)}</text>"
    )


def lineage_svg(centre: GraphNode, upstream: Sequence[tuple[str, GraphNode]],
                downstream: Sequence[tuple[str, GraphNode]]) -> str:
    """This run in the middle, the runs it came from on the left, those made from it right."""
    up = list(upstream[:MAX_NODES])
    down = list(downstream[:MAX_NODES])
    hidden = len(downstream) - len(down)
    n_down = len(down) + (1 if hidden else 0)
    rows = max(len(up), n_down, 1)
    height = rows * (NODE_H + GAP) + GAP
    left = GAP
    cx = left + (NODE_W + COL_GAP if up else 0)
    right = cx + NODE_W + COL_GAP
    width = (right if down or hidden else cx) + NODE_W + GAP
    cy = (height - NODE_H) / 2
    parts = [
        f'<svg class="lineage" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="lineage">',
        '<defs><marker id="cairn-arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#8c959f"/></marker></defs>',
    ]

    def column_y(i: int, n: int) -> float:
        top = (height - (n * (NODE_H + GAP) - GAP)) / 2
        return top + i * (NODE_H + GAP)

    for i, (relation, node) in enumerate(up):
        y = column_y(i, len(up))
        parts.append(_edge(left + NODE_W, y + NODE_H / 2, cx, cy + NODE_H / 2,
                           RELATION_LABELS.get(relation, relation)))
        parts.append(_node(node, left, y))
    for i, (relation, node) in enumerate(down):
        y = column_y(i, n_down)
        parts.append(_edge(cx + NODE_W, cy + NODE_H / 2, right, y + NODE_H / 2,
                           RELATION_LABELS.get(relation, relation)))
        parts.append(_node(node, right, y))
    if hidden:
        y = column_y(len(down), n_down)
        parts.append(f'<text x="{right + 12}" y="{y + 26}" font-size="12" fill="#57606a">'
                     f"… and {hidden} more</text>")
    parts.append(_node(centre, cx, cy, centre=True))
    parts.append("</svg>")
    return "".join(parts)


# -- parallel coordinates ----------------------------------------------------------------------
@dataclass(frozen=True)
class ParallelLine:
    label: str
    href: str | None  # None in a report, which has no pages to link to
    params: Mapping[str, Any]
    value: float | None


PC_W, PC_H = 960, 340
PAD_L, PAD_R, PAD_T, PAD_B = 60, 130, 46, 30
WORST, BEST = (198, 219, 239), (8, 81, 156)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class _Axis:
    """Where a value sits on one vertical axis (0 bottom, 1 top), numeric or by category."""

    def __init__(self, title: str, values: Sequence[Any]) -> None:
        self.title = title
        present = [v for v in values if v is not None]
        self.numeric = bool(present) and all(_is_number(v) for v in present)
        self.cats: list[str] = []
        self.lo = self.hi = 0.0
        self.log = False
        if self.numeric:
            self.lo, self.hi = float(min(present)), float(max(present))
            self.log = self.lo > 0 and self.hi / self.lo >= 1000
        else:
            self.cats = sorted({self.cat(v) for v in present})

    @staticmethod
    def cat(v: Any) -> str:
        return v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)

    def pos(self, v: Any) -> float | None:
        if v is None:
            return None
        if self.numeric:
            if not _is_number(v):
                return None
            if self.hi == self.lo:
                return 0.5
            if self.log:
                return (math.log10(v) - math.log10(self.lo)) / (
                    math.log10(self.hi) - math.log10(self.lo))
            return (float(v) - self.lo) / (self.hi - self.lo)
        label = self.cat(v)
        if label not in self.cats:
            return None
        return 0.5 if len(self.cats) == 1 else self.cats.index(label) / (len(self.cats) - 1)

    def ticks(self) -> list[tuple[float, str]]:
        if not self.numeric:
            shown = self.cats if len(self.cats) <= 12 else self.cats[:: len(self.cats) // 10 + 1]
            return [(self.pos(c) or 0.0, _short(c, 14)) for c in shown]
        if self.hi == self.lo:
            return [(0.5, _num(self.lo))]
        if self.log:
            return [(0.0, _num(self.lo)), (0.5, _num(math.sqrt(self.lo * self.hi))),
                    (1.0, _num(self.hi))]
        return [(i / 4, _num(self.lo + (self.hi - self.lo) * i / 4)) for i in range(5)]


def _mix(t: float) -> str:
    r, g, b = (round(w + (bst - w) * t) for w, bst in zip(WORST, BEST, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _spread(ys: dict[int, float], gap: float = 13.0) -> dict[int, float]:
    """Move labels apart vertically so that none overlaps the next (order kept)."""
    out: dict[int, float] = {}
    last = -math.inf
    for key, y in sorted(ys.items(), key=lambda kv: kv[1]):
        last = max(y, last + gap)
        out[key] = last
    return out


def parallel_svg(lines: Sequence[ParallelLine], axes: Sequence[str], metric: str, *,
                 higher_is_better: bool = True) -> str:
    """One polyline per run across the param axes, ending at ``metric``; best darkest."""
    if not metric:
        return '<p class="muted">These runs logged no metric to draw the params against.</p>'
    if not axes:
        return ('<p class="muted">These runs share every param: there is nothing to draw '
                f"against {escape(metric)}.</p>")
    scales = [_Axis(a, [ln.params.get(a) for ln in lines]) for a in axes]
    scales.append(_Axis(metric, [ln.value for ln in lines]))
    n = len(scales)
    span_x = (PC_W - PAD_L - PAD_R) / (n - 1)
    span_y = PC_H - PAD_T - PAD_B

    def xy(i: int, p: float) -> tuple[float, float]:
        return PAD_L + i * span_x, PAD_T + (1 - p) * span_y

    parts = [f'<svg class="parallel" viewBox="0 0 {PC_W} '
             f'{PC_H}" width="{PC_W}" height="{PC_H}" role="img" '
             f'aria-label="params against {escape(metric)}">']
    metric_axis = scales[-1]

    def goodness(line: ParallelLine) -> float:
        p = metric_axis.pos(line.value)
        if p is None:
            return -1.0
        return p if higher_is_better else 1 - p

    label_y = _spread({
        i: xy(n - 1, end)[1] for i, ln in enumerate(lines)
        if (end := metric_axis.pos(ln.value)) is not None
    })
    for i, line in sorted(enumerate(lines), key=lambda pair: goodness(pair[1])):
        g = goodness(line)
        colour, width, dash = ("#afb8c1", 1.4, ' stroke-dasharray="4 3"') if g < 0 else (
            _mix(g), 1.6 + 1.8 * g, "")
        d: list[str] = []
        pen_up = True
        for j, axis in enumerate(scales):
            value = line.value if j == n - 1 else line.params.get(axis.title)
            p = axis.pos(value)
            if p is None:
                pen_up = True
                continue
            x, y = xy(j, p)
            d.append(f"{'M' if pen_up else 'L'}{x:.1f},{y:.1f}")
            pen_up = False
        label = ""
        if i in label_y:
            x = xy(n - 1, 0)[0]
            label = (f'<text x="{x + 10}" y="{label_y[i] + 4:.1f}" font-size="11" '
                     f'fill="{colour}">{escape(_short(line.label, 18))}</text>')
        value = "missing" if line.value is None else _num(line.value)
        opening = f'<a href="{escape(line.href)}" class="pc-line">' if line.href else (
            '<g class="pc-line">')
        parts.append(
            f"{opening}<title>{escape(line.label)}: {escape(metric)} = {escape(value)}</title>"
            f'<path d="{" ".join(d)}" fill="none" stroke="{colour}" stroke-width="{width:.1f}" '
            f'stroke-linejoin="round"{dash}/>{label}{"</a>" if line.href else "</g>"}'
        )
    for i, axis in enumerate(scales):
        x, _ = xy(i, 0)
        parts.append(f'<line x1="{x}" y1="{PAD_T}" x2="{x}" y2="{PAD_T + span_y}" '
                     f'stroke="#57606a" stroke-width="1"/>')
        weight = "700" if i == n - 1 else "600"
        parts.append(f'<text x="{x}" y="{PAD_T - 22}" font-size="12" font-weight="{weight}" '
                     f'text-anchor="middle" fill="#1f2328"><title>{escape(axis.title)}</title>'
                     f"{escape(_short(axis.title, 18))}</text>")
        if axis.log:
            parts.append(f'<text x="{x}" y="{PAD_T - 9}" font-size="10" text-anchor="middle" '
                         f'fill="#8c959f">log</text>')
        for tick, label in axis.ticks():
            _, y = xy(i, tick)
            parts.append(f'<line x1="{x - 3}" y1="{y}" x2="{x + 3}" y2="{y}" stroke="#57606a"/>'
                         f'<text x="{x - 6}" y="{y + 3.5}" font-size="10" text-anchor="end" '
                         f'fill="#57606a" stroke="#ffffff" stroke-width="3" '
                         f'paint-order="stroke">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
