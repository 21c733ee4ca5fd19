"""Training and competence (services/training.py, /training/): the standing of each person in
each course, the expired and due list, coverage and the training-effectiveness comparison."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from webdata import build_organisation, days_ago

from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.records.quality.models import Nonconformance, TrainingCourse, TrainingRecord
from qualityloop.services import tqm_index, training
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture
def org():
    found = build_organisation()
    plant = found["plant"]
    people = {name: Person.objects.create(external_id=f"P-{name.upper()}", name=name,
                                          org_unit=plant)
              for name in ("Cara", "Dan", "Eve", "Finn")}
    spot = TrainingCourse.objects.get(external_id="TC-1")  # problem recognition, no validity
    safety = TrainingCourse.objects.create(external_id="TC-2", title="Machine safety",
                                           course_type="safety", validity_months=12)
    record = _record_maker()
    record("ANN-1", found["ann"], spot, 100, level=3)                      # current, level 3
    record("CARA-OLD", people["Cara"], safety, 800, level=2)               # superseded
    record("CARA-NEW", people["Cara"], safety, 100, level=4)               # current (12 months)
    record("DAN-1", people["Dan"], safety, 340, level=2)                   # due in ~25 days
    record("EVE-1", people["Eve"], safety, 400, level=2)                   # expired ~35 days ago
    record("FINN-1", people["Finn"], spot, 20, passed=False, level=1)      # failed
    record("EVE-2", people["Eve"], spot, 10, expires=days_ago(-5), level=2)  # due in 5 days
    return found | people


def _record_maker():
    def record(external_id, person, course, age, passed=True, level=None, expires=None):
        return TrainingRecord.objects.create(
            external_id=external_id, person=person, course=course, completed_on=days_ago(age),
            passed=passed, competence_level=level, expires_on=expires)
    return record


def _state(matrix, person_id, course_id):
    person = Person.objects.get(external_id=person_id)
    course = TrainingCourse.objects.get(external_id=course_id)
    return matrix.cell(person, course)


def test_each_cell_is_the_standing_of_the_latest_record(org):
    matrix = training.competence_matrix(org["plant"])
    assert [p.name for p in matrix.people] == ["Ann Quality", "Cara", "Dan", "Eve", "Finn"]
    assert [c.external_id for c in matrix.courses] == ["TC-1", "TC-2"]  # problem recognition 1st
    cara = _state(matrix, "P-CARA", "TC-2")
    assert (cara.state, cara.level, cara.record_id) == ("current", 4, "CARA-NEW")
    assert _state(matrix, "P-DAN", "TC-2").state == "due"
    assert _state(matrix, "P-EVE", "TC-2").state == "expired"
    assert _state(matrix, "P-EVE", "TC-1").state == "due"
    assert _state(matrix, "P-FINN", "TC-1").state == "failed"
    assert _state(matrix, "P-ANN", "TC-1").text == "3"
    assert _state(matrix, "P-DAN", "TC-1").state == "none"
    assert matrix.counts() == {"current": 2, "due": 2, "expired": 1, "failed": 1, "none": 4}


def test_validity_comes_from_the_course_when_the_record_has_no_expiry(org):
    cell = _state(training.competence_matrix(org["plant"]), "P-DAN", "TC-2")
    completed = days_ago(340)
    assert cell.valid_until == dt.date(completed.year + 1, completed.month, completed.day)


def test_a_record_completed_after_the_day_looked_at_does_not_count(org):
    matrix = training.competence_matrix(org["plant"], as_of=days_ago(200))
    cara = _state(matrix, "P-CARA", "TC-2")
    assert cara.record_id == "CARA-OLD" and cara.state == "expired"
    assert _state(matrix, "P-ANN", "TC-1").state == "none"


def test_due_list_has_expired_and_due_soonest_first_and_leaves_out_failures(org):
    rows = training.due_list(org["plant"])
    assert [(r["record"], r["state"]) for r in rows] == [
        ("EVE-1", "expired"), ("EVE-2", "due"), ("DAN-1", "due")]
    assert rows[0]["days_left"] < 0 < rows[1]["days_left"] == 5


def test_the_matrix_of_a_unit_leaves_out_other_units(org):
    sales = OrgUnit.objects.get(external_id="U-SA")
    matrix = training.competence_matrix(sales)
    assert [p.external_id for p in matrix.people] == ["P-BOB"]


def test_coverage_counts_current_passed_problem_recognition_only(org):
    people = training.unit_people(org["plant"])  # Ann current; Eve current (due); Finn failed
    assert training.coverage(people, days_ago(0)) == pytest.approx(2 / 5)
    assert training.coverage([], days_ago(0)) != training.coverage([], days_ago(0))  # NaN


def test_effectiveness_uses_the_index_figures_and_counts_this_years_ncs(org):
    today = days_ago(0)
    table = training.effectiveness(today).set_index("unit")
    index = tqm_index.record_index("year", as_of=today)
    index = index[index["period"] == str(today.year)].set_index(["unit", "indicator"])
    assert len(table) >= 2
    for unit_id, row in table.iterrows():
        unit = OrgUnit.objects.get(external_id=unit_id)
        units = [unit, *unit.descendants()]
        raised = Nonconformance.objects.filter(
            org_unit__in=units, detected_on__year=today.year, detected_on__lte=today).count()
        assert row["ncs_raised"] == raised
        assert row["coverage"] == pytest.approx(
            index.loc[(unit_id, "problem_recognition_training"), "value"], nan_ok=True)
        assert row["capa_on_time"] == pytest.approx(
            index.loc[(unit_id, "capa_on_time"), "value"], nan_ok=True)
        assert row["ncs_per_person"] == pytest.approx(raised / row["people"])


def test_associations_need_three_units_and_carry_the_caveat():
    import pandas as pd

    few = pd.DataFrame({"coverage": [0.1, 0.9], "ncs_per_person": [3.0, 1.0],
                        "capa_on_time": [0.2, 0.8]})
    assert "Too few units" in training.associations(few)[0].sentence()
    many = pd.DataFrame({"coverage": [0.1, 0.4, 0.6, 0.9], "ncs_per_person": [4, 3, 2, 1.0],
                         "capa_on_time": [0.2, 0.5, 0.6, 0.9]})
    first, second = training.associations(many)
    assert first.rho == pytest.approx(-1.0) and second.rho == pytest.approx(1.0)
    assert "not proof that training caused it" in second.sentence()


def test_matrix_page_shows_the_cells_legend_and_due_list(client, org):
    add_user("vic", "viewer", password=PASSWORD)
    client.login(username="vic", password=PASSWORD)
    page = client.get(reverse("training-matrix"), {"unit": "U-PL"}).content.decode()
    assert "Competence matrix: Plant North" in page
    assert page.count('data-state="expired"') == 1 and page.count('data-state="due"') == 2
    for label in training.STATE_LABELS.values():
        assert label in page
    assert 'data-testid="training-due"' in page and "EVE-1" in page
    whole = client.get(reverse("training-matrix"), {"unit": ""}).content.decode()
    assert "Competence matrix: " not in whole and "6 people" in whole  # the plant's 5 + Bob
    part = client.get(reverse("training-effectiveness")).content.decode()
    assert 'data-testid="effectiveness-table"' in part and "<svg" in part
