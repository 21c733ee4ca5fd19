"""Survey rounds: instruments, links, answering, progress, import and the responses table."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from qualityloop.analytics.assessment import builtin_instrument
from qualityloop.records.assessment.models import (
    Instrument,
    SurveyInvitation,
    SurveyResponse,
    SurveyRound,
)
from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.services import assessment
from qualityloop.services.assessment import AssessmentError, LinkRefused
from qualityloop.services.importing import ImportFailed

pytestmark = pytest.mark.django_db


@pytest.fixture
def units():
    north = OrgUnit.objects.create(external_id="U-N", name="North")
    south = OrgUnit.objects.create(external_id="U-S", name="South")
    for i in range(3):
        Person.objects.create(external_id=f"P-N{i}", name=f"North {i}", org_unit=north)
    Person.objects.create(external_id="P-S0", name="South 0", org_unit=south)
    Person.objects.create(external_id="P-S1", name="Gone", org_unit=south, active=False)
    return north, south


@pytest.fixture
def instrument():
    return assessment.install_builtin_instrument()


def _round(instrument, units, **options):
    options.setdefault("invitees", 2)
    return assessment.open_round("Spring", instrument, units, **options)


def _answers(value=5):
    return dict.fromkeys(builtin_instrument().item_ids, value)


# instruments ---------------------------------------------------------------------------------

def test_builtin_instrument_installs_once(instrument):
    again = assessment.install_builtin_instrument()
    assert again.pk == instrument.pk
    assert instrument.external_id == "tqm-core@1.0"
    assert instrument.spec == builtin_instrument()


def test_instrument_yaml_is_checked_on_save():
    broken = Instrument(yaml="id: x\nname: X\nversion: '1'\nscale: {min: 1, max: 7}\n")
    with pytest.raises(ValidationError) as raised:
        broken.save()
    assert "constructs" in str(raised.value)
    assert not Instrument.objects.exists()


def test_load_instrument_file_reports_problems_and_clashing_versions(tmp_path, instrument):
    bad = tmp_path / "mine.yaml"
    bad.write_text(builtin_instrument().to_yaml().replace("reverse: true", "reverse: maybe", 1))
    with pytest.raises(AssessmentError, match=r"mine.yaml: constructs\[\d+\].items\[\d+\].reverse"):
        assessment.load_instrument_file(bad)
    changed = tmp_path / "changed.yaml"
    changed.write_text(builtin_instrument().to_yaml().replace("Top-management", "Senior", 1))
    with pytest.raises(AssessmentError, match="new version"):
        assessment.load_instrument_file(changed)
    renamed = tmp_path / "v2.yaml"
    renamed.write_text(changed.read_text().replace("version: '1.0'", "version: '2.0'"))
    loaded = assessment.load_instrument_file(renamed)
    assert loaded.external_id == "tqm-core@2.0"
    assert loaded.spec.constructs[0].name.startswith("Senior")


# opening rounds and links ------------------------------------------------------------------------

def test_open_round_issues_links_per_unit_and_stores_only_hashes(instrument, units):
    opened = _round(instrument, units, invitees=3)
    assert [link.unit for link in opened.links] == ["U-N"] * 3 + ["U-S"] * 3
    assert len({link.token for link in opened.links}) == 6
    stored = set(SurveyInvitation.objects.values_list("key_hash", flat=True))
    assert not stored & {link.token for link in opened.links}
    assert opened.round.external_id == "SR-001"
    assert set(opened.round.units.values_list("external_id", flat=True)) == {"U-N", "U-S"}
    assert opened.round.history.count() == 1


def test_one_link_per_active_person_named_but_not_stored_when_anonymous(instrument, units):
    opened = _round(instrument, units, invitees=None, anonymous=True)
    assert sorted(link.person for link in opened.links) == ["North 0", "North 1", "North 2",
                                                           "South 0"]
    assert not SurveyInvitation.objects.filter(person__isnull=False).exists()
    named = _round(instrument, units, invitees=None, anonymous=False)
    people = SurveyInvitation.objects.filter(round=named.round).values_list("person__name",
                                                                             flat=True)
    assert sorted(people) == ["North 0", "North 1", "North 2", "South 0"]
    assert named.round.external_id == "SR-002"


@pytest.mark.parametrize("problem, options", [
    ("a round needs a name", {"name": " "}),
    ("at least one unit", {"units": []}),
    ("in the past", {"closes_on": dt.date(2020, 1, 1)}),
    ("at least 1 link", {"invitees": 0}),
])
def test_open_round_refuses_bad_requests(instrument, units, problem, options):
    arguments = {"name": "Spring", "instrument": instrument, "units": units, "invitees": 2,
                 **options}
    with pytest.raises(AssessmentError, match=problem):
        assessment.open_round(**arguments)
    assert not SurveyRound.objects.exists()


def test_a_unit_without_people_needs_a_number_of_links(instrument):
    empty = OrgUnit.objects.create(external_id="U-E", name="Empty")
    with pytest.raises(AssessmentError, match="U-E .* no active people"):
        assessment.open_round("Spring", instrument, [empty])


# answering ---------------------------------------------------------------------------------------

def test_one_response_per_link(instrument, units):
    link = _round(instrument, units).links[0]
    response = assessment.submit_response(link.token, _answers(6))
    assert response.answers["lead1"] == 6 and response.unit.external_id == "U-N"
    with pytest.raises(LinkRefused, match="already been used") as refused:
        assessment.submit_response(link.token, _answers(2))
    assert refused.value.reason == "used"
    assert SurveyResponse.objects.count() == 1


def test_anonymous_round_stores_no_person_no_link_and_no_time(instrument, units):
    link = _round(instrument, units, invitees=None, anonymous=True).links[0]
    response = assessment.submit_response(link.token, _answers())
    assert response.invitation is None
    invitation = SurveyInvitation.objects.get(used_at__isnull=False)
    assert invitation.person is None
    assert response.submitted_at.time() == dt.time(0) == invitation.used_at.time()


def test_named_round_links_the_response_to_the_person(instrument, units):
    opened = _round(instrument, units, invitees=None, anonymous=False)
    response = assessment.submit_response(opened.links[0].token, _answers())
    assert response.invitation.person.name == opened.links[0].person


def test_closed_or_expired_round_and_unknown_link_are_refused(instrument, units):
    opened = _round(instrument, units)
    assessment.close_round(opened.round)
    with pytest.raises(LinkRefused, match="closed") as refused:
        assessment.submit_response(opened.links[0].token, _answers())
    assert refused.value.reason == "closed"
    expired = _round(instrument, units, closes_on=timezone.localdate())
    SurveyRound.objects.filter(pk=expired.round.pk).update(
        closes_on=timezone.localdate() - dt.timedelta(days=1))
    with pytest.raises(LinkRefused, match="closed"):
        assessment.submit_response(expired.links[0].token, _answers())
    with pytest.raises(LinkRefused, match="not known") as unknown:
        assessment.submit_response("sv_nonsense", _answers())
    assert unknown.value.reason == "unknown"
    assert not SurveyResponse.objects.exists()


def test_answers_are_checked_against_the_scale(instrument, units):
    link = _round(instrument, units).links[0]
    for bad, message in (({"lead1": 8}, "item lead1: expected a whole number from 1 to 7"),
                         ({"lead1": 2.5}, "from 1 to 7"),
                         ({"nope": 3}, "'nope' is not an item"),
                         ({}, "no statement was answered")):
        with pytest.raises(AssessmentError, match=message):
            assessment.submit_response(link.token, bad)
    response = assessment.submit_response(link.token, {"lead1": "3", "lead2": None})
    assert response.answers["lead1"] == 3 and response.answers["lead2"] is None
    assert set(response.answers) == set(builtin_instrument().item_ids)


def test_progress_per_unit(instrument, units):
    opened = _round(instrument, units, invitees=2)
    assessment.submit_response(opened.links[0].token, _answers())
    progress = assessment.round_progress(opened.round)
    assert [(u.unit, u.invited, u.answered) for u in progress.units] == [("U-N", 2, 1),
                                                                        ("U-S", 2, 0)]
    assert progress.rate == 0.25
    assert progress.as_dict()["units"][0]["rate"] == 0.5


def test_close_round_keeps_history(instrument, units):
    survey = _round(instrument, units).round
    assessment.close_round(survey)
    assessment.close_round(survey)
    assert survey.status == "closed" and survey.closed_on is not None
    assert [v.status for v in survey.history.order_by("history_date")] == ["open", "closed"]


# import --------------------------------------------------------------------------------------

def _sheet(tmp_path, lines, name="answers.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_responses_all_rows(tmp_path, instrument, units):
    survey = _round(instrument, units).round
    path = _sheet(tmp_path, ["respondent,unit,lead1,lead2,lead3", "a,U-N,5,6,", "b,U-S,1,,7"])
    report = assessment.import_responses(survey, path)
    assert (report.rows, report.created, report.units) == (2, 2, {"U-N": 1, "U-S": 1})
    frame = assessment.responses_frame(survey)
    assert list(frame["respondent"]) == ["a", "b"]
    assert frame.loc[0, "lead2"] == 6 and frame["lead3"].isna().tolist() == [True, False]
    assert set(SurveyResponse.objects.values_list("source", flat=True)) == {"import"}


def test_import_errors_name_row_and_column_and_write_nothing(tmp_path, instrument, units):
    survey = _round(instrument, units).round
    path = _sheet(tmp_path, ["unit,lead1,lead2", "U-N,5,6", "U-X,4,4", "U-S,9,x"])
    with pytest.raises(ImportFailed) as failed:
        assessment.import_responses(survey, path)
    texts = [p.text for p in failed.value.problems]
    assert texts == [
        "answers.csv, row 3, column unit: expected the external id of one of the round's units "
        "(U-N, U-S), got 'U-X'",
        "answers.csv, row 4, column lead1: expected a whole number from 1 to 7 or nothing, "
        "got '9'",
        "answers.csv, row 4, column lead2: expected a whole number from 1 to 7 or nothing, "
        "got 'x'",
    ]
    assert "nothing was imported" in str(failed.value)
    assert not SurveyResponse.objects.exists()


def test_import_header_problems(tmp_path, instrument, units):
    survey = _round(instrument, units).round
    with pytest.raises(ImportFailed) as failed:
        assessment.import_responses(survey, _sheet(tmp_path, ["team,lead1,colour", "U-N,5,red"]))
    texts = [p.text for p in failed.value.problems]
    assert texts[0].startswith("answers.csv, row 1, column unit: required column is missing")
    assert any("column team: unknown column" in t for t in texts)
    assert any("column colour: unknown column" in t for t in texts)


def test_import_dry_run_writes_nothing_and_reimport_is_refused(tmp_path, instrument, units):
    survey = _round(instrument, units).round
    path = _sheet(tmp_path, ["respondent,unit,lead1", "a,U-N,5", "b,U-N,"])
    with pytest.raises(ImportFailed, match="1 problem"):
        assessment.import_responses(survey, path)  # row 3 answers nothing
    path = _sheet(tmp_path, ["respondent,unit,lead1", "a,U-N,5", "b,U-N,2"])
    report = assessment.import_responses(survey, path, dry_run=True)
    assert report.created == 2 and report.dry_run
    assert not SurveyResponse.objects.exists()
    assessment.import_responses(survey, path)
    with pytest.raises(ImportFailed) as again:
        assessment.import_responses(survey, path)
    assert "row 2, column respondent: respondent 'a' is already in this round" in \
        again.value.problems[0].text
    assert SurveyResponse.objects.count() == 2


def test_import_excel(tmp_path, instrument, units):
    from qualityloop.services.tabular import write_table

    survey = _round(instrument, units).round
    path = tmp_path / "answers.xlsx"
    write_table(path, ["unit", "lead1", "cust1"], [{"unit": "U-S", "lead1": 7, "cust1": 2}])
    assert assessment.import_responses(survey, path).created == 1
    assert SurveyResponse.objects.get().answers["lead1"] == 7


# the responses table -------------------------------------------------------------------------

def test_responses_frame_columns_filters_and_several_rounds(instrument, units):
    first, second = _round(instrument, units), _round(instrument, units)
    assessment.submit_response(first.links[0].token, _answers(4))
    assessment.submit_response(second.links[2].token, {"lead1": 2})
    frame = assessment.responses_frame([first.round, second.round])
    items = builtin_instrument().item_ids
    assert list(frame.columns) == ["respondent", "unit", "round", *items]
    assert list(frame["round"]) == ["SR-001", "SR-002"]
    assert frame.loc[1, "lead1"] == 2 and frame.loc[1, items[1:]].isna().all()
    north_only = assessment.responses_frame([first.round, second.round], unit=units[0])
    assert list(north_only["unit"]) == ["U-N"]
    assert assessment.responses_frame(first.round).dtypes[items].eq(float).all()
