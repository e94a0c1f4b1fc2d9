"""The ``critmin`` command: ``critmin [--world PATH] COMMAND ...``.

Every command is a thin layer over the Python API. Bad input raises
:class:`critmin.errors.InputError`, which :func:`run` prints as one line on
stderr before exiting with status 2.
"""

from __future__ import annotations

import sys

import typer

from critmin.cli import (
    audit_cmd,
    brief_cmd,
    data_cmd,
    network_cmd,
    optimize_cmd,
    registry_cmd,
    report_cmd,
    risk_cmd,
    serve_cmd,
    simulate_cmd,
    store_cmd,
    users_cmd,
    worker_cmd,
)
from critmin.cli.common import err_console, hint, set_world_path
from critmin.errors import InputError

app = typer.Typer(
    name="critmin",
    help="Critical-mineral supply chains: data, exposure, disruption scenarios, stockpiles, projects.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    world: str = typer.Option(
        None, "--world", envvar="CRITMIN_WORLD", help="World folder to use (default: the embedded one)."
    ),
) -> None:
    set_world_path(world)
    _show_alias_hints()


def _show_alias_hints() -> None:
    """Print each :class:`critmin.world.AliasHint` once per command as a ``hint:`` line on stderr."""
    import warnings

    from critmin.world import AliasHint

    seen: set[str] = set()
    previous = getattr(warnings.showwarning, "_critmin_previous", warnings.showwarning)

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202 - warnings API
        if issubclass(category, AliasHint):
            if str(message) not in seen:
                seen.add(str(message))
                hint(str(message))
            return
        previous(message, category, filename, lineno, file, line)

    show._critmin_previous = previous  # type: ignore[attr-defined]
    warnings.filterwarnings("always", category=AliasHint)
    warnings.showwarning = show


app.add_typer(data_cmd.app, name="data")
app.add_typer(risk_cmd.app, name="risk")
app.add_typer(network_cmd.app, name="network")
app.command("simulate")(simulate_cmd.simulate)
app.command("backtest")(simulate_cmd.backtest)
app.add_typer(simulate_cmd.scenarios_app, name="scenarios")
app.add_typer(registry_cmd.projects_app, name="projects")
app.add_typer(registry_cmd.invest_app, name="invest")
app.command("brief")(brief_cmd.brief)
app.command("serve")(serve_cmd.serve)
app.command("worker")(worker_cmd.worker)
app.command("report")(report_cmd.report)
app.add_typer(users_cmd.app, name="users")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(store_cmd.app, name="store")
app.add_typer(optimize_cmd.app, name="optimize")


def run() -> None:
    """Console-script entry point: run the app, turning input errors into exit 2.

    With ``standalone_mode=False`` click does not exit: a ``typer.Exit(n)`` raised by a command (and
    ``--help``) comes back as the return value ``n``, which becomes the process exit status here.
    """
    try:
        rv = app(standalone_mode=False)
    except InputError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:  # a path the user gave cannot be read or written (permissions, missing folder, ...)
        where = exc.filename if exc.filename is not None else "file"
        problem = exc.strerror or exc.__class__.__name__
        err_console.print(f"error: {where}: {problem}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        err_console.print("error: aborted", markup=False)
        sys.exit(130)
    except Exception as exc:  # click usage errors (click's own classes, or the copy Typer >= 0.20 vendors)
        usage, base = _click_exception_types()
        if isinstance(exc, usage):
            msg = exc.format_message().replace("\n", " ")
            cmd = exc.ctx.command_path if exc.ctx else "critmin"
            if msg.strip():  # a group called without a command printed its help: no empty error line
                err_console.print(f"error: {cmd}: {msg}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(2)
        if isinstance(exc, base):
            err_console.print(f"error: {exc.format_message()}", markup=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        raise
    if isinstance(rv, int) and not isinstance(rv, bool) and rv != 0:
        sys.exit(rv)


def _click_exception_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(usage-error classes, click-exception classes) of click and of Typer's vendored copy, where present."""
    import importlib

    usage: list[type] = []
    base: list[type] = []
    for name in ("click.exceptions", "typer._click.exceptions"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        usage.append(mod.UsageError)
        base.append(mod.ClickException)
    return tuple(usage), tuple(base)


if __name__ == "__main__":
    run()
