"""CoxPH refuses bad input with one clear message naming the column and row, and says when the
partial likelihood has no maximum."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.exceptions import ConvergenceError, NotFittedError
from qualityloop.analytics.survival import CoxPH


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 80
    return pd.DataFrame({
        "t": rng.exponential(size=n).round(3) + 0.01,
        "e": (rng.random(n) < 0.7).astype(int),
        "x": rng.normal(size=n),
        "z": rng.normal(size=n),
    }, index=[f"c{i}" for i in range(n)])


def fit(frame: pd.DataFrame, **kwargs) -> CoxPH:
    model_args = {k: kwargs.pop(k) for k in ("ties", "robust", "max_iter") if k in kwargs}
    return CoxPH(**model_args).fit(frame, duration_col="t", event_col="e", **kwargs)


def test_missing_covariate_value_names_column_and_row(data: pd.DataFrame) -> None:
    data.loc["c7", "z"] = np.nan
    with pytest.raises(ValueError, match=r"column 'z' has a missing value at row 'c7'"):
        fit(data)


def test_negative_duration_names_column_and_row(data: pd.DataFrame) -> None:
    data.loc["c3", "t"] = -1.0
    with pytest.raises(ValueError, match=r"column 't' must be at least 0; row 'c3'"):
        fit(data)


def test_stop_not_after_start_names_row(data: pd.DataFrame) -> None:
    frame = data.assign(start=0.0).rename(columns={"t": "stop"})
    frame.loc["c5", "start"] = frame.loc["c5", "stop"]
    with pytest.raises(ValueError, match=r"'stop' must be greater than column 'start'.*'c5'"):
        CoxPH().fit(frame, event_col="e", start_col="start", stop_col="stop")


def test_constant_covariate_is_named(data: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"covariate 'k' is constant"):
        fit(data.assign(k=3.0))


def test_event_column_must_be_zero_or_one(data: pd.DataFrame) -> None:
    data.loc["c2", "e"] = 2
    with pytest.raises(ValueError, match=r"column 'e' must hold 1 \(event\) or 0.*'c2'"):
        fit(data)


def test_text_in_a_covariate_is_named(data: pd.DataFrame) -> None:
    frame = data.astype({"x": object})
    frame.loc["c9", "x"] = "high"
    with pytest.raises(ValueError, match=r"column 'x' must be numeric; row 'c9' holds 'high'"):
        fit(frame, covariates=["x", "z"])


def test_separation_names_the_covariate(data: pd.DataFrame) -> None:
    # every event happens before every censoring and exactly the events have flag = 1
    frame = data.sort_values("t").assign(e=0, flag=0)
    frame.iloc[:30, frame.columns.get_loc("e")] = 1
    frame.iloc[:30, frame.columns.get_loc("flag")] = 1
    with pytest.raises(ConvergenceError, match=r"'flag' separates"):
        fit(frame)


def test_collinear_covariates_are_named(data: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"covariates 'x', 'z', 'xz' are collinear"):
        fit(data.assign(xz=data["x"] + data["z"]))


def test_iteration_limit_is_a_convergence_error(data: pd.DataFrame) -> None:
    with pytest.raises(ConvergenceError, match=r"did not converge in 1 iterations"):
        fit(data, max_iter=1)


def test_bad_parameters_and_column_choices(data: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="ties must be one of efron, breslow"):
        fit(data, ties="exact")
    with pytest.raises(ValueError, match="not both"):
        CoxPH().fit(data.assign(s=0.0), duration_col="t", start_col="s", stop_col="t")
    with pytest.raises(ValueError, match="no column 'nope'"):
        fit(data, covariates=["nope"])
    frame = data.assign(start=0.0)
    with pytest.raises(ValueError, match="cluster_col"):
        CoxPH(robust=True).fit(frame, event_col="e", start_col="start", stop_col="t")
    with pytest.raises(ValueError, match="no events"):
        fit(data.assign(e=0))


def test_results_before_fit_raise_not_fitted() -> None:
    model = CoxPH()
    with pytest.raises(NotFittedError):
        model.summary()
    with pytest.raises(NotFittedError):
        _ = model.concordance_index_


def test_covariate_constant_within_every_stratum_is_named(data: pd.DataFrame) -> None:
    frame = data.assign(group=np.where(data["x"] > 0, "high", "low"),
                        flag=(data["x"] > 0).astype(int))
    with pytest.raises(ValueError, match=r"'flag' does not vary within any stratum of 'group'"):
        fit(frame, strata="group")
