"""``qualityloop relate``: the relationship between TQM implementation and customer retention
(see docs/relationship.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from qualityloop.commands.common import (
    AsOfOption,
    JsonFlag,
    UnitOption,
    analysis_errors,
    emit,
    fail,
    find_unit,
    finite,
    fmt,
    parse_as_of,
    records_of,
    reported,
    start_django,
)

app = typer.Typer(help="Relate TQM to customer retention: churn drivers, the unit-level link, "
                       "what-if and CAPA priorities (see docs/relationship.md).",
                  no_args_is_help=True)

HorizonOption = Annotated[int, typer.Option("--horizon", min=1, max=120,
                                            help="Horizon in months.")]


def _errors() -> tuple[type[Exception], ...]:
    from qualityloop.services.relationship import RelationshipError

    return (RelationshipError, *analysis_errors())


def _sentences(sentences: list[str]) -> str:
    return "\n".join(f"- {s}" for s in sentences)


@app.command()
def drivers(unit: UnitOption = None, as_of: AsOfOption = None,
            as_json: JsonFlag = False) -> None:
    """Hazard ratios of customers' quality experiences (time-varying Cox model)."""
    start_django()
    from qualityloop.services.relationship import customer_drivers

    with reported(as_json, *_errors()):
        result = customer_drivers(as_of=parse_as_of(as_of, as_json), unit=find_unit(unit, as_json))
    data = {"customers": result.customers, "events": result.events,
            "concordance": finite(result.concordance),
            "summary": records_of(result.summary, "exposure"),
            "ph_check": records_of(result.ph_check, "exposure"),
            "left_out": result.left_out, "sentences": result.sentences}
    table = Table(title=f"Drivers of churn: {result.customers:,} customers, {result.events:,} "
                        f"churns (stratified by segment; C = {result.concordance:.3f})")
    for column in ("exposure", "hazard ratio", "95% CI", "p"):
        table.add_column(column, justify="left" if column == "exposure" else "right")
    for row in result.summary.to_dict(orient="records"):
        table.add_row(str(row["label"]), fmt(row["hazard_ratio"], ".2f"),
                      f"{fmt(row['lower'], '.2f')}-{fmt(row['upper'], '.2f')}",
                      fmt(row["p"], ".3g"))
    emit(data, as_json, None if as_json else table)
    if not as_json:
        emit(None, False, _sentences(result.sentences))


@app.command("unit-link")
def unit_link_command(as_of: AsOfOption = None,
                      bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples "
                                                             "for the intervals.")] = 1000,
                      seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
                      as_json: JsonFlag = False) -> None:
    """PLS path model: TQM implementation -> quality -> satisfaction -> retention per unit and
    half-year."""
    start_django()
    from qualityloop.services.relationship import unit_link

    with reported(as_json, *_errors()):
        result = unit_link(as_of=parse_as_of(as_of, as_json), bootstrap=bootstrap, seed=seed)
    data = {"rows": len(result.data), "units": result.units, "periods": result.periods,
            "measurement": result.measurement,
            "paths": records_of(result.paths, "row"), "effects": records_of(result.effects, "row"),
            "r2": {k: finite(v) for k, v in result.r2.items()},
            "reliability": records_of(result.reliability, "construct"),
            "sentences": result.sentences}
    table = Table(title=f"Unit-level link: {len(result.data)} unit-half-years, "
                        f"{result.units} units, {result.periods} periods")
    for column in ("path", "coefficient", "95% interval", "p"):
        table.add_column(column, justify="left" if column == "path" else "right")
    _add_paths(table, result.paths, "+.2f")
    emit(data, as_json, None if as_json else table)
    if not as_json:
        emit(None, False, _sentences(result.sentences))


def _add_paths(table: Table, paths: Any, spec: str) -> None:
    for row in paths.to_dict(orient="records"):
        table.add_row(f"{row['from']} -> {row['to']}", fmt(row["coefficient"], spec),
                      f"{fmt(row['lower'], '+.3f')} to {fmt(row['upper'], '+.3f')}",
                      fmt(row["p"], ".3g"))


def _parse_changes(changes: list[str], as_json: bool) -> dict[str, float]:
    parsed = {}
    for text in changes:
        name, sign, value = text.partition("=")
        try:
            parsed[name.strip()] = float(value)
        except ValueError:
            fail(f"--change {text!r}: expected EXPOSURE=RELATIVE_CHANGE, e.g. "
                 "field_defects=-0.3", as_json)
        if not sign or not name.strip():
            fail(f"--change {text!r}: expected EXPOSURE=RELATIVE_CHANGE", as_json)
    return parsed


