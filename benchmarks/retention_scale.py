"""rfm_summary and cohort retention at scale (1M, 10M, 50M transactions) on DuckDB, against peers.

    /work/venv/bin/python benchmarks/retention_scale.py                      # 1,000,000
    /work/venv/bin/python benchmarks/retention_scale.py 1000000 10000000 50000000

Each size's transactions are generated once into ``benchmarks/.data/`` (see _transactions.py) and
every measured run is a fresh child process reading that Parquet file, so the time includes
reading the file and the peak resident memory printed (VmHWM) is that run's own.

- ours: ``rfm_summary`` (freq D, with spend) and ``cohort_retention`` (monthly, first-time
  cohorts) on an Ibis DuckDB table over the Parquet file: DuckDB reads the file itself.
- rfm peers: lifetimes' ``summary_data_from_transaction_data`` (in its own venv, made by
  setup_peers.sh) up to ``--lifetimes-max`` rows (default 10M: at 50M it would need ~9 GiB and
  many minutes),
  and a plain pandas groupby of the same definitions at every size.
- cohort peer: a pandas groupby building the same counts table.
Every peer's table is compared with ours (row for row, cell for cell) before figures are printed.
A peer is skipped, saying so, when its estimated memory exceeds half of what the machine has free.

The lower bound is the time to read the scanned columns once from memory (8 bytes per value)
at the bandwidth a numpy copy reaches on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import peak_memory_mb  # noqa: E402
from _transactions import scanned_bytes, transactions_file  # noqa: E402

OUR_PYTHON = sys.executable
LIFETIMES_PYTHON = os.environ.get("PEERS_PYTHON", str(
    Path(__file__).resolve().parent / ".peers" / "lifetimes" / "bin" / "python"))
END = "2024-12-31"
# Rough peak bytes per transaction, from the 10M runs here: to skip a peer that cannot fit.
BYTES_PER_ROW = {"lifetimes-rfm": 180, "pandas-rfm": 190, "pandas-cohort": 115}
PEERS = {"rfm": ["lifetimes-rfm", "pandas-rfm"], "cohort": ["pandas-cohort"]}
SCANNED = {"rfm": ["customer_id", "date", "spend"], "cohort": ["customer_id", "date"]}


# --- the measured runs (each in its own child process) -------------------------------------

def ours_rfm(path: Path) -> pd.DataFrame:
    import ibis

    from qualityloop.analytics.retention import rfm_summary

    table = ibis.duckdb.connect().read_parquet(path)
    return rfm_summary(table, monetary="spend", freq="D", observation_end=END)


def ours_cohort(path: Path) -> pd.DataFrame:
    import ibis

    from qualityloop.analytics.retention import cohort_retention

    table = ibis.duckdb.connect().read_parquet(path)
    return cohort_retention(table, period="M").counts


def lifetimes_rfm(path: Path) -> pd.DataFrame:
    from lifetimes.utils import summary_data_from_transaction_data

    transactions = pd.read_parquet(path)
    return summary_data_from_transaction_data(
        transactions, "customer_id", "date", monetary_value_col="spend",
        observation_period_end=END, freq="D")


def pandas_rfm(path: Path) -> pd.DataFrame:
    """lifetimes' definitions (freq D) written as plain pandas groupbys."""
    log = pd.read_parquet(path)
    end = pd.Timestamp(END)
    log = log[log["date"].dt.floor("D") <= end]
    days = log.groupby(["customer_id", log["date"].dt.floor("D")], sort=False)["spend"].sum()
    days = days.reset_index()
    per_customer = days.groupby("customer_id")
    first_row = per_customer["date"].idxmin()
    first, last = per_customer["date"].min(), per_customer["date"].max()
    repeats = (per_customer.size() - 1).astype(float)
    repeat_spend = per_customer["spend"].sum() - days["spend"].to_numpy()[first_row.to_numpy()]
    return pd.DataFrame({
        "frequency": repeats,
        "recency": (last - first).dt.days.astype(float),
        "T": (end - first).dt.days.astype(float),
        "monetary_value": np.where(repeats > 0, repeat_spend / repeats.where(repeats > 0, 1), 0.0),
    }).sort_index()


