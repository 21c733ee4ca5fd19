"""PLS path model bootstrap: qualityloop's PLSPathModel against the Python plspm package on the
ECSI model (250 respondents, 24 indicators, 7 constructs, path weighting), in the same run.
plspm needs numpy<2 and pandas<2.2, so it runs in its own venv:

    benchmarks/setup_peers.sh   # benchmarks/.peers/plspm, the default --peer-python
    /work/venv/bin/python benchmarks/pls_bootstrap.py [resamples] [--peer-resamples N]

Ours runs the full number of resamples (default 5,000; best of 3). plspm takes about a tenth of
a second per resample, so by default it runs --peer-resamples 200 on 2 processes and the ratio
compares time per resample (its full-sample fit and start-up included, which favours nothing:
both are small against 200 resamples). Pass --peer-resamples 5000 for the full run (minutes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from _setup import peak_memory_mb

from qualityloop.analytics.relate import PLSPathModel

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "ecsi" / "ecsi_mobi.csv"
MODEL = json.loads((DATA.parent / "ecsi_model.json").read_text())
BLOCKS = MODEL["measurement"]
PATHS = [tuple(path) for path in MODEL["structural"]]

PEER = """
import sys, time
import numpy as np, pandas as pd
import plspm.config as c
from plspm.mode import Mode
from plspm.plspm import Plspm
from plspm.scheme import Scheme
blocks, paths = {blocks!r}, {paths!r}
data = pd.read_csv(sys.argv[1])
data = (data - data.mean()) / data.std()  # plspm 0.5.7 scales by one pooled sd otherwise
structure = c.Structure()
for source, target in paths:
    structure.add_path([source], [target])
config = c.Config(structure.path(), scaled=True)
for construct, indicators in blocks.items():
    config.add_lv(construct, Mode.A, *[c.MV(i) for i in indicators])
np.random.seed(0)
start = time.perf_counter()
Plspm(data, config, Scheme.PATH, bootstrap=True, bootstrap_iterations=int(sys.argv[2]),
      processes=int(sys.argv[3]))
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(seconds, int(status.split()[0]) / 1024)
"""


def time_ours(data: pd.DataFrame, resamples: int, n_jobs: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        PLSPathModel(BLOCKS, PATHS).fit(data, bootstrap=resamples, seed=0, n_jobs=n_jobs)
        best = min(best, time.perf_counter() - start)
    return best


def time_peer(python: str, resamples: int, processes: int) -> tuple[float, float] | None:
    if not Path(python).exists():
        return None
    code = PEER.format(blocks=BLOCKS, paths=PATHS)
    out = subprocess.run([python, "-c", code, str(DATA), str(resamples), str(processes)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return None
    seconds, peak = out.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("resamples", nargs="?", type=int, default=5000)
    parser.add_argument("--peer-resamples", type=int, default=200)
    parser.add_argument("--peer-processes", type=int, default=2)
    parser.add_argument("--peer-python", default=str(Path(__file__).resolve().parent / ".peers"
                                                     / "plspm" / "bin" / "python"))
    args = parser.parse_args()
    if args.peer_resamples < 10 or args.peer_resamples % args.peer_processes:
        parser.error("--peer-resamples must be at least 10 (plspm runs 100 below that) and a "
                     "multiple of --peer-processes")
    data = pd.read_csv(DATA)
    PLSPathModel(BLOCKS, PATHS).fit(data)  # warm-up: imports, and the baseline peak memory
    baseline = peak_memory_mb()
    ours = time_ours(data, args.resamples, n_jobs=1)
    ours_peak = peak_memory_mb()
    ours_two = time_ours(data, args.resamples, n_jobs=2)
    print(f"ECSI model, {args.resamples:,} bootstrap resamples")
    print(f"qualityloop PLSPathModel: {ours:.2f} s (n_jobs=1), {ours_two:.2f} s (n_jobs=2), "
          f"{ours_peak:,.0f} MiB peak ({baseline:,.0f} MiB after imports and one fit)")
    peer = time_peer(args.peer_python, args.peer_resamples, args.peer_processes)
    if peer is None:
        print("plspm: not measured (no peer venv or it failed)")
        return
    seconds, peak = peer
    per_peer, per_ours = seconds / args.peer_resamples, min(ours, ours_two) / args.resamples
    print(f"plspm 0.5.7: {seconds:.1f} s for {args.peer_resamples:,} resamples on "
          f"{args.peer_processes} processes ({per_peer * 1000:.0f} ms each), {peak:,.0f} MiB peak "
          f"(main process)")
    print(f"per resample: qualityloop {per_ours * 1000:.3f} ms, plspm {per_peer * 1000:.0f} ms, "
          f"ratio {per_peer / per_ours:.0f}x; plspm at {args.resamples:,} resamples would take "
          f"about {per_peer * args.resamples:.0f} s")


if __name__ == "__main__":
    main()
