"""``qualityloop report``: the relationship report as one self-contained HTML file (and a PDF)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from qualityloop.commands.common import (
    AsOfOption,
    JsonFlag,
    UnitOption,
    analysis_errors,
    emit,
    fail,
    find_unit,
    parse_as_of,
    reported,
    start_django,
)

DEFAULT_OUT = "qualityloop-report.html"

OutOption = Annotated[Path | None, typer.Option(
    "--out", help=f"The HTML file to write (default ./{DEFAULT_OUT}).")]
PdfFlag = Annotated[bool, typer.Option(
    "--pdf", help="Also print the report to a PDF next to the HTML (needs Chromium).")]


def report(out: OutOption = None, pdf: PdfFlag = False, unit: UnitOption = None,
           as_of: AsOfOption = None, as_json: JsonFlag = False) -> None:
    """Write the report: does our TQM implementation relate to our customer retention?"""
    from qualityloop.report.render import ReportError, find_browser

    target = (out or Path.cwd() / DEFAULT_OUT).expanduser().resolve()
    if not target.parent.is_dir():
        fail(f"--out: the folder {target.parent} does not exist", as_json)
    if pdf:
        with reported(as_json, ReportError):
            find_browser()
    day = parse_as_of(as_of, as_json)
    start_django()
    chosen = find_unit(unit, as_json)
    _require_orders(as_json)
    written = _write(target, pdf, chosen, day, as_json)
    emit(written, as_json)
    if not as_json:
        typer.echo(_human(written))


def _require_orders(as_json: bool) -> None:
    from qualityloop.records.customers.models import Order

    if not Order.objects.exists():
        fail("no orders in the database: the report needs customers and their orders; import "
             "them (qualityloop import orders FILE) or run `qualityloop demo` first", as_json)


def _write(target: Path, pdf: bool, unit: Any, as_of: dt.date | None,
           as_json: bool) -> dict[str, Any]:
    from qualityloop.report.relationship import build_relationship_report
    from qualityloop.report.render import ReportError, write_html, write_pdf
    from qualityloop.services.relationship import RelationshipError

    with reported(as_json, RelationshipError, ReportError, *analysis_errors()):
        document = build_relationship_report(unit=unit, as_of=as_of)
        write_html(document, target)
        pdf_path = write_pdf(document, target.with_suffix(".pdf")) if pdf else None
    return {"ok": True, "html": str(target), "pdf": str(pdf_path) if pdf_path else None,
            "title": document.title, "subtitle": document.subtitle,
            "headline": [f.text for f in document.findings],
            "findings": [{"text": f.text, "strength": f.strength} for f in document.findings]}


def _human(written: dict[str, Any]) -> str:
    lines = [f"Wrote {written['html']}"]
    if written["pdf"]:
        lines.append(f"Wrote {written['pdf']}")
    lines.append("")
    lines.extend(f"- {sentence}" for sentence in written["headline"])
    return "\n".join(lines)

