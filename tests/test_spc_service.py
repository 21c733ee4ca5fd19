"""SPC on the records: monthly counts, charts that signal what was planted, raising a
nonconformance from a signal exactly once."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.contrib.auth.models import User

from qualityloop.records.accounts.models import Profile
from qualityloop.records.customers.models import Complaint, Customer, Order
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import Nonconformance, ProcessMeasurement
from qualityloop.services import permissions
from qualityloop.services import spc as service
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2025, 7, 15)  # complete months end on 2025-06-30


@pytest.fixture
def units():
    company = OrgUnit.objects.create(external_id="U-CO", name="Company", kind="company")
    plant = OrgUnit.objects.create(external_id="U-PL", name="Plant", parent=company)
    other = OrgUnit.objects.create(external_id="U-OT", name="Other", parent=company)
    return company, plant, other


def _customer(unit, n=1):
    return Customer.objects.create(external_id=f"C-{unit.external_id}-{n}", name="C",
                                   segment="enterprise", acquired_on=dt.date(2020, 1, 1),
                                   serving_unit=unit)


def _nc(unit, day, n, **extra):
    return Nonconformance.objects.create(
        external_id=f"N-{unit.external_id}-{day}-{n}", title="x", org_unit=unit, detected_on=day,
        stage="production", source="inspection", severity="minor", **extra)


def test_monthly_counts_take_complete_months_the_unit_and_its_orders(units):
    _company, plant, other = units
    customer = _customer(plant)
    for i in range(3):  # 3 NCs in May 2025, 1 in June, 1 cancelled in June, 1 in July (running)
        _nc(plant, dt.date(2025, 5, 10 + i), i)
    _nc(plant, dt.date(2025, 6, 1), 0)
    _nc(plant, dt.date(2025, 6, 2), 1, status="cancelled")
    _nc(plant, dt.date(2025, 7, 1), 0)
    _nc(other, dt.date(2025, 6, 3), 0)  # another unit
    for i in range(7):
        Order.objects.create(external_id=f"O-{i}", customer=customer,
                             ordered_on=dt.date(2025, 6, 1 + i), amount=1)
    table = service.monthly_nonconformances(plant, AS_OF, months=3)
    assert table["month"].tolist() == ["2025-04", "2025-05", "2025-06"]
    assert table["nonconformances"].tolist() == [0, 3, 1]
    assert table["orders"].tolist() == [0, 0, 7]
    whole = service.monthly_nonconformances(None, AS_OF, months=3)
    assert whole["nonconformances"].tolist() == [0, 3, 2]


def test_monthly_complaints_count_received_per_month(units):
    _company, plant, _ = units
    customer = _customer(plant)
    for i, day in enumerate([dt.date(2025, 5, 2), dt.date(2025, 5, 30), dt.date(2025, 6, 30),
                             dt.date(2025, 7, 1)]):
        Complaint.objects.create(external_id=f"K-{i}", customer=customer, received_on=day,
                                 description="late", org_unit=plant)
    table = service.monthly_complaints(plant, AS_OF, months=2)
    assert table["complaints"].tolist() == [2, 1]


def test_nc_rate_u_chart_signals_a_planted_month(units):
    _company, plant, _ = units
    customer = _customer(plant)
    months = [dt.date(2024, m, 1) for m in range(7, 13)] + [dt.date(2025, m, 1)
                                                           for m in range(1, 7)]
    counts = [2, 3, 2, 1, 3, 2, 2, 3, 1, 2, 15, 2]  # May 2025 is planted
    for month, count in zip(months, counts, strict=True):
        for i in range(100):  # 100 orders a month: the u chart counts NCs per 100 orders
            Order.objects.create(external_id=f"O-{month}-{i}", customer=customer,
                                 ordered_on=month, amount=1)
        for i in range(count):
            _nc(plant, month + dt.timedelta(days=i), i)
    view = service.nc_rate_chart(plant, service.ChartSettings(months=12), AS_OF)
    assert view.chart.chart == "u"
    assert view.chart.statistic.tolist() == counts
    assert view.chart.center == pytest.approx(sum(counts) / 12)
    beyond = [s for s in view.signals() if s.rule == "1 point beyond 3 sigma"]
    assert [(s.label, s.subgroup) for s in beyond] == [("2025-05", 10)]
    # Phase II: limits from the first 6 months only.
    later = service.nc_rate_chart(plant, service.ChartSettings(months=12, baseline=6), AS_OF)
    assert later.chart.phase == "II"
    assert later.chart.center == pytest.approx(sum(counts[:6]) / 6)


def _measure(unit, name, subgroups, start=dt.datetime(2025, 1, 1, 8, tzinfo=dt.UTC), **specs):
    rows = []
    for index, values in enumerate(subgroups):
        for j, value in enumerate(values):
            rows.append(ProcessMeasurement(
                external_id=f"PM-{name[:3]}-{index}-{j}", characteristic=name, org_unit=unit,
                subgroup=f"S{index + 1}", measured_at=start + dt.timedelta(days=index),
                value=value, unit_of_measure="mm", **specs))
    ProcessMeasurement.objects.bulk_create(rows)


def test_process_chart_is_xbar_r_with_capability_and_sees_a_planted_shift(units):
    _company, plant, _ = units
    rng = np.random.default_rng(3)
    data = rng.normal(10.0, 0.1, size=(25, 5))
    data[20:] += 0.4  # 4 sigma shift in the last 5 subgroups
    _measure(plant, "Bore", data.round(4).tolist(), lsl=9.5, usl=10.5)
    [found] = service.characteristics(plant)
    assert (found.name, found.measurements) == ("Bore", 125)
    view = service.process_chart(found.key, service.ChartSettings(baseline=20))
    assert view.chart.chart == "xbar" and view.chart.companion.chart == "R"
    assert view.labels[0] == "S1"
    assert set(view.chart.out_of_control.tolist()) == {20, 21, 22, 23, 24}
    assert view.capability is not None and view.capability.usl == 10.5
    assert view.capability["Cp"] > 1


def test_subgroups_of_one_give_an_individuals_chart(units):
    _company, plant, _ = units
    _measure(plant, "Torque", [[40.0], [41.0], [39.5], [40.5], [40.2], [39.8], [55.0]])
    [found] = service.characteristics(plant)
    view = service.process_chart(found.key)
    assert view.chart.chart == "I" and view.chart.companion.chart == "MR"
    assert view.capability is None
    assert view.chart.out_of_control.tolist() == [6]


def test_raise_nonconformance_creates_once_and_needs_write_rights(units):
    _company, plant, _ = units
    _measure(plant, "Torque", [[40.0], [41.0], [39.5], [40.5], [40.2], [39.8], [55.0]])
    view = service.process_chart(service.characteristics(plant)[0].key)
    signal = service.find_signal(view, 6, "1 point beyond 3 sigma")
    add_user("qm", "quality-manager")
    user = User.objects.get(username="qm")
    nc, created = service.raise_nonconformance(user, signal)
    assert created
    assert nc.external_id == signal.external_id and nc.external_id.startswith("SPC-")
    assert nc.org_unit == plant and nc.stage == "production"
    assert nc.source == "process_monitoring" and nc.detected_on == dt.date(2025, 1, 7)
    assert "Torque" in nc.title and "S7" in nc.title and "beyond 3 sigma" in nc.title
    assert nc.history.first().history_user == user
    again, created_again = service.raise_nonconformance(user, signal)
    assert (again.pk, created_again) == (nc.pk, False)
    assert Nonconformance.objects.count() == 1
    assert service.existing_nonconformances(view.signals()) == {nc.external_id: "Open"}
    add_user("vera", "viewer")
    with pytest.raises(permissions.NotAllowed):
        service.raise_nonconformance(User.objects.get(username="vera"), signal)


def test_a_unit_lead_raises_nonconformances_only_in_their_own_unit(units):
    _company, plant, other = units
    _measure(plant, "Torque", [[40.0], [41.0], [39.5], [40.5], [40.2], [39.8], [55.0]])
    view = service.process_chart(service.characteristics(plant)[0].key)
    signal = service.find_signal(view, 6, "1 point beyond 3 sigma")
    for name, unit in (("lead-other", other), ("lead-plant", plant)):
        add_user(name, "unit-lead")
        Profile.objects.filter(user__username=name).update(org_unit=unit)
    with pytest.raises(permissions.NotAllowed, match="another unit"):
        service.raise_nonconformance(User.objects.get(username="lead-other"), signal)
    assert not Nonconformance.objects.exists()
    nc, created = service.raise_nonconformance(User.objects.get(username="lead-plant"), signal)
    assert created and nc.org_unit == plant


def test_unknown_chart_and_missing_signal_are_clear_errors(units):
    with pytest.raises(service.SpcInputError, match="unknown chart"):
        service.control_chart("m999:Nothing")
    _company, plant, _ = units
    _measure(plant, "Torque", [[40.0], [41.0], [39.5]])
    view = service.process_chart(service.characteristics(plant)[0].key)
    with pytest.raises(service.SpcInputError, match="no signal"):
        service.find_signal(view, 1, "1 point beyond 3 sigma")


def test_pareto_and_fishbone_of_cause_categories(units):
    _company, plant, _ = units
    for i in range(5):
        _nc(plant, dt.date(2025, 6, 1), i, cause_category="method",
            root_cause="Work instruction unclear")
    for i in range(2):
        _nc(plant, dt.date(2025, 6, 2), i, cause_category="machine", root_cause="Spindle wear")
    _nc(plant, dt.date(2025, 6, 3), 0)
    _nc(plant, dt.date(2023, 6, 3), 0, cause_category="material")  # older than 12 months
    result = service.cause_pareto(plant, AS_OF)
    assert result.table["category"].tolist() == ["Method", "Machine", service.NO_CAUSE]
    assert result.table["count"].tolist() == [5, 2, 1]
    diagram = service.cause_fishbone(plant, AS_OF)
    assert diagram.causes["Method"] == ["Work instruction unclear (5)"]
    assert diagram.causes["Machine"] == ["Spindle wear (2)"]
    assert diagram.causes["Material"] == []
