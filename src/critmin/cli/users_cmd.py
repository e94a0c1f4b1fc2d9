"""``critmin users add|token|list``: local accounts and API tokens in the store (``--db URL`` or $CRITMIN_DB)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from critmin.cli.common import JsonFlag, print_json, say, show_table

app = typer.Typer(help="Accounts (nationality USA/JPN, role viewer/analyst/releaser/admin) and API tokens.",
                  no_args_is_help=True)

#: The ``--db URL`` option of every store command.
DbOpt = Annotated[str | None, typer.Option("--db", envvar="CRITMIN_DB",
                                           help="Store: a database URL or a SQLite file (default: "
                                                "~/.local/share/critmin/critmin.db).")]


@contextmanager
def store_errors(source: str) -> Iterator[None]:
    """The store's permission and state errors as one-line input errors (exit 2), named after ``source``."""
    from critmin.errors import InputError
    from critmin.store import Conflict, Forbidden, NotFound

    try:
        yield
    except (Forbidden, NotFound, Conflict) as exc:
        raise InputError(source, None, str(exc)) from None


def open_store(db: str | None):  # noqa: ANN201 - a critmin.store.Store (imported lazily: fast --help)
    """The store at ``db`` (URL, file, or the default), migrated to the newest schema."""
    from critmin.store import Store

    return Store(db)


def _read_password(stdin: bool) -> str:
    if stdin:
        pw = sys.stdin.readline().rstrip("\r\n")
    else:
        pw = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return pw


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Account name (letters, digits, . _ -).")],
    nationality: Annotated[str, typer.Option("--nationality", help="USA or JPN.")],
    role: Annotated[str, typer.Option("--role", help="viewer, analyst, releaser or admin.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from the first line of stdin.")] = False,
    no_password: Annotated[bool, typer.Option("--no-password",
                                              help="No password: API tokens only (no page sign-in).")] = False,
    db: DbOpt = None,
) -> None:
    """Create an account. The password comes from --password-stdin or a prompt (at least 8 characters)."""
    store = open_store(db)
    password = None if no_password else _read_password(password_stdin)
    store.add_user(name, nationality.upper(), role.lower(), password)
    say(f"added {name} ({nationality.upper()}, {role.lower()})")


@app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="Account name.")],
    days: Annotated[float, typer.Option("--days", help="Days until the token expires.")] = 30,
    db: DbOpt = None,
) -> None:
    """Issue an API token and print it alone on stdout (it is stored hashed: this is the only time it is shown)."""
    store = open_store(db)
    tok = store.issue_token(name, days)
    sys.stdout.write(tok + "\n")


@app.command("password")
def password(
    name: Annotated[str, typer.Argument(help="Account name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read it from stdin.")] = False,
    db: DbOpt = None,
) -> None:
    """Set an account's password."""
    store = open_store(db)
    store.set_password(name, _read_password(password_stdin))
    say(f"password set for {name}")


@app.command("list")
def list_users(db: DbOpt = None, json_: JsonFlag = False) -> None:
    """The accounts: name, nationality, role, active tokens."""
    import pandas as pd

    rows = open_store(db).users()
    if json_:
        print_json(rows)
        return
    show_table(pd.DataFrame(rows, columns=["name", "nationality", "role", "tokens", "created", "disabled"]),
               title="Accounts")
