"""How long `qualityloop demo` takes to build its organisation, at 2,000 and 100,000 customers.

The issue's budget: 100,000 customers with several million orders in under two minutes.

    python benchmarks/demo_generation.py            # 2,000 and 100,000 customers
    python benchmarks/demo_generation.py 2000       # one size
"""

from __future__ import annotations

import sys
import time

from _setup import django_in_temp_home, peak_memory_mb

BUDGET_SECONDS = {100_000: 120.0}


def main(sizes: list[int]) -> int:
    django_in_temp_home()
    from qualityloop.services.demo import generate_demo

    over_budget = False
    print(f"{'customers':>10} {'orders':>10} {'seconds':>8} {'peak MiB':>9}  budget")
    for size in sizes:
        began = time.perf_counter()
        summary = generate_demo(n_customers=size, seed=7)
        seconds = time.perf_counter() - began
        budget = BUDGET_SECONDS.get(size)
        verdict = "-"
        if budget is not None:
            verdict = f"{'ok' if seconds <= budget else 'OVER'} (< {budget:.0f} s)"
            over_budget |= seconds > budget
        print(f"{size:>10,} {summary.counts['orders']:>10,} {seconds:>8.1f} "
              f"{peak_memory_mb():>9.0f}  {verdict}")
    return 1 if over_budget else 0


if __name__ == "__main__":
    sys.exit(main([int(a) for a in sys.argv[1:]] or [2_000, 100_000]))
