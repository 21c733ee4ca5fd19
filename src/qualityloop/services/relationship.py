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

from qualityloop.analytics.survival import CoxPH, KaplanMeier
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.services.exposures import (
    DAYS_PER_MONTH,
    ExposureRecords,
    build_exposures,
    customer_exposures,
    read_records,
)

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


def customer_drivers(*, as_of: dt.date | None = None, unit: OrgUnit | None = None,
                     records: ExposureRecords | None = None) -> DriverResult:
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
    records : ExposureRecords, optional
        The records already read by :func:`~qualityloop.services.exposures.read_records` for
        this unit and day (so that several analyses read the database once).

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
    table = (customer_exposures(as_of=as_of, unit=unit) if records is None
             else build_exposures(records))
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
        sentences=[driver_sentence(str(name), row) for name, row in summary.iterrows()],
        left_out=left_out,
        fit=_driver_fit(model, table, covariates),
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
    digits = 2 if ratio_text(lower) == ratio_text(upper) else None  # 100,000 customers
    sentence = (f"{info.subject} left {ratio_text(ratio, digits)}x as fast{per} "
                f"(95% CI {ratio_text(lower, digits)}-{ratio_text(upper, digits)})")
    if lower <= 1 <= upper:
        sentence += "; the data cannot tell this apart from no effect"
    return sentence + "."


def ratio_text(value: float, digits: int | None = None) -> str:
    """A hazard ratio as people read it: 1.6, 0.82 (two digits below 1), 12; ``digits`` forces
    the number of decimals (for intervals too narrow to show with one)."""
    if not np.isfinite(value):
        return "?"
    if digits is not None:
        return f"{value:.{digits}f}"
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
        function = KaplanMeier().fit(subjects, entry_col="entry").survival_function_
        assert function is not None
        curve = function[["survival", "lower", "upper"]].reset_index()
        curves.append(curve.assign(exposure=name, group=label))
    return [c[["exposure", "group", "time", "survival", "lower", "upper"]] for c in curves]


def _driver_fit(model: CoxPH, table: pd.DataFrame, covariates: list[str]) -> DriverFit:
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




# what-if ---------------------------------------------------------------------------------------

DEFAULT_SCENARIO = {"field_defects": -0.30}
TAIL_DAYS = 365  # the baseline is extended past the longest follow-up at its last year's rate


@dataclass(frozen=True)
class WhatIfResult:
    """Customers kept and CLV gained if exposures changed: see :func:`what_if`.

    ``customers_kept`` and ``clv_gained`` are (estimate, lower, upper) with the 95% interval
    over parameter draws.
    """

    changes: dict[str, float]
    horizon_months: int
    customers_kept: tuple[float, float, float]
    clv_gained: tuple[float, float, float]
    by_segment: pd.DataFrame
    sentence: str
    customers: int
    affected: int
    draws: int


def what_if(changes: Mapping[str, float], *, horizon_months: int = 12, draws: int = 500,
            seed: int = 0, as_of: dt.date | None = None, unit: OrgUnit | None = None
            ) -> WhatIfResult:
    """Expected customers kept and lifetime value gained over a horizon if exposures changed.

    Each active customer's survival over the horizon comes from the drivers model
    (:func:`customer_drivers`): the Breslow baseline of their segment from their current age
    on, times their partial hazard at their current covariates. A cut thins the exposure: with
    ``{"field_defects": -0.3}`` each field defect a customer met is taken away with probability
    0.3 (a yes/no exposure such as ``open_complaint`` is removed for 30 % of the customers who
    have it), and the survival is averaged over which ones go. Thinning, not scaling the
    coefficient, because a defect either reached a customer or did not, and the model prices
    each defect.

    Parameters
    ----------
    changes : mapping of exposure to relative change
        Between -1 and 0 for cuts (counts may also rise: ``{"field_defects": 0.2}``).
    horizon_months : int, default 12
    draws : int, default 500
        Coefficient draws from a normal on the robust covariance, for the interval.
    seed : int, default 0
    as_of, unit
        As for :func:`customer_drivers`.

    Returns
    -------
    WhatIfResult
    """
    drivers = customer_drivers(as_of=as_of, unit=unit)
    clv = _clv(horizon_months, as_of, unit)
    return what_if_from(drivers, changes, clv, horizon_months=horizon_months, draws=draws,
                        seed=seed)


