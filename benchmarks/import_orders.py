"""Importing a large orders file, against the plainest peer: pandas reading the same CSV and
writing it with ``DataFrame.to_sql`` into an SQLite table (no validation, no references, no upsert).

The ratio says what validation, reference checks, upsert and one all-or-nothing transaction cost
over a bare load.

    python benchmarks/import_orders.py [ROWS]      # default 200,000
"""

from __future__ import annotations

import csv
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from _setup import django_in_temp_home, peak_memory_mb


def write_orders_csv(path: Path, rows: int, customers: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["external_id", "customer", "ordered_on", "amount"])
        for i in range(rows):
            out.writerow([f"B-{i:07d}", customers[i % len(customers)],
                          f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}", f"{i % 5000 + 0.99:.2f}"])


def pandas_to_sql_seconds(path: Path) -> float:
    import pandas as pd

    began = time.perf_counter()
    frame = pd.read_csv(path, dtype=str)
    with sqlite3.connect(Path(tempfile.mkdtemp()) / "peer.sqlite3") as connection:
        frame.to_sql("orders", connection, index=False, chunksize=10_000)
    return time.perf_counter() - began


def main(rows: int) -> None:
    django_in_temp_home()
    from qualityloop.services.demo import generate_demo
    from qualityloop.services.importing import import_file

    generate_demo(n_customers=200, seed=1)  # customers to refer to
    from qualityloop.records.customers.models import Customer

    customers = list(Customer.objects.values_list("external_id", flat=True))
    path = Path(tempfile.mkdtemp()) / "orders.csv"
    write_orders_csv(path, rows, customers)

    began = time.perf_counter()
    created = import_file("orders", path).created
    ours = time.perf_counter() - began
    began = time.perf_counter()
    unchanged = import_file("orders", path).unchanged
    again = time.perf_counter() - began
    peer = pandas_to_sql_seconds(path)

    print(f"rows: {rows:,} (created {created:,}, then unchanged {unchanged:,})")
    print(f"qualityloop import, first time : {ours:6.1f} s  ({rows / ours:,.0f} rows/s)")
    print(f"qualityloop import, again      : {again:6.1f} s")
    print(f"pandas read_csv + to_sql (peer): {peer:6.1f} s")
    print(f"ratio ours / peer              : {ours / peer:6.1f}x")
    print(f"peak memory                    : {peak_memory_mb():6.0f} MiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
