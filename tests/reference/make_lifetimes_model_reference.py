"""Reference predictions of the customer-base models from lifetimes (an independent
implementation), at fixed parameters, for a sample of CDNOW customers.

lifetimes clashes with our pins, so run this in its own virtual environment:

    python3 -m venv /tmp/peers-venv
    /tmp/peers-venv/bin/pip install lifetimes 'pandas<2' 'setuptools<81'
    /tmp/peers-venv/bin/python tests/reference/make_lifetimes_model_reference.py

It writes ``lifetimes_cdnow_params.csv`` (the parameters used, plus lifetimes' own CDNOW fits for
information) and ``lifetimes_cdnow_predictions.csv`` next to this file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data" / "cdnow" / "cdnow_customers_summary_with_transactions.csv"

# Predictions are compared at these fixed parameters (the published estimates), so the test
# checks the formulas, not the optimisers.
PARAMS = {
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "paretonbd": {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67},
    "gammagamma": {"p": 6.25, "q": 3.74, "v": 15.44},
}


def main() -> None:
    data = pd.read_csv(DATA, index_col="ID")
    data = data.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})
    rows = sorted(set(data.index[:40]) | set(data.sort_values("frequency").index[-20:])
                  | set(data.sample(40, random_state=1).index))
    sample = data.loc[rows]
    f, r, T, m = (sample[c] for c in ("frequency", "recency", "T", "monetary_value"))

    bg, pareto, gg = BetaGeoFitter(), ParetoNBDFitter(), GammaGammaFitter()
    bg.params_ = pd.Series(PARAMS["bgnbd"])
    pareto.params_ = pd.Series(PARAMS["paretonbd"])
    gg.params_ = pd.Series(PARAMS["gammagamma"])
    bg.predict = bg.conditional_expected_number_of_purchases_up_to_time  # set by fit() otherwise
    out = pd.DataFrame(index=sample.index)
    out["bg_p_alive"] = bg.conditional_probability_alive(f, r, T)
    out["bg_expected_39"] = bg.conditional_expected_number_of_purchases_up_to_time(39, f, r, T)
    out["pareto_p_alive"] = pareto.conditional_probability_alive(f, r, T)
    out["pareto_expected_39"] = pareto.conditional_expected_number_of_purchases_up_to_time(
        39, f, r, T)
    out["gg_expected_spend"] = gg.conditional_expected_average_profit(f, m)
    out["clv_bg_12"] = gg.customer_lifetime_value(bg, f, r, T, m, time=12, discount_rate=0.01,
                                                  freq="D")
    out.to_csv(HERE / "lifetimes_cdnow_predictions.csv", float_format="%.15g")

    records = [(model, name, value) for model, values in PARAMS.items()
               for name, value in values.items()]
    fitted_bg = BetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])
    fitted_pareto = ParetoNBDFitter().fit(data["frequency"], data["recency"], data["T"])
    repeat = data[data["frequency"] > 0]
    fitted_gg = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    for model, fitter in (("lifetimes_fit_bgnbd", fitted_bg),
                          ("lifetimes_fit_paretonbd", fitted_pareto),
                          ("lifetimes_fit_gammagamma", fitted_gg)):
        records += [(model, name, float(value)) for name, value in fitter.params_.items()]
    pd.DataFrame(records, columns=["model", "name", "value"]).to_csv(
        HERE / "lifetimes_cdnow_params.csv", index=False, float_format="%.15g")
    print(out.describe().T[["mean", "min", "max"]])
    assert np.isfinite(out.to_numpy()).all()


if __name__ == "__main__":
    main()
