"""Reference values for tests/analytics/test_cox_*.py, made with lifelines' CoxPHFitter and
CoxTimeVaryingFitter (an independent implementation).

lifelines' pins clash with ours, so run this in its own venv (benchmarks/setup_peers.sh makes it):

    benchmarks/.peers/lifelines/bin/python tests/reference/make_cox_reference.py

It reads the Rossi recidivism and Stanford heart transplant data (both ship with lifelines,
copied to tests/data/rossi/) and simulates two small sets without tied times, then writes next
to this script:
- cox_simulated.csv: the simulated data sets (dataset, time, event, x1, x2, x3, cluster, weight)
- cox_reference.csv: one row per (case, quantity, name): coefficients, standard errors,
  log-likelihood, concordance, proportional-hazards test statistics and p values
- cox_reference_baseline.csv: baseline cumulative hazard per (case, column, time)
"""

from __future__ import annotations

from pathlib import Path

import lifelines
import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, CoxTimeVaryingFitter
from lifelines.statistics import proportional_hazard_test

HERE = Path(__file__).parent
DATA = HERE.parent / "data" / "rossi"


def simulate() -> pd.DataFrame:
    rng = np.random.default_rng(20261125)
    frames = []
    for name, n in (("plain", 600), ("weighted", 400)):
        x = rng.normal(size=(n, 3))
        x[:, 2] = rng.random(n) < 0.4
        hazard = np.exp(x @ np.array([0.5, -0.3, 0.7]))
        event_time = rng.exponential(1 / hazard)
        censor_time = rng.exponential(1.5, n)
        frames.append(pd.DataFrame({
            "dataset": name,
            "time": np.minimum(event_time, censor_time),
            "event": (event_time <= censor_time).astype(int),
            "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2],
            "cluster": rng.integers(0, 60, n),
            "weight": rng.integers(1, 4, n) if name == "weighted" else 1,
        }))
    return pd.concat(frames, ignore_index=True)


def model_rows(case: str, model, extra: dict[str, float] | None = None) -> list[dict]:
    rows = []
    for quantity, series in (("coef", model.params_), ("se", model.standard_errors_)):
        rows += [{"case": case, "quantity": quantity, "name": k, "value": float(v)}
                 for k, v in series.items()]
    rows.append({"case": case, "quantity": "log_likelihood", "name": "",
                 "value": float(model.log_likelihood_)})
    for name, value in (extra or {}).items():
        rows.append({"case": case, "quantity": name, "name": "", "value": float(value)})
    return rows


def baseline_rows(case: str, model) -> pd.DataFrame:
    table = model.baseline_cumulative_hazard_
    long = table.reset_index(names="time").melt(id_vars="time", var_name="column")
    return long.assign(case=case)[["case", "column", "time", "value"]]


def ph_rows(case: str, model, data: pd.DataFrame) -> list[dict]:
    result = proportional_hazard_test(model, data, time_transform="rank")
    table = result.summary
    rows = []
    for name in table.index:
        rows.append({"case": case, "quantity": "ph_statistic", "name": name,
                     "value": float(table.loc[name, "test_statistic"])})
        rows.append({"case": case, "quantity": "ph_p", "name": name,
                     "value": float(table.loc[name, "p"])})
    return rows


def main() -> None:
    rossi = pd.read_csv(DATA / "rossi.csv")
    stanford = pd.read_csv(DATA / "stanford_heart.csv")
    simulated = simulate()
    simulated.to_csv(HERE / "cox_simulated.csv", index=False, float_format="%.17g")
    rows: list[dict] = []
    baselines = []

    def fit(case, data, frame_for_ph=None, **kwargs):
        fitter_args = {k: kwargs.pop(k) for k in ("penalizer", "baseline_estimation_method")
                       if k in kwargs}
        model = CoxPHFitter(**fitter_args).fit(data, **kwargs)
        rows.extend(model_rows(case, model, {"concordance": model.concordance_index_}))
        baselines.append(baseline_rows(case, model))
        if frame_for_ph is not None:
            rows.extend(ph_rows(case, model, frame_for_ph))
        return model

    fit("rossi_efron", rossi, rossi, duration_col="week", event_col="arrest")
    fit("rossi_strata", rossi, duration_col="week", event_col="arrest", strata=["race"])
    fit("rossi_strata2", rossi, duration_col="week", event_col="arrest",
        strata=["wexp", "paro"])
    fit("rossi_robust", rossi, duration_col="week", event_col="arrest", robust=True)
    fit("rossi_penalized", rossi, duration_col="week", event_col="arrest", penalizer=0.1)
    plain = simulated[simulated["dataset"] == "plain"].drop(columns=["dataset", "weight"])
    fit("sim_robust", plain.drop(columns="cluster"), duration_col="time", event_col="event",
        robust=True)
    fit("sim_cluster", plain, duration_col="time", event_col="event", cluster_col="cluster")
    weighted = simulated[simulated["dataset"] == "weighted"].drop(columns=["dataset", "cluster"])
    fit("sim_weighted", weighted, duration_col="time", event_col="event",
        weights_col="weight")
    fit("sim_weighted_robust", weighted, duration_col="time", event_col="event",
        weights_col="weight", robust=True)

    ctv = CoxTimeVaryingFitter().fit(stanford, id_col="id", event_col="event",
                                     start_col="start", stop_col="stop")
    rows.extend(model_rows("stanford", ctv))
    baselines.append(baseline_rows("stanford", ctv))

    pd.DataFrame(rows).to_csv(HERE / "cox_reference.csv", index=False, float_format="%.17g")
    keep = ["rossi_efron", "rossi_strata", "rossi_strata2", "sim_weighted", "stanford"]
    baseline = pd.concat(baselines)
    baseline[baseline["case"].isin(keep)].to_csv(HERE / "cox_reference_baseline.csv", index=False,
                                float_format="%.17g")
    print(f"lifelines {lifelines.__version__}, pandas {pd.__version__}, numpy {np.__version__}")
    print(pd.DataFrame(rows).query("quantity == 'coef'").to_string(index=False))


if __name__ == "__main__":
    main()
