"""``qualityloop assess``: survey instruments and rounds of the TQM assessment, their scores and
reliability. Thin: every command parses its options and calls ``services.assessment``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from qualityloop.commands.common import (
    JsonFlag,
    analysis_errors,
    emit,
    fail,
    find_unit,
    finite,
    fmt,
    records_of,
    reported,
    start_django,
)

app = typer.Typer(
    help="TQM assessment surveys: instruments, rounds, personal links, scores, reliability.",
    no_args_is_help=True,
)

RoundArgument = Annotated[str, typer.Argument(help="Round id, e.g. SR-001 (see `assess rounds`).")]


def _service():
    start_django()
    from qualityloop.services import assessment

    return assessment


def _round(key: str, as_json: bool):
    assessment = _service()
    with reported(as_json, assessment.AssessmentError):
        return assessment.find_round(key)


@app.command("instruments")
def instruments(as_json: JsonFlag = False) -> None:
    """List the loaded instruments (the built-in one is loaded when a round first needs it)."""
    _service()
    from qualityloop.analytics.assessment import builtin_names
    from qualityloop.records.assessment.models import Instrument

    rows = [_instrument_row(i) for i in Instrument.objects.order_by("external_id")]
    table = Table("id", "name", "version", "constructs", "items", "rounds")
    for row in rows:
        table.add_row(row["id"], row["name"], row["version"], str(row["constructs"]),
                      str(row["items"]), str(row["rounds"]))
    emit({"instruments": rows, "builtin": builtin_names()}, as_json, table)


def _instrument_row(instrument) -> dict[str, Any]:
    spec = instrument.spec
    return {"id": instrument.external_id, "name": instrument.name, "version": instrument.version,
            "constructs": len(spec.constructs), "items": len(spec.item_ids),
            "rounds": instrument.rounds.count()}


@app.command("instrument-load")
def instrument_load(
    file: Annotated[Path, typer.Argument(help="An instrument in QualityLoop's YAML format.")],
    as_json: JsonFlag = False,
) -> None:
    """Load a survey instrument from a YAML file (a new version for a changed instrument)."""
    assessment = _service()
    with reported(as_json, assessment.AssessmentError):
        instrument = assessment.load_instrument_file(file)
    row = _instrument_row(instrument)
    emit({"ok": True, **row}, as_json,
         f"Loaded {row['id']}: {row['name']} ({row['constructs']} constructs, "
         f"{row['items']} items).")


@app.command("rounds")
def rounds(as_json: JsonFlag = False) -> None:
    """List the survey rounds with their response rates."""
    assessment = _service()
    from qualityloop.records.assessment.models import SurveyRound

    rows = []
    for survey in SurveyRound.objects.select_related("instrument").order_by("opened_on", "pk"):
        progress = assessment.round_progress(survey)
        rows.append({"id": survey.external_id, "name": survey.name,
                     "instrument": survey.instrument.external_id, "status": survey.status,
                     "anonymous": survey.anonymous, "opened_on": survey.opened_on.date(),
                     "closes_on": survey.closes_on, "units": len(progress.units),
                     "invited": progress.invited, "answered": progress.answered,
                     "rate": progress.rate})
    table = Table("id", "name", "status", "opened", "units", "answered", "rate")
    for row in rows:
        table.add_row(row["id"], row["name"], row["status"], str(row["opened_on"]),
                      str(row["units"]), f"{row['answered']} of {row['invited']}",
                      fmt(row["rate"], ".0%"))
    emit(rows, as_json, table)


@app.command("open")
def open_(
    name: Annotated[str, typer.Argument(help="What the round is called.")],
    units: Annotated[str, typer.Option("--units", help="Unit external ids, comma-separated.")],
    per_unit: Annotated[int | None, typer.Option(
        "--per-unit", help="Links per unit (default: one per active person of the unit).",
        min=1)] = None,
    anonymous: Annotated[bool, typer.Option(
        "--anonymous/--named", help="Anonymous (default): answers are not linked to people.",
    )] = True,
    closes: Annotated[str | None, typer.Option(
        "--closes", help="Last day answers are taken, YYYY-MM-DD.")] = None,
    instrument: Annotated[str | None, typer.Option(
        "--instrument", help="Instrument id (default: the built-in tqm-core).")] = None,
    base_url: Annotated[str, typer.Option(
        "--base-url", help="Where the web app is reached, to print whole links.")
    ] = "http://127.0.0.1:8000",
    as_json: JsonFlag = False,
) -> None:
    """Open a survey round and print its personal links (shown once: only hashes are kept)."""
    assessment = _service()
    closes_on = _date(closes, as_json)
    chosen = [find_unit(key.strip(), as_json, "--units") for key in units.split(",") if key.strip()]
    with reported(as_json, assessment.AssessmentError):
        opened = assessment.open_round(
            name, assessment.find_instrument(instrument), chosen, closes_on=closes_on,
            anonymous=anonymous, invitees=per_unit)
    links = [link.as_dict(base_url) for link in opened.links]
    # Plain lines, not a table: a link must be copied whole and is shown only this once.
    lines = "\n".join(f"{link['unit']}\t{link['person'] or '-'}\t{link['url']}" for link in links)
    data = {"ok": True, "round": opened.round.external_id, "name": opened.round.name,
            "anonymous": opened.round.anonymous, "links": links}
    emit(data, as_json)
    if not as_json:
        typer.echo(lines)
        typer.echo(f"Opened {opened.round.external_id} with {len(links)} personal links. "
                   "They are shown only this once: keep them.")


def _date(text: str | None, as_json: bool) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"--closes: expected a date as YYYY-MM-DD, got {text!r}", as_json)


@app.command("close")
def close(survey: RoundArgument, as_json: JsonFlag = False) -> None:
    """Close a round: its links stop working."""
    assessment = _service()
    closed = assessment.close_round(_round(survey, as_json))
    emit({"ok": True, "round": closed.external_id, "status": closed.status}, as_json,
         f"{closed.external_id} is closed.")


@app.command("progress")
def progress(survey: RoundArgument, as_json: JsonFlag = False) -> None:
    """Links issued and answers received per unit of a round."""
    assessment = _service()
    result = assessment.round_progress(_round(survey, as_json))
    table = Table("unit", "name", "links", "answered", "rate")
    for unit in result.units:
        table.add_row(unit.unit, unit.unit_name, str(unit.invited), str(unit.answered),
                      fmt(unit.rate, ".0%"))
    table.add_row("all", "", str(result.invited), str(result.answered), fmt(result.rate, ".0%"))
    emit(result.as_dict(), as_json, table)


@app.command("import")
def import_(
    survey: RoundArgument,
    file: Annotated[Path, typer.Argument(help="A .csv (UTF-8) or .xlsx file: a unit column, "
                                              "one column per item id, optional respondent.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and count, write nothing.")
                       ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Import answer sheets into a round from CSV or Excel, all or nothing."""
    assessment = _service()
    from qualityloop.services.importing import ImportFailed

    chosen = _round(survey, as_json)
    try:
        report = assessment.import_responses(chosen, file, dry_run=dry_run)
    except ImportFailed as failure:
        fail(str(failure), as_json, [p.as_dict() for p in failure.problems])
    verb = "Would import" if dry_run else "Imported"
    emit(report.as_dict(), as_json,
         f"{verb} {report.created} answer sheets into {chosen.external_id} from {file} "
         f"({report.missing_answers} answers left empty).")


