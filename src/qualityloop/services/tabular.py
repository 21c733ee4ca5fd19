"""Read and write tables in the file formats users bring: CSV (UTF-8), Excel (.xlsx), Parquet.

Cells are read as they are written (CSV cells as text, so an id ``007`` stays ``007``); turning
them into typed values is the job of the record kinds' columns. Row numbers are those a
spreadsheet shows: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUFFIXES = (".csv", ".xlsx", ".parquet")


class TableError(Exception):
    """A file cannot be read or written as a table.

    ``file`` is the file's name, ``row`` the spreadsheet row (or ``None``), ``reason`` says what is
    wrong and what to do; ``str()`` puts them together.
    """

    def __init__(self, file: str, reason: str, row: int | None = None) -> None:
        self.file, self.reason, self.row = file, reason, row
        where = f"{file}, row {row}" if row is not None else file
        super().__init__(f"{where}: {reason}")


@dataclass
class Table:
    """The header and the data rows of a file; ``rows`` pairs each spreadsheet row number with a
    mapping of column name to cell (``None`` for an empty cell)."""

    path: Path
    header: list[str]
    rows: list[tuple[int, dict[str, Any]]]


def format_of(path: Path) -> str:
    """The table format a file name stands for: ``csv``, ``xlsx`` or ``parquet``."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise TableError(
            path.name,
            f"unsupported file type {suffix or '(none)'!r}; expected one of: {', '.join(SUFFIXES)}",
        )
    return suffix[1:]


def read_table(path: Path) -> Table:
    """Read a .csv, .xlsx or .parquet file into a Table.

    Raises
    ------
    TableError
        Unsupported suffix, missing or unreadable file, a CSV that is not UTF-8, an empty file,
        a file with a header but no data rows, or a bad header (empty or repeated names).
    """
    path = Path(path)
    kind = format_of(path)
    if not path.is_file():
        raise TableError(str(path), "no such file")
    reader = {"csv": _read_csv, "xlsx": _read_xlsx, "parquet": _read_parquet}[kind]
    header, rows = reader(path)
    _check_header(path, header)
    if not rows:
        raise TableError(
            path.name, "the file has a header row but no data rows; expected records from row 2"
        )
    return Table(path, header, rows)


def _check_header(path: Path, header: list[str]) -> None:
    if not header or all(name == "" for name in header):
        raise TableError(path.name, "the file is empty; expected a header row with column names")
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if name == "":
            raise TableError(path.name, f"column {position} of the header has no name", row=1)
        if name in seen:
            raise TableError(path.name, f"column {name!r} appears twice in the header", row=1)
        seen.add(name)


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    text = _decode_utf8(path)
    if not text.strip():
        return [], []
    records = csv.reader(io.StringIO(text, newline=""), dialect=_dialect(text))
    try:
        header = [name.strip() for name in next(records)]
        rows = list(_csv_rows(path, header, records))
    except csv.Error as problem:
        raise TableError(path.name, f"not valid CSV ({problem})", row=records.line_num) from None
    return header, rows


def _csv_rows(
    path: Path, header: list[str], records: Iterator[list[str]]
) -> Iterator[tuple[int, dict[str, Any]]]:
    width = len(header)
    for number, cells in enumerate(records, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > width and any(cell.strip() for cell in cells[width:]):
            raise TableError(
                path.name, f"{len(cells)} cells but the header has {width} columns", row=number
            )
        yield number, {name: (cells[i] if i < len(cells) and cells[i] != "" else None)
                       for i, name in enumerate(header)}


def _decode_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as problem:
        line = data[: problem.start].count(b"\n") + 1
        byte = data[problem.start]
        raise TableError(
            path.name,
            f"not UTF-8 text: byte 0x{byte:02x} at byte offset {problem.start} (line {line}) "
            "cannot be decoded; save it as UTF-8 (in Excel: 'CSV UTF-8') and try again",
        ) from None


def _dialect(text: str) -> type[csv.Dialect]:
    """Comma-separated, unless the header uses semicolons (Excel in many locales)."""
    first_line = text.split("\n", 1)[0]
    if first_line.count(";") > first_line.count(","):
        return _Semicolon
    return csv.excel


class _Semicolon(csv.excel):
    delimiter = ";"


def _read_xlsx(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as problem:  # openpyxl raises many kinds for a damaged file
        raise TableError(path.name, f"cannot be read as an Excel workbook ({problem})") from None
    try:
        sheet = workbook.worksheets[0]
        lines = sheet.iter_rows(values_only=True)
        first = next(lines, None)
        if first is None:
            return [], []
        header = ["" if value is None else str(value).strip() for value in first]
        while header and header[-1] == "":
            header.pop()
        rows = []
        for number, values in enumerate(lines, start=2):
            cells = [_excel_cell(v) for v in values[: len(header)]]
            if all(cell is None for cell in cells):
                continue
            cells += [None] * (len(header) - len(cells))
            rows.append((number, dict(zip(header, cells, strict=True))))
        return header, rows
    finally:
        workbook.close()


def _excel_cell(value: Any) -> Any:
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date()
    return value


def _read_parquet(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as problem:  # pyarrow raises ArrowInvalid, OSError, ...
        raise TableError(path.name, f"cannot be read as a Parquet file ({problem})") from None
    header = [str(name) for name in table.column_names]
    rows = [(number, row) for number, row in enumerate(table.to_pylist(), start=2)]
    return header, rows


def write_table(path: Path, header: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """Write rows (mappings keyed by the header's names) to a .csv, .xlsx or .parquet file.

    The file is written next to its destination under a temporary name and renamed at the end,
    so a failure never leaves a half-written file.
    """
    path = Path(path)
    kind = format_of(path)
    if not path.parent.is_dir():
        raise TableError(str(path), f"the folder {path.parent} does not exist")
    writer = {"csv": _write_csv, "xlsx": _write_xlsx, "parquet": _write_parquet}[kind]
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        writer(temp, list(header), rows)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _write_csv(path: Path, header: list[str], rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_csv_text(row.get(name)) for name in header])


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _write_xlsx(path: Path, header: list[str], rows: Sequence[dict[str, Any]]) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(header)
    for row in rows:
        sheet.append([row.get(name) for name in header])
    workbook.save(path)


def _write_parquet(path: Path, header: list[str], rows: Sequence[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = [_arrow_column(pa, [row.get(name) for row in rows]) for name in header]
    pq.write_table(pa.Table.from_arrays(arrays, names=header), path)


def _arrow_column(pa: Any, values: list[Any]) -> Any:
    """A typed column where the values agree on a type, text otherwise."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else _csv_text(v) for v in values], type=pa.string())


__all__ = ["SUFFIXES", "Table", "TableError", "format_of", "read_table", "write_table"]
