"""``qualityloop spc``: control charts and capability of a CSV/Excel file, and the charts of the
records (``qualityloop spc records ...``). The numbers are those of ``qualityloop.analytics.spc``
(``--json`` prints the chart's ``as_dict()``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from qualityloop.commands.common import JsonFlag, UnitOption, emit, fail, fmt, start_django

app = typer.Typer(help="Control charts, run rules and capability (Montgomery, qcc), of a file "
                       "or of the records.")
records_app = typer.Typer(help="Control charts of the records: nonconformance rate, complaints, "
                               "causes.")
app.add_typer(records_app, name="records")

FileArgument = Annotated[Path, typer.Argument(help="A .csv, .xlsx or .parquet file, one row per "
                                                   "measurement, sample or subgroup.")]
ColumnOption = Annotated[list[str] | None, typer.Option(
    "--column", help="The column of values (counts for p, np, c, u). Give it several times for "
                     "one row per subgroup, one column per measurement.")]
SubgroupOption = Annotated[str | None, typer.Option(
    "--subgroup", help="Column naming each value's subgroup (sample); rows of the same subgroup "
                       "are charted together.")]
SizeOption = Annotated[str | None, typer.Option(
    "--size-column", help="p, np and u charts: the column of sample sizes.")]
RulesOption = Annotated[str, typer.Option(
    "--rules", help="Run rules: western_electric or nelson.")]
PhaseOption = Annotated[int | None, typer.Option(
    "--phase1", help="Phase II: limits from the first N subgroups, applied to all (default: "
                     "phase I on all).")]
LslOption = Annotated[float | None, typer.Option("--lsl", help="Lower specification limit.")]
UslOption = Annotated[float | None, typer.Option("--usl", help="Upper specification limit.")]


@dataclass(frozen=True)
class _Settings:
    rules: str
    baseline: int | None


# Reading the file -------------------------------------------------------------------------------


def _read(path: Path, as_json: bool) -> pd.DataFrame:
    """The file as text cells; a file that cannot be read is one clear error."""
    from qualityloop.services.tabular import TableError, read_table

    try:
        table = read_table(path)
    except TableError as problem:
        fail(str(problem), as_json)
    frame = pd.DataFrame([cells for _, cells in table.rows], columns=table.header)
    frame.index = [row for row, _ in table.rows]  # spreadsheet row numbers, for messages
    return frame


def _numbers(frame: pd.DataFrame, column: str, path: Path, as_json: bool) -> np.ndarray:
    """One column as floats; a missing column or a cell that is not a number names file, row
    and column."""
    if column not in frame.columns:
        fail(f"{path.name}: no column {column!r}; the columns are: {', '.join(frame.columns)}",
             as_json)
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.fillna(0))
    if bad.any():
        row = frame.index[bad.to_numpy()][0]
        fail(f"{path.name}, row {row}, column {column!r}: expected a number, got "
             f"{frame.loc[row, column]!r}", as_json)
    return values.to_numpy(dtype=float)


def _one_column(columns: list[str] | None, what: str, as_json: bool) -> str:
    if not columns or len(columns) != 1:
        fail(f"give the column of {what} once with --column", as_json)
    return columns[0]


def _variables(frame: pd.DataFrame, path: Path, columns: list[str] | None,
               subgroup: str | None, as_json: bool) -> np.ndarray:
    """Measurements as subgroups (2-D) or, without --subgroup and with one column, as individual
    values (1-D)."""
    if not columns:
        fail("give the column of measurements with --column", as_json)
    if len(columns) > 1:
        return np.column_stack([_numbers(frame, c, path, as_json) for c in columns])
    values = _numbers(frame, columns[0], path, as_json)
    if subgroup is None:
        return values
    if subgroup not in frame.columns:
        fail(f"{path.name}: no column {subgroup!r} for --subgroup; the columns are: "
             f"{', '.join(frame.columns)}", as_json)
    from qualityloop.analytics.spc import subgroups_from_long

    long = pd.DataFrame({"value": values, "subgroup": frame[subgroup].to_numpy()})
    return subgroups_from_long(long, value="value", subgroup="subgroup").to_numpy()


# Charts -----------------------------------------------------------------------------------------


def _run(as_json: bool, make: Callable[[], Any]) -> Any:
    try:
        return make()
    except ValueError as problem:
        fail(str(problem), as_json)


def _emit_chart(chart: Any, title: str, as_json: bool) -> None:
    data = chart.as_dict()
    emit(data, as_json, _chart_table(data, title))


def _chart_table(data: dict[str, Any], title: str) -> Table:
    table = Table(title=f"{title} · phase {data['phase']} · center {fmt(data['center'], '.5g')}"
                        f" · sigma {fmt(data['sigma'], '.5g')}")
    for name in ("subgroup", "statistic", "lower_limit", "center_line", "upper_limit", "rules"):
        table.add_column(name.replace("_", " "), justify="right")
    for point in data["points"]:
        flag = "[bold red]" if point["beyond_limits"] or point["rules"] else ""
        table.add_row(str(point["subgroup"] + 1), flag + fmt(point["statistic"], ".5g"),
                      fmt(point["lower_limit"], ".5g"), fmt(point["center_line"], ".5g"),
                      fmt(point["upper_limit"], ".5g"), point["rules"])
    return table


def _settings(rules: str, phase1: int | None, as_json: bool) -> _Settings:
    from qualityloop.analytics.spc import RULE_SETS

    if rules not in RULE_SETS:
        fail(f"--rules: expected one of {', '.join(RULE_SETS)}, got {rules!r}", as_json)
    if phase1 is not None and phase1 < 2:
        fail(f"--phase1: limits need at least 2 subgroups, got {phase1}", as_json)
    return _Settings(rules, phase1)


def _variables_command(name: str, title: str) -> None:
    def command(file: FileArgument, column: ColumnOption = None, subgroup: SubgroupOption = None,
                rules: RulesOption = "western_electric", phase1: PhaseOption = None,
                as_json: JsonFlag = False) -> None:
        from qualityloop.analytics import spc
        from qualityloop.services.spc_common import phased

        settings = _settings(rules, phase1, as_json)
        data = _variables(_read(file, as_json), file, column, subgroup, as_json)
        makers: dict[str, Callable[..., Any]] = {
            "xbar-r": spc.xbar_r, "xbar-s": spc.xbar_s, "individuals": spc.individuals,
            "ewma": spc.ewma, "cusum": spc.cusum}
        make = makers[name]
        if name.startswith("xbar") and data.ndim == 1:
            fail(f"{name} needs subgroups: give --subgroup, or several --column", as_json)
        if name == "individuals" and data.ndim == 2:
            fail("individuals charts one value per row: give one --column and no --subgroup",
                 as_json)
        chart = _run(as_json, lambda: phased(make, settings, data))
        _emit_chart(chart, title, as_json)

    command.__doc__ = f"{title} of the measurements in FILE."
    app.command(name)(command)


def _attribute_command(name: str, title: str, needs_sizes: bool) -> None:
    def command(file: FileArgument, column: ColumnOption = None, size_column: SizeOption = None,
                rules: RulesOption = "western_electric", phase1: PhaseOption = None,
                as_json: JsonFlag = False) -> None:
        from qualityloop.analytics import spc
        from qualityloop.services.spc_common import phased

        settings = _settings(rules, phase1, as_json)
        frame = _read(file, as_json)
        counts = _numbers(frame, _one_column(column, "counts", as_json), file, as_json)
        if not needs_sizes:
            chart = _run(as_json, lambda: phased(spc.c_chart, settings, counts))
        elif size_column is None:
            fail(f"a {name} chart needs the sample sizes: give --size-column", as_json)
        else:
            sizes = _numbers(frame, size_column, file, as_json)
            chart = _run(as_json, lambda: _sized(name, settings, counts, sizes))
        _emit_chart(chart, title, as_json)

    command.__doc__ = f"{title} of the counts in FILE."
    app.command(name)(command)


def _sized(name: str, settings: _Settings, counts: np.ndarray, sizes: np.ndarray) -> Any:
    from qualityloop.analytics import spc
    from qualityloop.services.spc_common import phased

    if name == "np":
        if np.unique(sizes).size != 1:
            raise ValueError("an np chart needs one constant sample size; with varying sizes "
                             "use the p chart")
        return phased(lambda c, **kw: spc.np_chart(c, sizes[0], **kw), settings, counts)
    make = spc.p_chart if name == "p" else spc.u_chart
    return phased(make, settings, counts, sizes)


for _name, _title in (("xbar-r", "x-bar and R chart"), ("xbar-s", "x-bar and s chart"),
                      ("individuals", "Individuals and moving range chart"),
                      ("ewma", "EWMA chart"), ("cusum", "Tabular CUSUM")):
    _variables_command(_name, _title)
for _name, _title, _sizes in (("p", "p chart", True), ("np", "np chart", True),
                              ("c", "c chart", False), ("u", "u chart", True)):
    _attribute_command(_name, _title, _sizes)


@app.command("capability")
def capability_command(file: FileArgument, column: ColumnOption = None,
                       subgroup: SubgroupOption = None, lsl: LslOption = None,
                       usl: UslOption = None, as_json: JsonFlag = False) -> None:
    """Cp, Cpk, Cpm, Pp, Ppk with confidence intervals and ppm out of specification."""
    from qualityloop.analytics import spc
    from qualityloop.services.spc_common import capability_dict

    if lsl is None and usl is None:
        fail("give at least one specification limit: --lsl and/or --usl", as_json)
    data = _variables(_read(file, as_json), file, column, subgroup, as_json)
    result = _run(as_json, lambda: spc.capability(data, lsl=lsl, usl=usl))
    described = capability_dict(result)
    table = Table(title=f"Capability · n {result.n} · mean {fmt(result.center, '.5g')}")
    for name in ("index", "value", "lower", "upper"):
        table.add_column(name, justify="right")
    for name, row in described["indices"].items():  # type: ignore[index]
        table.add_row(name, fmt(row["value"]), fmt(row["lower"]), fmt(row["upper"]))
    emit(described, as_json, table)


# Records ----------------------------------------------------------------------------------------


MonthsOption = Annotated[int, typer.Option("--months", help="Complete months to chart.")]


def _records_view(key: str, unit: str | None, rules: str, phase1: int | None, months: int,
                  as_json: bool) -> None:
    start_django()
    from qualityloop.services import spc as service

    try:
        settings = service.ChartSettings(rules=rules, baseline=phase1, months=months)
        view = service.control_chart(key, service.unit_by_id(unit), settings)
    except service.SpcInputError as problem:
        fail(str(problem), as_json)
    data = view.as_dict()
    emit(data, as_json, _chart_table(data["chart"], view.title))


@records_app.command("nc-rate")
def nc_rate(unit: UnitOption = None, rules: RulesOption = "western_electric",
            phase1: PhaseOption = None, months: MonthsOption = 24,
            as_json: JsonFlag = False) -> None:
    """u chart: nonconformances per 100 orders, per complete month."""
    _records_view("nc-rate", unit, rules, phase1, months, as_json)


@records_app.command("complaints")
def complaints(unit: UnitOption = None, rules: RulesOption = "western_electric",
               phase1: PhaseOption = None, months: MonthsOption = 24,
               as_json: JsonFlag = False) -> None:
    """c chart: complaints received per complete month."""
    _records_view("complaints", unit, rules, phase1, months, as_json)


@records_app.command("pareto")
def pareto(unit: UnitOption = None, months: MonthsOption = 12, as_json: JsonFlag = False) -> None:
    """Pareto of the nonconformances of the last months by 6M cause category."""
    start_django()
    from qualityloop.services import spc as service

    try:
        result = service.cause_pareto(service.unit_by_id(unit), months=months)
    except service.SpcInputError as problem:
        fail(str(problem), as_json)
    rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in result.table.to_dict("records")]
    table = Table(title=f"Nonconformances by cause, last {months} months")
    for name in ("category", "count", "percent", "cumulative_percent", "vital_few"):
        table.add_column(name.replace("_", " "))
    for row in rows:
        table.add_row(str(row["category"]), fmt(row["count"], ".0f"), fmt(row["percent"], ".1f"),
                      fmt(row["cumulative_percent"], ".1f"), "yes" if row["vital_few"] else "")
    emit({"months": months, "unit": unit, "categories": rows, "vital_few": result.vital_few},
         as_json, table)
