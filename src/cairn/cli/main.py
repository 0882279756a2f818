"""The ``cairn`` command: a lazy group, so ``cairn --help`` imports no command's code.

Errors are rendered here and only here (``render_error``): a ``CairnError`` becomes one line
on stderr (plus a caret under a filter's column, plus a hint) and its exit code; ``--debug``
or ``CAIRN_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from cairn.errors import CairnError

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:attribute, one-line help shown by `cairn --help`)
    "init": ("cairn.cli.project_cmds:init", "Make a .cairn/ project here (or in the git root)."),
    "run": ("cairn.cli.run_cmd:run", "Run a command tracked: code, environment, params, data."),
    "snapshot": ("cairn.cli.run_cmd:snapshot", "Record the current state as a run."),
    "ls": ("cairn.cli.runs_cmds:ls", "List runs, newest first."),
    "show": ("cairn.cli.runs_cmds:show", "Show everything recorded about a run."),
    "logs": ("cairn.cli.runs_cmds:logs", "Print a run's stdout/stderr."),
    "diff": ("cairn.cli.diff_cmd:diff", "Compare two runs side by side."),
    "report": ("cairn.cli.report_cmd:report", "Write runs to one self-contained HTML report."),
    "fsck": ("cairn.cli.project_cmds:fsck", "Rehash every stored object; name corrupt ones."),
    "checkout": ("cairn.cli.repro_cmds:checkout", "Restore a run's code, inputs and outputs."),
    "repro": ("cairn.cli.repro_cmds:repro", "Rebuild a run, re-run it and verify its results."),
    "env": ("cairn.cli.repro_cmds:env", "Export a run's environment (requirements, Docker, uv)."),
    "fork": ("cairn.cli.fork_cmd:fork", "Re-run a run with your params and data, linked to it."),
    "model": ("cairn.cli.model_cmds:model", "Register models, move aliases, export them."),
    "serve": ("cairn.cli.serve_cmds:serve", "Serve a registered model over HTTP."),
    "monitor": ("cairn.cli.serve_cmds:monitor", "Live metrics and drift of a served model."),
    "retrain": ("cairn.cli.retrain_cmd:retrain", "Retrain a model on its labelled predictions."),
    "server": ("cairn.cli.server_cmds:server", "Serve the API, sync and web UI; users, tokens."),
    "remote": ("cairn.cli.remote_cmds:remote", "Add, list or remove remotes (servers, buckets)."),
    "login": ("cairn.cli.remote_cmds:login", "Save an API token for a remote server."),
    "push": ("cairn.cli.remote_cmds:push", "Send runs to a remote; only missing objects move."),
    "pull": ("cairn.cli.remote_cmds:pull", "Fetch runs from a remote (REMOTE:RUN)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target[0].split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_target, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.version_option(package_name="cairn", prog_name="cairn")
def cli(debug: bool) -> None:
    """cairn records every run so that anyone can find it, rebuild it and verify it.

    \b
    Start with:  cairn run -- python train.py
    Then:        cairn ls · cairn show last · cairn diff 1 2
    """
    if debug:
        from cairn.settings import enable_debug

        enable_debug()


def main(argv: list[str] | None = None) -> None:
    from cairn.errors import CairnError

    try:
        _check_arguments(sys.argv[1:] if argv is None else argv)
        cli.main(args=argv, prog_name="cairn", standalone_mode=False)
    except CairnError as exc:
        from cairn.settings import debug_enabled

        if debug_enabled():
            raise
        print(render_error(exc), file=sys.stderr)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        print("cairn: interrupted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("cairn: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        _quiet_broken_pipe()
    sys.exit(0)


def render_error(exc: CairnError) -> str:
    """What the terminal shows of ``exc``: its sentence, the caret under a filter's column,
    and its hint, each indented line under the first."""
    from cairn.errors import FilterSyntaxError

    lines = [f"cairn: error: {exc.message}"]
    if isinstance(exc, FilterSyntaxError):
        lines += [f"  {exc.expression}", f"  {' ' * exc.position}^"]
    if exc.hint:
        lines += [f"  {line}" for line in exc.hint.splitlines()]
    return "\n".join(lines)


def _check_arguments(args: list[str]) -> None:
    """Arguments whose bytes are not UTF-8 arrive holding surrogates, which cannot be stored."""
    from cairn._util.text import require_text

    for arg in args:
        require_text(arg, f"the argument {arg!r}")


def _quiet_broken_pipe() -> Any:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)
