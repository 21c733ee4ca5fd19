"""The causal model behind the demo data, as a pure numpy simulation (no Django).

Time is measured in months from the start of the demo window (a float: 12.5 is the middle of the
thirteenth month). The equations and parameter values are documented in ``docs/demo-model.md``;
:class:`Effects` holds the true values so the summary can report them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

N_MONTHS = 60  # five years of history
ACQUISITION_MONTHS = 48  # customers are won over the first four years
N_OPERATING_UNITS = 8
PRODUCTS_PER_UNIT = 3
REVIEW_STAGES = ("concept", "design", "prototype", "pilot")
SEGMENTS = ("enterprise", "mid_market", "small_business", "public_sector")
SEGMENT_SHARE = (0.12, 0.33, 0.45, 0.10)
KEY_ACCOUNT_SEGMENTS = (0, 3)  # enterprise and public sector have their own requirements
SLOW_RESOLUTION_DAYS = 30.0
DAYS_PER_MONTH = 30.44


@dataclass(frozen=True)
class Effects:
    """The true parameters of the demo's causal model (see docs/demo-model.md)."""

    # Churn: monthly proportional hazards, Weibull baseline in customer age (months).
    weibull_scale: float = 0.014
    weibull_shape: float = 0.8
    hr_field_defect: float = 1.6  # per field defect experienced so far
    hr_open_complaint: float = 2.0  # while the customer has an unresolved complaint
    hr_slow_resolution: float = 1.4  # once any complaint took more than 30 days to resolve
    hr_no_design_involvement: float = 1.3  # main product designed without customer participants
    hr_requirement_missed: float = 1.5  # latest requirement measurement missed (key accounts)
    hr_requirement_surpassed: float = 0.8  # latest requirement measurement surpassed
    hr_segment: dict = field(default_factory=lambda: {
        "enterprise": 0.7, "mid_market": 1.0, "small_business": 1.3, "public_sector": 0.6})
    # TQM practice (latent q ~ N(0, 1) per unit) and what it drives (logistic intercept, slope).
    objective_on_track: tuple = (0.4, 1.0)
    training_coverage: tuple = (0.3, 1.2)
    capa_on_time: tuple = (0.6, 0.9)
    capa_effective: tuple = (0.8, 0.8)
    review_customer_participation: tuple = (-0.2, 1.4)
    # Design defects: introduced ~ Poisson(mean * exp(slope * q)); a review catches each
    # remaining defect with logistic(intercept + customer_slope * participants + q_slope * q).
    design_defects_mean: float = 14.0
    design_defects_tqm_slope: float = -0.3
    review_catch: tuple = (-0.9, 1.0, 0.3)
    # Field defects per customer-month: base * exp(tqm_slope * q) * (1 + escaped design defects).
    field_defect_base: float = 0.004
    field_defect_tqm_slope: float = -0.35
    # Internal nonconformances per unit-month: rate * exp(tqm_slope * q) (+ per escaped defect).
    production_nc_rate: float = 0.6
    production_nc_per_escaped_defect: float = 0.04
    delivery_nc_rate: float = 0.3
    internal_nc_tqm_slope: float = -0.4
    # Complaints per customer-month, plus this share of field defects turn into a complaint.
    complaint_base_rate: float = 0.006
    complaint_per_field_defect: float = 0.35
    resolution_days_mean: float = 18.0  # at q = 0; times exp(slope * q), gamma with shape 1.5
    resolution_days_tqm_slope: float = -0.35
    # Requirement measurements (key accounts, quarterly): missed / surpassed probabilities.
    requirement_missed: tuple = (-1.7, -0.5, 0.9)  # intercept, q slope, field defect in quarter
    requirement_surpassed: tuple = (-0.6, 0.5)  # intercept, q slope (given not missed)
    # Purchases (BG/NBD-like): Poisson while alive, gamma heterogeneity; gamma spend.
    orders_per_month: dict = field(default_factory=lambda: {
        "enterprise": 2.4, "mid_market": 1.3, "small_business": 0.7, "public_sector": 1.0})
    order_rate_gamma_shape: float = 1.6
    spend_mean: dict = field(default_factory=lambda: {
        "enterprise": 4800.0, "mid_market": 1900.0, "small_business": 650.0,
        "public_sector": 2600.0})
    spend_customer_gamma_shape: float = 3.0
    spend_order_gamma_shape: float = 4.0
    survey_every_months: int = 6
    survey_response_rate: float = 0.35

    def as_dict(self) -> dict:
        return asdict(self)


def logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Units:
    tqm: np.ndarray  # latent TQM practice per operating unit, standardised


@dataclass
class Products:
    unit: np.ndarray  # operating unit of each catalogue product
    participants: np.ndarray  # (product, review stage) number of customer participants
    defects_found: np.ndarray  # (product, review stage)
    escaped: np.ndarray  # design defects that passed every review
    co_designed: np.ndarray  # bool: customers took part in at least half the reviews
    field_rate: np.ndarray  # field defects per customer-month


@dataclass
class Customers:
    segment: np.ndarray
    unit: np.ndarray
    product: np.ndarray
    acquired: np.ndarray  # month (float)
    ended: np.ndarray  # churn month (float), or N_MONTHS when still a customer
    churned: np.ndarray  # bool
    order_rate: np.ndarray
    spend_mean: np.ndarray


@dataclass
class Events:
    """Event tables of the simulation, one array per column."""

    columns: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


@dataclass
class World:
    effects: Effects
    units: Units
    products: Products
    customers: Customers
    field_defects: Events  # customer, month, time
    complaints: Events  # customer, time, resolution_days, defect (index into field_defects or -1)
    requirement_checks: Events  # customer, month, outcome (0 missed, 1 met, 2 surpassed)
    feedback: Events  # customer, time, nps, csat, ces
    orders: Events  # customer, time, product, amount


def simulate_units(rng: np.random.Generator) -> Units:
    q = rng.normal(size=N_OPERATING_UNITS)
    return Units(tqm=(q - q.mean()) / q.std())


def simulate_products(rng: np.random.Generator, units: Units, fx: Effects) -> Products:
    """Catalogue products and the stage reviews of their design projects."""
    unit = np.repeat(np.arange(N_OPERATING_UNITS), PRODUCTS_PER_UNIT)
    q = units.tqm[unit]
    n, stages = len(unit), len(REVIEW_STAGES)
    p_part = logistic(fx.review_customer_participation[0] + fx.review_customer_participation[1] * q)
    has_part = rng.random((n, stages)) < p_part[:, None]
    participants = has_part * rng.integers(1, 4, size=(n, stages))
    remaining = rng.poisson(fx.design_defects_mean * np.exp(fx.design_defects_tqm_slope * q))
    found = np.zeros((n, stages), dtype=int)
    a, b_part, b_q = fx.review_catch
    for s in range(stages):
        catch = logistic(a + b_part * has_part[:, s] + b_q * q)
        found[:, s] = rng.binomial(remaining, catch)
        remaining = remaining - found[:, s]
    field_rate = fx.field_defect_base * np.exp(fx.field_defect_tqm_slope * q) * (1 + remaining)
    return Products(unit=unit, participants=participants, defects_found=found, escaped=remaining,
                    co_designed=has_part.mean(axis=1) >= 0.5, field_rate=field_rate)


def _draw_customers(rng, n: int, products: Products, fx: Effects) -> Customers:
    segment = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_SHARE)
    unit_weights = rng.dirichlet(np.full(N_OPERATING_UNITS, 4.0))
    unit = rng.choice(N_OPERATING_UNITS, size=n, p=unit_weights)
    product = unit * PRODUCTS_PER_UNIT + rng.integers(0, PRODUCTS_PER_UNIT, size=n)
    acquired = np.sort(rng.random(n)) * ACQUISITION_MONTHS
    seg_rate = np.array([fx.orders_per_month[s] for s in SEGMENTS])[segment]
    shape = fx.order_rate_gamma_shape
    order_rate = rng.gamma(shape, seg_rate / shape)
    seg_spend = np.array([fx.spend_mean[s] for s in SEGMENTS])[segment]
    spend_mean = rng.gamma(fx.spend_customer_gamma_shape, seg_spend / fx.spend_customer_gamma_shape)
    return Customers(segment=segment, unit=unit, product=product, acquired=acquired,
                     ended=np.full(n, float(N_MONTHS)), churned=np.zeros(n, bool),
                     order_rate=order_rate, spend_mean=spend_mean)


class _Lists:
    """Growing event columns, concatenated once at the end."""

    def __init__(self, *names: str) -> None:
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in names}

    def add(self, **cols: np.ndarray) -> None:
        for name, values in cols.items():
            self.parts[name].append(np.asarray(values))

    def events(self) -> Events:
        return Events({k: np.concatenate(v) if v else np.zeros(0) for k, v in self.parts.items()})


