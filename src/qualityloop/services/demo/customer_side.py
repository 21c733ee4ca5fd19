"""Customer-facing demo records from the simulated world: customers, requirements and their
measurements, orders, feedback, complaints, design projects and reviews, nonconformances and
corrective actions."""

from __future__ import annotations

import numpy as np

from qualityloop.records.customers import models as cm
from qualityloop.records.quality import models as qm
from qualityloop.services.demo.calendar import Calendar, plus_days
from qualityloop.services.demo.causal_model import (
    DAYS_PER_MONTH,
    N_MONTHS,
    PRODUCTS_PER_UNIT,
    REVIEW_STAGES,
    SEGMENTS,
    World,
    logistic,
)
from qualityloop.services.demo.organisation import Organisation
from qualityloop.services.demo.writer import numbered, stamp

FAMILIES = ("Servo drive", "Planetary gearbox", "Servo motor", "Helical gearbox",
            "Rotary encoder", "Linear sensor", "Absolute encoder", "Motion controller")
COUNTRIES = ("DE", "NL", "PT", "CZ", "FR", "PL", "IT", "SE", "AT", "ES", "BE", "DK")
NAME_A = ("Baltic", "Rhine", "Alpine", "Nordic", "Iberian", "Danube", "Atlas", "Vector",
          "Summit", "Harbor", "Meridian", "Pioneer", "Crescent", "Granite", "Silver", "Falcon")
NAME_B = ("Automation", "Packaging", "Robotics", "Machine Works", "Conveyors", "Mechatronics",
          "Printing", "Textile Machines", "Lift Systems", "Agritech", "Medical Devices", "Rail")
NAME_C = ("GmbH", "B.V.", "Lda.", "s.r.o.", "SAS", "Sp. z o.o.", "S.r.l.", "AB", "AG", "S.L.")
CAUSES = ("man", "machine", "method", "material", "measurement", "environment")
CAUSE_MIX = {  # 6M shares by lifecycle stage
    "design": (0.15, 0.05, 0.55, 0.15, 0.08, 0.02),
    "prototype": (0.15, 0.10, 0.35, 0.25, 0.12, 0.03),
    "production": (0.25, 0.25, 0.20, 0.15, 0.10, 0.05),
    "delivery": (0.35, 0.05, 0.30, 0.15, 0.05, 0.10),
    "field": (0.10, 0.15, 0.25, 0.30, 0.10, 0.10),
}
ROOT_CAUSES = {
    "man": "Step skipped; the operator had not been trained on the revised instruction.",
    "machine": "Spindle wear beyond limit; preventive maintenance interval too long.",
    "method": "The work instruction did not specify the tightening sequence.",
    "material": "Supplier lot with out-of-tolerance hardness.",
    "measurement": "Gauge out of calibration; measurement system not analysed.",
    "environment": "Humidity in the storage area above the specified limit.",
}
COMPLAINT_CATEGORIES = ("Delivery delay", "Documentation", "Invoice", "Packaging damage",
                        "Service response")


def product_names() -> list[str]:
    return [f"{FAMILIES[u]} {100 * (k + 1)}" for u in range(len(FAMILIES))
            for k in range(PRODUCTS_PER_UNIT)]


def build_customers(rng, write, cal: Calendar, org: Organisation, world: World) -> None:
    c = world.customers
    n = len(c.segment)
    ids = np.arange(1, n + 1)
    names = [f"{NAME_A[i % 16]} {NAME_B[(i // 16) % 12]} {NAME_C[(i * 7) % 10]}"
             for i in range(n)]
    names = [f"{name} {i // 1920 + 1}" if i >= 1920 else name for i, name in enumerate(names)]
    unit_ids = org.unit_ids[c.unit]
    managers = np.array([org.account_managers[u][i % len(org.account_managers[u])]
                         for i, u in enumerate(unit_ids.tolist())])
    acquired = cal.dates(c.acquired)
    churned_on = np.where(c.churned, cal.dates(np.minimum(c.ended, N_MONTHS - 1e-6)),
                          np.datetime64("NaT"))
    write(cm.Customer, {
        "id": ids, "external_id": [f"C-{i:06d}" for i in ids], "name": names,
        "segment": np.array(SEGMENTS)[c.segment], "country": rng.choice(COUNTRIES, n),
        "acquired_on": acquired, "serving_unit_id": unit_ids, "account_manager_id": managers,
        "status": np.where(c.churned, "churned", "active"), "churned_on": churned_on,
        "created_at": stamp(acquired),
    }, "Customers")


