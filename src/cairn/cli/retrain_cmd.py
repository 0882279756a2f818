"""``cairn retrain NAME@ALIAS``: fold labelled production predictions into a new version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from cairn.cli.render import err_console, print_json

if TYPE_CHECKING:
    from cairn.retrain.retrain import RetrainResult


@click.command()
@click.argument("ref", metavar="NAME@VERSION_OR_ALIAS")
@click.option("--holdout", type=click.IntRange(min=0), metavar="N",
              help="Keep the N most recent labelled predictions out of training to compare "
                   "on (default: a fifth of them, at most 500).")
@click.option("--label-column", metavar="NAME",
              help="The label's column name in the training data (default: found in the "
                   "training run's CSV inputs, else 'target').")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv",
              show_default=True, help="The exported data file's format.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def retrain(ref: str, holdout: int | None, label_column: str | None, fmt: str,
            as_json: bool) -> None:
    """Retrain a served model on its labelled predictions and register the candidate.

    \b
    The model's training run is forked with the labelled predictions added as an input
    (its path is in CAIRN_FEEDBACK_DATA for the training script), the model it logs is
    registered as the next version with alias 'candidate', and both versions are scored
    on the most recent labelled predictions, held out of training.
    Promotion stays a human decision: cairn model alias NAME@V production
    """
    from cairn.cli.opening import open_project
    from cairn.retrain.retrain import RetrainOptions
    from cairn.retrain.retrain import retrain as do_retrain

    project, store = open_project()
    err = err_console()
    opts = RetrainOptions(holdout=holdout, label_column=label_column, fmt=fmt,
                          echo=not as_json, use_pty=False if as_json else None)
    result = do_retrain(project, store, ref, opts,
                        on_step=lambda line: err.print(f"cairn · {line}"))
    for warning in result.warnings:
        err.print(f"[yellow]cairn: warning:[/] {warning}")
    if as_json:
        print_json(result.to_json())
    render_summary(result)


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def render_summary(result: RetrainResult) -> None:
    """What was trained on, how the candidate compares, and how to promote it."""
    err = err_console()
    name, v = result.version.name, result.version.version
    err.print(f"cairn · forked run {result.training_run.number} with {result.data.rows:,} "
              f"labelled production rows → run {result.run.number}")
    cmp = result.comparison
    current_name = result.selector if not result.selector.isdigit() else \
        f"{name}@{result.current.version}"
    metric = cmp["metric"]
    if not cmp["rows"]:
        err.print(f"  candidate {name}@{v}: [dim]not compared (no rows held out)[/]")
    else:
        cand, cur = cmp["candidate"], cmp["current"]
        last = f"on the last {cmp['rows']:,} labelled prediction{'s' if cmp['rows'] != 1 else ''}"
        if "error" in cand:
            err.print(f"  candidate {name}@{v}: [yellow]could not be scored: {cand['error']}[/]")
        elif "error" in cur:
            err.print(f"  candidate {name}@{v}: {metric} {_fmt(cand.get(metric))} {last}; "
                      f"[yellow]{current_name} could not be scored: {cur['error']}[/]")
        else:
            style = {True: "green", False: "yellow", None: ""}[cmp["better"]]
            shown = f"[{style}]{_fmt(cand.get(metric))}[/]" if style else _fmt(cand.get(metric))
            err.print(f"  candidate {name}@{v}: {metric} {shown} vs {current_name} "
                      f"{_fmt(cur.get(metric))} {last}")
    err.print(f"  registered {name} version {v} (alias candidate) · promote: "
              f"[bold]cairn model alias {name}@{v} production[/]")
    err.print("[dim]Promotion stays a human decision.[/]")