def simulate_customers(rng, n: int, units: Units, products: Products, fx: Effects):
    """Month by month: defects, complaints, requirement checks, surveys and churn, vectorised."""
    c = _draw_customers(rng, n, products, fx)
    q = units.tqm[c.unit]
    seg_names = np.array(SEGMENTS)[c.segment]
    log_hr_seg = np.log(np.array([fx.hr_segment[s] for s in seg_names]))
    no_involvement = ~products.co_designed[c.product]
    key_account = np.isin(c.segment, KEY_ACCOUNT_SEGMENTS)
    field_rate = products.field_rate[c.product]
    res_mean = fx.resolution_days_mean * np.exp(fx.resolution_days_tqm_slope * q)

    defects_so_far = np.zeros(n)
    defects_by_month = np.zeros((n, N_MONTHS), dtype=np.int16)
    open_until = np.full(n, -1.0)  # complaint open until this time (months)
    slow_from = np.full(n, np.inf)  # a slow resolution is known to the customer from this time
    last_outcome = np.ones(n, dtype=np.int8)  # 0 missed, 1 met, 2 surpassed
    alive = np.ones(n, bool)
    defects = _Lists("customer", "month", "time")
    complaints = _Lists("customer", "time", "resolution_days", "defect")
    checks = _Lists("customer", "month", "outcome")
    feedback = _Lists("customer", "time", "nps", "csat", "ces")
    n_defects = 0
    k = fx.weibull_shape

    for m in range(N_MONTHS):
        idx = np.flatnonzero(alive & (c.acquired < m + 1))
        start = np.maximum(c.acquired[idx], m)
        age = start - c.acquired[idx]
        exposure = (m + 1) - start
        t0 = float(m)
        eta = (np.log(fx.hr_field_defect) * defects_so_far[idx]
               + np.log(fx.hr_open_complaint) * (open_until[idx] > t0)
               + np.log(fx.hr_slow_resolution) * (slow_from[idx] <= t0)
               + np.log(fx.hr_no_design_involvement) * no_involvement[idx]
               + np.log(fx.hr_requirement_missed) * (last_outcome[idx] == 0)
               + np.log(fx.hr_requirement_surpassed) * (last_outcome[idx] == 2)
               + log_hr_seg[idx])
        cum = fx.weibull_scale * ((age + exposure) ** k - age ** k) * np.exp(eta)
        churn = rng.random(len(idx)) < 1.0 - np.exp(-cum)
        churn_at = start + rng.random(len(idx)) * exposure
        exposure = np.where(churn, churn_at - start, exposure)
        gone = idx[churn]
        c.ended[gone], c.churned[gone], alive[gone] = churn_at[churn], True, False

        # Field defects this month (while still a customer).
        n_def = rng.poisson(field_rate[idx] * exposure)
        hit = np.repeat(idx, n_def)
        hit_time = np.repeat(start, n_def) + rng.random(len(hit)) * np.repeat(exposure, n_def)
        defects.add(customer=hit, month=np.full(len(hit), m), time=hit_time)
        defect_ids = np.arange(n_defects, n_defects + len(hit))
        n_defects += len(hit)
        np.add.at(defects_by_month[:, m], hit, 1)

        # Complaints: a base rate, plus a share of the field defects.
        n_base = rng.poisson(fx.complaint_base_rate * exposure)
        base_cust = np.repeat(idx, n_base)
        base_time = (np.repeat(start, n_base)
                     + rng.random(len(base_cust)) * np.repeat(exposure, n_base))
        from_defect = rng.random(len(hit)) < fx.complaint_per_field_defect
        lag = rng.gamma(2.0, 3.0, size=int(from_defect.sum())) / DAYS_PER_MONTH
        comp_cust = np.concatenate([base_cust, hit[from_defect]])
        comp_time = np.concatenate([base_time, hit_time[from_defect] + lag])
        comp_defect = np.concatenate([np.full(len(base_cust), -1), defect_ids[from_defect]])
        comp_days = rng.gamma(1.5, res_mean[comp_cust] / 1.5)
        complaints.add(customer=comp_cust, time=comp_time, resolution_days=comp_days,
                       defect=comp_defect)
        np.maximum.at(open_until, comp_cust, comp_time + comp_days / DAYS_PER_MONTH)
        slow = comp_days > SLOW_RESOLUTION_DAYS
        np.minimum.at(slow_from, comp_cust[slow],
                      comp_time[slow] + SLOW_RESOLUTION_DAYS / DAYS_PER_MONTH)
        np.add.at(defects_so_far, hit, 1)

        if m % 3 == 2:
            _requirement_checks(rng, m, idx, key_account, q, defects_by_month, last_outcome,
                                checks, fx, alive_after=alive)
        _surveys(rng, m, idx, start, age, exposure, c, fx, defects_by_month, open_until,
                 slow_from, last_outcome, no_involvement, feedback)

    return c, defects.events(), complaints.events(), checks.events(), feedback.events()