def build_requirements(rng, write, cal: Calendar, world: World) -> None:
    """Segment requirements measured monthly; key accounts' own on-time requirement measured
    quarterly with the outcome the causal model drew."""
    seg_rows = [(s, "On-time delivery", "%", 95.0, 98.0, "higher") for s in SEGMENTS]
    seg_rows += [(s, "Field failure rate", "ppm", 500.0, 200.0, "lower") for s in SEGMENTS]
    checks = world.requirement_checks
    key_customers = np.unique(checks["customer"]).astype(int)
    n_seg, n_key = len(seg_rows), len(key_customers)
    n = n_seg + n_key
    start = np.full(n, cal.start)
    start[n_seg:] = cal.dates(world.customers.acquired[key_customers])
    write(cm.CustomerRequirement, {
        "id": np.arange(1, n + 1), "external_id": [f"REQ-{i:06d}" for i in range(1, n + 1)],
        "title": [f"{r[1]} ({r[0].replace('_', ' ')})" for r in seg_rows]
        + ["Contractual on-time delivery"] * n_key,
        "kind": ["expectation"] * n_seg + ["requirement"] * n_key,
        "customer_id": [None] * n_seg + (key_customers + 1).tolist(),
        "segment": [r[0] for r in seg_rows] + [""] * n_key,
        "characteristic": [r[1] for r in seg_rows] + ["On-time delivery"] * n_key,
        "unit_of_measure": [r[2] for r in seg_rows] + ["%"] * n_key,
        "target": [r[3] for r in seg_rows] + [95.0] * n_key,
        "surpass_threshold": [r[4] for r in seg_rows] + [98.0] * n_key,
        "direction": [r[5] for r in seg_rows] + ["higher"] * n_key,
        "created_at": stamp(start),
    }, "Customers")
    requirement_of = np.zeros(len(world.customers.segment), dtype=int)
    requirement_of[key_customers] = np.arange(n_seg + 1, n + 1)
    _requirement_measurements(rng, write, cal, checks, requirement_of, seg_rows)


def _requirement_measurements(rng, write, cal: Calendar, checks, requirement_of, seg_rows):
    outcome = checks["outcome"].astype(int)
    low = np.array([86.0, 95.0, 98.0])[outcome]
    high = np.array([94.9, 97.9, 100.0])[outcome]
    key_values = np.round(low + rng.random(len(outcome)) * (high - low), 1)
    key_dates = np.array([cal.month_start(int(m) + 1) - 1 for m in range(N_MONTHS)])[
        checks["month"].astype(int)]
    seg_req = np.repeat(np.arange(1, len(seg_rows) + 1), N_MONTHS)
    seg_dates = np.tile(np.array([cal.month_start(m + 1) - 1 for m in range(N_MONTHS)]),
                        len(seg_rows))
    on_time = rng.normal(96.0, 1.5, N_MONTHS * 4)
    ppm = rng.gamma(4.0, 90.0, N_MONTHS * 4)
    seg_values = np.round(np.concatenate([on_time, ppm]), 1)
    higher = np.repeat(np.array([r[5] == "higher" for r in seg_rows]), N_MONTHS)
    target = np.repeat(np.array([r[3] for r in seg_rows]), N_MONTHS)
    surpass = np.repeat(np.array([r[4] for r in seg_rows]), N_MONTHS)
    seg_outcome = np.where(
        np.where(higher, seg_values >= surpass, seg_values <= surpass), 2,
        np.where(np.where(higher, seg_values >= target, seg_values <= target), 1, 0))
    names = np.array(["missed", "met", "surpassed"])
    dates = np.concatenate([seg_dates, key_dates])
    n = len(dates)
    write(cm.RequirementMeasurement, {
        "id": np.arange(1, n + 1), "external_id": numbered("RM-", 7, n),
        "requirement_id": np.concatenate([seg_req, requirement_of[checks["customer"].astype(int)]]),
        "customer_id": [None] * len(seg_dates) + (checks["customer"].astype(int) + 1).tolist(),
        "measured_on": dates, "value": np.concatenate([seg_values, key_values]),
        "outcome": names[np.concatenate([seg_outcome, outcome])], "created_at": stamp(dates),
    }, "Requirement measurements")


