"""Reference values for the Breslow-ties tests in tests/analytics/test_cox_reference.py, made with
statsmodels' PHReg (an independent implementation; lifelines has Efron ties only).

statsmodels is not one of our dependencies, so run this in a venv of its own:

    python3 -m venv /tmp/peers-statsmodels
    /tmp/peers-statsmodels/bin/pip install statsmodels pandas
    /tmp/peers-statsmodels/bin/python tests/reference/make_cox_breslow_reference.py

It fits the Rossi recidivism data (tests/data/rossi/rossi.csv) with Breslow and with Efron ties,
unstratified, stratified by race, and with robust standard errors (Breslow ties), and writes
cox_statsmodels_reference.csv next to this script: one row per (case, quantity, name) with
coefficients, standard errors and the partial log-likelihood.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels
from statsmodels.duration.hazard_regression import PHReg

HERE = Path(__file__).parent
COVARIATES = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]


def fit(rossi: pd.DataFrame, case: str, ties: str, strata: str | None,
        robust: bool = False) -> list[dict]:
    covariates = [c for c in COVARIATES if c != strata]
    model = PHReg(rossi["week"], rossi[covariates], status=rossi["arrest"], ties=ties,
                  strata=None if strata is None else rossi[strata])
    # groups = one per row: the robust (sandwich) variance; statsmodels' score residuals are
    # Breslow's, so only the Breslow case is a reference for ours
    result = model.fit(groups=np.arange(len(rossi)) if robust else None)
    rows = [{"case": case, "quantity": "coef", "name": n, "value": float(v)}
            for n, v in zip(covariates, result.params, strict=True)]
    rows += [{"case": case, "quantity": "se", "name": n, "value": float(v)}
             for n, v in zip(covariates, result.bse, strict=True)]
    rows.append({"case": case, "quantity": "log_likelihood", "name": "",
                 "value": float(result.llf)})
    return rows


def main() -> None:
    rossi = pd.read_csv(HERE.parent / "data" / "rossi" / "rossi.csv")
    rows = (fit(rossi, "rossi_breslow", "breslow", None)
            + fit(rossi, "rossi_efron", "efron", None)
            + fit(rossi, "rossi_breslow_strata", "breslow", "race")
            + fit(rossi, "rossi_breslow_robust", "breslow", None, robust=True))
    table = pd.DataFrame(rows)
    table.to_csv(HERE / "cox_statsmodels_reference.csv", index=False, float_format="%.17g")
    print(f"statsmodels {statsmodels.__version__}, numpy {np.__version__}")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