def pandas_cohort(path: Path) -> pd.DataFrame:
    """Monthly first-time cohort counts, NaN where the data cannot see the cell yet."""
    log = pd.read_parquet(path, columns=["customer_id", "date"])
    month = log["date"].dt.year * 12 + log["date"].dt.month - 1
    pairs = pd.DataFrame({"cid": log["customer_id"], "month": month}).drop_duplicates()
    cohort = pairs.groupby("cid")["month"].transform("min")
    counts = pairs.groupby([cohort.rename("cohort"), (pairs["month"] - cohort).rename("offset")]
                           ).size().unstack(fill_value=0).astype(float)
    last = pairs["month"].max()
    # Every offset the oldest cohort can reach, also those at which nobody came back.
    counts = counts.reindex(columns=range(last - counts.index.min() + 1), fill_value=0.0)
    visible = counts.index.to_numpy()[:, None] + counts.columns.to_numpy()[None, :]
    counts = counts.where(visible <= last)
    counts.index = pd.to_datetime(pd.DataFrame({
        "year": counts.index // 12, "month": counts.index % 12 + 1, "day": 1}))
    return counts.rename_axis(index="cohort", columns="offset")


RUNS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "ours-rfm": ours_rfm, "lifetimes-rfm": lifetimes_rfm, "pandas-rfm": pandas_rfm,
    "ours-cohort": ours_cohort, "pandas-cohort": pandas_cohort,
}


def import_first(which: str) -> None:
    """Import what a run needs before the clock starts: start-up is not what is measured."""
    if which.startswith("ours"):
        import ibis  # noqa: F401

        import qualityloop.analytics.retention  # noqa: F401
    elif which.startswith("lifetimes"):
        import lifetimes.utils  # noqa: F401
    import pyarrow.parquet  # noqa: F401


def worker(which: str, data: Path, out: Path, repeats: int) -> None:
    """Best of ``repeats`` runs; prints a JSON line with seconds and peak memory.

    CPU seconds (all threads of the process) are printed too: on a loaded machine the wall
    time is mostly waiting for a core, the CPU time much less so.
    """
    import_first(which)
    start_mb = peak_memory_mb()
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = RUNS[which](data)
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - started_cpu)
    peak = peak_memory_mb()
    result.columns = result.columns.astype(str)  # Parquet wants string column names
    result.to_parquet(out)
    print(json.dumps({"seconds": best, "cpu_seconds": best_cpu, "peak_mb": peak,
                      "start_mb": start_mb}))


# --- the driver ----------------------------------------------------------------------------

def measure(which: str, data: Path, out: Path, repeats: int) -> dict:
    python = LIFETIMES_PYTHON if which.startswith("lifetimes") else OUR_PYTHON
    command = [python, __file__, "--worker", which, "--data", str(data), "--out", str(out),
               "--repeats", str(repeats)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{which} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo (what can be used without swapping)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 2**62


def skip_reason(which: str, n: int, lifetimes_max: int) -> str | None:
    if which == "lifetimes-rfm":
        if not Path(LIFETIMES_PYTHON).exists():
            return f"no lifetimes venv at {LIFETIMES_PYTHON} (run benchmarks/setup_peers.sh)"
        if n > lifetimes_max:
            return f"above --lifetimes-max {lifetimes_max:,}"
    need = BYTES_PER_ROW.get(which, 0) * n
    if need > available_bytes() / 2:
        return (f"needs ~{need / 2**30:.1f} GiB, more than half of the "
                f"{available_bytes() / 2**30:.1f} GiB free")
    return None


def same_table(ours: pd.DataFrame, peer: pd.DataFrame) -> None:
    """Raise AssertionError unless the two tables hold the same numbers (1e-9)."""
    peer = peer.reindex(columns=ours.columns)
    pd.testing.assert_frame_equal(ours, peer, check_exact=False, rtol=0, atol=1e-9,
                                  check_names=False, check_index_type=False,
                                  check_column_type=False, check_dtype=False)


def figures(run: dict) -> str:
    return (f"{run['seconds']:7.2f} s (CPU {run['cpu_seconds']:6.2f} s)  "
            f"peak {run['peak_mb']:6,.0f} MiB")


def run_size(n: int, bandwidth: float, lifetimes_max: int, repeats: int, tasks: list[str],
             folder: Path) -> list[dict]:
    data = transactions_file(n)
    rows = []
    for task in tasks:
        peers = PEERS[task]
        ours = measure(f"ours-{task}", data, folder / f"ours-{task}.parquet", repeats)
        bound = scanned_bytes(n, SCANNED[task]) / bandwidth
        print(f"{task:>6} {'ours':<14} {figures(ours)}  (scan lower bound {bound:.3f} s: "
              f"{ours['seconds'] / bound:,.0f}x above it)", flush=True)
        measured: dict[str, dict] = {}
        rows.append({"n": n, "task": task, "ours": ours, "bound": bound, "peers": measured})
        ours_table = pd.read_parquet(folder / f"ours-{task}.parquet")
        for peer in peers:
            reason = skip_reason(peer, n, lifetimes_max)
            if reason:
                print(f"{task:>6} {peer:<14} skipped: {reason}", flush=True)
                continue
            result = measure(peer, data, folder / f"{peer}.parquet", repeats)
            same_table(ours_table, pd.read_parquet(folder / f"{peer}.parquet"))
            measured[peer] = result
            print(f"{task:>6} {peer:<14} {figures(result)}  -> ours "
                  f"{result['seconds'] / ours['seconds']:.1f}x as fast "
                  f"({result['cpu_seconds'] / ours['cpu_seconds']:.1f}x in CPU), "
                  f"{ours['peak_mb'] / result['peak_mb']:.2f}x the memory; same table "
                  f"({len(ours_table):,} rows)", flush=True)
    return rows


def measured_bandwidth() -> float:
    """copy_bandwidth() in a child process, so its 1 GiB of arrays stays out of our memory."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from _transactions import copy_bandwidth; print(copy_bandwidth())")
    result = subprocess.run([OUR_PYTHON, "-c", code, str(Path(__file__).resolve().parent)],
                            capture_output=True, text=True, check=True)
    return float(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=[1_000_000])
    parser.add_argument("--lifetimes-max", type=int, default=10_000_000,
                        help="largest size lifetimes is run at (it needs ~180 bytes per row)")
    parser.add_argument("--repeats", type=int,
                        help="runs per measurement, best taken (default 3 up to 1M rows, else 1)")
    parser.add_argument("--tasks", nargs="+", choices=list(PEERS), default=list(PEERS),
                        help="what to measure (default both)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--worker")
    parser.add_argument("--data")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, Path(args.data), Path(args.out), args.repeats or 1)
        return
    bandwidth = measured_bandwidth()
    load = os.getloadavg()
    print(f"memory bandwidth (numpy copy, one thread): {bandwidth / 1e9:.1f} GB/s; "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; {os.cpu_count()} cores; "
          "times are the best of the repeats, peak memory each child process's VmHWM",
          flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="retention-scale-") as folder:
        for n in args.sizes:
            repeats = args.repeats or (3 if n <= 1_000_000 else 1)
            print(f"\n{n:,} transactions ({n // 10:,} customers), best of {repeats}", flush=True)
            results += run_size(n, bandwidth, args.lifetimes_max, repeats, args.tasks,
                                Path(folder))
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"bandwidth": bandwidth, "load": load, "results": results}, indent=1))


if __name__ == "__main__":
    main()
