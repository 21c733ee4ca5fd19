"""The relationship between TQM implementation and customer retention, answered from the
organisation's own records.

Four analyses, each returning a frozen dataclass of DataFrames and plain-language sentences (the
report and the Relationship page render them; nothing here makes HTML):

* :func:`customer_drivers`: which quality experiences make customers leave sooner (a
  time-varying Cox model on :func:`qualityloop.services.exposures.customer_exposures`).
* :func:`unit_link`: TQM implementation -> quality performance -> satisfaction -> retention per
  operating unit and period (a PLS path model with bootstrap intervals).
* :func:`what_if`: customers kept and lifetime value gained if an exposure were cut.
* :func:`priorities`: open nonconformances and complaints ranked by the customer value at risk.

:func:`relationship_answer` bundles them (cached per unit and day); :func:`pls_from_file` runs a
PLS path model given as YAML on an imported survey data set. What each analysis assumes is in
``docs/relationship.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from qualityloop.analytics.survival import CoxPH, KaplanMeier
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.services.exposures import DAYS_PER_MONTH, customer_exposures

ALPHA = 0.05
STRATA = "segment"


class RelationshipError(ValueError):
    """The records cannot answer the question (too few customers or churns, no units ...)."""


@dataclass(frozen=True)
class Exposure:
    """How an exposure column is named in tables, curves and sentences."""

    label: str
    subject: str  # "Customers who met a field defect"
    exposed: str  # curve label from the first exposure on
    unexposed: str  # curve label before it
    per: str = ""  # "per defect" for counts
    kind: str = "binary"  # "binary" or "count"


EXPOSURES: dict[str, Exposure] = {
    "field_defects": Exposure(
        "Field defects met (per defect)", "Customers who met a field defect",
        "After a field defect", "No field defect yet", "per defect", "count"),
    "open_complaint": Exposure(
        "A complaint still open", "Customers with a complaint still open",
        "After a complaint was opened", "No complaint opened yet"),
    "slow_complaint": Exposure(
        "A complaint resolved slowly (over 30 days)",
        "Customers whose complaint took over 30 days to resolve",
        "After a slow complaint", "No slow complaint yet"),
    "took_part_in_design": Exposure(
        "Took part in a design review", "Customers who took part in a design review",
        "After a design review", "No design review yet"),
    "designed_without_customers": Exposure(
        "Main product designed without customers",
        "Customers whose main product was designed without customer participants",
        "Product designed without customers", "Product designed with customers"),
    "requirement_missed": Exposure(
        "Latest requirement measurement missed",
        "Customers whose latest requirement measurement was missed",
        "After a missed requirement", "No missed requirement yet"),
    "requirement_surpassed": Exposure(
        "Latest requirement measurement surpassed",
        "Customers whose latest requirement measurement was surpassed",
        "After a surpassed requirement", "No surpassed requirement yet"),
}
MIN_EVENTS = 10
MIN_EXPOSED_CUSTOMERS = 5


def exposure_info(name: str) -> Exposure:
    """The naming of an exposure column (``defects_<stage>`` columns get a generic one)."""
    if name in EXPOSURES:
        return EXPOSURES[name]
    words = name.replace("_", " ")
    if name.startswith("defects_"):
        stage = words.removeprefix("defects ")
        return Exposure(f"{stage.capitalize()} defects met (per defect)",
                        f"Customers who met a {stage} defect", f"After a {stage} defect",
                        f"No {stage} defect yet", "per defect", "count")
    return Exposure(words, f"Customers with {words}", f"With {words}", f"Without {words}")


# customer drivers ------------------------------------------------------------------------------

@dataclass(frozen=True)
class DriverFit:
    """What the what-if and priority analyses need from the fitted Cox model (small, picklable).

    ``baseline`` is the Breslow cumulative hazard (index: days since acquisition, one column per
    segment) for covariates at ``means``; ``current`` holds each active customer's latest
    covariates, ``age`` (days since acquisition on the as-of day) and ``segment``.
    """

    params: pd.Series
    covariance: pd.DataFrame
    means: pd.Series
    baseline: pd.DataFrame
    current: pd.DataFrame


@dataclass(frozen=True)
class DriverResult:
    """Customer-level drivers of churn: see :func:`customer_drivers`."""

    summary: pd.DataFrame
    ph_check: pd.DataFrame
    concordance: float
    customers: int
    events: int
    survival_by_exposure: pd.DataFrame
    sentences: list[str]
    left_out: dict[str, str] = field(default_factory=dict)
    fit: DriverFit | None = None


def customer_drivers(*, as_of: dt.date | None = None, unit: OrgUnit | None = None
                     ) -> DriverResult:
    """Which quality experiences make customers leave sooner, with hazard ratios.

    A Cox proportional hazards model with time-varying covariates (start/stop rows of
    :func:`~qualityloop.services.exposures.customer_exposures`, covariates known at each month
    start), Efron ties, stratified by segment (each segment its own baseline churn curve, so
    no segment effect is estimated or assumed proportional), with robust standard errors
    clustered by customer. NPS and CSAT are left out: they are signals of the same experiences,
    not causes of churn, and would take their effect.

    Parameters
    ----------
    as_of : date, optional
        End of the observation (default today).
    unit : OrgUnit, optional
        Only the customers this unit (or a unit below it) serves.

    Returns
    -------
    DriverResult
        ``summary`` (index exposure; ``label``, ``hazard_ratio``, ``lower``, ``upper``, ``p``,
        ``coef``, ``se``; strongest evidence first), ``ph_check`` (Grambsch-Therneau test per
        exposure), ``concordance``, ``customers``, ``events``, ``survival_by_exposure``
        (Kaplan-Meier curves of exposed and unexposed time), ``sentences`` (strongest first),
        ``left_out`` (exposures not estimable here, with the reason) and ``fit``.

    Raises
    ------
    RelationshipError
        Fewer than 10 churns, or no exposure varies.
    """
    table = customer_exposures(as_of=as_of, unit=unit)
    customers = int(table["customer"].nunique())
    events = int(table["event"].sum())
    if events < MIN_EVENTS:
        raise RelationshipError(
            f"only {events} customers churned among {customers}; the drivers of churn need at "
            f"least {MIN_EVENTS} churns")
    covariates, left_out = _estimable(table)
    if not covariates:
        raise RelationshipError("no quality exposure varies among these customers")
    model = CoxPH(ties="efron", alpha=ALPHA).fit(
        table, event_col="event", start_col="start", stop_col="stop", covariates=covariates,
        strata=STRATA, cluster_col="customer")
    summary = _driver_summary(model)
    return DriverResult(
        summary=summary,
        ph_check=model.check_proportional_hazards().drop(columns="-log2(p)"),
        concordance=float(model.concordance_index_),
        customers=customers,
        events=events,
        survival_by_exposure=survival_by_exposure(table, list(summary.index)),
        sentences=[driver_sentence(name, row) for name, row in summary.iterrows()],
        left_out=left_out,
        fit=_driver_fit(model, table, covariates, as_of),
    )


def driver_columns(table: pd.DataFrame) -> list[str]:
    """The exposure columns a drivers model considers, in a fixed order."""
    stages = sorted(c for c in table.columns if c.startswith("defects_"))
    return [c for c in ("field_defects", *stages, *list(EXPOSURES)[1:]) if c in table.columns]


def _estimable(table: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """Exposures with enough variation to estimate, and the reason each other one is left
    out."""
    keep, left_out = [], {}
    for name in driver_columns(table):
        values = table[name]
        exposed = table.loc[values > 0, "customer"].nunique()
        if values.isna().any():
            left_out[name] = "not known for every customer"
        elif values.nunique() < 2 or exposed < MIN_EXPOSED_CUSTOMERS:
            left_out[name] = f"only {exposed} customers had it"
        elif table.loc[values > 0, "event"].sum() == 0:
            left_out[name] = "no customer left while having it"
        else:
            keep.append(name)
    return keep, left_out


def _driver_summary(model: CoxPH) -> pd.DataFrame:
    raw = model.summary()
    level = f"{100 * (1 - ALPHA):g}%"
    summary = pd.DataFrame({
        "label": [exposure_info(n).label for n in raw.index],
        "hazard_ratio": raw["exp(coef)"],
        "lower": raw[f"exp(coef) lower {level}"],
        "upper": raw[f"exp(coef) upper {level}"],
        "p": raw["p"],
        "coef": raw["coef"],
        "se": raw["se(coef)"],
    }, index=pd.Index(raw.index, name="exposure"))
    return summary.sort_values("p", kind="stable")


def driver_sentence(name: str, row: pd.Series) -> str:
    """One plain sentence for a hazard ratio with its interval."""
    info = exposure_info(name)
    ratio, lower, upper = row["hazard_ratio"], row["lower"], row["upper"]
    per = f" {info.per}" if info.per else ""
    sentence = (f"{info.subject} left {ratio_text(ratio)}x as fast{per} "
                f"(95% CI {ratio_text(lower)}-{ratio_text(upper)})")
    if lower <= 1 <= upper:
        sentence += "; the data cannot tell this apart from no effect"
    return sentence + "."


def ratio_text(value: float) -> str:
    """A hazard ratio as people read it: 1.6, 0.82 (two digits below 1), 12."""
    if not np.isfinite(value):
        return "?"
    return f"{value:.2f}" if value < 1 else f"{value:.1f}" if value < 10 else f"{value:.0f}"


def survival_by_exposure(table: pd.DataFrame, exposures: list[str]) -> pd.DataFrame:
    """Kaplan-Meier curves of time to churn with and without each exposure.

    A customer's time counts as unexposed until their first exposure and as exposed from then
    on (entering the exposed curve late, at that day): comparing customers who *ever* had the
    exposure with those who never did would credit the exposed with the time before it.

    Returns
    -------
    pandas.DataFrame
        ``exposure``, ``group`` (label), ``time`` (days since acquisition), ``survival``,
        ``lower``, ``upper``.
    """
    parts = []
    per_customer = table.groupby("customer", observed=True, sort=False)
    length = per_customer["stop"].max()
    churned = per_customer["event"].max()
    for name in exposures:
        first = table.loc[table[name] > 0].groupby("customer", observed=True)["start"].min()
        first = first.reindex(length.index)
        parts.extend(_exposure_curves(name, first, length, churned))
    if not parts:
        return pd.DataFrame(columns=["exposure", "group", "time", "survival", "lower", "upper"])
    return pd.concat(parts, ignore_index=True)


def _exposure_curves(name: str, first: pd.Series, length: pd.Series, churned: pd.Series
                     ) -> list[pd.DataFrame]:
    info = exposure_info(name)
    met = first.notna() & (first < length)
    unexposed = pd.DataFrame({"entry": 0.0, "duration": np.where(met, first, length),
                              "event": np.where(met, 0, churned)})
    exposed = pd.DataFrame({"entry": first[met], "duration": length[met],
                            "event": churned[met]})
    curves = []
    for label, subjects in ((info.exposed, exposed), (info.unexposed, unexposed)):
        subjects = subjects[subjects["duration"] > subjects["entry"]]
        if subjects["event"].sum() == 0:
            continue
        km = KaplanMeier().fit(subjects, entry_col="entry")
        curve = km.survival_function_[["survival", "lower", "upper"]].reset_index()
        curves.append(curve.assign(exposure=name, group=label))
    return [c[["exposure", "group", "time", "survival", "lower", "upper"]] for c in curves]


def _driver_fit(model: CoxPH, table: pd.DataFrame, covariates: list[str],
                as_of: dt.date | None) -> DriverFit:
    last = table.groupby("customer", observed=True, sort=False).tail(1)
    active = last[last["event"] == 0]
    current = active[["customer", STRATA, *covariates]].assign(age=active["stop"].to_numpy())
    covariance = model.robust_variance_matrix_
    return DriverFit(
        params=model.params_.copy(),
        covariance=covariance.copy() if covariance is not None else model.variance_matrix_,
        means=pd.Series(model._prepared.means, index=model.params_.index),
        baseline=model.baseline_cumulative_hazard_.copy(),
        current=current.astype({"customer": str, STRATA: str}).set_index("customer"),
    )


def _check_finite(value: float, what: str) -> float:
    if not np.isfinite(value):
        raise RelationshipError(f"{what} could not be estimated")
    return value


_ = (Any, Mapping, stats, DAYS_PER_MONTH)  # used by the parts below
