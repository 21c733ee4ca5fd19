"""Each customer's quality experiences, as the counting-process (start/stop) table a Cox model
with time-varying covariates takes, and the customer value at risk from open problems.

The records are read once, one SQL query per record kind (never the ORM row by row: the demo holds
100,000 customers); the rows, running counts and latest values are then built over all customers
at once by :func:`qualityloop.analytics.exposures.counting_process`, an Ibis expression (DuckDB
by default, Spark with ``QUALITYLOOP_ENGINE=pyspark``). Column
definitions are in ``docs/exposures.md``.

Conventions
-----------
* Time is in days since the customer's acquisition. A row ``(start, stop]`` carries the covariates
  that hold on that stretch; ``event`` is 1 on the row whose ``stop`` is the churn day.
* Churn is the retention service's definition (:func:`qualityloop.services.retention.
  customers_frame`): a churn date on or before ``as_of``; everyone else is censored at ``as_of``.
* A record dated day ``d`` changes the covariates from ``d`` on (a split at ``d``). A record dated
  on the churn day does not explain that churn (the churn belongs to the row ending that day) and
  anything after the churn is left out. Records dated before the acquisition count from day 0.
* ``interval="month"`` reads the covariates at the start of each calendar month and holds them for
  the month (a record counts from the first day of the next month), the convention of a monthly
  discrete-time model and of the demo's causal model; ``interval=None`` splits at each record's
  own day instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection

from qualityloop.analytics.exposures import counting_process
from qualityloop.records.customers.models import (
    Complaint,
    Customer,
    CustomerRequirement,
    DesignProject,
    DesignStageReview,
    FeedbackResponse,
    Order,
    RequirementMeasurement,
)
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import Nonconformance
from qualityloop.services.retention import RetentionOverview, customers_frame

SLOW_COMPLAINT_DAYS = 30
DAYS_PER_MONTH = 30.44
OUTCOME_CODE = {"missed": 0.0, "met": 1.0, "surpassed": 2.0}


@dataclass
class ExposureRecords:
    """The records behind the table, as plain frames keyed by customer position (``pos``).

    ``customers`` is :func:`customers_frame`; every other frame has ``pos`` and ``day`` (days since
    1970-01-01) and, for value-carrying records, a ``value`` column.
    """

    customers: pd.DataFrame
    defects: pd.DataFrame  # pos, day, stage
    complaints: pd.DataFrame  # pos, day (received), resolved (day or NaN)
    requirements: pd.DataFrame  # pos, day, value (0 missed, 1 met, 2 surpassed)
    feedback: pd.DataFrame  # pos, day, nps, csat
    design_reviews: pd.DataFrame  # pos, day (review held)
    designed_without_customers: np.ndarray  # per customer: 1, 0 or NaN (main product unknown)


# reading ---------------------------------------------------------------------------------------

def _query(sql: str, params: list[Any] | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _days(values) -> np.ndarray:
    """Dates (ISO text from SQLite, date objects from PostgreSQL, None) as float days since 1970."""
    series = pd.Series(values, dtype=object)
    dates = np.asarray(series.where(series.notna(), None).to_numpy(), dtype="datetime64[D]")
    return np.where(np.isnat(dates), np.nan, dates.astype(np.int64))


def _positions(customer_keys, key_to_pos: pd.Series) -> np.ndarray:
    """Position of each customer primary key in the subjects (-1: not a subject)."""
    found = key_to_pos.reindex(np.asarray(customer_keys, dtype=np.int64)).to_numpy()
    return np.where(np.isnan(found), -1, found).astype(np.int64)


def _frame(rows: list[tuple], columns: list[str], key_to_pos: pd.Series,
           as_of: dt.date) -> pd.DataFrame:
    """Rows whose first value is a customer key and second a date: keep the subjects' records
    dated on or before ``as_of``, as ``pos``, ``day`` and the other columns."""
    table = pd.DataFrame.from_records(rows, columns=["key", "date", *columns])
    table["pos"] = _positions(table["key"], key_to_pos)
    table["day"] = _days(table["date"])
    end = _days([as_of.isoformat()])[0]
    keep = (table["pos"] >= 0) & (table["day"] <= end)
    return table.loc[keep, ["pos", "day", *columns]].reset_index(drop=True)


def read_records(unit: OrgUnit | None = None, as_of: dt.date | None = None) -> ExposureRecords:
    """Read the customers and their quality records once, as frames.

    Parameters
    ----------
    unit : OrgUnit, optional
        Keep the customers served by this unit or a unit below it.
    as_of : date, optional
        End of the observation (default: today); later records are left out.

    Returns
    -------
    ExposureRecords
    """
    as_of = as_of or dt.date.today()
    customers = customers_frame(unit, as_of)
    ids = dict(_query(f"SELECT external_id, id FROM {Customer._meta.db_table}"))
    keys = np.array([ids[c] for c in customers["customer_id"]], dtype=np.int64)
    key_to_pos = pd.Series(np.arange(len(keys), dtype=float), index=keys)
    complaints = _frame(_query(
        f"SELECT customer_id, received_on, COALESCE(resolved_on, closed_on) "
        f"FROM {Complaint._meta.db_table}"),
        ["resolved"], key_to_pos, as_of)
    complaints["resolved"] = _days(complaints["resolved"])
    feedback = _frame(_query(
        f"SELECT customer_id, responded_on, nps, csat FROM {FeedbackResponse._meta.db_table}"),
        ["nps", "csat"], key_to_pos, as_of)
    return ExposureRecords(
        customers=customers,
        defects=_frame(_defect_rows(), ["stage"], key_to_pos, as_of),
        complaints=complaints,
        requirements=_requirement_frame(key_to_pos, as_of),
        feedback=feedback.astype({"nps": float, "csat": float}),
        design_reviews=_frame(_participation_rows(), [], key_to_pos, as_of),
        designed_without_customers=_designed_without_customers(keys, as_of),
    )


def _link_table(descriptor: Any) -> tuple[str, str, str]:
    """A many-to-many field's link table: its name, the record column and the customer column."""
    link = descriptor.field
    return link.m2m_db_table(), link.m2m_column_name(), link.m2m_reverse_name()


