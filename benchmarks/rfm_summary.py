"""rfm_summary against lifetimes' summary_data_from_transaction_data on the same transactions.

    /work/venv/bin/python benchmarks/rfm_summary.py            # 1,000,000 transactions
    /work/venv/bin/python benchmarks/rfm_summary.py 10000000   # 10,000,000

lifetimes clashes with our pins, so it runs in its own virtual environment (set PEERS_PYTHON,
default benchmarks/.peers/lifetimes/bin/python, which benchmarks/setup_peers.sh creates).
Each run is a fresh subprocess on the same Parquet file, so the peak resident memory printed is
that run's own (it includes the loaded DataFrame, reported separately).
Both results are compared row for row before the figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

OUR_PYTHON = sys.executable
PEERS_PYTHON = os.environ.get("PEERS_PYTHON", str(Path(__file__).resolve().parent / ".peers"
                                                     / "lifetimes" / "bin" / "python"))
END = "2024-12-31"


def make_transactions(n: int, path: Path, seed: int = 1) -> None:
    """n transactions of n/10 customers over two years, a few on the same day."""
    rng = np.random.default_rng(seed)
    customers = max(n // 10, 1)
    start = np.datetime64("2023-01-01")
    first = rng.integers(0, 600, customers)
    customer = rng.integers(0, customers, n)
    days = np.minimum(first[customer] + rng.exponential(120, n).astype(int), 760)
    frame = pd.DataFrame({
        "customer_id": customer,
        "date": (start + days.astype("timedelta64[D]")).astype("datetime64[ns]"),
        "spend": np.round(rng.gamma(2.0, 20.0, n), 2),
    })
    frame.to_parquet(path, index=False)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(which: str, data: Path, freq: str, out: Path) -> None:
    """One measured run; prints a JSON line with seconds and memory."""
    # ours-parquet lets DuckDB read the file itself: no pandas copy of the data at all.
    transactions = None if which == "ours-parquet" else pd.read_parquet(data)
    loaded_mb = peak_mb()
    if which == "lifetimes":
        from lifetimes.utils import summary_data_from_transaction_data

        def run() -> pd.DataFrame:
            return summary_data_from_transaction_data(
                transactions, "customer_id", "date", monetary_value_col="spend",
                observation_period_end=END, freq=freq)
    else:
        import ibis

        from qualityloop.analytics.retention import rfm_summary

        source = ibis.duckdb.connect().read_parquet(data) if which == "ours-parquet" \
            else transactions

        def run() -> pd.DataFrame:
            return rfm_summary(source, monetary="spend", freq=freq, observation_end=END)
    started = time.perf_counter()
    summary = run()
    seconds = time.perf_counter() - started
    summary.to_parquet(out)
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(), "loaded_mb": loaded_mb}))


def measure(python: str, which: str, data: Path, freq: str, out: Path) -> dict:
    command = [python, __file__, "--worker", which, "--data", str(data), "--freq", freq,
               "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{which} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--freq", default="D")
    parser.add_argument("--worker")
    parser.add_argument("--data")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, Path(args.data), args.freq, Path(args.out))
        return
    folder = Path(tempfile.mkdtemp(prefix="rfm-bench-"))
    data = folder / "transactions.parquet"
    make_transactions(args.n, data)
    print(f"{args.n:,} transactions, freq {args.freq}, observation end {END}")
    runs = {}
    for which, python in [("lifetimes", PEERS_PYTHON), ("ours", OUR_PYTHON),
                          ("ours-parquet", OUR_PYTHON)]:
        runs[which] = measure(python, which, data, args.freq, folder / f"{which}.parquet")
        r = runs[which]
        print(f"{which:>13}: {r['seconds']:8.2f} s   peak {r['peak_mb']:7.0f} MiB "
              f"(after loading the data {r['loaded_mb']:.0f} MiB)")
    reference = pd.read_parquet(folder / "lifetimes.parquet")
    for which in ("ours", "ours-parquet"):
        ours = pd.read_parquet(folder / f"{which}.parquet")
        pd.testing.assert_frame_equal(ours, reference, check_exact=False, rtol=0, atol=1e-9,
                                      check_names=False, check_index_type=False)
    print("results equal row for row "
          f"({len(reference):,} customers)")
    lt, ours = runs["lifetimes"], runs["ours"]
    print(f"speed-up (DataFrame input): {lt['seconds'] / ours['seconds']:.1f}x; "
          f"from Parquet through Ibis: {lt['seconds'] / runs['ours-parquet']['seconds']:.1f}x")
    print(f"peak memory ours / lifetimes: {ours['peak_mb'] / lt['peak_mb']:.2f}")


if __name__ == "__main__":
    main()