def what_if_from(drivers: DriverResult, changes: Mapping[str, float], clv: pd.Series, *,
                 horizon_months: int = 12, draws: int = 500, seed: int = 0) -> WhatIfResult:
    """:func:`what_if` on a drivers result already fitted and CLVs already computed."""
    from qualityloop.analytics.relate.what_if import simulate_what_if

    fit = drivers.fit
    assert fit is not None
    changes = {name: float(change) for name, change in changes.items()}
    for name in changes:
        if name not in fit.params.index:
            reason = drivers.left_out.get(name, "not an exposure of the model")
            raise RelationshipError(
                f"cannot change {name!r}: {reason}; choose from {', '.join(fit.params.index)}")
    if horizon_months < 1:
        raise RelationshipError(f"the horizon must be at least 1 month, got {horizon_months}")
    current = fit.current
    horizon_days = horizon_months * DAYS_PER_MONTH
    hazard = baseline_over(fit.baseline, current[STRATA].to_numpy(),
                           current["age"].to_numpy(float), horizon_days)
    try:
        simulation = simulate_what_if(
            hazard, current[list(fit.params.index)], fit.params, fit.covariance.to_numpy(),
            changes, means=fit.means, values=clv.reindex(current.index).fillna(0.0).to_numpy(),
            groups=current[STRATA].to_numpy(), draws=draws, seed=seed, alpha=ALPHA)
    except ValueError as problem:
        raise RelationshipError(str(problem)) from problem
    kept = simulation.interval("kept").iloc[0]
    gained = simulation.interval("value").iloc[0]
    result: dict[str, Any] = dict(
        changes=changes, horizon_months=horizon_months,
        customers_kept=_triple(kept), clv_gained=_triple(gained),
        by_segment=_by_segment(simulation), customers=len(current),
        affected=int(simulation.affected.sum()), draws=draws)
    return WhatIfResult(sentence=what_if_sentence(result), **result)


def _triple(row: pd.Series) -> tuple[float, float, float]:
    return float(row["estimate"]), float(row["lower"]), float(row["upper"])


def baseline_over(baseline: pd.DataFrame, strata: np.ndarray, age: np.ndarray,
                  horizon_days: float) -> np.ndarray:
    """Each subject's baseline cumulative hazard from ``age`` to ``age + horizon_days``.

    Past the longest follow-up the baseline is extended at its average rate over the last
    year observed (the Breslow estimate is flat there only because nobody was followed longer).
    """
    times = baseline.index.to_numpy(float)
    result = np.zeros(len(age))
    for column in baseline.columns:
        rows = strata == column if len(baseline.columns) > 1 else np.ones(len(age), bool)
        values = baseline[column].to_numpy(float)
        result[rows] = (_cumulative_at(times, values, age[rows] + horizon_days)
                        - _cumulative_at(times, values, age[rows]))
    return result


