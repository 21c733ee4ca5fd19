"""Export every record of a kind to CSV, Excel or Parquet, in the shape import reads back."""

from __future__ import annotations

from pathlib import Path

from django.db import DatabaseError

from qualityloop.services.record_kinds import get_kind, rows
from qualityloop.services.tabular import TableError, format_of, write_table


class ExportFailed(Exception):
    """Nothing was written; the message says why."""


def export_file(kind_name: str, path: Path) -> int:
    """Write all records of ``kind_name`` to ``path`` (.csv, .xlsx or .parquet).

    Every column of the kind is written, references as external ids, so the file imports back
    with every row unchanged. The file appears complete or not at all (written under a temporary
    name, then renamed).

    Returns
    -------
    int
        The number of records written.

    Raises
    ------
    ExportFailed
        Unknown kind, unsupported suffix, missing folder, or a failure while writing.
    """
    path = Path(path)
    try:
        kind = get_kind(kind_name)
        format_of(path)
        records = rows(kind)
        write_table(path, kind.column_names, records)
    except (ValueError, TableError) as problem:
        raise ExportFailed(str(problem)) from None
    except (OSError, DatabaseError) as problem:
        raise ExportFailed(f"{path}: could not export {kind_name} ({problem})") from None
    return len(records)


__all__ = ["ExportFailed", "export_file"]
