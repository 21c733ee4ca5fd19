"""BG/NBD fit on N simulated customers, and Pareto/NBD fit on CDNOW: QualityLoop against
lifetimes, run in the same session.

lifetimes clashes with our pins, so it runs in its own virtual environment:

    benchmarks/setup_peers.sh   # benchmarks/.peers/lifetimes, the default --peer-python
    /work/venv/bin/python benchmarks/bgnbd_fit.py --customers 1000000

The simulated customers are in days (as ``rfm_summary(freq="D")`` gives them): ages of 1 to 730
days, recency in whole days. Both sides get the same CSV; each side's time is the fit alone
(ours includes input checks and collapsing identical customers).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from qualityloop.analytics.retention import BetaGeo, ParetoNBD

CDNOW = Path(__file__).resolve().parents[1] / "tests" / "data" / "cdnow" / \
    "cdnow_customers_summary.csv"
TRUTH = {"r": 0.24, "alpha": 30.9, "a": 0.79, "b": 2.43}  # CDNOW's BG/NBD, weeks -> days

PEER_SCRIPT = """
import json, sys, time
import pandas as pd
from lifetimes import BetaGeoFitter, ParetoNBDFitter
kind, path = sys.argv[1], sys.argv[2]
data = pd.read_csv(path)
fitter = BetaGeoFitter() if kind == "bgnbd" else ParetoNBDFitter()
start = time.perf_counter()
fitter.fit(data["frequency"], data["recency"], data["T"])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "params": {k: float(v) for k, v in fitter.params_.items()}}))
"""


def simulate(customers: int, seed: int) -> pd.DataFrame:
    ages = np.random.default_rng(seed).integers(1, 731, customers).astype(float)
    population = BetaGeo.simulate(TRUTH, ages, seed=seed + 1)
    population["recency"] = np.floor(population["recency"])
    return population


def run_peer(peer_python: str, kind: str, path: Path) -> dict | None:
    done = subprocess.run([peer_python, "-c", PEER_SCRIPT, kind, str(path)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"  lifetimes failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_ours(model, data: pd.DataFrame, repeats: int) -> tuple[float, dict]:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(data)
        best = min(best, time.perf_counter() - start)
    return best, model.params_


def report(title: str, ours: tuple[float, dict], peer: dict | None) -> None:
    seconds, params = ours
    print(f"{title}")
    print(f"  qualityloop: {seconds:8.3f} s  " + _show(params))
    if peer is None:
        return
    print(f"  lifetimes:   {peer['seconds']:8.3f} s  " + _show(peer["params"]))
    worst = max(abs(params[k] / peer["params"][k] - 1) for k in params)
    print(f"  ratio (lifetimes / qualityloop): {peer['seconds'] / seconds:.1f}x; "
          f"largest relative difference in estimates {worst:.2e} "
          f"({'agree' if worst < 1e-3 else 'DIFFER'})")


def _show(params: dict) -> str:
    return ", ".join(f"{k}={v:.5g}" for k, v in params.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--peer-python", default=str(Path(__file__).resolve().parent / ".peers"
                                                     / "lifetimes" / "bin" / "python"),
                        help="python of a virtual environment with lifetimes installed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    have_peer = Path(args.peer_python).exists()
    if not have_peer:
        print(f"no {args.peer_python}; timing QualityLoop alone", file=sys.stderr)

    population = simulate(args.customers, args.seed)
    distinct = len(population.drop_duplicates())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "customers.csv"
        population.to_csv(path, index=False)
        ours = time_ours(BetaGeo(), population, args.repeats)
        peer = run_peer(args.peer_python, "bgnbd", path) if have_peer else None
        report(f"BG/NBD on {args.customers:,} simulated customers ({distinct:,} distinct "
               f"(x, t_x, T)); true {_show(TRUTH)}", ours, peer)

        cdnow = pd.read_csv(CDNOW)
        ours = time_ours(ParetoNBD(), cdnow, args.repeats)
        peer = run_peer(args.peer_python, "paretonbd", CDNOW) if have_peer else None
        report("Pareto/NBD on CDNOW (2,357 customers)", ours, peer)


if __name__ == "__main__":
    main()
