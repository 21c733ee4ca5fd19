"""Survey rounds for managers: the list with progress, opening a round (its personal links are
shown once), a round's progress per unit, closing it and importing answer sheets.

Every role may look at rounds; opening, closing and importing take a survey role
(``permissions.may_run_surveys``: admin, top management, quality manager).
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from qualityloop.records.accounts.models import role_of
from qualityloop.records.assessment.models import Instrument, SurveyRound
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.services import assessment, permissions
from qualityloop.services.assessment import AssessmentError
from qualityloop.services.importing import ImportFailed
from qualityloop.web import uploads

LINKS_PER_PERSON = "person"
LINKS_PER_UNIT = "count"


class RoundForm(forms.Form):
    """What a manager chooses when opening a round."""

    name = forms.CharField(max_length=200, initial="TQM assessment")
    instrument = forms.ModelChoiceField(queryset=Instrument.objects.all(), empty_label=None)
    units = forms.ModelMultipleChoiceField(
        queryset=OrgUnit.objects.order_by("name"), widget=forms.CheckboxSelectMultiple)
    anonymous = forms.BooleanField(required=False, initial=True,
                                   help_text="Answers are not stored with people or links.")
    links = forms.ChoiceField(
        choices=[(LINKS_PER_PERSON, "One link per person of the unit"),
                 (LINKS_PER_UNIT, "A number of links per unit")],
        initial=LINKS_PER_PERSON, widget=forms.RadioSelect)
    per_unit = forms.IntegerField(min_value=1, max_value=500, required=False, initial=10,
                                  label="Links per unit")
    closes_on = forms.DateField(required=False, label="Closing date",
                                widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        units = self.fields["units"]
        units.label_from_instance = lambda unit: unit.name  # type: ignore[attr-defined]
        instruments = self.fields["instrument"]
        instruments.label_from_instance = (  # type: ignore[attr-defined]
            lambda instrument: f"{instrument.name} {instrument.version}")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("links") == LINKS_PER_UNIT and not data.get("per_unit"):
            self.add_error("per_unit", "Give the number of links per unit.")
        closes_on = data.get("closes_on")
        if closes_on is not None and closes_on < timezone.localdate():
            self.add_error("closes_on", "The closing date is in the past.")
        return data

    @property
    def invitees(self) -> int | None:
        data = self.cleaned_data
        return data["per_unit"] if data["links"] == LINKS_PER_UNIT else None


def _refused(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "qualityloop/assessment/not_allowed.html", {"reason": reason},
                  status=403)


def _reader_refusal(user) -> str | None:
    if role_of(user) is None:
        name = getattr(user, "username", "") or "anonymous"
        return f"user {name!r} has no role; ask an administrator to give you one"
    return None


def _manager_refusal(user) -> str | None:
    try:
        permissions.check_run_surveys(user)
    except permissions.NotAllowed as refused:
        return str(refused)
    return None


@login_required
def round_list(request: HttpRequest) -> HttpResponse:
    """Every round, newest first, with its response rate."""
    reason = _reader_refusal(request.user)
    if reason:
        return _refused(request, reason)
    rounds = SurveyRound.objects.select_related("instrument").order_by("-opened_on", "-pk")
    rows = [{"round": r, "progress": assessment.round_progress(r)} for r in rounds]
    return render(request, "qualityloop/assessment/rounds.html", {
        "rows": rows, "may_run": permissions.may_run_surveys(request.user)})


@login_required
def round_new(request: HttpRequest) -> HttpResponse:
    """The form to open a round; once opened, the page of its personal links (shown once)."""
    reason = _manager_refusal(request.user)
    if reason:
        return _refused(request, reason)
    if not Instrument.objects.exists():
        assessment.install_builtin_instrument(user=request.user)
    form = RoundForm(request.POST or None, initial={"instrument": Instrument.objects.first()})
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            opened = assessment.open_round(
                data["name"], data["instrument"], data["units"], opened_by=request.user,
                closes_on=data["closes_on"], anonymous=data["anonymous"],
                invitees=form.invitees)
        except AssessmentError as problem:
            error = str(problem)
        else:
            return _links_page(request, opened)
    return render(request, "qualityloop/assessment/round_new.html",
                  {"form": form, "error": error}, status=400 if form.errors or error else 200)


def _links_page(request: HttpRequest, opened: assessment.OpenedRound) -> HttpResponse:
    base = request.build_absolute_uri("/").rstrip("/")
    links = [link.as_dict(base) for link in opened.links]
    return render(request, "qualityloop/assessment/round_links.html", {
        "survey": opened.round, "links": links,
        "csv_href": "data:text/csv;charset=utf-8," + quote(_links_csv(links)),
        "csv_name": f"{opened.round.external_id}-links.csv"})


def _links_csv(links: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["unit", "unit_name", "person", "url"])
    for link in links:
        writer.writerow([link["unit"], link["unit_name"], link["person"], link["url"]])
    return out.getvalue()


def _round_or_none(key: str) -> SurveyRound | None:
    try:
        return assessment.find_round(key)
    except AssessmentError:
        return None


@login_required
def round_detail(request: HttpRequest, key: str) -> HttpResponse:
    """A round's progress per unit, with the close button and the import form."""
    reason = _reader_refusal(request.user)
    if reason:
        return _refused(request, reason)
    survey = _round_or_none(key)
    if survey is None:
        return render(request, "qualityloop/assessment/not_allowed.html",
                      {"reason": f"there is no survey round {key!r}", "missing": True},
                      status=404)
    return _detail_page(request, survey)


def _detail_page(request: HttpRequest, survey: SurveyRound, **extra: Any) -> HttpResponse:
    status = extra.pop("status", 200)
    context = {"survey": survey, "progress": assessment.round_progress(survey),
               "may_run": permissions.may_run_surveys(request.user),
               "spec": survey.instrument.spec, **extra}
    return render(request, "qualityloop/assessment/round_detail.html", context, status=status)


@login_required
@require_POST
def round_close(request: HttpRequest, key: str) -> HttpResponse:
    """Close a round: its links stop working."""
    reason = _manager_refusal(request.user)
    if reason:
        return _refused(request, reason)
    survey = _round_or_none(key)
    if survey is None:
        return redirect("assessment-rounds")
    assessment.close_round(survey, request.user)
    return redirect(reverse("assessment-round", args=[survey.external_id]))


@login_required
@require_POST
def round_import(request: HttpRequest, key: str) -> HttpResponse:
    """Import answer sheets from an uploaded CSV or Excel file, all or nothing."""
    reason = _manager_refusal(request.user)
    if reason:
        return _refused(request, reason)
    survey = _round_or_none(key)
    if survey is None:
        return redirect("assessment-rounds")
    try:
        upload = uploads.checked_upload(request, "file")
    except uploads.UploadRefused as refused:
        return _detail_page(request, survey, import_error=str(refused), status=refused.status)
    if upload is None:
        return _detail_page(request, survey, import_error="Choose a file to import.",
                            status=400)
    dry_run = bool(request.POST.get("dry_run"))
    with tempfile.TemporaryDirectory(prefix="ql-survey-import-") as folder:
        path = Path(folder) / Path(upload.name or "answers.csv").name
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        try:
            report = assessment.import_responses(survey, path, dry_run=dry_run)
        except ImportFailed as failed:
            return _detail_page(request, survey, import_error=str(failed),
                                import_problems=[p.text for p in failed.problems], status=400)
    return _detail_page(request, survey, import_report=report)
