"""Property tests of the importers (services/importing.import_file) with hypothesis.

Files of several record kinds, as CSV and as Excel, with arbitrary cell text, wrong types,
missing and extra columns, repeated external ids, unicode, huge numbers, and files that are not
tables at all. Whatever the file: the import succeeds or raises ImportFailed (never anything
else); every problem names the file and, for a row, the row and a column of the file; a failed
import writes nothing; a successful one exports and imports back unchanged.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
import warnings
from pathlib import Path
from typing import Any

import fuzz_support
import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from qualityloop.services.exporting import export_file
from qualityloop.services.importing import ImportFailed, import_file
from qualityloop.services.record_kinds import KINDS, Column, get_kind, rows

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data" / "all_kinds"
# Kinds with references, a self reference (org-units), choices, dates, date-times, whole numbers
# with bounds, decimals and floats; orders is a "plain" kind (bulk INSERT path).
FUZZED_KINDS = ["org-units", "people", "customers", "orders", "feedback", "process-measurements"]
BASE_KINDS = ["org-units", "people", "customers"]  # what the fuzzed rows may refer to
ID_POOL = [f"X-{i}" for i in range(6)] + ["U-HQ", "007", "C-2", "é-ñ", "0", " X-1 "]
NASTY = [
    "", " ", "NaN", "nan", "inf", "-inf", "1e309", "-1e309", "9" * 40, "-" + "9" * 25, "1e-400",
    "0x1F", "1_000", "１２", "٣", "1,5", "2024-02-30", "2024-13-01", "0000-00-00", "99999-01-01",
    "true", "FALSE", "yes", "None", "null", "\u0000", "\ufeff", "'; DROP TABLE x; --", "=1+1",
    "🙂" * 3, "ı̇", "\u202e", "a;b;;c", "\r\n", '"', "x" * 300,
]

# What a message must not show a user: Python's insides.
INTERNALS = ("Traceback", " object at 0x", "<class ", "Error(", "NoneType")


def snapshot(kind_name: str) -> dict[str, object]:
    """What an import could change: the imported kind's records as rows, and the row counts of
    every kind and of its history."""
    state: dict[str, object] = {kind.name: kind.model.objects.count() for kind in KINDS}
    state["rows"] = rows(get_kind(kind_name))
    for kind in KINDS:
        if hasattr(kind.model, "history"):
            state[f"{kind.name} history"] = kind.model.history.count()
    return state


def valid_cell(column: Column) -> st.SearchStrategy[Any]:
    """Cells a user would plausibly write for the column (valid or nearly)."""
    field = type(column.field).__name__
    if column.is_reference:
        return st.sampled_from(ID_POOL)
    if column.choices:
        words = [str(v) for v, _ in column.choices] + [str(label) for _, label in column.choices]
        return st.sampled_from(words).map(lambda w: st.sampled_from([w, w.upper(), f" {w} "]))\
            .flatmap(lambda s: s)
    if field == "DateField":
        return st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)).map(dt.date.isoformat)
    if field == "DateTimeField":
        return st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2100, 1, 1),
                            timezones=st.sampled_from([dt.UTC, None])
                            ).map(dt.datetime.isoformat)
    if field == "BooleanField":
        return st.sampled_from(["true", "false", "1", "0", "yes", "no", "T", "f"])
    if "Integer" in field:
        return st.integers(-20, 20).map(str) | st.integers().map(str)
    if field in ("FloatField", "DecimalField"):
        return st.floats(allow_nan=False, allow_infinity=False).map(repr) | \
            st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str)
    if field == "EmailField":
        return st.emails()
    if column.name == "external_id":
        return st.sampled_from(ID_POOL)
    return st.text(max_size=20)


def any_cell(column: Column | None) -> st.SearchStrategy[Any]:
    strategies = [st.text(max_size=30), st.sampled_from(NASTY), st.none()]
    if column is not None:
        strategies = [valid_cell(column), valid_cell(column)] + strategies
    return st.one_of(strategies)


@st.composite
def tables(draw, kind_name: str) -> tuple[list[str], list[list[Any]]]:
    """A header (the kind's columns, some left out, maybe extra ones, shuffled) and rows."""
    kind = get_kind(kind_name)
    if draw(st.integers(0, 2)) == 0:
        return draw(clean_tables(kind))
    names = kind.column_names
    kept = [n for n in names if n == "external_id" or draw(st.integers(0, 9)) > 0]
    extra = draw(st.lists(st.sampled_from(["extra", "Name", "external id", "ünïcode", "x"]),
                          max_size=2, unique=True))
    header = draw(st.permutations(kept + [e for e in extra if e not in kept]))
    by_name = {c.name: c for c in kind.columns}
    row = st.tuples(*[any_cell(by_name.get(name)) for name in header]).map(list)
    rows = draw(st.lists(row, min_size=0, max_size=8))
    return header, rows


@st.composite
def clean_tables(draw, kind) -> tuple[list[str], list[list[Any]]]:
    """Every column, fresh ids, plausible cells and references to records that exist (so that
    many of these import, and the round trip is tried); unicode and extremes still come."""
    header = kind.column_names
    cells = []
    for column in kind.columns:
        if column.is_reference and column.target is not kind.model:
            existing = list(column.target.objects.values_list("external_id", flat=True))
            cells.append(st.sampled_from(existing) if existing else st.none())
        elif column.is_reference or column.is_multi_reference:
            cells.append(st.none())
        elif column.name == "external_id":
            cells.append(st.just(None))  # filled in below: unique
        else:
            cells.append(valid_cell(column) | st.none() if not column.required
                         else valid_cell(column))
    rows = draw(st.lists(st.tuples(*cells).map(list), min_size=1, max_size=6))
    for number, row in enumerate(rows):
        row[0] = f"N-{number}-{draw(st.sampled_from(['a', 'é', '漢', '🙂', ' b ']))}"
    return header, rows


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows([["" if c is None else c for c in r] for r in rows])


def excel_cell(value: Any) -> Any:
    """Excel cannot hold control characters: those cells are written without them."""
    if isinstance(value, str):
        return "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 32)
    return value


def write_xlsx(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append([excel_cell(c) for c in row])
    book.save(path)


def typed_excel_rows(rows: list[list[Any]], numbers: list[float]) -> list[list[Any]]:
    """Excel users type numbers and dates, not text: some cells become numbers."""
    out = []
    for i, row in enumerate(rows):
        out.append([numbers[(i + j) % len(numbers)] if numbers and (i + j) % 3 == 0 else cell
                    for j, cell in enumerate(row)])
    return out


@pytest.fixture
def base_records() -> None:
    for name in BASE_KINDS:
        import_file(name, DATA / f"{name}.csv")


def check_problems(
    failure: ImportFailed, path: Path, header: list[str] | None, last_row: int
) -> None:
    known = get_kind(path.stem).column_names
    assert failure.problems, "ImportFailed without problems"
    assert path.name in str(failure)
    for problem in failure.problems:
        assert problem.file == path.name, problem
        assert problem.message.strip(), problem
        if problem.row is None:
            continue
        assert 1 <= problem.row <= last_row, problem
        if problem.column is not None and header is not None:
            # A whole-record rule may name a column the file left out (a churn date).
            assert problem.column in header or problem.column in known, problem
        assert not any(leak in problem.message for leak in INTERNALS), problem


def import_and_check(
    kind_name: str, path: Path, header: list[str] | None, last_row: int
) -> str:
    """Import inside a savepoint rolled back afterwards (examples stay independent)."""
    with transaction.atomic():
        before = snapshot(kind_name)
        try:
            report = import_file(kind_name, path)
        except ImportFailed as failure:
            check_problems(failure, path, header, last_row)
            assert snapshot(kind_name) == before, "a failed import changed the database"
            outcome = "failed"
        else:
            assert report.rows == report.created + report.updated + report.unchanged
            check_round_trip(kind_name, path.parent, path.suffix)
            outcome = "imported"
        transaction.set_rollback(True)
    return outcome


def check_round_trip(kind_name: str, folder: Path, suffix: str) -> None:
    """Export the kind in the file's format and import it back: every record unchanged."""
    exported = folder / f"export-{kind_name}{suffix}"
    written = export_file(kind_name, exported)
    if not written:
        return
    again = import_file(kind_name, exported)
    assert (again.created, again.updated, again.unchanged) == (0, 0, written), again


@pytest.mark.parametrize("kind_name", FUZZED_KINDS)
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_any_table_imports_or_fails_cleanly(kind_name, suffix, base_records):
    outcomes: dict[str, int] = {}

    @settings(max_examples=fuzz_support.examples(ci=8, long=400))
    @given(table=tables(kind_name),
           numbers=st.lists(st.floats(allow_nan=False) | st.integers(-10**20, 10**20), max_size=3))
    def run(table, numbers):
        header, rows = table
        fuzz_support.count(f"import {kind_name}{suffix}")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{kind_name}{suffix}"
            if suffix == ".csv":
                write_csv(path, header, rows)
            else:
                write_xlsx(path, header, typed_excel_rows(rows, numbers))
            outcome = import_and_check(kind_name, path, header, len(rows) + 1)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        fuzz_support.count(f"outcome: import {kind_name}{suffix} {outcome}")

    run()
    assert sum(outcomes.values()) > 0


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_any_bytes_import_or_fail_cleanly(suffix, base_records):
    @settings(max_examples=fuzz_support.examples(ci=12, long=500))
    @given(content=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
    def run(content):
        fuzz_support.count(f"import bytes{suffix}")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"customers{suffix}"
            path.write_bytes(content)
            import_and_check("customers", path, None, 10**6)  # the header is whatever it is

    run()


def test_valid_rows_import_and_round_trip(base_records):
    """Rows made only of valid cells, with fresh ids: most imports succeed and round-trip."""
    kind = get_kind("org-units")
    outcomes: dict[str, int] = {}

    @settings(max_examples=fuzz_support.examples(ci=10, long=300))
    @given(names=st.lists(st.text(min_size=1, max_size=40).filter(str.strip), min_size=1,
                          max_size=6),
           kinds=st.lists(st.sampled_from([v for v, _ in kind.column("kind").choices]),
                          min_size=6, max_size=6))
    def run(names, kinds):
        fuzz_support.count("import org-units (valid)")
        header = ["external_id", "name", "kind", "parent"]
        rows = [[f"V-{i}", name, kinds[i], "U-HQ" if i == 0 else f"V-{i - 1}"]
                for i, name in enumerate(names)]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "org-units.csv"
            write_csv(path, header, rows)
            outcome = import_and_check("org-units", path, header, len(rows) + 1)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    run()
    assert outcomes.get("imported", 0) > 0, outcomes


def test_a_time_without_a_zone_is_read_in_the_installation_time_zone(base_records, tmp_path):
    """Found by fuzzing: a measured_at without a zone was stored with Django's RuntimeWarning
    "received a naive datetime" (once per row and history row)."""
    fuzz_support.count("import process-measurements (naive time)")
    path = tmp_path / "process-measurements.csv"
    write_csv(path, ["external_id", "characteristic", "org_unit", "subgroup", "measured_at",
                     "value"], [["N-1", "Bore", "U-HQ", "S-1", "2009-04-21T19:05:01", "1.5"]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        import_file("process-measurements", path)
    stored = get_kind("process-measurements").model.objects.get(external_id="N-1").measured_at
    assert stored == timezone.make_aware(dt.datetime(2009, 4, 21, 19, 5, 1))


def test_a_float_read_back_from_excel_is_unchanged(base_records, tmp_path):
    """Found by the long fuzz run: openpyxl writes 16 significant digits, so 1.7126972312467067e+46
    came back as 1.712697231246707e+46 and the re-import of an export said "updated"."""
    fuzz_support.count("import process-measurements (Excel float precision)")
    path = tmp_path / "process-measurements.csv"
    write_csv(path, ["external_id", "characteristic", "org_unit", "subgroup", "measured_at",
                     "value"], [["N-2", "Bore", "U-HQ", "S-1", "2000-01-01T00:00:00+00:00",
                                 "1.7126972312467067e+46"]])
    import_file("process-measurements", path)
    check_round_trip("process-measurements", tmp_path, ".xlsx")
    stored = get_kind("process-measurements").model.objects.get(external_id="N-2").value
    assert stored == 1.7126972312467067e+46
    write_csv(path, ["external_id", "characteristic", "org_unit", "subgroup", "measured_at",
                     "value"], [["N-2", "Bore", "U-HQ", "S-1", "2000-01-01T00:00:00+00:00",
                                 "1.7126972312468e+46"]])
    assert import_file("process-measurements", path).updated == 1  # a real change still counts
