"""Small inline SVG drawings of the deployment page: a trend line and training-vs-live bars.

Drawn on the server, like the lineage graph, so that a table row can hold one without a
script. Numbers are the only data placed in the SVG; every label is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

LINE = "#0969da"
DRIFTED = "#cf222e"
STEADY = "#1a7f37"
TRAINING = "#d1d9e0"
THRESHOLD = "#9a6700"


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def sparkline_svg(values: Sequence[float | None], *, threshold: float | None = None,
                  alarm: bool = False, width: int = 120, height: int = 28,
                  label: str = "trend") -> str:
    """A line through ``values`` (oldest first), red when ``alarm``; a dashed line marks
    ``threshold``."""
    known = _finite(values)
    if len(known) < 2:
        return ""
    low = min(known + ([threshold] if threshold is not None else []))
    high = max(known + ([threshold] if threshold is not None else []))
    span = (high - low) or 1.0
    pad = 3.0

    def y(v: float) -> float:
        return height - pad - (v - low) / span * (height - 2 * pad)

    step = (width - 2 * pad) / (len(values) - 1)
    points = [f"{pad + i * step:.1f},{y(v):.1f}" for i, v in enumerate(values)
              if v is not None and math.isfinite(v)]
    parts = [f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} '
             f'{height}" role="img" aria-label="{escape(label)}">']
    if threshold is not None:
        ty = y(threshold)
        parts.append(f'<line x1="0" y1="{ty:.1f}" x2="{width}" y2="{ty:.1f}" '
                     f'stroke="{THRESHOLD}" stroke-width="1" stroke-dasharray="3 2"/>')
    colour = DRIFTED if alarm else LINE
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
                 'stroke-width="1.6" stroke-linejoin="round"/>')
    lx, ly = points[-1].split(",")
    parts.append(f'<circle cx="{lx}" cy="{ly}" r="2.2" fill="{colour}"/></svg>')
    return "".join(parts)


def bars_svg(labels: Sequence[str], training: Sequence[float], live: Sequence[float], *,
             drifted: bool | None, width: int = 220, height: int = 44,
             label: str = "training and live distributions") -> str:
    """Per bin, the training share (grey) and the live share in front (red when drifted)."""
    if not labels or len(labels) != len(training) or len(labels) != len(live):
        return ""
    top = max([*training, *live, 1e-9])
    slot = width / len(labels)
    colour = DRIFTED if drifted else STEADY if drifted is False else LINE
    parts = [f'<svg class="bars" width="{width}" height="{height}" viewBox="0 0 {width} '
             f'{height}" role="img" aria-label="{escape(label)}">']
    for i, (name, t, v) in enumerate(zip(labels, training, live, strict=True)):
        x = i * slot
        th = t / top * (height - 2)
        vh = v / top * (height - 2)
        tip = f"{name}: training {t:.0%}, live {v:.0%}"
        parts.append(
            f"<g><title>{escape(tip)}</title>"
            f'<rect x="{x + 0.5:.1f}" y="{height - th:.1f}" width="{slot - 1:.1f}" '
            f'height="{th:.1f}" fill="{TRAINING}"/>'
            f'<rect x="{x + slot * 0.25:.1f}" y="{height - vh:.1f}" width="{slot * 0.5:.1f}" '
            f'height="{vh:.1f}" fill="{colour}" fill-opacity="0.85"/></g>'
        )
    parts.append(f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" '
                 'stroke="#8c959f" stroke-width="1"/></svg>')
    return "".join(parts)
