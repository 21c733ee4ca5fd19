"""Kaplan-Meier fit time: qualityloop's KaplanMeier against lifelines' KaplanMeierFitter, on the
same data in the same run. lifelines clashes with our pins, so it runs in its own venv:

    benchmarks/setup_peers.sh   # benchmarks/.peers/lifelines, the default --peer-python
    /work/venv/bin/python benchmarks/kaplan_meier.py [rows] [--peer-python PATH]

Prints the best of 3 fit times for each and the ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from qualityloop.analytics.survival import KaplanMeier

PEER = """
import sys, time
import numpy as np
from lifelines import KaplanMeierFitter
duration, event = np.load(sys.argv[1])
best = float("inf")
for _ in range(3):
    start = time.perf_counter()
    KaplanMeierFitter().fit(duration, event)
    best = min(best, time.perf_counter() - start)
print(best)
"""


def make_data(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "duration": np.ceil(rng.gamma(1.5, 60.0, rows)),  # days to churn: many ties
        "event": (rng.random(rows) < 0.7).astype(int),
    })


def time_ours(data: pd.DataFrame) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        KaplanMeier().fit(data)
        best = min(best, time.perf_counter() - start)
    return best


def time_peer(data: pd.DataFrame, python: str) -> float | None:
    if not Path(python).exists():
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "km.npy"
        np.save(path, data[["duration", "event"]].to_numpy(dtype=float).T)
        out = subprocess.run([python, "-c", PEER, str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return None
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--peer-python", default=str(Path(__file__).resolve().parent / ".peers"
                                                     / "lifelines" / "bin" / "python"))
    args = parser.parse_args()
    data = make_data(args.rows)
    ours = time_ours(data)
    peer = time_peer(data, args.peer_python)
    print(f"rows={args.rows:,}  qualityloop KaplanMeier: {ours:.3f} s")
    if peer is None:
        print("lifelines: not measured (no peer venv or it failed)")
    else:
        print(f"lifelines KaplanMeierFitter: {peer:.3f} s  ratio {peer / ours:.1f}x")


if __name__ == "__main__":
    main()