def build_orders(write, cal: Calendar, world: World) -> None:
    o = world.orders
    n = len(o)
    dates = cal.dates(o["time"])
    products = np.array(product_names(), dtype=object)[o["product"].astype(int)]
    write(cm.Order, {
        "id": np.arange(1, n + 1), "external_id": numbered("ORD-", 8, n),
        "customer_id": o["customer"].astype(np.int64) + 1, "ordered_on": dates,
        "amount": o["amount"], "currency": "EUR", "product": products,
        "created_at": stamp(dates, hour=12),
    }, "Orders")


def build_feedback(write, cal: Calendar, world: World) -> None:
    f = world.feedback
    n = len(f)
    dates = cal.dates(f["time"])
    nps = f["nps"].astype(int)
    comment = np.select([nps <= 4, nps >= 9],
                        ["Quality problems keep coming back.", "Reliable partner."], "")
    write(cm.FeedbackResponse, {
        "id": np.arange(1, n + 1), "external_id": numbered("FB-", 7, n),
        "customer_id": f["customer"].astype(np.int64) + 1, "responded_on": dates,
        "channel": "survey", "nps": nps, "csat": f["csat"].astype(int),
        "ces": f["ces"].astype(int), "comment": comment, "created_at": stamp(dates),
    }, "Feedback")


def build_complaints(rng, write, cal: Calendar, org: Organisation, world: World) -> np.ndarray:
    """ISO 10002 dates from the simulated resolution time; returns the simulated complaint
    index kept for each written complaint (complaints after the window are dropped)."""
    ev = world.complaints
    keep = np.flatnonzero(ev["time"] < N_MONTHS)
    n = len(keep)
    cust = ev["customer"][keep].astype(int)
    days = ev["resolution_days"][keep]
    from_defect = ev["defect"][keep] >= 0
    received = cal.dates(ev["time"][keep])
    acknowledged = plus_days(received, rng.integers(0, 4, n))
    assessed = plus_days(acknowledged, rng.integers(1, 6, n))
    resolved = plus_days(received, np.maximum(days, 2))
    responded = plus_days(received, np.maximum(days * 0.7, 1))
    closed = plus_days(resolved, rng.integers(0, 8, n))
    today = cal.today
    investigated = plus_days(assessed, 1)
    stages = [(acknowledged, "acknowledged"), (assessed, "assessed"),
              (investigated, "investigated"), (responded, "responded"),
              (closed, "closed")]
    status = np.full(n, "received", dtype=object)
    for dates, name in stages:
        status = np.where(dates < today, name, status)
    outcome = rng.choice(["upheld", "partly_upheld", "rejected", "withdrawn"], n,
                         p=[0.6, 0.25, 0.12, 0.03])
    done = status == "closed"
    satisfaction = np.clip(np.rint(4.6 - 0.04 * days - 1.0 * (outcome == "rejected")
                                   + rng.normal(0, 0.8, n)), 1, 5).astype(int)
    nat = np.datetime64("NaT")
    unit_ids = org.unit_ids[world.customers.unit[cust]]
    category = np.where(from_defect, "Product defect", rng.choice(COMPLAINT_CATEGORIES, n))
    severity = np.where(from_defect, rng.choice(["major", "critical"], n, p=[0.85, 0.15]),
                        rng.choice(["minor", "major"], n, p=[0.8, 0.2]))
    write(cm.Complaint, {
        "id": np.arange(1, n + 1), "external_id": [f"CMP-{i:06d}" for i in range(1, n + 1)],
        "customer_id": cust + 1, "received_on": received,
        "channel": rng.choice(["email", "phone", "web", "in_person"], n, p=[0.5, 0.3, 0.15, 0.05]),
        "category": category, "severity": severity,
        "description": np.where(from_defect, "Unit failed in service at our plant.",
                                "Customer reports a problem with our service."),
        "requested_remedy": np.where(from_defect, "Replacement and root cause report.", ""),
        "org_unit_id": unit_ids,
        "handler_id": [org.account_managers[u][0] for u in unit_ids.tolist()],
        "status": status,
        "acknowledged_on": np.where(acknowledged < today, acknowledged, nat),
        "assessed_on": np.where(assessed < today, assessed, nat),
        "investigated_on": np.where(investigated < today, investigated, nat),
        "responded_on": np.where(responded < today, responded, nat),
        "resolved_on": np.where(resolved < today, resolved, nat),
        "closed_on": np.where(done, closed, nat),
        "outcome": np.where(done, outcome, ""),
        "satisfaction_with_handling": [int(s) if d else None for s, d in
                                       zip(satisfaction.tolist(), done.tolist(), strict=True)],
        "created_at": stamp(received),
    }, "Complaints")
    return keep


