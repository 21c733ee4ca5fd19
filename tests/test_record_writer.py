import datetime as dt

import pytest

from qualityloop.records.customers.models import Customer, DesignStageReview
from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import RowInvalid, delete_record, write_record

pytestmark = pytest.mark.django_db

UNITS = get_kind("org-units")
CUSTOMERS = get_kind("customers")


@pytest.fixture
def unit():
    obj, _ = write_record(UNITS, {"external_id": "U1", "name": "Plant", "kind": "site"})
    return obj


def customer_row(**overrides):
    row = {
        "external_id": "C1", "name": "Acme", "segment": "enterprise",
        "acquired_on": "2023-01-05", "serving_unit": "U1",
    }
    row.update(overrides)
    return row


def test_create_sets_parsed_values_and_defaults(unit):
    obj, status = write_record(CUSTOMERS, customer_row())
    assert status == "created"
    assert obj.pk is not None
    assert obj.acquired_on == dt.date(2023, 1, 5)
    assert obj.serving_unit == unit
    assert obj.status == "active"
    assert obj.country == ""


def test_same_values_again_is_unchanged_and_adds_no_history(unit):
    write_record(CUSTOMERS, customer_row())
    obj, status = write_record(CUSTOMERS, customer_row())
    assert status == "unchanged"
    assert obj.history.count() == 1
    assert Customer.objects.count() == 1


def test_upsert_by_external_id_updates_the_existing_record(unit):
    first, _ = write_record(CUSTOMERS, customer_row())
    obj, status = write_record(CUSTOMERS, customer_row(name="Acme Ltd"), change_reason="test")
    assert status == "updated"
    assert obj.pk == first.pk
    assert Customer.objects.get().name == "Acme Ltd"
    assert obj.history.count() == 2
    assert obj.history.first().history_change_reason == "test"


def test_full_update_resets_missing_optional_columns(unit):
    obj, _ = write_record(CUSTOMERS, customer_row(country="DE"))
    obj, status = write_record(CUSTOMERS, customer_row(), instance=obj)
    assert status == "updated"
    assert obj.country == ""


def test_partial_update_touches_only_given_columns(unit):
    obj, _ = write_record(CUSTOMERS, customer_row(country="DE"))
    obj, status = write_record(CUSTOMERS, {"name": "Renamed"}, instance=obj, partial=True)
    assert status == "updated"
    obj.refresh_from_db()
    assert (obj.name, obj.country) == ("Renamed", "DE")


def test_partial_without_instance_creates_a_complete_record(unit):
    obj, status = write_record(CUSTOMERS, customer_row(), partial=True)
    assert status == "created"
    assert obj.status == "active"


def test_full_update_without_a_required_column_is_an_error(unit):
    obj, _ = write_record(CUSTOMERS, customer_row())
    with pytest.raises(RowInvalid) as caught:
        write_record(CUSTOMERS, {"name": "X"}, instance=obj)
    assert set(caught.value.errors) >= {"segment", "acquired_on", "serving_unit", "external_id"}


def test_all_problems_of_a_row_are_reported_together(unit):
    row = customer_row(acquired_on="2024-13-45", segment="galactic", serving_unit="NOPE",
                       colour="red")
    with pytest.raises(RowInvalid) as caught:
        write_record(CUSTOMERS, row)
    errors = caught.value.errors
    assert "expected a date (YYYY-MM-DD)" in errors["acquired_on"]
    assert "'2024-13-45'" in errors["acquired_on"]
    assert "expected one of" in errors["segment"]
    assert errors["serving_unit"] == "no org unit with external id 'NOPE'"
    assert "not a column of customers" in errors["colour"]
    assert Customer.objects.count() == 0


def test_model_validation_is_mapped_to_columns(unit):
    with pytest.raises(RowInvalid) as caught:
        write_record(CUSTOMERS, customer_row(status="churned"))
    assert "churn date" in caught.value.errors["churned_on"]


def test_non_field_validation_goes_to_all(unit):
    with pytest.raises(RowInvalid) as caught:
        write_record(get_kind("requirements"), {
            "external_id": "R1", "title": "On time", "characteristic": "otd", "target": "95",
        })
    assert "exactly one customer or one segment" in caught.value.errors["__all__"]


def test_validators_are_checked():
    write_record(UNITS, {"external_id": "U1", "name": "Plant"})
    write_record(CUSTOMERS, customer_row())
    with pytest.raises(RowInvalid) as caught:
        write_record(get_kind("feedback"), {
            "external_id": "F1", "customer": "C1", "responded_on": "2024-01-01", "nps": "11",
        })
    assert "nps" in caught.value.errors


