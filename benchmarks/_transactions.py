"""Synthetic transaction logs for the benchmarks, generated once per size and cached as Parquet.

The file for n transactions lives in ``benchmarks/.data/`` (gitignored) and is reused by every
later run. It is written in chunks, so 50,000,000 rows need a few hundred MiB of memory, not the
whole table: each chunk draws its own rows; only the customers' first-purchase days (n/10
integers) are held throughout.

Columns: ``customer_id`` (int64), ``date`` (timestamp, whole days), ``spend`` (float64).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA_DIR = Path(os.environ.get("BENCHMARK_DATA_DIR", Path(__file__).resolve().parent / ".data"))
START = np.datetime64("2023-01-01", "D")
LAST_DAY = 760  # 2025-01-30: a month after the observation end the RFM benchmark uses
CHUNK_ROWS = 2_000_000
SCHEMA = pa.schema([("customer_id", pa.int64()), ("date", pa.timestamp("us")),
                    ("spend", pa.float64())])
# Bytes per row of each column once decoded in memory: what a scan must at least read.
COLUMN_BYTES = {"customer_id": 8, "date": 8, "spend": 8}


def transactions_file(n: int, seed: int = 1, folder: Path | None = None,
                      chunk_rows: int = CHUNK_ROWS) -> Path:
    """The Parquet file of n transactions, generated on first use.

    n/10 customers over two years: each has a first-purchase day, then buys at exponentially
    distributed gaps (mean 120 days) from it, several purchases often on the same day.

    Parameters
    ----------
    n : int
        Number of transactions.
    seed : int
        Seed of the random generator; the same (n, seed, chunk_rows) gives the same file.
    folder : pathlib.Path, optional
        Where to cache the file (default ``benchmarks/.data``, or ``BENCHMARK_DATA_DIR``).
    chunk_rows : int
        Rows drawn and written at a time; bounds the memory used.

    Returns
    -------
    pathlib.Path
    """
    folder = DATA_DIR if folder is None else folder
    path = folder / f"transactions-{n}-seed{seed}.parquet"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".partial-{os.getpid()}")
    started = time.perf_counter()
    _write(n, seed, partial, chunk_rows)
    partial.replace(path)  # atomic: a run killed half way never leaves a short file behind
    print(f"generated {n:,} transactions into {path} in {time.perf_counter() - started:.1f} s "
          f"({path.stat().st_size / 2**20:,.0f} MiB)", flush=True)
    return path


def _write(n: int, seed: int, path: Path, chunk_rows: int) -> None:
    rng = np.random.default_rng(seed)
    customers = max(n // 10, 1)
    first = rng.integers(0, 600, customers, dtype=np.int32)
    with pq.ParquetWriter(path, SCHEMA) as writer:
        for done in range(0, n, chunk_rows):
            writer.write_table(_chunk(rng, first, min(chunk_rows, n - done)))


def _chunk(rng: np.random.Generator, first: np.ndarray, rows: int) -> pa.Table:
    customer = rng.integers(0, len(first), rows)
    gaps = rng.exponential(120, rows).astype(np.int64)
    days = np.minimum(first[customer] + gaps, LAST_DAY)
    return pa.table({
        "customer_id": customer,
        "date": (START + days.astype("timedelta64[D]")).astype("datetime64[us]"),
        "spend": np.round(rng.gamma(2.0, 20.0, rows), 2),
    }, schema=SCHEMA)


def scanned_bytes(n: int, columns: list[str]) -> int:
    """Bytes a scan of ``columns`` over n rows reads once decoded in memory."""
    return n * sum(COLUMN_BYTES[c] for c in columns)


def copy_bandwidth(megabytes: int = 256, repeats: int = 20) -> float:
    """This machine's memory bandwidth in bytes/s, from the best of a few numpy array copies.

    A copy reads and writes every byte, so the bytes moved are twice the array's size. The
    array is far larger than any CPU cache. One thread: what one core can stream.
    """
    source = np.ones(megabytes * 2**20 // 8)
    target = np.empty_like(source)
    np.copyto(target, source)  # touch the pages first: the first copy pays for page faults
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - started)
    return 2 * source.nbytes / best