class Nonconformances:
    """Accumulates nonconformance rows from every lifecycle stage, then writes them with their
    corrective actions."""

    COLUMNS = ("title", "org_unit_id", "month", "stage", "source", "severity", "cost",
               "quantity", "design_project_id", "complaint_id")

    def __init__(self) -> None:
        self.rows: dict[str, list] = {k: [] for k in self.COLUMNS}
        self.affected_nc: list[np.ndarray] = []
        self.affected_customer: list[np.ndarray] = []

    def add(self, **cols) -> np.ndarray:
        n = len(cols["month"])
        first = len(self.rows["month"])
        for key in self.COLUMNS:
            value = cols.get(key)
            values = value.tolist() if isinstance(value, np.ndarray) else (
                list(value) if isinstance(value, list) else [value] * n)
            self.rows[key].extend(values)
        return np.arange(first + 1, first + n + 1)

    def __len__(self) -> int:
        return len(self.rows["month"])


def build_design(rng, write, link, cal: Calendar, org: Organisation, world: World,
                 ncs: Nonconformances) -> None:
    """Catalogue projects (launched before the window) and projects under way now, with stage
    reviews, customer participants and the defects each review found."""
    fx, p, c = world.effects, world.products, world.customers
    names = product_names()
    n_cat = len(p.unit)
    started = -22 + rng.uniform(0, 6, n_cat)
    projects = {"unit": p.unit.tolist(), "start": started.tolist(), "name": names,
                "stages": [len(REVIEW_STAGES)] * n_cat}
    participants = [p.participants[i].tolist() for i in range(n_cat)]
    found = [p.defects_found[i].tolist() for i in range(n_cat)]
    tqm = world.units.tqm
    for u in range(len(tqm)):  # projects under way at the end of the window
        for _ in range(int(rng.integers(1, 3))):
            start = rng.uniform(N_MONTHS - 20, N_MONTHS - 4)
            stages = min(len(REVIEW_STAGES), int((N_MONTHS - start) // 3))
            has = rng.random(stages) < logistic(fx.review_customer_participation[0]
                                                + fx.review_customer_participation[1] * tqm[u])
            remaining, got = rng.poisson(fx.design_defects_mean * np.exp(
                fx.design_defects_tqm_slope * tqm[u])), []
            for s in range(stages):
                a, b_part, b_q = fx.review_catch
                hit = int(rng.binomial(remaining, logistic(a + b_part * has[s] + b_q * tqm[u])))
                got.append(hit)
                remaining -= hit
            projects["unit"].append(u)
            projects["start"].append(start)
            projects["name"].append(f"{FAMILIES[u]} {100 * (PRODUCTS_PER_UNIT + 1)} (new)")
            projects["stages"].append(stages)
            participants.append((has * rng.integers(1, 4, stages)).tolist())
            found.append(got)
    _write_projects(rng, write, link, cal, org, c, projects, participants, found, ncs)


def _write_projects(rng, write, link, cal, org, c, projects, participants, found, ncs) -> None:
    n = len(projects["unit"])
    unit_ids = org.unit_ids[np.array(projects["unit"])]
    start = np.array(projects["start"])
    stages = np.array(projects["stages"])
    launched = start < 0
    current = np.where(launched, "production",
                       np.array(list(REVIEW_STAGES) + ["production"])[np.minimum(stages, 4)])
    write(cm.DesignProject, {
        "id": np.arange(1, n + 1), "external_id": [f"DP-{i:03d}" for i in range(1, n + 1)],
        "name": [f"{name} development" for name in projects["name"]],
        "product": projects["name"], "org_unit_id": unit_ids,
        "lead_id": [org.people_in[u][-1] for u in unit_ids.tolist()],
        "started_on": cal.dates(start), "target_launch_on": cal.dates(start + 14),
        "current_stage": current, "status": np.where(launched, "launched", "active"),
        "created_at": stamp(cal.dates(start)),
    }, "Design projects")
    review: dict[str, list] = {
        k: [] for k in ("project_id", "stage", "month", "defects_found", "outcome")}
    part_left: list[int] = []
    part_right: list[int] = []
    for i in range(n):
        pool = np.flatnonzero(c.unit == projects["unit"][i])
        if launched[i]:
            pool = pool[c.product[pool] == i]  # lead customers of that product, earliest first
        for s in range(stages[i]):
            month = start[i] + 3 * (s + 1) + rng.uniform(-0.5, 0.5)
            rid = len(review["month"]) + 1
            k = participants[i][s]
            if not launched[i]:
                pool_now = pool[(c.acquired[pool] < month) & (c.ended[pool] > month)]
                chosen = rng.choice(pool_now, size=min(k, len(pool_now)), replace=False)
            else:
                chosen = pool[:k]
            part_left.extend([rid] * len(chosen))
            part_right.extend((chosen + 1).tolist())
            for key, value in (("project_id", i + 1), ("stage", REVIEW_STAGES[s]),
                               ("month", month), ("defects_found", found[i][s]),
                               ("outcome", "conditional" if found[i][s] > 3 else "passed")):
                review[key].append(value)
            if found[i][s]:
                stage = "design" if s < 2 else "prototype"
                ncs.add(title=[f"Design defect found at {REVIEW_STAGES[s]} review"] * found[i][s],
                        org_unit_id=int(unit_ids[i]), month=[month] * found[i][s], stage=stage,
                        source="design_review",
                        severity=rng.choice(["minor", "major"], found[i][s], p=[0.7, 0.3]),
                        cost=rng.uniform(200, 2000 if s < 2 else 5000, found[i][s]).round(2),
                        quantity=1, design_project_id=i + 1, complaint_id=None)
    m = len(review["month"])
    held = cal.dates(review["month"])
    write(cm.DesignStageReview, {
        "id": np.arange(1, m + 1), "external_id": [f"DR-{i:04d}" for i in range(1, m + 1)],
        "project_id": review["project_id"], "stage": review["stage"], "held_on": held,
        "defects_found": review["defects_found"], "outcome": review["outcome"],
        "created_at": stamp(held),
    }, "Design projects")
    link(cm.DesignStageReview.customer_participants, part_left, part_right)


def add_internal_ncs(rng, world: World, org: Organisation, ncs: Nonconformances) -> None:
    """Production and delivery nonconformances per unit and month; fewer with good practice."""
    fx, tqm, p = world.effects, world.units.tqm, world.products
    escaped = np.bincount(p.unit, weights=p.escaped, minlength=len(tqm))
    factor = np.exp(fx.internal_nc_tqm_slope * tqm)
    rates = {"production": fx.production_nc_rate * factor
             + fx.production_nc_per_escaped_defect * escaped,
             "delivery": fx.delivery_nc_rate * factor}
    sources = {"production": (["inspection", "process_monitoring", "internal_audit", "supplier"],
                              [0.4, 0.3, 0.1, 0.2]),
               "delivery": (["inspection", "internal_audit", "supplier"], [0.6, 0.2, 0.2])}
    for stage, rate in rates.items():
        counts = rng.poisson(np.repeat(rate, N_MONTHS))
        unit = np.repeat(np.repeat(np.arange(len(tqm)), N_MONTHS), counts)
        month = np.repeat(np.tile(np.arange(N_MONTHS), len(tqm)), counts) + rng.random(counts.sum())
        n = len(unit)
        products = unit * PRODUCTS_PER_UNIT + rng.integers(0, PRODUCTS_PER_UNIT, n)
        ncs.add(title=[f"{stage.title()} nonconformity"] * n, org_unit_id=org.unit_ids[unit],
                month=month, stage=stage, source=rng.choice(sources[stage][0], n,
                                                            p=sources[stage][1]),
                severity=rng.choice(["minor", "major", "critical"], n, p=[0.6, 0.33, 0.07]),
                cost=np.round(rng.lognormal(np.log(3000 if stage == "production" else 1500), 0.8,
                                            n), 2),
                quantity=rng.integers(1, 200, n),
                design_project_id=(products + 1) if stage == "production" else None,
                complaint_id=None)


def add_field_ncs(rng, world: World, org: Organisation, ncs: Nonconformances,
                  complaint_keep: np.ndarray) -> None:
    """Field defects grouped by product and month into nonconformances of at most 12 customers;
    the customers become the NC's affected customers."""
    d, c = world.field_defects, world.customers
    if len(d) == 0:
        return
    cust = d["customer"].astype(int)
    product = c.product[cust]
    key = product * N_MONTHS + d["month"].astype(int)
    order = np.lexsort((d["time"], key))
    key_sorted = key[order]
    first = np.searchsorted(key_sorted, key_sorted, side="left")
    chunk = key_sorted * 10_000 + (np.arange(len(order)) - first) // 12
    groups, group_of_sorted = np.unique(chunk, return_inverse=True)
    nc_of_event = np.empty(len(order), dtype=int)
    nc_of_event[order] = group_of_sorted
    n = len(groups)
    first_event = order[np.searchsorted(group_of_sorted, np.arange(n))]
    g_product = product[first_event]
    sizes = np.bincount(nc_of_event, minlength=n)
    complaint_of_nc = _first_complaint(world, nc_of_event, complaint_keep, n)
    ids = ncs.add(
        title=["Field failure reported by customers"] * n,
        org_unit_id=org.unit_ids[c.unit[cust[first_event]]],
        month=d["time"][first_event] + 3 / DAYS_PER_MONTH, stage="field",
        source=np.where(complaint_of_nc > 0, "customer_complaint", "process_monitoring"),
        severity=rng.choice(["minor", "major", "critical"], n, p=[0.2, 0.65, 0.15]),
        cost=np.round(2500 + 900 * sizes * rng.lognormal(0, 0.5, n), 2),
        quantity=sizes + rng.poisson(3 * sizes),
        design_project_id=g_product + 1,
        complaint_id=[int(x) if x > 0 else None for x in complaint_of_nc.tolist()])
    pairs = np.unique(np.stack([ids[nc_of_event], cust + 1]), axis=1)
    ncs.affected_nc.append(pairs[0])
    ncs.affected_customer.append(pairs[1])


def _first_complaint(world, nc_of_event, complaint_keep, n) -> np.ndarray:
    defect = world.complaints["defect"][complaint_keep].astype(int)
    linked = np.flatnonzero(defect >= 0)
    result = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(result, nc_of_event[defect[linked]], linked + 1)
    return np.where(result == np.iinfo(np.int64).max, 0, result)


def write_nonconformances(rng, write, link, cal: Calendar, org: Organisation, world: World,
                          ncs: Nonconformances, today: np.datetime64) -> dict[int, list[int]]:
    """Write the nonconformances and their actions; returns NC ids by unit id.

    NCs are detected up to the end of the simulated window; work on their actions (completion,
    effectiveness checks, follow-ups, closing) is recorded up to ``today``, the demo's as-of
    date, because the dashboard judges overdue actions against that day.
    """
    r = ncs.rows
    n = len(ncs)
    month = np.array(r["month"], dtype=float)
    detected = cal.dates(np.minimum(month, N_MONTHS - 1e-6))
    stage = np.array(r["stage"])
    cause = np.empty(n, dtype=object)
    for name, mix in CAUSE_MIX.items():
        sel = stage == name
        cause[sel] = rng.choice(CAUSES, int(sel.sum()), p=mix)
    unit_ids = np.array(r["org_unit_id"], dtype=int)
    status, closed_on = _write_actions(rng, write, org, world, unit_ids, detected,
                                       np.array(r["severity"]), stage, month, today)
    write(qm.Nonconformance, {
        "id": np.arange(1, n + 1), "external_id": [f"NC-{i:06d}" for i in range(1, n + 1)],
        "title": r["title"], "org_unit_id": unit_ids, "detected_on": detected,
        "detected_by_id": [org.people_in[u][3 % len(org.people_in[u])] for u in unit_ids.tolist()],
        "stage": stage, "source": r["source"], "severity": r["severity"], "cause_category": cause,
        "containment": "Affected stock quarantined; customers informed.",
        "root_cause": [ROOT_CAUSES[x] for x in cause.tolist()],
        "quantity_affected": r["quantity"], "cost_of_poor_quality": r["cost"],
        "design_project_id": r["design_project_id"], "complaint_id": r["complaint_id"],
        "status": status, "closed_on": closed_on, "created_at": stamp(detected),
    }, "Nonconformances")
    if ncs.affected_nc:
        link(qm.Nonconformance.affected_customers, np.concatenate(ncs.affected_nc),
             np.concatenate(ncs.affected_customer))
    by_unit: dict[int, list[int]] = {}
    for i, u in enumerate(unit_ids.tolist()):
        by_unit.setdefault(u, []).append(i + 1)
    return by_unit


# Days from raising an action to its due date, and from completion to the effectiveness check.
# A correction (rework, replacement, containment) is quick and soon shown to work or not; a
# corrective action on the root cause needs months without recurrence before it is judged.
DUE_DAYS = {"corrective": (20, 61), "correction": (3, 15)}
CHECK_DAYS = {"corrective": (30, 61), "correction": (14, 31)}
FOLLOW_UP_DUE_DAYS = (30, 61)  # a follow-up action is due 30-60 days after the failed check
EPOCH = np.datetime64("1900-01-01")


def _write_actions(rng, write, org, world, unit_ids, detected, severity, stage, month, today):
    """One corrective action per NC (a correction for minor ones), plus a containment correction
    for field NCs; on-time and effective shares follow the unit's TQM practice. An action found
    ineffective gets a follow-up corrective action raised on the day of the failed check, until
    one is verified effective or the work reaches ``today``. Returns the NCs' status and
    closing date."""
    n = len(unit_ids)
    tqm_by_id = dict(zip(org.unit_ids.tolist(), world.units.tqm.tolist(), strict=True))
    tqm_of_nc = np.array([tqm_by_id[u] for u in unit_ids.tolist()])
    corrective = (severity != "minor") | (rng.random(n) < 0.4)
    nc = np.concatenate([np.arange(n), np.flatnonzero(stage == "field")])
    kind = np.concatenate([np.where(corrective, "corrective", "correction"),
                           np.full(int((stage == "field").sum()), "correction")])
    raised = detected[nc]
    due = plus_days(raised, _days_by_kind(rng, kind, DUE_DAYS))
    rounds = [_work_on_actions(rng, world.effects, tqm_of_nc[nc], nc, kind, raised, due, today)]
    rounds[0]["follows"] = np.zeros(len(nc), dtype=np.int64)
    first_id = 1
    while True:
        last = rounds[-1]
        failed = np.flatnonzero(last["status"] == "ineffective")
        if not len(failed):
            break
        nc_next, raised = last["nc"][failed], last["checked"][failed]
        due = plus_days(raised, rng.integers(*FOLLOW_UP_DUE_DAYS, len(failed)))
        follow = _work_on_actions(rng, world.effects, tqm_of_nc[nc_next], nc_next,
                                  np.full(len(failed), "corrective"), raised, due, today)
        follow["follows"] = first_id + failed
        first_id += len(last["nc"])
        rounds.append(follow)
    actions = {key: np.concatenate([r[key] for r in rounds]) for key in rounds[0]}
    _write_action_rows(write, org, unit_ids, actions)
    return _nc_status(n, actions, month)


def _days_by_kind(rng, kind: np.ndarray, ranges: dict[str, tuple[int, int]]) -> np.ndarray:
    corrective = kind == "corrective"
    n = len(kind)
    return np.where(corrective, rng.integers(*ranges["corrective"], n),
                    rng.integers(*ranges["correction"], n))


def _work_on_actions(rng, fx, tqm, nc, kind, raised, due, today) -> dict[str, np.ndarray]:
    """Completion, effectiveness check and status of actions raised on ``raised``, as of
    ``today``."""
    m = len(nc)
    on_time = rng.random(m) < logistic(fx.capa_on_time[0] + fx.capa_on_time[1] * tqm)
    completed = plus_days(due, np.where(on_time, -rng.integers(0, 10, m), rng.integers(5, 60, m)))
    completed = np.maximum(completed, raised)
    is_done = completed < today
    checked = plus_days(completed, _days_by_kind(rng, kind, CHECK_DAYS))
    is_checked = is_done & (checked < today)
    effective = rng.random(m) < logistic(fx.capa_effective[0] + fx.capa_effective[1] * tqm)
    status = np.select([is_checked & effective, is_checked, is_done, due - 30 < today],
                       ["effective", "ineffective", "done", "in_progress"], "planned")
    nat = np.datetime64("NaT")
    return {"nc": nc, "kind": kind, "raised": raised, "due": due, "status": status,
            "completed": np.where(is_done, completed, nat),
            "checked": np.where(is_checked, checked, nat)}


def _write_action_rows(write, org, unit_ids, actions) -> None:
    m = len(actions["nc"])
    kind, follows, status = actions["kind"], actions["follows"], actions["status"]
    description = np.where(kind == "corrective", "Remove the root cause and update the control "
                           "plan.", "Rework or replace the affected units.").astype(object)
    for i in np.flatnonzero(follows).tolist():
        description[i] = (f"Follow-up to CAPA-{follows[i]:06d}, found ineffective: repeat the "
                          "root cause analysis and strengthen the action.")
    is_checked = ~np.isnat(actions["checked"])
    owners = [org.people_in[u][2 % len(org.people_in[u])] for u in unit_ids[actions["nc"]].tolist()]
    write(qm.CorrectiveAction, {
        "id": np.arange(1, m + 1), "external_id": [f"CAPA-{i:06d}" for i in range(1, m + 1)],
        "nonconformance_id": actions["nc"] + 1, "kind": kind, "description": description,
        "owner_id": owners, "due_on": actions["due"], "completed_on": actions["completed"],
        "status": status,
        "effectiveness_criteria": np.where(
            kind == "corrective", "No recurrence between completion and the check.",
            "The reworked or replaced units work as specified."),
        "effectiveness_checked_on": actions["checked"],
        "effectiveness_result": np.select(
            [status == "effective", status == "ineffective"],
            ["No recurrence found.", "The problem recurred; a follow-up action was raised."], ""),
        "verified_by_id": [org.quality_director if x else None for x in is_checked.tolist()],
        "created_at": stamp(actions["raised"]),
    }, "Nonconformances")


def _nc_status(n, actions, month) -> tuple[np.ndarray, np.ndarray]:
    """An NC closes on its last effectiveness check once every action has a verdict: each
    ineffective action has a follow-up, so every chain then ends in an effective one. Until then
    it is worked on (actions open) or verified (actions done, checks pending)."""
    nc, status = actions["nc"], actions["status"]
    all_judged = np.ones(n, bool)
    np.logical_and.at(all_judged, nc, np.isin(status, ["effective", "ineffective"]))
    all_done = np.ones(n, bool)
    np.logical_and.at(all_done, nc, np.isin(status, ["done", "effective", "ineffective"]))
    last_check = np.full(n, EPOCH, dtype="datetime64[D]")
    checked = actions["checked"]
    np.maximum.at(last_check, nc, np.where(np.isnat(checked), EPOCH, checked))
    young = (N_MONTHS - month) < 0.3
    nc_status = np.select([all_judged, all_done, young], ["closed", "verification", "open"],
                          "action")
    return nc_status, np.where(all_judged, last_check, np.datetime64("NaT"))