@app.command("what-if")
def what_if_command(
    change: Annotated[list[str], typer.Option(
        "--change", help="EXPOSURE=RELATIVE_CHANGE, e.g. field_defects=-0.3 (repeatable).")],
    horizon: HorizonOption = 12,
    draws: Annotated[int, typer.Option(min=0, help="Coefficient draws for the interval.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the draws.")] = 0,
    unit: UnitOption = None, as_of: AsOfOption = None, as_json: JsonFlag = False,
) -> None:
    """Customers kept and lifetime value gained if exposures were cut."""
    changes = _parse_changes(change, as_json)
    start_django()
    from qualityloop.services.relationship import what_if

    with reported(as_json, *_errors()):
        result = what_if(changes, horizon_months=horizon, draws=draws, seed=seed,
                         as_of=parse_as_of(as_of, as_json), unit=find_unit(unit, as_json))
    data = {"changes": result.changes, "horizon_months": result.horizon_months,
            "customers": result.customers, "affected": result.affected,
            "customers_kept": dict(zip(("estimate", "lower", "upper"),
                                       map(finite, result.customers_kept), strict=True)),
            "clv_gained": dict(zip(("estimate", "lower", "upper"),
                                   map(finite, result.clv_gained), strict=True)),
            "by_segment": records_of(result.by_segment.set_index("segment"), "segment"),
            "sentence": result.sentence}
    table = Table(title=f"What if: {result.horizon_months} months, {result.draws} draws")
    for column in ("segment", "customers", "affected", "kept", "95% interval", "CLV gained"):
        table.add_column(column, justify="left" if column == "segment" else "right")
    for segment in result.by_segment.to_dict(orient="records"):
        table.add_row(str(segment["segment"]), f"{segment['customers']:,}",
                      f"{segment['affected']:,}", fmt(segment["customers_kept"], ".1f"),
                      f"{fmt(segment['kept_lower'], '.1f')} to "
                      f"{fmt(segment['kept_upper'], '.1f')}",
                      fmt(segment["clv_gained"], ",.0f"))
    emit(data, as_json, None if as_json else table)
    if not as_json:
        emit(None, False, result.sentence)


@app.command("priorities")
def priorities_command(limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 20,
                       horizon: HorizonOption = 12, unit: UnitOption = None,
                       as_of: AsOfOption = None, as_json: JsonFlag = False) -> None:
    """Open nonconformances and complaints ranked by customer lifetime value at risk."""
    start_django()
    from qualityloop.services.relationship import priorities

    with reported(as_json, *_errors()):
        ranked = priorities(as_of=parse_as_of(as_of, as_json), unit=find_unit(unit, as_json),
                            limit=limit, horizon_months=horizon)
    rows = records_of(ranked.drop(columns=["url_name", "url_args"]), "rank")
    for row in rows:
        row["rank"] += 1
    table = Table(title=f"CAPA priorities: customer value at risk over {horizon} months")
    for column in ("#", "record", "title", "customers", "CLV at risk", "customers lost"):
        table.add_column(column, justify="right" if column not in ("record", "title")
                         else "left")
    for number, record in enumerate(ranked.to_dict(orient="records"), start=1):
        table.add_row(str(number), str(record["external_id"]), str(record["title"]),
                      str(record["customers"]), fmt(record["clv_at_risk"], ",.0f"),
                      fmt(record["expected_customers_lost"], ".2f"))
    emit({"horizon_months": horizon, "priorities": rows}, as_json, None if as_json else table)


@app.command("pls")
def pls_command(
    file: Annotated[Path, typer.Argument(help="Survey data: CSV, Excel (.xlsx) or Parquet.")],
    model: Annotated[Path, typer.Option("--model", help="The model as YAML (measurement, "
                                                        "structural, modes ...).")],
    bootstrap: Annotated[int | None, typer.Option(min=0, help="Bootstrap resamples (default: "
                                                  "the YAML's, else 0).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the bootstrap.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """A PLS path model, given as YAML, on an imported survey data set."""
    start_django(migrate=False)  # reads the file only: no database needed
    from qualityloop.services.relationship import ModelSpecError, pls_from_file

    with reported(as_json, ModelSpecError):
        result = pls_from_file(file, model, bootstrap=bootstrap, seed=seed)
    data = {"rows": result.rows, "paths": records_of(result.paths, "row"),
            "r2": {k: finite(v) for k, v in result.r2.items()},
            "reliability": records_of(result.reliability, "construct"),
            "sentences": result.sentences}
    table = Table(title=f"PLS path model on {file.name}: {result.rows} rows")
    for column in ("path", "coefficient", "95% interval", "p"):
        table.add_column(column, justify="left" if column == "path" else "right")
    _add_paths(table, result.paths, "+.4f")
    emit(data, as_json, None if as_json else table)