def _defect_rows() -> list[tuple]:
    """(customer, detected_on, stage) for every nonconformance that names affected customers."""
    through, record, customer = _link_table(Nonconformance.affected_customers)
    return _query(
        f"SELECT t.{customer}, n.detected_on, n.stage "
        f"FROM {through} t JOIN {Nonconformance._meta.db_table} n "
        f"ON n.id = t.{record}")


def _participation_rows() -> list[tuple]:
    """(customer, held_on) for every design stage review a customer took part in."""
    through, record, customer = _link_table(DesignStageReview.customer_participants)
    return _query(
        f"SELECT t.{customer}, r.held_on FROM {through} t "
        f"JOIN {DesignStageReview._meta.db_table} r ON r.id = t.{record}")


def _requirement_frame(key_to_pos: pd.Series, as_of: dt.date) -> pd.DataFrame:
    """Measurements of a customer's own requirements (segment-wide expectations describe the
    segment, not the customer, and are left out), latest last within a day."""
    rows = _query(
        f"SELECT COALESCE(m.customer_id, r.customer_id), m.measured_on, m.outcome, m.id "
        f"FROM {RequirementMeasurement._meta.db_table} m "
        f"JOIN {CustomerRequirement._meta.db_table} r ON r.id = m.requirement_id "
        f"WHERE COALESCE(m.customer_id, r.customer_id) IS NOT NULL")
    table = _frame(rows, ["outcome", "id"], key_to_pos, as_of)
    table["value"] = table["outcome"].map(OUTCOME_CODE).astype(float)
    return table.sort_values(["pos", "day", "id"])[["pos", "day", "value"]]


def _designed_without_customers(keys: np.ndarray, as_of: dt.date) -> np.ndarray:
    """Per customer: 1 if their main product (the product most of their orders are for) was
    designed with customer participants in fewer than half of its stage reviews, 0 if in at
    least half, NaN when the main product or its design reviews are not on record."""
    main = _main_products(as_of)
    design = _design_participation_share(as_of)
    without = (design < 0.5).astype(float)
    product = main.reindex(keys)
    return without.reindex(product.to_numpy()).to_numpy(dtype=float)


