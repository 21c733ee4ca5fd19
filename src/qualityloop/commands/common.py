"""Pieces every command shares: starting Django, printing results, turning errors into messages."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def start_django(migrate: bool = True) -> None:
    """Start Django; a database that cannot be reached or configured is a clear error."""
    from django.core.exceptions import ImproperlyConfigured
    from django.db import Error as DatabaseError

    from qualityloop.web.bootstrap import setup

    try:
        setup(migrate=migrate)
    except (DatabaseError, ImproperlyConfigured, ValueError) as problem:
        where = os.environ.get("QUALITYLOOP_DATABASE_URL") or "the SQLite file in QUALITYLOOP_HOME"
        first_line = str(problem).strip().splitlines()[0] if str(problem).strip() else ""
        fail(f"cannot use the database ({redact(where)}): {type(problem).__name__}: "
              f"{first_line}")


def redact(url: str) -> str:
    """The database URL without its password, fit to print."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def emit(data: Any, as_json: bool, human: str | Table | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    elif human is not None:
        console.print(human)


def fail(message: str, as_json: bool = False, problems: list[dict] | None = None) -> NoReturn:
    if as_json:
        payload = {"ok": False, "error": message, "problems": problems or []}
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    else:
        # soft_wrap: the terminal wraps, rich does not break a file path or id in two
        err_console.print(f"[bold red]Error:[/] {message}", soft_wrap=True)
        for problem in problems or []:
            err_console.print(f"  {problem['text']}", markup=False, highlight=False)
    raise typer.Exit(code=1)


@contextmanager
def reported(as_json: bool, *errors: type[Exception]) -> Iterator[None]:
    """Inside, a domain error of a service becomes one clear message and exit code 1."""
    try:
        yield
    except errors as problem:
        fail(str(problem), as_json)


UnitOption = Annotated[
    str | None, typer.Option("--unit", help="External id of an org unit: only its customers "
                                            "(and those of units below it).")
]


def analysis_errors() -> tuple[type[Exception], ...]:
    from qualityloop.analytics.exceptions import ConvergenceError

    return (ValueError, ConvergenceError)


def finite(value: Any) -> Any:
    """A number fit for JSON: NaN and infinities become None, numpy scalars plain Python."""
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            return None
        return int(value) if isinstance(value, int) else number
    if hasattr(value, "item"):
        return finite(value.item())
    return value


def records_of(frame: Any, index_name: str) -> list[dict]:
    """Rows of a DataFrame (index as the first field) as JSON-ready dicts."""
    rows = frame.reset_index(names=index_name).to_dict(orient="records")
    return [{k: finite(v) for k, v in row.items()} for row in rows]


def fmt(value: Any, spec: str = ".3f") -> str:
    value = finite(value)
    return "-" if value is None else format(value, spec)


AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="Judge the records as of this day (YYYY-MM-DD; "
                                             "default today).")]


def parse_as_of(text: str | None, as_json: bool) -> dt.date | None:
    """The ``--as-of`` day, or None for today; a malformed date is a clear failure."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"--as-of: expected a date like 2025-06-30, got {text!r}", as_json)


def find_unit(external_id: str | None, as_json: bool, option: str = "--unit") -> Any:
    """The org unit an ``option`` (``--unit``) names (None when not given); an unknown id fails
    clearly."""
    if external_id is None:
        return None
    from qualityloop.records.organisation.models import OrgUnit

    unit = OrgUnit.objects.filter(external_id=external_id).first()
    if unit is None:
        fail(f"{option}: no org unit with external id {external_id!r}", as_json)
    return unit