@app.command("scores")
def scores(
    survey: RoundArgument,
    unit: Annotated[str | None, typer.Option("--unit", help="Only this unit (external id).")
                    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Construct scores per unit of a round: mean, sd, n and maturity (0-100)."""
    assessment = _service()
    chosen = _round(survey, as_json)
    scope = find_unit(unit or None, as_json)
    with reported(as_json, assessment.AssessmentError, *analysis_errors()):
        table = assessment.round_scores(chosen, unit=scope)
    rows = [{k: finite(v) for k, v in row.items()} for row in table.to_dict(orient="records")]
    human = Table("unit", "construct", "mean", "sd", "n", "maturity")
    for row in rows:
        human.add_row(row["unit"], row["construct"], fmt(row["mean"], ".2f"),
                      fmt(row["sd"], ".2f"), str(row["n"]), fmt(row["maturity"], ".0f"))
    emit({"round": chosen.external_id, "unit": unit, "scores": rows}, as_json, human)


@app.command("reliability")
def reliability(
    survey: RoundArgument,
    bootstrap: Annotated[int, typer.Option(
        "--bootstrap", help="Resamples for HTMT intervals (0: none).", min=0)] = 0,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the bootstrap.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Reliability and validity of the instrument on a round's answers (alpha, rho_A, rho_C,
    AVE, HTMT, Fornell-Larcker) with the usual thresholds flagged."""
    assessment = _service()
    chosen = _round(survey, as_json)
    with reported(as_json, assessment.AssessmentError, *analysis_errors()):
        result = assessment.round_reliability(chosen, bootstrap=bootstrap, seed=seed)
    data = {"round": chosen.external_id, "respondents": result.respondents,
            "bootstrap": result.bootstrap,
            "constructs": records_of(result.constructs, "construct"),
            "loadings": records_of(result.loadings, "item"),
            "htmt": [{k: finite(v) for k, v in row.items()}
                     for row in result.htmt_pairs.to_dict(orient="records")],
            "warnings": result.warnings}
    emit(data, as_json, _reliability_table(data))


def _reliability_table(data: dict[str, Any]) -> Table:
    table = Table("construct", "items", "n", "alpha", "rho_A", "rho_C", "AVE",
                  title=f"{data['round']}: {data['respondents']} respondents")
    for row in data["constructs"]:
        table.add_row(row["construct"], str(row["items"]), str(row["n"]),
                      _flagged(row["alpha"], row["alpha_ok"]),
                      _flagged(row["rho_a"], row["rho_a_ok"]),
                      _flagged(row["rho_c"], row["rho_c_ok"]), _flagged(row["ave"], row["ave_ok"]))
    return table


def _flagged(value: Any, ok: Any) -> str:
    mark = "" if ok is None or ok is True else " !"
    return fmt(value) + mark
