"""The whole-organisation exposure table (services/exposures.py): reading the records, then
building the start/stop table with the Ibis expression (qualityloop.analytics.exposures, on
DuckDB) against the numpy builder it replaced (kept as the tests' oracle in
tests/exposures_numpy_reference.py), both intervals; checks the two tables are identical.

    python benchmarks/exposure_table.py 2000       # a 2,000-customer demo in a temp folder
    QUALITYLOOP_HOME=<a demo's folder> python benchmarks/exposure_table.py   # that demo

Wall and CPU seconds (all threads) are the median of the repeats; the demo's as_of is
2026-11-25 (the date the demos were made with).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

from _setup import django_in_temp_home, peak_memory_mb

AS_OF = dt.date(2026, 11, 25)
REPEATS = 5


def timed(function, *args) -> tuple[float, float, object]:
    """Median wall and CPU seconds of ``REPEATS`` calls, and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(REPEATS):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function(*args)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def main(size: int | None) -> int:
    if size is None and "QUALITYLOOP_HOME" in os.environ:
        from qualityloop.web.bootstrap import setup

        setup()
    else:
        django_in_temp_home()
        from qualityloop.services.demo import generate_demo

        generate_demo(n_customers=size or 2_000, seed=7, as_of=AS_OF)
    import pandas as pd

    from qualityloop.services.exposures import build_exposures, read_records

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from exposures_numpy_reference import build_exposures as numpy_build_exposures

    wall, cpu, records = timed(read_records, None, AS_OF)
    print(f"{len(records.customers):,} customers; reading the records {wall:.3f} s "
          f"(CPU {cpu:.3f} s); load {os.getloadavg()[0]:.1f}")
    print(f"{'interval':>8} {'rows':>10} {'ibis s':>8} {'ibis CPU':>8} {'numpy s':>8} "
          f"{'numpy CPU':>9} {'ratio':>6}  identical")
    for interval in ("month", None):
        ibis_wall, ibis_cpu, table = timed(build_exposures, records, interval)
        numpy_wall, numpy_cpu, expected = timed(numpy_build_exposures, records, interval)
        try:
            pd.testing.assert_frame_equal(table, expected, check_exact=True)
            same = "yes"
        except AssertionError:
            same = "NO"
        print(f"{interval or 'day':>8} {len(table):>10,} {ibis_wall:>8.3f} {ibis_cpu:>8.3f} "
              f"{numpy_wall:>8.3f} {numpy_cpu:>9.3f} {ibis_wall / numpy_wall:>5.1f}x  {same}")
    print(f"peak memory {peak_memory_mb():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else None))
