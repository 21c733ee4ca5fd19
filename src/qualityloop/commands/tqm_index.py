"""``qualityloop tqm-index``: the record-based TQM index per unit and period."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from qualityloop.commands.common import (
    AsOfOption,
    JsonFlag,
    emit,
    fmt,
    parse_as_of,
    records_of,
    reported,
    start_django,
)

app = typer.Typer(help="The record-based TQM index: what the records show about each unit's "
                       "quality practice (see docs/tqm-index.md).")

PeriodOption = Annotated[str, typer.Option("--period", help="year, half or quarter.")]
TqmUnitOption = Annotated[
    str | None, typer.Option("--unit", help="External id of an org unit: only this unit, with "
                                            "the records of the units below it.")]
@app.callback(invoke_without_command=True)
def tqm_index(period: PeriodOption = "year", unit: TqmUnitOption = None,
              as_of: AsOfOption = None, as_json: JsonFlag = False) -> None:
    """Nine indicators per unit and period, their 0-100 scores and the composite index."""
    start_django()
    from qualityloop.services.tqm_index import (
        INDICATORS,
        IndexInputError,
        record_index,
        summarise,
    )

    with reported(as_json, IndexInputError):
        index = record_index(period=period, as_of=parse_as_of(as_of, as_json), unit=unit)
    summary = summarise(index)
    data = {
        "period": period,
        "indicators": [{"name": i.name, "label": i.label, "definition": i.definition,
                        "direction": i.direction, "scoring": i.scoring} for i in INDICATORS],
        "summary": records_of(summary.set_index("unit"), "unit"),
        "values": records_of(index.set_index("unit"), "unit"),
    }
    emit(data, as_json, None if as_json else _table(summary, [i.name for i in INDICATORS]))


SHORT = {"objectives_on_track": "obj.", "problem_recognition_training": "train.",
         "capa_on_time": "CAPA time", "capa_effective_first_check": "CAPA eff.",
         "design_customer_participation": "design", "defects_caught_before_production": "early",
         "complaint_acknowledgement_days": "ack.", "complaint_resolution_days": "resol.",
         "feedback_response_rate": "feedb."}


def _table(summary, names: list[str]) -> Table:
    table = Table(title="Record-based TQM index (scores 0-100; - = no data)")
    table.add_column("unit", no_wrap=True)
    table.add_column("period", no_wrap=True)
    table.add_column("index", justify="right")
    for name in names:
        table.add_column(SHORT.get(name, name), justify="right")
    for row in summary.itertuples(index=False):
        values = row._asdict()
        table.add_row(values["unit_name"], values["period"], fmt(values["composite"], ".0f"),
                      *(fmt(values[n], ".0f") for n in names))
    return table
