"""The two faces of a result: a table for people (rich) and a JSON file for the record."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from benchmarks.harness import CaseResult, Figure, SideResult, stats
from benchmarks.limits import FRACTIONS

RESULTS = Path(__file__).resolve().parent / "results"


def fmt(fig: Figure, value: float) -> str:
    if fig.unit == "s":
        a = abs(value)
        if a < 1e-3:
            return f"{value * 1e6:,.2f} µs"
        return f"{value * 1e3:,.1f} ms" if a < 1 else f"{value:,.2f} s"
    if fig.unit == "/s":
        for scale, prefix in ((1e6, "M"), (1e3, "k")):
            if value >= scale:
                return f"{value / scale:,.2f} {prefix} {fig.what}/s"
        return f"{value:,.0f} {fig.what}/s"
    if fig.unit == "GB/s":
        return f"{value:,.2f} GB/s"
    return f"{value:g}"


def _cell(fig: Figure, side: SideResult | None) -> Text:
    if side is None:
        return Text("")
    if side.status == "unavailable":
        return Text("not available yet", style="yellow")
    if side.status == "failed":
        return Text("FAILED", style="bold red")
    s = stats(side.samples.get(fig.key, []))
    if s is None:
        return Text("—", style="dim")
    text = Text(fmt(fig, s["median"]))
    if s["n"] > 1:
        text.append(f"\n{fmt(fig, s['min'])} – {fmt(fig, s['max'])}", style="dim")
    return text


def _ratio(values: list[float]) -> Text:
    s = stats(values)
    if s is None:
        return Text("")
    style = "green" if s["median"] >= 1 else "red"
    text = Text(f"{s['median']:,.2f}×", style=style)
    text.append("\n" + " · ".join(f"{v:,.2f}" for v in values), style="dim")
    return text


def table(results: list[CaseResult], title: str) -> Table:
    t = Table(title=title, show_lines=True, title_justify="left")
    t.add_column("case")
    t.add_column("figure")
    t.add_column("cairn", justify="right")
    t.add_column("anchor", justify="right")
    t.add_column("cairn × better\n(median; per pair)", justify="right")
    for r in results:
        anchor = r.anchor.tool if r.anchor else ""
        for i, fig in enumerate(r.figures):
            label = f"{r.scenario}\n{r.case}" if i == 0 else ""
            t.add_row(
                label, fig.label, _cell(fig, r.cairn),
                Text(f"{anchor}: ", style="dim") + _cell(fig, r.anchor) if r.anchor else "",
                _ratio(r.ratios.get(fig.key, [])),
            )
    return t


def fractions(results: list[CaseResult]) -> list[dict[str, Any]]:
    """cairn's figures beside the physical limits, as fractions, where both were measured."""

    def median(scenario: str, key: str) -> float | None:
        for r in results:
            side = r.cairn
            if r.scenario == scenario and side is not None and side.status == "ok":
                s = stats(side.samples.get(key, []))
                if s is not None:
                    return s["median"]
        return None

    out = []
    for f in FRACTIONS:
        value, limit = median(f.scenario, f.figure), median("limits", f.limit)
        if value is not None and limit is not None:
            out.append({"what": f.label, "cairn": value, "limit": limit,
                        "fraction": value / limit})
    return out


def fractions_table(rows: list[dict[str, Any]]) -> Table:
    t = Table(title="cairn as a fraction of the physical limit", title_justify="left")
    for col in ("what", "cairn", "limit", "fraction"):
        t.add_column(col, justify="left" if col == "what" else "right")
    for row in rows:
        t.add_row(row["what"], f"{row['cairn']:,.3g}", f"{row['limit']:,.3g}",
                  f"{row['fraction']:.0%}")
    return t


def notes(results: list[CaseResult], console: Console) -> None:
    for r in results:
        if r.note:
            console.print(f"[dim]{r.scenario}/{r.case}:[/dim] {r.note}", highlight=False)