def _requirement_checks(rng, m, idx, key_account, q, defects_by_month, last_outcome, checks, fx,
                        alive_after):
    who = idx[key_account[idx] & alive_after[idx]]
    recent = defects_by_month[who, max(0, m - 2):m + 1].sum(axis=1) > 0
    a, b_q, b_def = fx.requirement_missed
    missed = rng.random(len(who)) < logistic(a + b_q * q[who] + b_def * recent)
    surpassed = ~missed & (rng.random(len(who)) < logistic(fx.requirement_surpassed[0]
                                                           + fx.requirement_surpassed[1] * q[who]))
    outcome = np.where(missed, 0, np.where(surpassed, 2, 1)).astype(np.int8)
    last_outcome[who] = outcome
    checks.add(customer=who, month=np.full(len(who), m), outcome=outcome)


def _surveys(rng, m, idx, start, age, exposure, c, fx, defects_by_month, open_until, slow_from,
             last_outcome, no_involvement, feedback):
    """Relationship surveys every few months of tenure; scores depend on the experiences."""
    every = fx.survey_every_months
    due = np.floor((age + exposure) / every) > np.floor(age / every)
    due &= rng.random(len(idx)) < fx.survey_response_rate
    who = idx[due]
    when = c.acquired[who] + np.floor((age[due] + exposure[due]) / every) * every
    when = np.clip(when, start[due], m + 1 - 1e-6)
    recent = defects_by_month[who, max(0, m - 11):m + 1].sum(axis=1)
    open_now = open_until[who] > when
    slow = slow_from[who] <= when
    missed, surpassed = last_outcome[who] == 0, last_outcome[who] == 2
    noinv = no_involvement[who]
    size = len(who)
    nps = (8.0 - 1.1 * recent - 1.8 * open_now - 0.7 * slow - 0.8 * missed + 0.5 * surpassed
           - 0.4 * noinv + rng.normal(0, 1.7, size))
    csat = (4.1 - 0.35 * recent - 0.6 * open_now - 0.25 * slow - 0.3 * missed + 0.2 * surpassed
            - 0.15 * noinv + rng.normal(0, 0.7, size))
    ces = 2.8 + 0.4 * recent + 0.9 * open_now + 0.3 * slow + rng.normal(0, 1.0, size)
    feedback.add(customer=who, time=when,
                 nps=np.clip(np.rint(nps), 0, 10).astype(np.int8),
                 csat=np.clip(np.rint(csat), 1, 5).astype(np.int8),
                 ces=np.clip(np.rint(ces), 1, 7).astype(np.int8))


def simulate_orders(rng, c: Customers, n_products: int, fx: Effects) -> Events:
    """Poisson purchases while the customer is alive (BG/NBD-like), gamma spend per order."""
    lifetime = c.ended - c.acquired
    counts = rng.poisson(c.order_rate * lifetime)
    cust = np.repeat(np.arange(len(counts)), counts)
    time = c.acquired[cust] + rng.random(len(cust)) * lifetime[cust]
    order = np.lexsort((time, cust))
    cust, time = cust[order], time[order]
    main = rng.random(len(cust)) < 0.85
    other = (c.unit[cust] * PRODUCTS_PER_UNIT + rng.integers(0, PRODUCTS_PER_UNIT, len(cust)))
    product = np.where(main, c.product[cust], other)
    shape = fx.spend_order_gamma_shape
    amount = np.round(rng.gamma(shape, c.spend_mean[cust] / shape), 2)
    return Events({"customer": cust, "time": time, "product": product, "amount": amount})


def simulate(n_customers: int, seed: int, fx: Effects | None = None) -> World:
    """Run the whole causal model; the same seed gives the same world."""
    fx = fx or Effects()
    rng = np.random.default_rng(seed)
    units = simulate_units(rng)
    products = simulate_products(rng, units, fx)
    c, defects, complaints, checks, feedback = simulate_customers(
        rng, n_customers, units, products, fx)
    orders = simulate_orders(rng, c, len(products.unit), fx)
    return World(effects=fx, units=units, products=products, customers=c, field_defects=defects,
                 complaints=complaints, requirement_checks=checks, feedback=feedback,
                 orders=orders)