def _fill_by_unit(values: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Unknown values (NaN) replaced by the mean of the known ones in the same serving unit
    (NaN stays where a unit has none): a customer with no orders yet gets the share of their
    unit's customers whose main product was designed without customers."""
    known = pd.Series(values).groupby(units).transform("mean").to_numpy()
    return np.where(np.isnan(values), known, values)


def _main_products(as_of: dt.date) -> pd.Series:
    """Each customer's most ordered product (ties: the first by name), indexed by customer key."""
    rows = _query(
        f"SELECT customer_id, product, COUNT(*) FROM {Order._meta.db_table} "
        f"WHERE ordered_on <= %s AND product <> '' GROUP BY customer_id, product", [as_of])
    counts = pd.DataFrame.from_records(rows, columns=["key", "product", "n"])
    counts = counts.sort_values(["key", "n", "product"], ascending=[True, False, True])
    return counts.drop_duplicates("key").set_index("key")["product"]


def _design_participation_share(as_of: dt.date) -> pd.Series:
    """Per product: the share of its design stage reviews (held by ``as_of``) that had at least
    one customer participant."""
    through, record, customer = _link_table(DesignStageReview.customer_participants)
    rows = _query(
        f"SELECT p.product, r.id, COUNT(t.{customer}) "
        f"FROM {DesignStageReview._meta.db_table} r "
        f"JOIN {DesignProject._meta.db_table} p ON p.id = r.project_id "
        f"LEFT JOIN {through} t ON t.{record} = r.id "
        f"WHERE r.held_on <= %s AND p.product <> '' GROUP BY p.product, r.id", [as_of])
    reviews = pd.DataFrame.from_records(rows, columns=["product", "review", "participants"])
    return (reviews["participants"] > 0).groupby(reviews["product"]).mean()


# changes ---------------------------------------------------------------------------------------

def _changes(pos, day, covariate: str, value=None) -> pd.DataFrame:
    """Dated changes of one covariate as rows of the long table
    :func:`qualityloop.analytics.exposures.counting_process` takes (``order``: their sequence,
    so that of several values on one day the last read wins)."""
    pos, day = np.asarray(pos, dtype=np.int64), np.asarray(day, dtype=float).astype(np.int64)
    return pd.DataFrame({
        "pos": pos, "day": day, "covariate": covariate,
        "value": np.ones(len(pos)) if value is None else np.asarray(value, dtype=float),
        "order": np.arange(len(pos), dtype=np.int64)})


def _counter_changes(records: ExposureRecords) -> dict[str, pd.DataFrame]:
    d, c, r = records.defects, records.complaints, records.design_reviews
    resolved = c.dropna(subset=["resolved"])
    slow = c[~(c["resolved"] - c["day"] <= SLOW_COMPLAINT_DAYS)]  # unresolved ones too
    changes = {
        "complaint_count": _changes(c["pos"], c["day"], "complaint_count"),
        "open_complaints": pd.concat([
            _changes(c["pos"], c["day"], "open_complaints"),
            _changes(resolved["pos"], resolved["resolved"], "open_complaints",
                     -np.ones(len(resolved)))]),
        "slow_complaints": _changes(slow["pos"], slow["day"] + SLOW_COMPLAINT_DAYS,
                                    "slow_complaints"),
        "design_reviews": _changes(r["pos"], r["day"], "design_reviews"),
    }
    for stage in sorted(set(d["stage"])):
        at = d[d["stage"] == stage]
        name = "field_defects" if stage == "field" else f"defects_{stage}"
        changes[name] = _changes(at["pos"], at["day"], name)
    changes.setdefault("field_defects", _changes([], [], "field_defects"))
    return changes


def _latest_changes(records: ExposureRecords) -> dict[str, pd.DataFrame]:
    q, f = records.requirements, records.feedback.sort_values(["pos", "day"], kind="stable")
    changes = {"requirement": _changes(q["pos"], q["day"], "requirement", q["value"])}
    for score in ("nps", "csat"):
        answered = f.dropna(subset=[score])
        changes[score] = _changes(answered["pos"], answered["day"], score, answered[score])
    changes["feedback"] = _changes(f["pos"], f["day"], "feedback")
    return changes


# the table -------------------------------------------------------------------------------------

def _subjects(customers: pd.DataFrame) -> pd.DataFrame:
    """The customers as subjects: position, acquisition day number, days followed, churn."""
    acquired = customers["acquired_on"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    return pd.DataFrame({"pos": np.arange(len(customers), dtype=np.int64),
                         "acquired_on": acquired,
                         "duration": customers["duration"].to_numpy(dtype=float),
                         "event": customers["event"].to_numpy(dtype=np.int64)})


def build_exposures(records: ExposureRecords, interval: str | None = "month",
                    unit_tqm: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The start/stop table from records already read (see :func:`customer_exposures`).

    The rows and the running counts are built by
    :func:`qualityloop.analytics.exposures.counting_process` (an Ibis expression: DuckDB by
    default, Spark with ``QUALITYLOOP_ENGINE=pyspark``).
    """
    if interval not in ("month", None):
        raise ValueError(f"interval must be 'month' or None, got {interval!r}")
    counters, latest = _counter_changes(records), _latest_changes(records)
    changes = pd.concat([*counters.values(), *latest.values()], ignore_index=True)
    table = counting_process(_subjects(records.customers), changes, counters=list(counters),
                             latest=list(latest), interval=interval, subject="pos")
    return _assemble(records, table, unit_tqm)


def _categorical(values: pd.Series, pos: np.ndarray) -> pd.Categorical:
    """``values[pos]`` as a categorical (millions of rows share a few thousand strings)."""
    codes, categories = pd.factorize(values, sort=True)
    return pd.Categorical.from_codes(codes[pos], categories=categories)


def _assemble(records: ExposureRecords, table: pd.DataFrame,
              unit_tqm: Mapping[str, float] | None) -> pd.DataFrame:
    """The service's columns from the counting-process table (running counts become counts
    and flags, the latest requirement outcome two flags) and the customers' own columns."""
    customers = records.customers
    pos = table["pos"].to_numpy(dtype=np.int64)
    units = _categorical(customers["serving_unit"], pos)
    frame = pd.DataFrame({
        "customer": _categorical(customers["customer_id"], pos),
        "unit": units,
        "segment": _categorical(customers["segment"], pos),
        "start": table["start"].to_numpy(dtype=float),
        "stop": table["stop"].to_numpy(dtype=float),
        "event": table["event"].to_numpy(dtype=np.int64),
    })
    for name in ["field_defects", *sorted(c for c in table.columns if c.startswith("defects_"))]:
        frame[name] = table[name].to_numpy().astype(np.int64)
    frame["complaint_count"] = table["complaint_count"].to_numpy().astype(np.int64)
    frame["open_complaint"] = (table["open_complaints"].to_numpy() > 0).astype(np.int64)
    frame["slow_complaint"] = (table["slow_complaints"].to_numpy() > 0).astype(np.int64)
    frame["took_part_in_design"] = (table["design_reviews"].to_numpy() > 0).astype(np.int64)
    without = _fill_by_unit(records.designed_without_customers,
                            customers["serving_unit"].to_numpy())
    frame["designed_without_customers"] = without[pos]
    requirement = table["requirement"].to_numpy(dtype=float)
    frame["requirement_missed"] = (requirement == 0).astype(np.int64)
    frame["requirement_surpassed"] = (requirement == 2).astype(np.int64)
    frame["nps"] = table["nps"].to_numpy(dtype=float)
    frame["csat"] = table["csat"].to_numpy(dtype=float)
    frame["no_feedback_yet"] = np.isnan(table["feedback"].to_numpy(dtype=float)).astype(np.int64)
    tqm = pd.Series(unit_tqm, dtype=float) if unit_tqm else pd.Series(dtype=float)
    frame["unit_tqm"] = tqm.reindex(units.categories).to_numpy(dtype=float)[units.codes]
    return frame


def customer_exposures(as_of: dt.date | None = None, unit: OrgUnit | None = None,
                       interval: str | None = "month",
                       unit_tqm: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Each customer's quality experiences in counting-process (start/stop) form.

    One row per customer and stretch of time over which their covariates stay the same, ready
    for a Cox model with time-varying covariates (``start_col="start", stop_col="stop",
    event_col="event"``; cluster on ``customer``).

    Parameters
    ----------
    as_of : date, optional
        End of the observation (default: today). Later records are left out; customers still
        with us are censored here.
    unit : OrgUnit, optional
        Keep the customers served by this unit or a unit below it.
    interval : {"month", None}, default "month"
        ``"month"``: rows are also split at each calendar month start and the covariates are
        those known at the start of the month (a record counts from the next month start).
        ``None``: a record counts from its own day.
    unit_tqm : mapping of unit external id to float, optional
        The serving unit's TQM level (e.g. the record-based index of
        ``qualityloop.services.tqm_index.record_index``, or a survey construct score), copied
        into ``unit_tqm``; NaN for units not in it (all, by default).

    Returns
    -------
    pandas.DataFrame
        Columns ``customer``, ``unit``, ``segment``, ``start``, ``stop`` (days since
        acquisition), ``event``, ``field_defects``, ``defects_<stage>`` (one per other stage of
        nonconformances with affected customers, if any), ``complaint_count``,
        ``open_complaint``, ``slow_complaint``, ``took_part_in_design``,
        ``designed_without_customers``, ``requirement_missed``, ``requirement_surpassed``,
        ``nps``, ``csat``, ``no_feedback_yet``, ``unit_tqm``; see ``docs/exposures.md``.

    Examples
    --------
    >>> table = customer_exposures()  # doctest: +SKIP
    >>> CoxPH().fit(table, event_col="event", start_col="start", stop_col="stop",
    ...             covariates=["field_defects", "open_complaint"],
    ...             cluster_col="customer")  # doctest: +SKIP
    """
    return build_exposures(read_records(unit, as_of), interval, unit_tqm)


# summary ---------------------------------------------------------------------------------------

Levels = tuple[np.ndarray, list[str]]  # a level code per row (-1: none) and the level names


def _capped(values: np.ndarray, top: int) -> Levels:
    names = [str(k) for k in range(top)] + [f"{top}+"]
    return np.minimum(values, top).astype(np.int64), names


def _binary(values: np.ndarray) -> Levels:
    """0 no, 1 yes; anything else (NaN, an imputed share) unknown."""
    return np.select([values == 0, values == 1], [0, 1], 2), ["no", "yes", "unknown"]


def _score(values: np.ndarray, edges: list[float], names: list[str]) -> Levels:
    """Scores cut at ``edges`` (right-closed bins); NaN is 'no answer yet'."""
    codes = np.searchsorted(np.asarray(edges), values, side="left")
    return np.where(np.isnan(values), len(names), codes), [*names, "no answer yet"]


def _levels(frame: pd.DataFrame) -> dict[str, Levels]:
    """Each exposure cut into the levels the summary reports."""
    segment_codes, segments = pd.factorize(frame["segment"].astype(str), sort=True)
    levels = {"all": (np.zeros(len(frame), dtype=np.int64), ["all"]),
              "segment": (segment_codes, list(segments)),
              "field_defects": _capped(frame["field_defects"].to_numpy(), 3),
              "complaint_count": _capped(frame["complaint_count"].to_numpy(), 2)}
    binary = ["open_complaint", "slow_complaint", "took_part_in_design",
              "designed_without_customers", "requirement_missed", "requirement_surpassed"]
    binary += [c for c in frame.columns if c.startswith("defects_")]
    for column in binary:
        levels[column] = _binary(frame[column].to_numpy(dtype=float))
    levels["nps"] = _score(frame["nps"].to_numpy(dtype=float), [6, 8, 10],
                           ["detractor (0-6)", "passive (7-8)", "promoter (9-10)"])
    levels["csat"] = _score(frame["csat"].to_numpy(dtype=float), [1, 2, 3, 4, 5],
                            ["1", "2", "3", "4", "5"])
    return levels


def exposure_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Customers, churns, person-time and crude churn rate per exposure level.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table from :func:`customer_exposures`.

    Returns
    -------
    pandas.DataFrame
        One row per exposure and level that occurs: ``exposure``, ``level``, ``customers``
        (customers with any time at that level), ``events`` (churns at that level),
        ``customer_months`` (person-time, months of 30.44 days) and ``churn_per_1000_months``
        (events per 1,000 customer-months: a crude rate, not adjusted for the other exposures or
        for tenure).
    """
    months = ((frame["stop"] - frame["start"]) / DAYS_PER_MONTH).to_numpy(dtype=float)
    events = frame["event"].to_numpy(dtype=float)
    customer, names = pd.factorize(frame["customer"])
    parts = []
    for exposure, (codes, labels) in _levels(frame).items():
        size = len(labels)
        seen = np.zeros((len(names), size), dtype=bool)
        seen[customer, codes] = True
        parts.append(pd.DataFrame({
            "exposure": exposure, "level": labels,
            "customers": seen.sum(axis=0),
            "events": np.bincount(codes, weights=events, minlength=size).astype(np.int64),
            "customer_months": np.bincount(codes, weights=months, minlength=size)}))
    table = pd.concat(parts, ignore_index=True)
    table = table[table["customers"] > 0].reset_index(drop=True)
    rate = 1000 * table["events"] / table["customer_months"].where(table["customer_months"] > 0)
    return table.assign(churn_per_1000_months=rate)


# value at risk ---------------------------------------------------------------------------------

RISK_COLUMNS = ["kind", "external_id", "title", "customers", "clv_at_risk",
                "expected_customers_lost"]


def value_at_risk(hazard_ratios: Mapping[str, float], horizon_months: int = 12, *,
                  as_of: dt.date | None = None, clv: pd.Series | None = None,
                  baseline: pd.Series | None = None) -> pd.DataFrame:
    """Customer lifetime value at risk from each open nonconformance and open complaint.

    Ranks corrective-action work by its effect on retention: the customers a record touches,
    how many of them it is expected to cost within the horizon, and the value they would bring.

    Parameters
    ----------
    hazard_ratios : mapping of exposure to hazard ratio
        ``"field_defects"`` (per field defect) values field nonconformances,
        ``"defects_<stage>"`` those of another stage, ``"open_complaint"`` open complaints
        (typically ``CoxPH(...).hazard_ratios_`` fitted on :func:`customer_exposures`). Records
        whose exposure is not in the mapping are left out.
    horizon_months : int, default 12
        The horizon of the churn probabilities and of the CLV.
    as_of : date, optional
        Today by default: records open on this day, customers not churned by it.
    clv : pandas.Series, optional
        CLV over the horizon per customer external id; default
        ``RetentionOverview().clv(horizon=horizon_months, as_of=as_of)["clv"]``. Customers
        without one count with 0.
    baseline : pandas.Series, optional
        Each customer's monthly churn hazard without the exposure, by customer external id;
        default the crude churn rate of their segment (churns per customer-month, the retention
        service's churn definition).

    Returns
    -------
    pandas.DataFrame
        ``kind`` ("nonconformance" or "complaint"), ``external_id``, ``title``, ``customers``
        (affected customers still with us), ``clv_at_risk`` and ``expected_customers_lost``,
        highest value at risk first. Nonconformances that name no affected customer are not
        listed.

    Notes
    -----
    With baseline monthly hazard ``h`` and the exposure lasting the horizon ``H``, survival is
    ``S0 = exp(-h H)`` without the exposure and ``S0 ** HR`` with it, so the extra churn
    probability is ``S0 - S0 ** HR``, summed over the affected customers into
    ``expected_customers_lost``. A customer's CLV accrues while they stay; at a constant rate
    over the horizon the share of it lost is ``1 - (1 - S0 ** HR) / (HR (1 - S0))`` (0 when
    ``HR = 1``, about ``(HR - 1) h H / 2`` for small ``h H``: the extra churns happen on average
    half way), summed as ``CLV * share`` into ``clv_at_risk``. The exposure is taken to last the
    horizon: right for a field defect (the count stays), an upper bound for a complaint, whose
    effect ends when it is resolved. Hazard ratios below 1 give negative values.
    """
    as_of = as_of or dt.date.today()
    customers = customers_frame(None, as_of)
    active = customers[customers["event"] == 0]
    links = pd.concat([_open_nonconformances(as_of), _open_complaints(as_of)], ignore_index=True)
    links["hazard_ratio"] = links["exposure"].map(lambda e: hazard_ratios.get(e, np.nan))
    links = links[links["customer"].isin(active["customer_id"]) & links["hazard_ratio"].notna()]
    hazard = _baseline_hazard(customers, active, baseline)
    value = _clv(clv, horizon_months, as_of)
    s0 = np.exp(-hazard.reindex(links["customer"]).to_numpy() * horizon_months)
    ratio = links["hazard_ratio"].to_numpy(dtype=float)
    lost = s0 - s0 ** ratio
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(s0 < 1, 1 - (1 - s0 ** ratio) / (ratio * (1 - s0)), 0.0)
    links = links.assign(expected_customers_lost=lost,
                         clv_at_risk=share * value.reindex(links["customer"]).fillna(0.0)
                         .to_numpy())
    table = links.groupby(["kind", "external_id", "title"], sort=False).agg(
        customers=("customer", "nunique"), clv_at_risk=("clv_at_risk", "sum"),
        expected_customers_lost=("expected_customers_lost", "sum")).reset_index()
    return table.sort_values("clv_at_risk", ascending=False, kind="stable")[
        RISK_COLUMNS].reset_index(drop=True)


def _open_nonconformances(as_of: dt.date) -> pd.DataFrame:
    """(kind, external_id, title, exposure, customer) for every nonconformance open on ``as_of``
    and each customer it affects."""
    through, record, customer = _link_table(Nonconformance.affected_customers)
    rows = _query(
        f"SELECT n.external_id, n.title, n.stage, c.external_id "
        f"FROM {Nonconformance._meta.db_table} n "
        f"JOIN {through} t ON t.{record} = n.id "
        f"JOIN {Customer._meta.db_table} c ON c.id = t.{customer} "
        f"WHERE n.detected_on <= %s AND (n.closed_on > %s "
        f"OR (n.closed_on IS NULL AND n.status <> 'closed'))", [as_of, as_of])
    table = pd.DataFrame.from_records(rows, columns=["external_id", "title", "stage", "customer"])
    exposure = np.where(table["stage"] == "field", "field_defects", "defects_" + table["stage"])
    return table.assign(kind="nonconformance", exposure=exposure).drop(columns="stage")


def _open_complaints(as_of: dt.date) -> pd.DataFrame:
    """(kind, external_id, title, exposure, customer) for every complaint unresolved on
    ``as_of``."""
    rows = _query(
        f"SELECT m.external_id, m.category, m.received_on, c.external_id "
        f"FROM {Complaint._meta.db_table} m "
        f"JOIN {Customer._meta.db_table} c ON c.id = m.customer_id "
        f"WHERE m.received_on <= %s AND COALESCE(m.resolved_on, m.closed_on, %s) > %s",
        [as_of, dt.date.max, as_of])
    table = pd.DataFrame.from_records(rows, columns=["external_id", "category", "received",
                                                     "customer"])
    title = ("Complaint" + (": " + table["category"]).where(table["category"] != "", "")
             + " (received " + table["received"].astype(str) + ")")
    return pd.DataFrame({"external_id": table["external_id"], "title": title,
                         "customer": table["customer"], "kind": "complaint",
                         "exposure": "open_complaint"})


def _baseline_hazard(customers: pd.DataFrame, active: pd.DataFrame,
                     baseline: pd.Series | None) -> pd.Series:
    """Monthly churn hazard per active customer: given, else their segment's crude rate."""
    if baseline is not None:
        return baseline.astype(float)
    months = customers["duration"] / DAYS_PER_MONTH
    by_segment = customers.groupby("segment")["event"].sum() / months.groupby(
        customers["segment"]).sum()
    return pd.Series(active["segment"].map(by_segment).to_numpy(dtype=float),
                     index=active["customer_id"].to_numpy())


def _clv(clv: pd.Series | None, horizon_months: int, as_of: dt.date) -> pd.Series:
    if clv is not None:
        return clv.astype(float)
    return RetentionOverview().clv(horizon=horizon_months, as_of=as_of)["clv"]
