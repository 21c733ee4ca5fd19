"""Cox model fit time: qualityloop's CoxPH against lifelines' CoxPHFitter, on the same simulated
customers in the same run. lifelines clashes with our pins, so it runs in its own venv:

    benchmarks/setup_peers.sh   # benchmarks/.peers/lifelines, the default --peer-python
    /work/venv/bin/python benchmarks/cox_fit.py [customers] [--repeats N] [--peer-python PATH]

Simulates N customers (default 1,000,000) with 5 covariates and known coefficients, churn times
in whole days (so many tied times, Efron's correction matters) and uniform censoring. Each side
fits in a fresh process reading the same file; prints the best fit time of each, the ratio, the
estimates next to the true coefficients, and each process's peak memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TRUE_COEFFICIENTS = {"x1": 0.4, "x2": -0.25, "x3": 0.6, "x4": 0.1, "x5": -0.5}

# Both runners read the same .npy, build the same DataFrame, fit `repeats` times and print JSON
# with the best time, the estimates and the process's peak memory.
RUNNER = """
import json, resource, sys, time
import numpy as np, pandas as pd
values = np.load(sys.argv[1])
repeats = int(sys.argv[2])
data = pd.DataFrame(values, columns=["x1", "x2", "x3", "x4", "x5", "days", "churned"])
data["churned"] = data["churned"].astype(int)
{setup}
best = float("inf")
for _ in range(repeats):
    start = time.perf_counter()
    model = {fit}
    best = min(best, time.perf_counter() - start)
print(json.dumps({{
    "seconds": best,
    "params": model.params_.to_dict(),
    "se": model.standard_errors_.to_dict(),
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}}))
"""
OURS = RUNNER.format(
    setup="from qualityloop.analytics.survival import CoxPH",
    fit='CoxPH().fit(data, duration_col="days", event_col="churned")',
)
PEER = RUNNER.format(
    setup="from lifelines import CoxPHFitter",
    fit='CoxPHFitter().fit(data, duration_col="days", event_col="churned")',
)


def make_data(customers: int) -> np.ndarray:
    """Covariates (two normal, a 30% flag, a count, a uniform), exponential churn with a mean of
    300 days at the mean customer, censoring uniform over two years; times in whole days."""
    rng = np.random.default_rng(0)
    X = np.column_stack([
        rng.normal(size=customers),
        rng.normal(size=customers),
        rng.random(customers) < 0.3,
        rng.poisson(2.0, customers),
        rng.random(customers),
    ]).astype(float)
    beta = np.array(list(TRUE_COEFFICIENTS.values()))
    churn = rng.exponential(300.0 * np.exp(-X @ beta))
    censor = rng.uniform(0.0, 730.0, customers)
    days = np.ceil(np.minimum(churn, censor))
    churned = (churn <= censor).astype(float)
    return np.column_stack([X, days, churned])


def run(python: str, code: str, path: Path, repeats: int) -> dict | None:
    if not Path(python).exists():
        return None
    out = subprocess.run([python, "-c", code, str(path), str(repeats)], capture_output=True,
                         text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("customers", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--peer-python", default=str(Path(__file__).resolve().parent / ".peers"
                                                     / "lifelines" / "bin" / "python"))
    args = parser.parse_args()
    data = make_data(args.customers)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "customers.npy"
        np.save(path, data)
        ours = run(sys.executable, OURS, path, args.repeats)
        peer = run(args.peer_python, PEER, path, args.repeats)
    if ours is None:
        sys.exit("qualityloop CoxPH failed")
    print(f"customers={args.customers:,}  events={int(data[:, 6].sum()):,}  "
          f"distinct days={len(np.unique(data[:, 5])):,}  best of {args.repeats}")
    print(f"qualityloop CoxPH:     {ours['seconds']:.2f} s, peak {ours['peak_mib']:,.0f} MiB")
    if peer is None:
        print("lifelines: not measured (no peer venv or it failed)")
    else:
        print(f"lifelines CoxPHFitter: {peer['seconds']:.2f} s, peak {peer['peak_mib']:,.0f} MiB")
        print(f"ratio: {peer['seconds'] / ours['seconds']:.1f}x faster, "
              f"{ours['peak_mib'] / peer['peak_mib']:.2f}x the peak memory")
    print(f"{'covariate':>9} {'true':>7} {'ours':>10} {'lifelines':>10} {'se':>8}")
    for name, true in TRUE_COEFFICIENTS.items():
        theirs = f"{peer['params'][name]:10.5f}" if peer else f"{'-':>10}"
        print(f"{name:>9} {true:7.3f} {ours['params'][name]:10.5f} {theirs} "
              f"{ours['se'][name]:8.5f}")
    if peer is not None:
        gap = max(abs(ours["params"][k] - peer["params"][k]) for k in TRUE_COEFFICIENTS)
        print(f"largest difference between the estimates: {gap:.1e}")


if __name__ == "__main__":
    main()