def problems(results: list[CaseResult], console: Console) -> None:
    for r in results:
        for side in (r.cairn, r.anchor):
            if side is not None and side.status != "ok":
                style = "red" if side.status == "failed" else "yellow"
                word = "FAILED" if side.status == "failed" else "not available yet"
                console.print(f"[{style}]{r.scenario}/{r.case} — {side.tool} {word}:[/{style}] "
                              f"{side.reason}", highlight=False)


def _side_json(side: SideResult | None) -> dict[str, Any] | None:
    if side is None:
        return None
    return {"tool": side.tool, "status": side.status, "reason": side.reason,
            "seconds": round(side.seconds, 2), "samples": side.samples,
            "stats": {k: stats(v) for k, v in side.samples.items()}}


def to_json(results: list[CaseResult], meta: dict[str, Any]) -> dict[str, Any]:
    cases = []
    for r in results:
        cases.append({
            "scenario": r.scenario, "case": r.case, "note": r.note,
            "seconds": round(r.seconds, 2),
            "figures": [{"key": f.key, "label": f.label, "unit": f.unit, "what": f.what,
                         "higher_is_better": f.higher_is_better} for f in r.figures],
            "cairn": _side_json(r.cairn), "anchor": _side_json(r.anchor),
            "ratios": {k: {"per_pair": v, **(stats(v) or {})} for k, v in r.ratios.items()},
        })
    return {**meta, "ratio_meaning": "how many times better cairn is (>1: cairn better)",
            "cases": cases, "fractions_of_limits": fractions(results)}


def _md_cell(fig: Figure, side: SideResult | None) -> str:
    if side is None:
        return ""
    if side.status != "ok":
        return "FAILED" if side.status == "failed" else "not available yet"
    s = stats(side.samples.get(fig.key, []))
    if s is None:
        return "—"
    return f"{fmt(fig, s['median'])} ({fmt(fig, s['min'])} – {fmt(fig, s['max'])})"


def markdown(results: list[CaseResult], data: dict[str, Any]) -> str:
    """The table as Markdown, with the machine and versions, for ``benchmarks/README.md``."""
    m = data["machine"]
    lines = [
        f"{data['mode']} mode, {data['pairs']} pairs, {data['started_at']}; {m['cpu']}, "
        f"{m['cores_logical']} cores, {m['ram_gib']} GiB RAM, {m['os']}, Python {m['python']}, "
        f"scratch on {m['scratch_filesystem']}; load average "
        f"{data['load_average_1min']['start']:.1f}; "
        + ", ".join(f"{k} {v}" for k, v in data["versions"].items() if v),
        "",
        "| case | figure | cairn | anchor | cairn × better (per pair) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for fig in r.figures:
            ratios = r.ratios.get(fig.key, [])
            s = stats(ratios)
            ratio = "" if s is None else (f"**{s['median']:,.2f}×** ("
                                          + ", ".join(f"{v:,.2f}" for v in ratios) + ")")
            anchor = f"{r.anchor.tool}: {_md_cell(fig, r.anchor)}" if r.anchor else ""
            lines.append(f"| {r.scenario} / {r.case} | {fig.label} | {_md_cell(fig, r.cairn)} "
                         f"| {anchor} | {ratio} |")
    lines.append("")
    lines += [f"- {r.scenario} / {r.case}: {r.note}" for r in results if r.note]
    if data["fractions_of_limits"]:
        lines += ["", "cairn as a fraction of the physical limit:", ""]
        lines += [f"- {f['what']}: {f['fraction']:.0%} ({f['cairn']:,.3g} of {f['limit']:,.3g})"
                  for f in data["fractions_of_limits"]]
    return "\n".join(lines) + "\n"


def write(data: dict[str, Any], results: list[CaseResult], quick: bool) -> Path:
    """``results/STAMP-MODE.json`` with every figure, and the same table as ``.md`` beside it."""
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{stamp}-{'quick' if quick else 'full'}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(results, data))
    return path