def test_changing_external_id_to_a_taken_one_is_an_error(unit):
    write_record(UNITS, {"external_id": "U2", "name": "Other"})
    with pytest.raises(RowInvalid) as caught:
        write_record(UNITS, {"external_id": "U2"}, instance=unit, partial=True)
    assert "external_id" in caught.value.errors


def test_self_reference_cycle_is_rejected(unit):
    child, _ = write_record(UNITS, {"external_id": "U2", "name": "Line", "parent": "U1"})
    with pytest.raises(RowInvalid) as caught:
        write_record(UNITS, {"parent": "U2"}, instance=unit, partial=True)
    assert "own ancestor" in caught.value.errors["parent"]


def test_many_to_many_from_text_or_list(unit):
    write_record(CUSTOMERS, customer_row())
    write_record(CUSTOMERS, customer_row(external_id="C2", name="Beta"))
    write_record(get_kind("design-projects"), {
        "external_id": "P1", "name": "Widget", "org_unit": "U1", "started_on": "2024-01-01",
    })
    reviews = get_kind("design-reviews")
    row = {"external_id": "D1", "project": "P1", "stage": "concept", "held_on": "2024-02-01",
           "customer_participants": "C1;C2"}
    obj, status = write_record(reviews, row)
    assert status == "created"
    assert set(obj.customer_participants.values_list("external_id", flat=True)) == {"C1", "C2"}
    _, status = write_record(reviews, {**row, "customer_participants": ["C2", "C1"]})
    assert status == "unchanged"
    _, status = write_record(reviews, {**row, "customer_participants": ["C2"]})
    assert status == "updated"
    assert list(DesignStageReview.objects.get().customer_participants.all()) == [
        Customer.objects.get(external_id="C2")
    ]
    with pytest.raises(RowInvalid) as caught:
        write_record(reviews, {**row, "customer_participants": "C1;C9"})
    assert caught.value.errors["customer_participants"] == "no customer with external id 'C9'"


def test_ref_cache_resolves_and_learns_new_records():
    cache: dict = {}
    write_record(UNITS, {"external_id": "U1", "name": "Plant"}, ref_cache=cache)
    write_record(UNITS, {"external_id": "U2", "name": "Line", "parent": "U1"}, ref_cache=cache)
    write_record(UNITS, {"external_id": "U3", "name": "Cell", "parent": "U2"}, ref_cache=cache)
    assert set(cache["organisation.OrgUnit"]) == {"U1", "U2", "U3"}
    assert OrgUnit.objects.get(external_id="U3").ancestors()[-1].external_id == "U1"


def test_delete_record(unit):
    person, _ = write_record(get_kind("people"), {"external_id": "P1", "name": "Ann"})
    delete_record(get_kind("people"), person)
    assert not Person.objects.exists()


def test_delete_of_a_protected_record_is_row_invalid(unit):
    write_record(CUSTOMERS, customer_row())
    with pytest.raises(RowInvalid) as caught:
        delete_record(UNITS, unit)
    assert "still referenced by" in caught.value.errors["__all__"]


def test_field_checks_give_full_cleans_messages_and_cleaned_values():
    from decimal import Decimal

    from django.core.exceptions import ValidationError

    from qualityloop.records.customers.models import Order
    from qualityloop.services.record_writer import FieldChecks

    checks = FieldChecks()
    amount = Order._meta.get_field("amount")
    for value in (Decimal("-1.00"), Decimal("1E+20"), Decimal("-1.00"), Decimal("12.50")):
        order = Order(amount=value)
        try:
            order.clean_fields(exclude={"external_id", "customer", "ordered_on"})
            expected = (value, None)
        except ValidationError as invalid:
            expected = (value, " ".join(invalid.message_dict["amount"]))
        assert checks.check(amount, value) == expected
    assert checks.check(amount, Decimal("12.50"))[1] is None
    assert checks.check(amount, Decimal("-1.00"))[1] == (
        "Ensure this value is greater than or equal to 0.")


def test_value_key_tells_apart_equal_values_that_are_not_the_same():
    from decimal import Decimal

    from qualityloop.services.record_writer import value_key

    utc = dt.datetime(2024, 1, 1, 23, 30, tzinfo=dt.UTC)
    berlin = utc.astimezone(dt.timezone(dt.timedelta(hours=1)))
    pairs = [(1, 1.0), (1, True), (Decimal("1.0"), Decimal("1.00")), (0.0, -0.0), (utc, berlin),
             (dt.date(2024, 1, 1), dt.datetime(2024, 1, 1))]
    for a, b in pairs:
        assert value_key(a) != value_key(b), (a, b)
    assert value_key("007") == value_key("007")
    assert value_key(dt.date(2024, 1, 1)) == value_key(dt.date(2024, 1, 1))
