"""Reference values for tests/analytics/test_kaplan_meier.py, made with lifelines'
KaplanMeierFitter (an independent implementation).

lifelines' pins clash with ours, so run this in a venv of its own:

    python3 -m venv /tmp/peers-venv-lifelines
    /tmp/peers-venv-lifelines/bin/pip install lifelines
    /tmp/peers-venv-lifelines/bin/python tests/reference/make_km_reference.py

It writes, next to this script:
- km_input.csv: the data sets (dataset, duration, event, weight, entry)
- km_reference.csv: lifelines' survival and 95% log-log bounds at each time of its timeline
- km_reference_median.csv: lifelines' median and the median's interval (bands crossing 0.5)
"""

from __future__ import annotations

from pathlib import Path

import lifelines
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times

HERE = Path(__file__).parent


def make_data() -> pd.DataFrame:
    rng = np.random.default_rng(20240503)
    n = 400
    # Integer durations: many ties between events, censorings and both.
    tied = pd.DataFrame({
        "dataset": "ties",
        "duration": np.ceil(rng.gamma(1.5, 8.0, n)),
        "event": (rng.random(n) < 0.7).astype(int),
        "weight": 1,
        "entry": 0.0,
    })
    weighted = tied.sample(150, random_state=1).assign(
        dataset="weights", weight=rng.integers(1, 6, 150)
    )
    # Left truncation on continuous times so that no entry ties a duration.
    duration = rng.weibull(1.3, n) * 20 + 0.5
    truncated = pd.DataFrame({
        "dataset": "entry",
        "duration": duration,
        "event": (rng.random(n) < 0.75).astype(int),
        "weight": 1,
        "entry": rng.random(n) * np.minimum(duration, 5.0) * 0.5,
    })
    # Small sample whose last duration is an event, so S reaches 0.
    to_zero = pd.DataFrame({
        "dataset": "to_zero",
        "duration": [1, 2, 2, 3, 5, 5, 7, 8, 8, 9.0],
        "event": [1, 0, 1, 1, 1, 0, 0, 1, 1, 1],
        "weight": 1,
        "entry": 0.0,
    })
    return pd.concat([tied, weighted, truncated, to_zero], ignore_index=True)


def fit(rows: pd.DataFrame) -> KaplanMeierFitter:
    name = rows["dataset"].iloc[0]
    return KaplanMeierFitter(alpha=0.05).fit(
        rows["duration"],
        rows["event"],
        weights=rows["weight"] if name == "weights" else None,
        entry=rows["entry"] if name == "entry" else None,
    )


def main() -> None:
    data = make_data()
    data.to_csv(HERE / "km_input.csv", index=False, float_format="%.17g")
    curves, medians = [], []
    for name, rows in data.groupby("dataset", sort=False):
        kmf = fit(rows)
        band = kmf.confidence_interval_
        curves.append(pd.DataFrame({
            "dataset": name,
            "time": kmf.survival_function_.index,
            "survival": kmf.survival_function_.iloc[:, 0].to_numpy(),
            "lower": band.iloc[:, 0].to_numpy(),
            "upper": band.iloc[:, 1].to_numpy(),
            "at_risk": kmf.event_table["at_risk"].reindex(kmf.survival_function_.index).to_numpy(),
        }))
        interval = median_survival_times(band)
        medians.append({
            "dataset": name,
            "median": kmf.median_survival_time_,
            "median_lower": float(interval.iloc[0, 0]),
            "median_upper": float(interval.iloc[0, 1]),
        })
    pd.concat(curves).to_csv(HERE / "km_reference.csv", index=False, float_format="%.17g")
    pd.DataFrame(medians).to_csv(
        HERE / "km_reference_median.csv", index=False, float_format="%.17g"
    )
    print(f"lifelines {lifelines.__version__}, pandas {pd.__version__}, numpy {np.__version__}")
    print(pd.DataFrame(medians).to_string(index=False))


if __name__ == "__main__":
    main()