def _cumulative_at(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    position = np.searchsorted(times, at, side="right") - 1
    inside = np.where(position >= 0, values[np.clip(position, 0, None)], 0.0)
    last = times[-1]
    year_ago = np.searchsorted(times, last - TAIL_DAYS, side="right") - 1
    start = values[year_ago] if year_ago >= 0 else 0.0
    rate = (values[-1] - start) / min(TAIL_DAYS, last) if last > 0 else 0.0
    return np.where(at > last, values[-1] + rate * (at - last), inside)


def _by_segment(simulation: Any) -> pd.DataFrame:
    kept = simulation.interval("kept", by_group=True)
    value = simulation.interval("value", by_group=True)
    table = pd.DataFrame({
        "customers": simulation.subjects, "affected": simulation.affected,
        "customers_kept": kept["estimate"], "kept_lower": kept["lower"],
        "kept_upper": kept["upper"], "clv_gained": value["estimate"],
        "clv_lower": value["lower"], "clv_upper": value["upper"]})
    return table.rename_axis("segment").reset_index()


def change_text(changes: Mapping[str, float]) -> str:
    """``{"field_defects": -0.3}`` -> "field defects cut by 30%"."""
    parts = []
    for name, change in changes.items():
        what = name.replace("_", " ")
        verb = "cut" if change <= 0 else "raised"
        parts.append(f"{what} {verb} by {abs(change):.0%}")
    return " and ".join(parts)


def what_if_sentence(result: Mapping[str, Any]) -> str:
    kept, gained = result["customers_kept"], result["clv_gained"]
    more = "more" if kept[0] >= 0 else "fewer"
    worth = "worth" if gained[0] >= 0 else "costing"
    which = "this exposure" if len(result["changes"]) == 1 else "one of these exposures"
    return (f"With {change_text(result['changes'])}, about {abs(kept[0]):,.1f} {more} of "
            f"today's {result['customers']:,} customers would still be with us in "
            f"{result['horizon_months']} months (95% interval {kept[1]:,.1f} to {kept[2]:,.1f}), "
            f"{worth} {abs(gained[0]):,.0f} in lifetime value over that time ({gained[1]:,.0f} "
            f"to {gained[2]:,.0f}); {result['affected']:,} customers have {which} now.")


def _clv(horizon_months: int, as_of: dt.date | None, unit: OrgUnit | None) -> pd.Series:
    """CLV over the horizon per customer id (0 when the purchase models cannot be fitted)."""
    from qualityloop.analytics.exceptions import ConvergenceError
    from qualityloop.services.retention import NoOrdersError, RetentionOverview

    try:
        return RetentionOverview().clv(horizon=horizon_months, as_of=as_of, unit=unit)["clv"]
    except (NoOrdersError, ConvergenceError, ValueError):
        return pd.Series(dtype=float)


# priorities ------------------------------------------------------------------------------------

PRIORITY_COLUMNS = ["kind", "external_id", "title", "customers", "clv_at_risk",
                    "expected_customers_lost", "url_name", "url_args"]
KIND_NAMES = {"nonconformance": "nonconformances", "complaint": "complaints"}


def priorities(*, as_of: dt.date | None = None, unit: OrgUnit | None = None, limit: int = 20,
               horizon_months: int = 12) -> pd.DataFrame:
    """Open nonconformances and complaints ranked by the customer lifetime value at risk.

    The hazard ratios are the drivers model's (:func:`customer_drivers`): field defects per
    defect for field nonconformances, an open complaint for complaints. The value at risk is
    :func:`qualityloop.services.exposures.value_at_risk` over the horizon.

    Returns
    -------
    pandas.DataFrame
        ``kind``, ``external_id``, ``title``, ``customers``, ``clv_at_risk``,
        ``expected_customers_lost``, ``url_name`` ("record-detail") and ``url_args`` (kind
        name, external id), highest value at risk first, at most ``limit`` rows.
    """
    drivers = customer_drivers(as_of=as_of, unit=unit)
    clv = _clv(horizon_months, as_of, unit)
    return priorities_from(drivers, clv, as_of=as_of, limit=limit,
                           horizon_months=horizon_months)


def priorities_from(drivers: DriverResult, clv: pd.Series, *, as_of: dt.date | None = None,
                    limit: int = 20, horizon_months: int = 12) -> pd.DataFrame:
    """:func:`priorities` on a drivers result already fitted and CLVs already computed."""
    from qualityloop.services.exposures import value_at_risk

    ratios = {str(k): float(v) for k, v in drivers.summary["hazard_ratio"].items()}
    fit = drivers.fit
    assert fit is not None
    # customers outside the unit (or already gone) get no baseline hazard: they add nothing
    table = value_at_risk(ratios, horizon_months, as_of=as_of or dt.date.today(), clv=clv,
                          baseline=_monthly_hazard(drivers, horizon_months))
    table = table[table["expected_customers_lost"].fillna(0) != 0]
    table = table.head(limit).reset_index(drop=True)
    table["url_name"] = "record-detail"
    table["url_args"] = [(KIND_NAMES[k], e) for k, e in zip(table["kind"], table["external_id"],
                                                             strict=True)]
    return table[PRIORITY_COLUMNS]


def _monthly_hazard(drivers: DriverResult, horizon_months: int) -> pd.Series:
    """Each active customer's average monthly churn hazard over the horizon from the drivers
    model: their segment's baseline from their current age on, for a customer with none of
    the exposures (the value at risk adds the record's own exposure)."""
    fit = drivers.fit
    assert fit is not None
    current = fit.current
    hazard = baseline_over(fit.baseline, current[STRATA].to_numpy(),
                           current["age"].to_numpy(float), horizon_months * DAYS_PER_MONTH)
    unexposed = float(np.exp(-(fit.means * fit.params).sum()))
    return pd.Series(hazard * unexposed / horizon_months, index=current.index)


# unit-level link -------------------------------------------------------------------------------

MIN_CUSTOMERS_PER_ROW = 10
MIN_ROWS = 12
PERIOD = "half"
PERIOD_NAMES = {"half": "half-year", "year": "year", "quarter": "quarter"}
QUALITY = {"fewer_field_defects": "field_defects_per_100",
           "fewer_production_ncs": "production_ncs_per_100",
           "fewer_delivery_ncs": "delivery_ncs_per_100"}
SATISFACTION = ["mean_nps", "mean_csat", "fewer_complaints"]
CONSTRUCT_NAMES = {"TQM": "TQM implementation", "Quality": "quality performance",
                   "Satisfaction": "customer satisfaction", "Retention": "retention"}
UNIT_PATHS = [("TQM", "Quality"), ("Quality", "Satisfaction"), ("Satisfaction", "Retention"),
              ("Quality", "Retention"), ("TQM", "Retention")]
PATH_COLUMNS = ["from", "to", "coefficient", "lower", "upper", "p"]


@dataclass(frozen=True)
class UnitLinkResult:
    """TQM implementation -> quality -> satisfaction -> retention per unit and period: see
    :func:`unit_link`. ``effects`` holds the total and indirect effects like ``paths`` (with a
    ``kind`` column); ``units`` and ``periods`` make the sample size visible."""

    model: Any
    paths: pd.DataFrame
    r2: pd.Series
    reliability: pd.DataFrame
    data: pd.DataFrame
    sentences: list[str]
    effects: pd.DataFrame
    measurement: dict[str, list[str]]
    units: int
    periods: int
    bootstrap: int


def unit_link(*, as_of: dt.date | None = None, bootstrap: int = 1000, seed: int = 0,
              unit: OrgUnit | None = None, records: ExposureRecords | None = None
              ) -> UnitLinkResult:
    """A PLS path model of TQM implementation, quality performance, customer satisfaction and
    retention on the operating units' half-years.

    One row per serving unit and half-year (ended by ``as_of``, at least 10 customers at its
    start): TQM implementation from the record-based TQM index indicators (and the TQM survey's
    mean maturity when rounds cover at least half the rows), quality performance from field
    defects, production and delivery nonconformances per 100 customers (signs turned, so higher
    is better), satisfaction from mean NPS, mean CSAT and complaints per 100 customers (turned),
    retention as the share of the customers at the period's start still with us at its end.
    All blocks Mode A, path weighting, missing values mean-replaced; percentile bootstrap
    intervals over the rows.

    Parameters
    ----------
    as_of : date, optional
    bootstrap : int, default 1000
    seed : int, default 0
    unit : OrgUnit, optional
        Accepted for a uniform signature; the model compares units, so it always uses them all.
    records : ExposureRecords, optional
        All customers' records already read for ``as_of`` (see :func:`customer_drivers`).

    Returns
    -------
    UnitLinkResult

    Raises
    ------
    RelationshipError
        Fewer than 12 unit-periods with enough customers.
    """
    from qualityloop.analytics.relate import PLSPathModel

    del unit  # the comparison needs every unit
    table = unit_period_table(as_of=as_of, records=records)
    if len(table) < MIN_ROWS:
        raise RelationshipError(
            f"only {len(table)} unit-{PERIOD_NAMES[PERIOD]}s have at least "
            f"{MIN_CUSTOMERS_PER_ROW} customers; the unit-level link needs {MIN_ROWS}")
    measurement = _unit_measurement(table)
    data = _pls_input(table)
    model = PLSPathModel(measurement, UNIT_PATHS, missing="mean").fit(
        data, bootstrap=bootstrap, seed=seed)
    paths, effects = _paths(model)
    units, periods = table["unit"].nunique(), table["period"].nunique()
    return UnitLinkResult(
        model=model, paths=paths, r2=model.r2_, reliability=model.reliability_, data=table,
        sentences=unit_link_sentences(paths, effects, len(table), units, periods, bootstrap),
        effects=effects, measurement=measurement, units=units, periods=periods,
        bootstrap=bootstrap)


def unit_period_table(*, as_of: dt.date | None = None, period: str = PERIOD,
                      records: ExposureRecords | None = None) -> pd.DataFrame:
    """The unit x period table of :func:`unit_link` (before signs are turned).

    Returns
    -------
    pandas.DataFrame
        ``unit``, ``period``, ``customers_at_start``, the TQM index indicator scores (0-100)
        and ``composite``, ``survey_tqm`` (mean survey maturity, NaN without a round),
        ``field_defects_per_100``, ``production_ncs_per_100``, ``delivery_ncs_per_100``,
        ``complaints_per_100``, ``mean_nps``, ``mean_csat``, ``feedback_responses`` and
        ``retention``.
    """
    from qualityloop.services import tqm_index

    as_of = as_of or dt.date.today()
    records = records or read_records(None, as_of)
    customers = records.customers
    if customers.empty:
        return pd.DataFrame(columns=["unit", "period", "customers_at_start"])
    periods = tqm_index.period_table(customers["acquired_on"].min().date(), as_of, period)
    periods = periods[periods["end"] <= pd.Timestamp(as_of)]
    rows = [_period_rows(records, start, end) .assign(period=label)
            for label, start, end in periods[["period", "start", "end"]].itertuples(index=False)]
    if not rows:
        return pd.DataFrame(columns=["unit", "period", "customers_at_start"])
    table = pd.concat(rows, ignore_index=True)
    table = table.merge(_unit_ncs(as_of, period), on=["unit", "period"], how="left")
    for stage in ("production", "delivery"):
        count = table.pop(f"{stage}_ncs").fillna(0)
        table[f"{stage}_ncs_per_100"] = 100 * count / table["customers_at_start"]
    index = tqm_index.index_summary(period=period, as_of=as_of).drop(
        columns=["unit_name", "indicators_scored"])
    table = table.merge(index, on=["unit", "period"], how="left")
    table = table.merge(_survey_tqm(period), on=["unit", "period"], how="left")
    table = table[table["customers_at_start"] >= MIN_CUSTOMERS_PER_ROW]
    return table.sort_values(["unit", "period"]).reset_index(drop=True)


def _period_rows(records: Any, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Customers, retention, defects, complaints and feedback per serving unit in a period."""
    customers = records.customers
    first, last = _epoch_day(start), _epoch_day(end)
    unit = customers["serving_unit"].to_numpy()
    churned = customers["churned_on"].where(customers["event"] == 1)
    at_start = (customers["acquired_on"] <= start) & ~(churned <= start)
    stayed = at_start & ~(churned <= end)

    def per_unit(frame: pd.DataFrame, values: pd.Series | None = None) -> pd.Series:
        inside = frame[(frame["day"] >= first) & (frame["day"] <= last)]
        units = pd.Series(unit[inside["pos"].to_numpy(int)], index=inside.index)
        if values is None:
            return units.value_counts()
        return values.loc[inside.index].groupby(units).mean()

    defects = records.defects[records.defects["stage"] == "field"]
    frame = pd.DataFrame({
        "customers_at_start": at_start.groupby(unit).sum(),
        "retained": stayed.groupby(unit).sum(),
        "field_defects": per_unit(defects),
        "complaints": per_unit(records.complaints),
        "mean_nps": per_unit(records.feedback, records.feedback["nps"]),
        "mean_csat": per_unit(records.feedback, records.feedback["csat"]),
        "feedback_responses": per_unit(records.feedback),
    }).rename_axis("unit").reset_index()
    base = frame["customers_at_start"].where(frame["customers_at_start"] > 0)
    frame["field_defects_per_100"] = 100 * frame.pop("field_defects").fillna(0) / base
    frame["complaints_per_100"] = 100 * frame.pop("complaints").fillna(0) / base
    frame["feedback_responses"] = frame["feedback_responses"].fillna(0).astype(int)
    frame["retention"] = frame.pop("retained") / base
    return frame


def _epoch_day(stamp: pd.Timestamp) -> float:
    return float((stamp.normalize() - pd.Timestamp("1970-01-01")).days)


def _unit_ncs(as_of: dt.date, period: str) -> pd.DataFrame:
    """Production and delivery nonconformances per org unit and period."""
    from django.db import connection

    from qualityloop.records.quality.models import Nonconformance
    from qualityloop.services.tqm_index import period_labels

    unit_table = OrgUnit._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT u.external_id, n.detected_on, n.stage FROM {Nonconformance._meta.db_table} n "
            f"JOIN {unit_table} u ON u.id = n.org_unit_id WHERE n.detected_on <= %s "
            f"AND n.stage IN ('production', 'delivery')", [as_of])
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=["unit", "date", "stage"])
    if frame.empty:
        return pd.DataFrame(columns=["unit", "period", "production_ncs", "delivery_ncs"])
    frame["period"] = period_labels(pd.to_datetime(frame["date"].astype(str)), period)
    counts = frame.groupby(["unit", "period", "stage"]).size().unstack("stage")
    counts = counts.reindex(columns=["production", "delivery"]).fillna(0)
    return counts.add_suffix("_ncs").reset_index().rename_axis(columns=None)


def _survey_tqm(period: str) -> pd.DataFrame:
    """Mean TQM survey maturity (0-100) per unit, in the period each round opened."""
    from qualityloop.services.assessment import SurveyRound, round_scores
    from qualityloop.services.tqm_index import period_labels

    empty = pd.DataFrame(columns=["unit", "period", "survey_tqm"])
    parts = []
    for survey in SurveyRound.objects.all():
        try:
            scores = round_scores(survey)
        except Exception:  # a round without answers or with another instrument: no scores
            continue
        if scores.empty or survey.opened_on is None:
            continue
        mean = scores.groupby("unit")["maturity"].mean()
        label = period_labels(pd.DatetimeIndex([survey.opened_on.date()]), period)[0]
        parts.append(pd.DataFrame({"unit": mean.index, "period": label,
                                   "survey_tqm": mean.to_numpy()}))
    if not parts:
        return empty
    return pd.concat(parts).groupby(["unit", "period"])["survey_tqm"].mean().reset_index()


def _unit_measurement(table: pd.DataFrame) -> dict[str, list[str]]:
    """Indicators per construct: TQM index indicators known for at least half the rows and not
    constant (the survey's maturity too when it covers half the rows)."""
    from qualityloop.services.tqm_index import INDICATORS

    candidates = [i.name for i in INDICATORS] + ["survey_tqm"]
    tqm = [c for c in candidates if c in table and table[c].notna().mean() >= 0.5
           and table[c].nunique() > 1]
    if not tqm:
        raise RelationshipError("no TQM index indicator is known for half of the unit-periods")
    data = _pls_input(table)
    usable = [c for c in [*QUALITY, *SATISFACTION]
              if data[c].notna().mean() >= 0.5 and data[c].nunique() > 1]
    quality = [c for c in QUALITY if c in usable]
    satisfaction = [c for c in SATISFACTION if c in usable]
    if not quality or not satisfaction:
        raise RelationshipError("quality or satisfaction does not vary between unit-periods")
    return {"TQM": tqm, "Quality": quality, "Satisfaction": satisfaction,
            "Retention": ["retention"]}


def _pls_input(table: pd.DataFrame) -> pd.DataFrame:
    """The PLS data: defect and complaint rates with signs turned, so higher is better."""
    data = table.copy()
    for good, raw in QUALITY.items():
        data[good] = -table[raw]
    data["fewer_complaints"] = -table["complaints_per_100"]
    return data


def _paths(model: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Paths, and total and indirect effects, with percentile intervals and p values."""
    kinds = ["path", "total", "indirect"]
    table = model.summary(kinds).reset_index()
    if "ci_lower" not in table:
        table = table.assign(ci_lower=np.nan, ci_upper=np.nan, p=np.nan)
    table = table.rename(columns={"estimate": "coefficient", "ci_lower": "lower",
                                  "ci_upper": "upper"})
    paths = table[table["kind"] == "path"][PATH_COLUMNS].reset_index(drop=True)
    effects = table[table["kind"] != "path"][["kind", *PATH_COLUMNS]]
    effects = effects[effects["coefficient"].abs() > 0].reset_index(drop=True)
    return paths, effects


def unit_link_sentences(paths: pd.DataFrame, effects: pd.DataFrame, rows: int, units: int,
                        periods: int, bootstrap: int) -> list[str]:
    """Plain sentences on the unit-level link, saying how little 8 units can show."""
    sentences = []
    total = effects[(effects["kind"] == "total") & (effects["from"] == "TQM")
                    & (effects["to"] == "Retention")]
    if not total.empty:
        sentences.append("Across units and periods, " + _effect_text(total.iloc[0], "total")
                         + ".")
    for _, row in paths.iterrows():
        sentences.append(_first_upper(_effect_text(row, "path")) + ".")
    sentences.append(
        f"This rests on {rows} unit-{PERIOD_NAMES[PERIOD]}s from only {units} units over "
        f"{periods} periods; rows of one unit are not independent, so the "
        f"{'bootstrap ' if bootstrap else ''}intervals are if anything too narrow. It shows "
        "which units did better together, not that one caused the other; the customer-level "
        "hazard ratios are the firmer evidence.")
    return sentences


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _effect_text(row: pd.Series, kind: str) -> str:
    source = CONSTRUCT_NAMES.get(row["from"], row["from"])
    target = CONSTRUCT_NAMES.get(row["to"], row["to"])
    link = (f"the total effect of {source} on {target}" if kind == "total"
            else f"the path from {source} to {target}")
    text = f"{link} is {row['coefficient']:+.2f}"
    if np.isfinite(row["lower"]):
        text += f" (95% interval {row['lower']:+.2f} to {row['upper']:+.2f}"
        if row["lower"] > 0 or row["upper"] < 0:
            text += ", " + ("above zero)" if row["lower"] > 0 else "below zero)")
        else:
            text += ", could be either sign)"
    return text


# PLS on a researcher's file --------------------------------------------------------------------

class ModelSpecError(RelationshipError):
    """The YAML model or the data file does not fit; the message names file, key, row, column."""


@dataclass(frozen=True)
class PlsFileResult:
    """A PLS path model fitted on a file: see :func:`pls_from_file`."""

    model: Any
    paths: pd.DataFrame
    r2: pd.Series
    reliability: pd.DataFrame
    rows: int
    sentences: list[str]


def pls_from_file(path: str | Any, model_spec_yaml: str | Any, *, bootstrap: int | None = None,
                  seed: int | None = None) -> PlsFileResult:
    """Fit a PLS path model, given as YAML, on a survey data set (CSV, Excel or Parquet).

    The YAML (a file path, or the text itself)::

        measurement:            # construct: [indicator columns]
          Image: [IMAG1, IMAG2, IMAG3]
          Loyalty: [CUSL1, CUSL2]
        structural:             # "From -> To" or [From, To]
          - Image -> Loyalty
        modes: {Image: A}       # optional, A (reflective) or B (formative); default A
        scheme: path            # optional: path, centroid or factorial
        missing: mean           # optional: mean or listwise
        bootstrap: 0            # optional resamples; seed: optional

    Parameters
    ----------
    path : str or Path
        The data: one row per respondent, a header row naming the columns.
    model_spec_yaml : str or Path
        The model.
    bootstrap, seed : int, optional
        Override the YAML's values.

    Returns
    -------
    PlsFileResult

    Raises
    ------
    ModelSpecError
        Unreadable file or YAML, a missing key, an indicator not in the file, a cell that is
        not a number (naming file, row and column).
    """
    from qualityloop.analytics.exceptions import ConvergenceError
    from qualityloop.analytics.relate import PLSPathModel

    spec_name, spec = _read_spec(model_spec_yaml)
    measurement = _spec_measurement(spec, spec_name)
    structural = _spec_structural(spec, spec_name)
    indicators = [i for block in measurement.values() for i in block]
    data = _read_numeric(path, indicators)
    bootstrap = int(spec.get("bootstrap", 0) if bootstrap is None else bootstrap)
    seed = spec.get("seed", 0) if seed is None else seed
    try:
        model = PLSPathModel(measurement, structural, modes=spec.get("modes"),
                             scheme=spec.get("scheme", "path"),
                             missing=spec.get("missing", "mean")).fit(
            data, bootstrap=bootstrap, seed=seed)
    except (ValueError, ConvergenceError) as problem:
        raise ModelSpecError(f"{spec_name}: {problem}") from problem
    paths, effects = _paths(model)
    sentences = [_first_upper(_effect_text(row, "path")) + "." for _, row in paths.iterrows()]
    sentences.append(f"Estimated on {model.n_obs_} rows of {_file_name(path)}.")
    return PlsFileResult(model=model, paths=paths, r2=model.r2_,
                         reliability=model.reliability_, rows=int(model.n_obs_),
                         sentences=sentences)


def _file_name(path: Any) -> str:
    from pathlib import Path

    return Path(str(path)).name


def _read_spec(source: str | Any) -> tuple[str, dict[str, Any]]:
    from pathlib import Path

    import yaml

    text, name = str(source), "the model"
    if "\n" not in text and Path(text).suffix.lower() in (".yaml", ".yml"):
        name = Path(text).name
        try:
            text = Path(text).read_text(encoding="utf-8")
        except OSError as problem:
            raise ModelSpecError(f"{name}: cannot read the model file ({problem.strerror})"
                                 ) from problem
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ModelSpecError(f"{name}{where}: not valid YAML ({problem})") from problem
    if not isinstance(spec, dict):
        raise ModelSpecError(f"{name}: expected a mapping with the keys 'measurement' and "
                             "'structural'")
    unknown = set(spec) - {"measurement", "structural", "modes", "scheme", "missing",
                           "bootstrap", "seed"}
    if unknown:
        raise ModelSpecError(f"{name}: unknown key {sorted(unknown)[0]!r}; expected "
                             "measurement, structural, modes, scheme, missing, bootstrap, seed")
    return name, spec


def _spec_measurement(spec: dict[str, Any], name: str) -> dict[str, list[str]]:
    blocks = spec.get("measurement")
    if not isinstance(blocks, dict) or not blocks:
        raise ModelSpecError(f"{name}: key 'measurement' must map each construct to a list of "
                             "indicator columns")
    result = {}
    for construct, indicators in blocks.items():
        if isinstance(indicators, str):
            indicators = [indicators]
        if not isinstance(indicators, list) or not indicators:
            raise ModelSpecError(f"{name}: key 'measurement.{construct}' must be a list of "
                                 "indicator columns")
        result[str(construct)] = [str(i) for i in indicators]
    return result


def _spec_structural(spec: dict[str, Any], name: str) -> list[tuple[str, str]]:
    paths = spec.get("structural")
    if not isinstance(paths, list) or not paths:
        raise ModelSpecError(f"{name}: key 'structural' must list the paths, each "
                             "'From -> To' or [From, To]")
    result = []
    for number, item in enumerate(paths, start=1):
        if isinstance(item, str) and "->" in item:
            pair = [part.strip() for part in item.split("->")]
        elif isinstance(item, list):
            pair = [str(part) for part in item]
        else:
            pair = []
        if len(pair) != 2 or not all(pair):
            raise ModelSpecError(f"{name}: key 'structural', item {number} ({item!r}): "
                                 "expected 'From -> To' or [From, To]")
        result.append((pair[0], pair[1]))
    return result


def _read_numeric(path: Any, indicators: list[str]) -> pd.DataFrame:
    """The indicator columns of a data file as floats (empty cells NaN)."""
    from pathlib import Path

    from qualityloop.services.tabular import TableError, read_table

    try:
        table = read_table(Path(str(path)))
    except TableError as problem:
        raise ModelSpecError(str(problem)) from problem
    name = Path(str(path)).name
    missing = [i for i in indicators if i not in table.header]
    if missing:
        raise ModelSpecError(f"{name}: no column {missing[0]!r} (named in the model's "
                             f"measurement); the file has {', '.join(table.header)}")
    columns: dict[str, list[float]] = {i: [] for i in indicators}
    for row, cells in table.rows:
        for indicator in indicators:
            columns[indicator].append(_number(cells.get(indicator), name, row, indicator))
    return pd.DataFrame(columns)


def _number(cell: Any, file: str, row: int, column: str) -> float:
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return float("nan")
    try:
        value = float(str(cell).strip().replace(",", ".")) if isinstance(cell, str) else float(
            cell)
    except (TypeError, ValueError):
        raise ModelSpecError(f"{file}, row {row}, column {column!r}: expected a number, got "
                             f"{cell!r}") from None
    if not np.isfinite(value):
        raise ModelSpecError(f"{file}, row {row}, column {column!r}: expected a finite number, "
                             f"got {cell!r}")
    return value


def _link_headline(link: UnitLinkResult) -> list[str]:
    total = link.effects[(link.effects["kind"] == "total") & (link.effects["from"] == "TQM")
                         & (link.effects["to"] == "Retention")]
    if total.empty:
        return []
    row = total.iloc[0]
    direction = "kept more" if row["coefficient"] > 0 else "kept fewer"
    interval = (f" (95% interval {row['lower']:+.2f} to {row['upper']:+.2f})"
                if np.isfinite(row["lower"]) else "")
    return [f"Across the {link.units} units, half-years with stronger TQM implementation "
            f"{direction} of their customers: total effect {row['coefficient']:+.2f}{interval} "
            f"from only {len(link.data)} unit-half-years, a pointer rather than proof."]


# the whole answer ------------------------------------------------------------------------------

CACHE_SECONDS = 600


@dataclass(frozen=True)
class Answer:
    """The whole answer for the report and the Relationship page."""

    drivers: DriverResult
    unit_link: UnitLinkResult | None
    what_if: WhatIfResult | None
    priorities: pd.DataFrame
    headline: list[str]
    as_of: dt.date
    problems: dict[str, str] = field(default_factory=dict)


def relationship_answer(*, as_of: dt.date | None = None, unit: OrgUnit | None = None,
                        use_cache: bool = True) -> Answer:
    """Drivers, unit-level link, the default what-if (field defects -30 %) and the priorities,
    with the 3-5 headline sentences a manager reads first.

    Cached per unit and as-of day for 10 minutes (the fits take seconds). A part the records
    cannot support (e.g. too few unit-periods for the unit link) is None, with the reason in
    ``problems``; without enough churns for the drivers there is no answer
    (:class:`RelationshipError`).
    """
    from django.core.cache import cache

    as_of = as_of or dt.date.today()
    key = f"ql:relationship:{as_of.isoformat()}:{unit.pk if unit else 'all'}"
    answer = cache.get(key) if use_cache else None
    if answer is None:
        answer = _answer(as_of, unit)
        cache.set(key, answer, CACHE_SECONDS)
    return answer


def _answer(as_of: dt.date, unit: OrgUnit | None) -> Answer:
    from qualityloop.services.jobs import report_progress  # the job's bar, when run as one

    problems: dict[str, str] = {}
    report_progress(5, "Reading the records")
    everyone = read_records(None, as_of)  # read once for both when there is no unit
    report_progress(15, "Fitting the churn-hazard model (Cox) to every customer")
    drivers = customer_drivers(as_of=as_of, unit=unit,
                               records=everyone if unit is None else None)
    report_progress(45, "Customer lifetime values")
    clv = _clv(12, as_of, unit)
    link = scenario = None
    report_progress(55, "Fitting the unit-level path model (PLS) with bootstrap")
    try:
        link = unit_link(as_of=as_of, records=everyone)
    except RelationshipError as problem:
        problems["unit_link"] = str(problem)
    scenario_changes = {k: v for k, v in DEFAULT_SCENARIO.items()
                        if k in drivers.summary.index}
    if scenario_changes:
        scenario = what_if_from(drivers, scenario_changes, clv)
    else:
        problems["what_if"] = "field defects are not an estimable exposure here"
    report_progress(80, "What-if and ranked actions")
    ranked = priorities_from(drivers, clv, as_of=as_of)
    return Answer(drivers=drivers, unit_link=link, what_if=scenario, priorities=ranked,
                  headline=headline(drivers, link, scenario, ranked), as_of=as_of,
                  problems=problems)


def headline(drivers: DriverResult, link: UnitLinkResult | None,
             scenario: WhatIfResult | None, ranked: pd.DataFrame) -> list[str]:
    """The 3-5 sentences a manager reads first."""
    clear = drivers.summary[(drivers.summary["lower"] > 1) | (drivers.summary["upper"] < 1)]
    sentences = [driver_sentence(str(name), row) for name, row in clear.head(2).iterrows()]
    if not sentences:
        sentences.append(f"No quality experience clearly changed how fast the "
                         f"{drivers.customers:,} customers left ({drivers.events:,} churns).")
    if scenario is not None:
        sentences.append(scenario.sentence)
    if link is not None:
        sentences.extend(_link_headline(link))
    if not ranked.empty:
        top = ranked.iloc[0]
        sentences.append(
            f"Most value at risk: {top['kind']} {top['external_id']} ({top['title']}), "
            f"{top['customers']} customer{'s' if top['customers'] != 1 else ''}, "
            f"{top['clv_at_risk']:,.0f} of lifetime value.")
    return sentences[:5]
