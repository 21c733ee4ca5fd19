"""Import and export of every record kind: formats, upsert, round trips, and every kind of bad
input leaving the database exactly as it was."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.db import transaction
from django.db.models import Model
from typer.testing import CliRunner

from qualityloop.cli import app
from qualityloop.records.customers.models import Customer, Order
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import QualityObjective
from qualityloop.services import tabular
from qualityloop.services.exporting import ExportFailed, export_file
from qualityloop.services.importing import MAX_PROBLEMS, ImportFailed, import_file
from qualityloop.services.record_kinds import KINDS, get_kind, rows
from qualityloop.services.record_writer import RowInvalid, write_record

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data" / "all_kinds"


def load_fixtures(folder: Path = DATA, suffix: str = ".csv") -> dict[str, object]:
    return {kind.name: import_file(kind.name, folder / f"{kind.name}{suffix}") for kind in KINDS}


def snapshot() -> dict[str, object]:
    """Everything an import could change: every record as a row, and history row counts."""
    state: dict[str, object] = {kind.name: rows(kind) for kind in KINDS}
    for kind in KINDS:
        if hasattr(kind.model, "history"):
            state[f"{kind.name} history"] = kind.model.history.count()
    return state


def write_csv(path: Path, header: list[str], *lines: list[object]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(lines)
    return path


def delete_all(model) -> None:
    """Delete every record, leaves of a tree first (parents are protected)."""
    tree = any(f.is_relation and f.related_model is model for f in model._meta.concrete_fields)
    while model.objects.exists():
        records = model.objects.filter(children__isnull=True) if tree else model.objects.all()
        records.delete()


@pytest.fixture
def loaded():
    load_fixtures()
    return snapshot()


def fail(kind: str, path: Path) -> ImportFailed:
    with pytest.raises(ImportFailed) as caught:
        import_file(kind, path)
    return caught.value


def texts(failure: ImportFailed) -> list[str]:
    return [p.as_dict()["text"] for p in failure.problems]


# --- happy paths --------------------------------------------------------------------------------

def test_fixture_files_cover_every_kind_and_every_column():
    for kind in KINDS:
        with (DATA / f"{kind.name}.csv").open(encoding="utf-8") as f:
            assert next(csv.reader(f)) == kind.column_names, kind.name


def test_csv_import_creates_every_kind():
    reports = load_fixtures()
    for kind in KINDS:
        with (DATA / f"{kind.name}.csv").open(encoding="utf-8") as f:
            expected = sum(1 for _ in f) - 1
        report = reports[kind.name]
        assert (report.rows, report.created, report.updated) == (expected, expected, 0), kind.name
        assert kind.model.objects.count() == expected, kind.name
    bond = Customer.objects.get(external_id="007")
    assert bond.serving_unit.external_id == "U-PLANT"
    assert Customer.objects.get(external_id="C-2").name == "Café Müller"
    line = OrgUnit.objects.get(external_id="U-LINE")
    assert [u.external_id for u in line.ancestors()] == ["U-PLANT", "U-HQ"]
    assert QualityObjective.objects.get(external_id="OBJ-LINE").parent.external_id == "OBJ-TOP"
    review = apps.get_model("customers.DesignStageReview").objects.get(external_id="DR-1")
    assert sorted(c.external_id for c in review.customer_participants.all()) == ["007", "C-3"]
    assert str(Order.objects.get(external_id="O-2").amount) == "99.99"


def test_import_records_history_with_a_change_reason():
    load_fixtures()
    record = Customer.objects.get(external_id="007").history.get()
    assert record.history_change_reason == "import customers.csv"


def test_reimport_changes_nothing(loaded):
    again = load_fixtures()
    for name, report in again.items():
        assert report.created == report.updated == 0, name
        assert report.unchanged == report.rows, name
    assert snapshot() == loaded


def test_reimport_of_a_changed_row_updates_only_that_record(loaded, tmp_path):
    source = tabular.read_table(DATA / "customers.csv")
    edited = [dict(cells) for _, cells in source.rows]
    edited[1]["name"] = "Café Müller GmbH"
    path = tmp_path / "customers.csv"
    tabular.write_table(path, source.header, edited)
    report = import_file("customers", path)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    history = Customer.objects.get(external_id="C-2").history
    assert history.count() == 2
    assert history.first().history_change_reason == "import customers.csv"


def test_optional_columns_left_out_of_the_file_are_kept(loaded, tmp_path):
    path = write_csv(tmp_path / "c.csv", CUSTOMER_HEADER,
                     ["007", "Bond Ltd", "enterprise", "2020-05-01", "U-PLANT"])
    assert import_file("customers", path).updated == 1
    bond = Customer.objects.get(external_id="007")
    assert (bond.name, bond.country, bond.account_manager.external_id) == ("Bond Ltd", "GB", "P-QM")


def test_dry_run_reports_and_changes_nothing(loaded, tmp_path):
    path = write_csv(tmp_path / "c.csv", CUSTOMER_HEADER, GOOD_NEW, ["007", "Bond", "", "", ""])
    with pytest.raises(ImportFailed):  # empty required cells are problems in a dry run too
        import_file("customers", path, dry_run=True)
    path = write_csv(tmp_path / "c.csv", CUSTOMER_HEADER, GOOD_NEW, GOOD_UPDATE)
    report = import_file("customers", path, dry_run=True)
    assert (report.created, report.updated, report.dry_run) == (1, 1, True)
    assert snapshot() == loaded


def test_excel_import_with_typed_cells(tmp_path):
    from openpyxl import Workbook

    import_file("org-units", DATA / "org-units.csv")
    book = Workbook()
    sheet = book.active
    sheet.append(["external_id", "name", "segment", "acquired_on", "serving_unit", "status",
                  "churned_on"])
    sheet.append(["007", "Bond", "Enterprise", dt.datetime(2020, 5, 1), "U-PLANT", "active", None])
    sheet.append([42, "Answer Co", "mid_market", "2021-01-02", "U-HQ", "churned",
                  dt.date(2023, 3, 4)])
    sheet.append([None, None, None, None, None, None, None])  # trailing blank rows are ignored
    book.save(tmp_path / "customers.xlsx")
    report = import_file("customers", tmp_path / "customers.xlsx")
    assert (report.rows, report.created) == (2, 2)
    answer = Customer.objects.get(external_id="42")
    assert (answer.segment, answer.churned_on) == ("mid_market", dt.date(2023, 3, 4))
    assert Customer.objects.get(external_id="007").acquired_on == dt.date(2020, 5, 1)
    assert import_file("customers", tmp_path / "customers.xlsx").unchanged == 2


def test_parquet_import_with_typed_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    load_fixtures()
    table = pa.table({
        "external_id": ["O-10", "O-11"],
        "customer": ["007", "C-3"],
        "ordered_on": pa.array([dt.date(2024, 1, 2), dt.date(2024, 2, 3)], pa.date32()),
        "amount": [10.5, 20.0],
        "currency": ["EUR", None],
    })
    pq.write_table(table, tmp_path / "orders.parquet")
    report = import_file("orders", tmp_path / "orders.parquet")
    assert report.created == 2
    order = Order.objects.get(external_id="O-11")
    assert (order.ordered_on, order.currency, float(order.amount)) == (
        dt.date(2024, 2, 3), "EUR", 20.0)


def test_csv_with_bom_semicolons_and_windows_line_ends(tmp_path):
    path = tmp_path / "units.csv"
    path.write_bytes("\ufeffexternal_id;name;kind\r\nU1;Zürich;site\r\n".encode())
    import_file("org-units", path)
    assert OrgUnit.objects.get(external_id="U1").name == "Zürich"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_export_import_round_trip_over_every_kind(suffix, tmp_path):
    load_fixtures()
    before = snapshot()
    for kind in KINDS:
        assert export_file(kind.name, tmp_path / f"{kind.name}{suffix}") == len(before[kind.name])
    for kind in KINDS:  # nothing changes when the export is imported back
        report = import_file(kind.name, tmp_path / f"{kind.name}{suffix}")
        assert report.unchanged == report.rows, kind.name
    assert snapshot() == before
    for kind in reversed(KINDS):  # an empty database rebuilt from the exports is the same
        delete_all(kind.model)
    for kind in KINDS:
        report = import_file(kind.name, tmp_path / f"{kind.name}{suffix}")
        assert report.created == report.rows, kind.name
    after = snapshot()
    assert {k: after[k] for k in after if "history" not in k} == {
        k: before[k] for k in before if "history" not in k}


def test_export_writes_ids_as_text_and_all_columns(tmp_path):
    load_fixtures()
    export_file("customers", tmp_path / "customers.csv")
    table = tabular.read_table(tmp_path / "customers.csv")
    assert table.header == [c.name for c in KINDS[8].columns]
    assert "007" in {cells["external_id"] for _, cells in table.rows}


def test_failed_export_leaves_no_file_and_keeps_the_old_one(loaded, tmp_path, monkeypatch):
    target = tmp_path / "customers.csv"
    target.write_text("old contents", encoding="utf-8")

    def broken(path, header, records):
        path.write_text("half", encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(tabular, "_write_csv", broken)
    with pytest.raises(ExportFailed, match="disk full"):
        export_file("customers", target)
    assert target.read_text(encoding="utf-8") == "old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.csv"]


@pytest.mark.parametrize("name,kind,message", [
    ("x.json", "customers", "unsupported file type '.json'"),
    ("x.csv", "no-such-kind", "unknown record kind 'no-such-kind'"),
    ("missing/x.csv", "customers", "does not exist"),
])
def test_export_refuses_bad_requests(name, kind, message, tmp_path):
    with pytest.raises(ExportFailed, match=message):
        export_file(kind, tmp_path / name)
    assert not (tmp_path / name).exists()


# --- bad input: every problem named, nothing changed --------------------------------------------

CUSTOMER_HEADER = ["external_id", "name", "segment", "acquired_on", "serving_unit"]
GOOD_UPDATE = ["007", "Bond Renamed", "enterprise", "2020-05-01", "U-PLANT"]
GOOD_NEW = ["C-NEW", "Newcomer", "enterprise", "2024-01-01", "U-HQ"]


def test_wrong_type(loaded, tmp_path):
    path = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, GOOD_UPDATE, GOOD_NEW,
                     *[[f"C-1{i}", "X", "enterprise", "2024-01-01", "U-HQ"] for i in range(3)],
                     ["C-7", "Seven", "enterprise", "2024-13-45", "U-HQ"])
    failure = fail("customers", path)
    assert texts(failure) == [
        "customers.csv, row 7, column acquired_on: got '2024-13-45', expected a date (YYYY-MM-DD)"
    ]
    assert "nothing was imported" in str(failure)
    assert snapshot() == loaded


def test_bad_choice_and_number_are_named(loaded, tmp_path):
    path = write_csv(tmp_path / "orders.csv", ["external_id", "customer", "ordered_on", "amount"],
                     ["O-1", "007", "2023-01-15", "lots"], ["O-9", "007", "2023-01-15", "-5"])
    assert texts(fail("orders", path)) == [
        "orders.csv, row 2, column amount: got 'lots', expected a number",
        "orders.csv, row 3, column amount: Ensure this value is greater than or equal to 0.",
    ]
    path = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER,
                     ["007", "Bond", "galactic", "2020-05-01", "U-PLANT"])
    [text] = texts(fail("customers", path))
    assert text.startswith("customers.csv, row 2, column segment: got 'galactic', expected one of:")
    assert snapshot() == loaded


def test_missing_required_columns_one_problem_each(loaded, tmp_path):
    path = write_csv(tmp_path / "customers.csv", ["external_id", "name", "acquired_on"],
                     ["C-9", "X", "2024-01-01"])
    failure = fail("customers", path)
    assert [(p.row, p.column) for p in failure.problems] == [(1, "segment"), (1, "serving_unit")]
    assert "required column is missing" in failure.problems[0].message
    assert snapshot() == loaded


def test_unknown_column_is_named_and_rows_still_checked(loaded, tmp_path):
    path = write_csv(tmp_path / "customers.csv", [*CUSTOMER_HEADER, "colour"],
                     [*GOOD_NEW, "red"], ["C-8", "X", "enterprise", "not a date", "U-HQ", "blue"])
    assert [(p.row, p.column) for p in fail("customers", path).problems] == [
        (1, "colour"), (3, "acquired_on")]
    assert snapshot() == loaded


def test_unknown_reference(loaded, tmp_path):
    path = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, GOOD_NEW,
                     ["C-8", "X", "enterprise", "2024-01-01", "U-NOWHERE"])
    assert texts(fail("customers", path)) == [
        "customers.csv, row 3, column serving_unit: no org unit with external id 'U-NOWHERE'"]
    path = write_csv(tmp_path / "design-reviews.csv",
                     ["external_id", "project", "stage", "held_on", "customer_participants"],
                     ["DR-9", "DP-1", "pilot", "2023-01-01", "007;C-404"])
    assert texts(fail("design-reviews", path)) == [
        "design-reviews.csv, row 2, column customer_participants: "
        "no customer with external id 'C-404'"]
    assert snapshot() == loaded


def test_duplicate_external_id(loaded, tmp_path):
    path = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, GOOD_NEW, GOOD_UPDATE,
                     ["C-NEW", "Again", "enterprise", "2024-01-01", "U-HQ"])
    assert texts(fail("customers", path)) == [
        "customers.csv, row 4, column external_id: duplicate external id 'C-NEW': also on row 2"]
    assert snapshot() == loaded


def test_duplicate_in_the_bulk_path(loaded, tmp_path):
    header = ["external_id", "customer", "ordered_on", "amount"]
    path = write_csv(tmp_path / "orders.csv", header, ["O-50", "007", "2024-01-01", "1"],
                     ["O-50", "007", "2024-01-02", "2"], ["O-51", "C-404", "2024-01-02", "2"])
    assert [(p.row, p.column) for p in fail("orders", path).problems] == [
        (3, "external_id"), (4, "customer")]
    assert snapshot() == loaded


def test_model_validation(loaded, tmp_path):
    path = write_csv(tmp_path / "customers.csv", [*CUSTOMER_HEADER, "status"],
                     [*GOOD_NEW, "churned"])
    [problem] = fail("customers", path).problems
    assert (problem.row, problem.column) == (2, "churned_on")
    assert "churn date" in problem.message
    path = write_csv(tmp_path / "requirements.csv",
                     ["external_id", "title", "characteristic", "target"], ["R-9", "T", "c", "1"])
    [problem] = fail("requirements", path).problems
    assert (problem.row, problem.column) == (2, None)
    assert problem.as_dict()["text"].startswith("requirements.csv, row 2: A requirement")
    assert snapshot() == loaded


def test_parent_loops_are_problems(loaded, tmp_path):
    path = write_csv(tmp_path / "org-units.csv", ["external_id", "name", "parent"],
                     ["A", "a", "B"], ["B", "b", "A"], ["C", "c", "C"], ["D", "d", "U-HQ"])
    assert [(p.row, p.column) for p in fail("org-units", path).problems] == [
        (2, "parent"), (3, "parent"), (4, "parent")]
    assert snapshot() == loaded


def test_empty_file(loaded, tmp_path):
    (tmp_path / "customers.csv").write_bytes(b"")
    assert texts(fail("customers", tmp_path / "customers.csv")) == [
        "customers.csv: the file is empty; expected a header row with column names"]
    write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER)
    [text] = texts(fail("customers", tmp_path / "customers.csv"))
    assert "header row but no data rows" in text
    assert snapshot() == loaded


def test_wrong_encoding(loaded, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes(("external_id,name\n007,Bond\nC-2,Café\n").encode("latin-1"))
    [text] = texts(fail("customers", path))
    assert text.startswith("customers.csv: not UTF-8 text: byte 0xe9")
    assert "(line 3)" in text
    assert "save it as UTF-8" in text
    assert snapshot() == loaded


def test_unknown_kind(loaded):
    failure = fail("gizmos", DATA / "customers.csv")
    assert "unknown record kind 'gizmos'" in texts(failure)[0]
    assert "customers" in texts(failure)[0]
    assert snapshot() == loaded


def test_unsupported_suffix_and_missing_file(loaded, tmp_path):
    (tmp_path / "customers.txt").write_text("external_id\n1\n")
    assert texts(fail("customers", tmp_path / "customers.txt")) == [
        "customers.txt: unsupported file type '.txt'; expected one of: .csv, .xlsx, .parquet"]
    assert "no such file" in texts(fail("customers", tmp_path / "nope.csv"))[0]
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    assert "cannot be read as an Excel workbook" in texts(fail("customers",
                                                               tmp_path / "broken.xlsx"))[0]
    assert snapshot() == loaded


def test_problems_are_capped(loaded, tmp_path):
    lines = [[f"C-{i}", "X", "enterprise", "never", "U-HQ"] for i in range(MAX_PROBLEMS + 50)]
    failure = fail("customers", write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, *lines))
    assert len(failure.problems) == MAX_PROBLEMS + 1
    assert failure.problems[-1].message == "... and 50 more problems not shown"
    assert f"{MAX_PROBLEMS + 50} problems" in str(failure)
    assert snapshot() == loaded


def test_bulk_path_updates_changed_orders(loaded, tmp_path):
    path = write_csv(tmp_path / "orders.csv", ["external_id", "customer", "ordered_on", "amount"],
                     ["O-1", "007", "2023-01-15", "1300"], ["O-2", "007", "2023-03-15", "99.99"])
    report = import_file("orders", path)
    assert (report.updated, report.unchanged) == (1, 1)
    order = Order.objects.get(external_id="O-1")
    assert (float(order.amount), order.product, order.updated_at > order.created_at) == (
        1300.0, "Widget", True)


# --- the command line ---------------------------------------------------------------------------

def invoke(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=200)


def test_cli_import_and_export(tmp_path):
    result = invoke("import", "org-units", str(DATA / "org-units.csv"))
    assert result.exit_code == 0, result.output
    assert "4 created" in result.stdout
    result = invoke("import", "org-units", str(DATA / "org-units.csv"), "--dry-run", "--json")
    assert json.loads(result.stdout) | {"seconds": 0} == {
        "ok": True, "kind": "org-units", "file": str(DATA / "org-units.csv"), "dry_run": True,
        "rows": 4, "created": 0, "updated": 0, "unchanged": 4, "seconds": 0}
    result = invoke("export", "org-units", str(tmp_path / "u.parquet"), "--json")
    assert json.loads(result.stdout)["rows"] == 4


def test_cli_bad_input_exits_1_with_messages(loaded, tmp_path):
    path = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER,
                     ["C-7", "Seven", "enterprise", "2024-13-45", "U-HQ"])
    result = invoke("import", "customers", str(path))
    assert result.exit_code == 1
    assert "customers.csv, row 2, column acquired_on: got '2024-13-45'" in result.stderr
    assert "Traceback" not in result.output
    result = invoke("import", "customers", str(path), "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    assert payload["problems"][0]["row"] == 2
    assert payload["problems"][0]["column"] == "acquired_on"
    result = invoke("export", "gizmos", str(tmp_path / "x.csv"))
    assert result.exit_code == 1
    assert "unknown record kind" in result.stderr
    assert snapshot() == loaded


def test_cli_in_a_real_process_never_shows_a_traceback(tmp_path):
    # Its own SQLite file: on PostgreSQL the server's shared default database would be migrated.
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SETTINGS_MODULE", "QUALITYLOOP_DATABASE_URL")}
    env["QUALITYLOOP_HOME"] = str(tmp_path / "home")
    bad = tmp_path / "units.csv"
    bad.write_bytes("external_id,name\nU1,Zürich\n".encode("latin-1"))
    script = Path(sys.executable).with_name("qualityloop")
    result = subprocess.run([str(script), "import", "org-units", str(bad)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "units.csv: not UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.slow
def test_a_large_orders_file_takes_the_bulk_path_and_reimports_unchanged(tmp_path):
    # Its speed is measured in benchmarks/import_orders.py, not here.
    load_fixtures()
    customers = ["007", "C-2", "C-3"]
    lines = [[f"B-{i:06d}", customers[i % 3], f"2023-{i % 12 + 1:02d}-{i % 28 + 1:02d}",
              f"{i % 5000 + 0.99:.2f}"] for i in range(200_000)]
    path = write_csv(tmp_path / "orders.csv", ["external_id", "customer", "ordered_on", "amount"],
                     *lines)
    report = import_file("orders", path)
    assert report.created == 200_000
    assert Order.objects.filter(external_id__startswith="B-").count() == 200_000
    assert import_file("orders", path).unchanged == 200_000


# --- plain kinds (orders): checked value by value, written in batches ---------------------------

ORDER_HEADER = ["external_id", "customer", "ordered_on", "amount", "currency", "product"]
BAD_ORDERS = [
    ["O-20", "007", "2023-02-30", "10", "EUR", ""],           # no such date
    ["O-21", "C-404", "2023-02-01", "10", "EUR", ""],         # unknown customer
    ["O-22", "007", "2023-02-01", "1e20", "EUR", ""],         # too many digits (validator)
    ["O-23", "007", "2023-02-01", "-1", "EURO", "x" * 101],  # several problems on one row
    ["O-24", "", "", "", "", ""],                             # required cells empty
    ["O-25", "007", "2023-02-01", "-1", "EUR", ""],           # the same bad value again
    ["", "007", "2023-02-01", "10", "EUR", ""],               # no external id
]


def test_orders_are_a_plain_kind_and_history_kinds_are_not():
    assert get_kind("orders").is_plain
    for kind in KINDS:
        if hasattr(kind.model, "history") or kind.model.clean is not Model.clean:
            assert not kind.is_plain, kind.name


def test_plain_path_messages_are_the_record_writers(loaded, tmp_path):
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, *BAD_ORDERS)
    got = [(p.row, p.column, p.message) for p in fail("orders", path).problems]
    expected = []
    with transaction.atomic():
        for number, line in enumerate(BAD_ORDERS, start=2):
            cells = {name: (cell or None) for name, cell in zip(ORDER_HEADER, line, strict=True)}
            with pytest.raises(RowInvalid) as invalid:
                write_record(get_kind("orders"), cells, partial=True)
            errors = sorted(invalid.value.errors.items(), key=lambda i: ORDER_HEADER.index(i[0]))
            expected += [(number, column, message) for column, message in errors]
    assert got == expected
    assert len(got) == 11
    assert (3, "customer", "no customer with external id 'C-404'") in got
    assert (4, "amount", "Ensure that there are no more than 14 digits in total.") in got
    assert snapshot() == loaded


def test_plain_path_partial_update_keeps_other_columns_and_stamps_the_change(loaded, tmp_path):
    before = Order.objects.get(external_id="O-1")
    unchanged_stamp = Order.objects.get(external_id="O-2").updated_at
    path = write_csv(tmp_path / "orders.csv", ["external_id", "customer", "ordered_on", "amount"],
                     ["O-1", "007", "2023-01-15", "1250.5"], ["O-2", "007", "2023-03-15", "99.99"])
    report = import_file("orders", path)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    after = Order.objects.get(external_id="O-1")
    assert (str(after.amount), after.product, after.customer_id) == ("1250.50", "Widget",
                                                                    before.customer_id)
    assert after.created_at == before.created_at
    assert after.updated_at > before.updated_at
    assert Order.objects.get(external_id="O-2").updated_at == unchanged_stamp


def test_plain_path_new_rows_get_defaults_and_time_stamps(loaded, tmp_path):
    path = write_csv(tmp_path / "orders.csv", ["external_id", "customer", "ordered_on", "amount"],
                     ["O-30", "C-2", "2024-02-29", "5"])
    assert import_file("orders", path).created == 1
    order = Order.objects.get(external_id="O-30")
    assert (order.customer.external_id, order.ordered_on, str(order.amount)) == (
        "C-2", dt.date(2024, 2, 29), "5.00")
    assert (order.currency, order.product) == ("EUR", "")
    assert order.created_at is not None and order.updated_at is not None


def test_plain_path_dry_run_and_failure_change_nothing(loaded, tmp_path):
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER,
                     ["O-1", "007", "2023-01-15", "1", "EUR", ""], ["O-40", "C-3", "2024-01-01",
                                                                    "2", "USD", "Gear"])
    report = import_file("orders", path, dry_run=True)
    assert (report.created, report.updated, report.dry_run) == (1, 1, True)
    assert snapshot() == loaded
    write_csv(path, ORDER_HEADER, ["O-1", "007", "2023-01-15", "1", "EUR", ""],
              ["O-40", "C-3", "2024-01-01", "-2", "USD", "Gear"])
    fail("orders", path)
    assert snapshot() == loaded
