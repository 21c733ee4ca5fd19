"""TQM assessment surveys: instruments, rounds, personal links, answers, imports, tables.

The use cases the web pages and the CLI share. The statistics (construct scores, reliability) are
``qualityloop.analytics.assessment``; :func:`responses_frame` turns the stored answers into the
wide table those functions take.

Every domain problem raises :class:`AssessmentError` (a ``ValueError``) with a message fit to show
a user; a refused personal link raises :class:`LinkRefused`, whose ``reason`` tells the survey
page which page to show; a bad import file raises ``services.importing.ImportFailed``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from qualityloop.records.assessment.choices import ResponseSource, RoundStatus
from qualityloop.records.assessment.models import (
    Instrument,
    SurveyInvitation,
    SurveyResponse,
    SurveyRound,
    instrument_key,
)
from qualityloop.records.base import save_with_links
from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.services.importing import ImportFailed, ImportProblem
from qualityloop.services.record_kinds import is_empty
from qualityloop.services.tabular import TableError, read_table

BUILTIN_INSTRUMENT = "tqm-core"
SURVEY_PATH = "/survey/{token}/"
RESPONSE_COLUMNS = ("respondent", "unit", "round")
IMPORT_UNIT_COLUMN = "unit"
IMPORT_RESPONDENT_COLUMN = "respondent"


class AssessmentError(ValueError):
    """A survey use case cannot be done; the message says why, in a user's words."""


class LinkRefused(AssessmentError):
    """A personal link cannot be answered. ``reason`` is ``"unknown"``, ``"used"`` or
    ``"closed"``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# instruments -------------------------------------------------------------------------------------

def install_builtin_instrument(name: str = BUILTIN_INSTRUMENT, user: Any = None) -> Instrument:
    """The built-in instrument ``name`` as a record, created the first time it is asked for.

    Parameters
    ----------
    name
        A name from ``qualityloop.analytics.assessment.builtin_names()``.
    user
        Recorded as ``loaded_by`` when the record is created.

    Returns
    -------
    Instrument
        The record (an existing one with the same id and version is returned unchanged).
    """
    from qualityloop.analytics.assessment import builtin_instrument

    try:
        spec = builtin_instrument(name)
    except KeyError as unknown:
        raise AssessmentError(unknown.args[0]) from None
    return _install(spec.to_yaml(), spec, user)


def load_instrument_file(path: str | Path, user: Any = None) -> Instrument:
    """Load an instrument from a YAML file (QualityLoop's instrument format).

    Loading the same file again returns the record already there. A file with the id and version
    of a loaded instrument but other content is refused: rounds already answered refer to that
    version, so a changed instrument needs a new version.

    Parameters
    ----------
    path
        A ``.yaml`` or ``.yml`` file.
    user
        Recorded as ``loaded_by``.

    Raises
    ------
    AssessmentError
        The file cannot be read, or has problems (one line per problem: file, key path and what
        was expected), or clashes with a loaded version.
    """
    from qualityloop.analytics.assessment import InstrumentError, load_instrument

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise AssessmentError(f"{path.name}: cannot be read ({problem})") from None
    try:
        spec = load_instrument(text, source=path.name)
    except InstrumentError as problem:
        raise AssessmentError(str(problem)) from None
    return _install(text, spec, user)


def _install(text: str, spec: Any, user: Any) -> Instrument:
    key = instrument_key(spec.id, spec.version)
    existing = Instrument.objects.filter(external_id=key).first()
    if existing is not None:
        if existing.spec != spec:
            raise AssessmentError(
                f"instrument {spec.id!r} version {spec.version!r} is already loaded with other "
                "content; give the changed instrument a new version")
        return existing
    instrument = Instrument(yaml=text, loaded_by=user if _is_user(user) else None)
    instrument.save()
    return instrument


def _is_user(user: Any) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def find_instrument(key: str | None = None) -> Instrument:
    """An instrument by external id (``tqm-core@1.0``), or by YAML id alone when one version is
    loaded; without a key the built-in one (installed if needed)."""
    if not key:
        return install_builtin_instrument()
    found = Instrument.objects.filter(Q(external_id=key) | Q(external_id__startswith=f"{key}@"))
    matches = list(found.order_by("-loaded_on"))
    exact = [i for i in matches if i.external_id == key]
    if exact:
        return exact[0]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(Instrument.objects.values_list("external_id", flat=True)) or "none"
        raise AssessmentError(f"no instrument {key!r}; loaded instruments: {known}")
    versions = ", ".join(i.external_id for i in matches)
    raise AssessmentError(f"instrument {key!r} is loaded in several versions ({versions}); "
                          "name one")


# rounds and links --------------------------------------------------------------------------------

@dataclass(frozen=True)
class PersonalLink:
    """A personal link as handed out once when a round is opened (the token is not stored)."""

    unit: str  # external id of the unit
    unit_name: str
    person: str  # the person's name when links are per person (also in anonymous rounds)
    token: str

    @property
    def path(self) -> str:
        """The link's path on the site, ``/survey/<token>/``."""
        return SURVEY_PATH.format(token=self.token)

    def as_dict(self, base_url: str = "") -> dict[str, str]:
        return {**asdict(self), "url": base_url.rstrip("/") + self.path}


@dataclass
class OpenedRound:
    """A round just opened and its personal links (shown once: only hashes are stored)."""

    round: SurveyRound
    links: list[PersonalLink]


def open_round(
    name: str,
    instrument: Instrument,
    units: Iterable[OrgUnit],
    opened_by: Any = None,
    closes_on: dt.date | None = None,
    anonymous: bool = True,
    invitees: int | None = None,
    external_id: str | None = None,
) -> OpenedRound:
    """Open a survey round for some units and issue its personal links.

    Parameters
    ----------
    name
        What the round is called (e.g. "TQM assessment 2026").
    instrument
        The instrument to answer.
    units
        The units whose people answer.
    opened_by
        The user opening the round (recorded on it and in its history).
    closes_on
        The last day answers are taken; ``None``: open until closed.
    anonymous
        Responses are not linked to people (the links are not stored with a person either).
    invitees
        ``None``: one link per active person of each unit; a number: that many links per unit.
    external_id
        The round's id; by default the next free ``SR-001``, ``SR-002`` ...

    Returns
    -------
    OpenedRound
        The round and its plain links, in unit order. The links cannot be shown again.

    Raises
    ------
    AssessmentError
        No name, no units, a closing date in the past, a unit without active people when links
        are per person, or a number of links below 1.
    """
    units = list(units)
    _check_new_round(name, units, closes_on, invitees)
    with transaction.atomic():
        survey = SurveyRound(
            external_id=external_id or _next_round_id(), name=name.strip(), instrument=instrument,
            opened_by=opened_by if _is_user(opened_by) else None, closes_on=closes_on,
            anonymous=anonymous)
        save_with_links(survey, {"units": [u.pk for u in units]})
        links = [_issue(survey, unit, person) for unit, person in _invitees(units, invitees)]
    return OpenedRound(survey, links)


def _check_new_round(name: str, units: list[OrgUnit], closes_on: dt.date | None,
                     invitees: int | None) -> None:
    if not name or not name.strip():
        raise AssessmentError("a round needs a name")
    if not units:
        raise AssessmentError("a round needs at least one unit")
    if closes_on is not None and closes_on < timezone.localdate():
        raise AssessmentError(f"the closing date {closes_on.isoformat()} is in the past; "
                              "expected today or later")
    if invitees is not None and invitees < 1:
        raise AssessmentError(f"expected at least 1 link per unit, got {invitees}")


def _next_round_id() -> str:
    number = SurveyRound.objects.count() + 1
    while SurveyRound.objects.filter(external_id=f"SR-{number:03d}").exists():
        number += 1
    return f"SR-{number:03d}"


def _invitees(units: list[OrgUnit], per_unit: int | None) -> list[tuple[OrgUnit, Person | None]]:
    pairs: list[tuple[OrgUnit, Person | None]] = []
    for unit in units:
        if per_unit is not None:
            pairs.extend((unit, None) for _ in range(per_unit))
            continue
        people = list(Person.objects.filter(org_unit=unit, active=True).order_by("name", "pk"))
        if not people:
            raise AssessmentError(f"unit {unit.external_id} ({unit.name}) has no active people; "
                                  "give a number of links per unit instead")
        pairs.extend((unit, person) for person in people)
    return pairs


def _issue(survey: SurveyRound, unit: OrgUnit, person: Person | None) -> PersonalLink:
    stored_person = None if survey.anonymous else person
    _link, plain = SurveyInvitation.issue(survey, unit, stored_person)
    return PersonalLink(unit.external_id, unit.name, person.name if person else "", plain)


def find_round(key: str | int) -> SurveyRound:
    """A round by external id (or database id); AssessmentError naming the known ones."""
    text = str(key).strip()
    found = SurveyRound.objects.select_related("instrument").filter(external_id=text).first()
    if found is None and text.isdigit():
        found = SurveyRound.objects.select_related("instrument").filter(pk=int(text)).first()
    if found is None:
        known = ", ".join(SurveyRound.objects.values_list("external_id", flat=True)[:20]) or "none"
        raise AssessmentError(f"no survey round {text!r}; rounds: {known}")
    return found


def close_round(survey: SurveyRound, user: Any = None) -> SurveyRound:
    """Close a round: its links stop working. Closing a closed round changes nothing."""
    if survey.status == RoundStatus.CLOSED:
        return survey
    survey.status, survey.closed_on = RoundStatus.CLOSED, timezone.now()
    if _is_user(user):
        survey._history_user = user  # type: ignore[attr-defined]
    survey.save()
    return survey


# progress ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UnitProgress:
    """How far a round has got in one unit.

    ``answered`` counts every response, through a link or imported; an imported answer sheet
    stands for a link handed out on paper, so the rate is capped at 1.
    """

    unit: str  # external id
    unit_name: str
    invited: int
    answered: int
    imported: int = 0

    @property
    def rate(self) -> float | None:
        """Share of the links answered (None without links)."""
        return min(1.0, self.answered / self.invited) if self.invited else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate": self.rate}


@dataclass(frozen=True)
class RoundProgress:
    """Links issued and responses received, per unit of the round and in total."""

    round: str
    status: str
    units: list[UnitProgress] = field(default_factory=list)

    @property
    def invited(self) -> int:
        return sum(u.invited for u in self.units)

    @property
    def answered(self) -> int:
        return sum(u.answered for u in self.units)

    @property
    def imported(self) -> int:
        return sum(u.imported for u in self.units)

    @property
    def rate(self) -> float | None:
        """Share of all links answered (each unit's rate capped at 1 first)."""
        if not self.invited:
            return None
        return sum(min(u.answered, u.invited) for u in self.units) / self.invited

    def as_dict(self) -> dict[str, Any]:
        return {"round": self.round, "status": self.status, "invited": self.invited,
                "answered": self.answered, "imported": self.imported, "rate": self.rate,
                "units": [u.as_dict() for u in self.units]}


def round_progress(survey: SurveyRound) -> RoundProgress:
    """Links issued and responses received per unit of ``survey`` (two queries).

    Returns
    -------
    RoundProgress
        One :class:`UnitProgress` per unit of the round, in unit name order, with totals.
    """
    invited = dict(survey.invitations.values("unit").annotate(n=Count("pk"))
                   .values_list("unit", "n"))
    answered: dict[int, int] = {}
    imported: dict[int, int] = {}
    counts = survey.responses.values("unit", "source").annotate(n=Count("pk"))
    for unit_pk, source, n in counts.values_list("unit", "source", "n"):
        answered[unit_pk] = answered.get(unit_pk, 0) + n
        if source == ResponseSource.IMPORT:
            imported[unit_pk] = n
    units = [UnitProgress(u.external_id, u.name, invited.get(u.pk, 0), answered.get(u.pk, 0),
                          imported.get(u.pk, 0))
             for u in survey.units.order_by("name")]
    return RoundProgress(survey.external_id, str(survey.status), units)


# answering ---------------------------------------------------------------------------------------

def check_answers(spec: Any, answers: Mapping[str, Any]) -> dict[str, int | None]:
    """Answers checked against an instrument: every item id present (None when skipped).

    Parameters
    ----------
    spec
        A ``qualityloop.analytics.assessment.Instrument``.
    answers
        Item id -> answer: a whole number on the instrument's scale, or None/empty.

    Raises
    ------
    AssessmentError
        An unknown item, or an answer that is not a whole number on the scale (all named).
    """
    known = set(spec.item_ids)
    problems = [f"{item!r} is not an item of the instrument" for item in answers
                if item not in known]
    checked: dict[str, int | None] = {}
    for item in spec.item_ids:
        value, problem = scale_value(answers.get(item), spec.scale_min, spec.scale_max)
        if problem:
            problems.append(f"item {item}: {problem}")
        checked[item] = value
    if problems:
        raise AssessmentError("; ".join(problems))
    return checked


def scale_value(raw: Any, low: int, high: int) -> tuple[int | None, str | None]:
    """An answer cell as (whole number on the scale or None, None) or (None, what is wrong)."""
    if is_empty(raw):
        return None, None
    try:
        number = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(raw, bool) or not number.is_integer() or not low <= number <= high:
        return None, f"expected a whole number from {low} to {high} or nothing, got {raw!r}"
    return int(number), None


def link_state(plain: str) -> SurveyInvitation:
    """The link of a plain token if it can still be answered.

    Raises
    ------
    LinkRefused
        ``unknown`` (no such link), ``used`` (answered already) or ``closed`` (round closed or
        past its closing date).
    """
    link = SurveyInvitation.find(plain) if plain else None
    if link is None:
        raise LinkRefused("unknown", "this survey link is not known; check that it was copied "
                                     "whole, or ask for a new one")
    if link.used_at is not None:
        raise LinkRefused("used", "this survey link has already been used: each link takes one "
                                  "set of answers")
    if not link.round.is_open:
        raise LinkRefused("closed", f"the survey round {link.round.name!r} is closed")
    return link


def submit_response(plain: str, answers: Mapping[str, Any]) -> SurveyResponse:
    """Store the answers given through a personal link; the link cannot be used again.

    In an anonymous round the response is not linked to the link, and both keep only the day
    (not the time) they were used, so the order of use does not tell who answered what.

    Parameters
    ----------
    plain
        The token of the personal link.
    answers
        Item id -> whole number on the instrument's scale, or None for a skipped statement.

    Returns
    -------
    SurveyResponse

    Raises
    ------
    LinkRefused
        The link is unknown, used or its round closed.
    AssessmentError
        The answers do not fit the instrument, or none was given.
    """
    link = link_state(plain)
    checked = check_answers(link.round.instrument.spec, answers)
    if all(value is None for value in checked.values()):
        raise AssessmentError("no statement was answered; answer at least one")
    when = _stamp(link.round)
    with transaction.atomic():
        # The update only succeeds for one of two simultaneous submissions of the same link.
        claimed = SurveyInvitation.objects.filter(pk=link.pk, used_at__isnull=True).update(
            used_at=when)
        if not claimed:
            raise LinkRefused("used", "this survey link has already been used: each link takes "
                                      "one set of answers")
        return SurveyResponse.objects.create(
            round=link.round, unit=link.unit, invitation=None if link.round.anonymous else link,
            submitted_at=when, answers=checked, source=ResponseSource.WEB)


def _stamp(survey: SurveyRound) -> dt.datetime:
    now = timezone.now()
    if not survey.anonymous:
        return now
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


# import ------------------------------------------------------------------------------------------

@dataclass
class ResponsesImport:
    """What an import of answer sheets did (or, for a dry run, would do)."""

    round: str
    file: str
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    missing_answers: int = 0
    units: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": True, **asdict(self)}


def import_responses(
    survey: SurveyRound, path: str | Path, dry_run: bool = False,
) -> ResponsesImport:
    """Import answer sheets (paper or another tool) from a CSV or Excel file, all or nothing.

    The file is wide: a ``unit`` column with the external id of one of the round's units, one
    column per item id of the instrument (whole numbers on its scale, empty when skipped) and
    optionally a ``respondent`` column with the respondent's id (a respondent already in the
    round is refused, so the same file cannot be imported twice). Item columns left out count
    as skipped. Closed rounds take imports too (paper forms typed in after the closing day).

    Parameters
    ----------
    survey
        The round the answers belong to.
    path
        A ``.csv`` (UTF-8), ``.xlsx`` or ``.parquet`` file.
    dry_run
        Check everything and count, write nothing.

    Returns
    -------
    ResponsesImport
        Rows read, responses created, answers left empty, responses per unit.

    Raises
    ------
    ImportFailed
        One problem per bad cell or header (file, row, column, what was expected); nothing was
        written.
    """
    path = Path(path)
    try:
        table = read_table(path)
    except TableError as unreadable:
        problem = ImportProblem(unreadable.file, unreadable.row, None, unreadable.reason)
        raise ImportFailed(_failed(unreadable.file, 1), [problem]) from None
    reader = _SheetReader(survey, table.path.name, table.header)
    rows = [] if reader.problems else [reader.row(number, cells) for number, cells in table.rows]
    if reader.problems:
        raise ImportFailed(_failed(reader.file, len(reader.problems)), reader.problems[:200])
    report = ResponsesImport(survey.external_id, str(path), dry_run, rows=len(rows))
    for response in rows:
        report.units[response.unit.external_id] = report.units.get(response.unit.external_id,
                                                                    0) + 1
        report.missing_answers += sum(v is None for v in response.answers.values())
    if not dry_run:
        _save_imported(reader.file, rows)
    report.created = len(rows)
    return report


def _failed(file: str, count: int) -> str:
    noun = "problem" if count == 1 else "problems"
    return f"{file}: {count} {noun} found; nothing was imported"


def _save_imported(file: str, rows: list[SurveyResponse]) -> None:
    try:
        with transaction.atomic():
            SurveyResponse.objects.bulk_create(rows)
    except IntegrityError as refused:
        raise ImportFailed(_failed(file, 1), [ImportProblem(
            file, None, None, f"the database refused the answers ({refused})")]) from None


class _SheetReader:
    """Checks the header and each row of an answer-sheet file, collecting every problem."""

    def __init__(self, survey: SurveyRound, file: str, header: Sequence[str]) -> None:
        self.survey, self.file = survey, file
        self.spec = survey.instrument.spec
        self.problems: list[ImportProblem] = []
        self.units = {u.external_id: u for u in survey.units.all()}
        self.items = [name for name in header if name in set(self.spec.item_ids)]
        self.taken = set(survey.responses.exclude(respondent="")
                         .values_list("respondent", flat=True))
        self._check_header(header)

    def problem(self, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(ImportProblem(self.file, row, column, message))

    def _check_header(self, header: Sequence[str]) -> None:
        if IMPORT_UNIT_COLUMN not in header:
            self.problem(1, IMPORT_UNIT_COLUMN, "required column is missing; expected the "
                                                "external id of one of the round's units")
        allowed = {IMPORT_UNIT_COLUMN, IMPORT_RESPONDENT_COLUMN, *self.spec.item_ids}
        for name in header:
            if name not in allowed:
                self.problem(1, name, "unknown column; expected unit, respondent or an item id "
                                      f"of {self.spec.id} ({', '.join(self.spec.item_ids[:4])} "
                                      "...)")
        if not self.items:
            self.problem(1, None, f"no item column; expected columns named by the item ids of "
                                  f"{self.spec.id}")

    def row(self, number: int, cells: Mapping[str, Any]) -> SurveyResponse:
        problems_before = len(self.problems)
        unit = self._unit(number, cells.get(IMPORT_UNIT_COLUMN))
        respondent = self._respondent(number, cells.get(IMPORT_RESPONDENT_COLUMN))
        answers: dict[str, int | None] = dict.fromkeys(self.spec.item_ids)
        low, high = self.spec.scale_min, self.spec.scale_max
        for item in self.items:
            answers[item], problem = scale_value(cells.get(item), low, high)
            if problem:
                self.problem(number, item, problem)
        fine = len(self.problems) == problems_before
        if fine and all(v is None for v in answers.values()):
            self.problem(number, None, "no answer on this row; expected at least one item "
                                       "answered")
        return SurveyResponse(round=self.survey, unit=unit, respondent=respondent,
                              answers=answers, source=ResponseSource.IMPORT,
                              submitted_at=timezone.now())

    def _unit(self, number: int, raw: Any) -> OrgUnit | None:
        key = "" if is_empty(raw) else str(raw).strip()
        unit = self.units.get(key)
        if unit is None:
            known = ", ".join(sorted(self.units))
            got = f"{key!r}" if key else "nothing"
            self.problem(number, IMPORT_UNIT_COLUMN,
                         f"expected the external id of one of the round's units ({known}), "
                         f"got {got}")
        return unit

    def _respondent(self, number: int, raw: Any) -> str:
        if is_empty(raw):
            return ""
        text = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw).strip()
        if text in self.taken:
            self.problem(number, IMPORT_RESPONDENT_COLUMN,
                         f"respondent {text!r} is already in this round (or earlier in the "
                         "file); expected a new respondent id")
        self.taken.add(text)
        return text


# tables for the analytics ------------------------------------------------------------------------

def responses_frame(
    rounds: SurveyRound | Iterable[SurveyRound], unit: OrgUnit | None = None,
) -> Any:
    """The answers of one or more rounds as the wide table the analytics functions take.

    Parameters
    ----------
    rounds
        A round, or several (their instruments' items are joined, in order of first use).
    unit
        Only the answers from this unit (not the units below it).

    Returns
    -------
    pandas.DataFrame
        One row per response: ``respondent`` (``R<id>``, or the imported respondent id),
        ``unit`` and ``round`` (external ids), then one float column per item id with the raw
        answers (reverse-keyed items not yet turned round; NaN for a skipped statement).
    """
    import pandas as pd

    chosen = _rounds_list(rounds)
    items: list[str] = []
    for survey in chosen:
        items.extend(i for i in survey.instrument.spec.item_ids if i not in items)
    responses = SurveyResponse.objects.filter(round__in=chosen).select_related("round", "unit")
    if unit is not None:
        responses = responses.filter(unit=unit)
    records = [{"respondent": r.respondent_id, "unit": r.unit.external_id,
                "round": r.round.external_id, **r.answers}
               for r in responses.order_by("round__opened_on", "round__pk", "pk")]
    frame = pd.DataFrame.from_records(records, columns=[*RESPONSE_COLUMNS, *items])
    frame[items] = frame[items].astype(float)
    return frame


def _rounds_list(rounds: SurveyRound | Iterable[SurveyRound]) -> list[SurveyRound]:
    return [rounds] if isinstance(rounds, SurveyRound) else list(rounds)


def shared_instrument(rounds: SurveyRound | Iterable[SurveyRound]) -> Any:
    """The instrument (``analytics.assessment.Instrument``) the rounds were answered on.

    Raises
    ------
    AssessmentError
        No rounds, or rounds on instruments with different items (their scores would not be
        comparable).
    """
    chosen = _rounds_list(rounds)
    if not chosen:
        raise AssessmentError("no survey round given")
    spec = chosen[0].instrument.spec
    for survey in chosen[1:]:
        other = survey.instrument.spec
        if other.blocks != spec.blocks or other.reverse_item_ids != spec.reverse_item_ids:
            raise AssessmentError(
                f"rounds {chosen[0].external_id} and {survey.external_id} use instruments with "
                "different items; compare rounds of the same instrument")
    return spec


def round_scores(
    rounds: SurveyRound | Iterable[SurveyRound], unit: OrgUnit | None = None,
    by: Sequence[str] = ("unit", "round"),
) -> Any:
    """Construct scores of one or more rounds, aggregated per unit and round.

    Calls ``analytics.assessment.construct_scores`` (respondent scores, reverse-keyed items
    turned round, a construct scored when at least half its items were answered) and
    ``aggregate_scores`` on :func:`responses_frame`.

    Parameters
    ----------
    rounds
        One round or several of the same instrument.
    unit
        Only the answers from this unit.
    by
        Columns to aggregate by (``()``: one row per construct over everything).

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, ``construct``, ``mean``, ``sd``, ``n`` and ``maturity`` (0-100).
    """
    from qualityloop.analytics.assessment import aggregate_scores, construct_scores

    spec = shared_instrument(rounds)
    scores = construct_scores(responses_frame(rounds, unit), spec)
    return aggregate_scores(scores, by=by, instrument=spec)


def round_reliability(
    rounds: SurveyRound | Iterable[SurveyRound], unit: OrgUnit | None = None,
    bootstrap: int = 0, seed: int | None = None,
) -> Any:
    """Reliability and validity of the instrument on the answers of one or more rounds.

    Calls ``analytics.assessment.assess_reliability`` on :func:`responses_frame`.

    Returns
    -------
    qualityloop.analytics.assessment.ReliabilityAssessment
        Construct table (alpha, rho_A, rho_C, AVE and flags), item loadings, HTMT (with
        bootstrap intervals when ``bootstrap`` > 0), Fornell-Larcker and warnings.
    """
    from qualityloop.analytics.assessment import assess_reliability

    spec = shared_instrument(rounds)
    frame = responses_frame(rounds, unit)
    if frame.empty:
        raise AssessmentError("the round has no responses yet")
    return assess_reliability(frame, spec, bootstrap=bootstrap, seed=seed)


__all__ = [
    "AssessmentError", "LinkRefused", "OpenedRound", "PersonalLink", "ResponsesImport",
    "RoundProgress", "UnitProgress", "check_answers", "close_round", "find_instrument",
    "find_round", "import_responses", "install_builtin_instrument", "link_state",
    "load_instrument_file", "open_round", "responses_frame", "round_progress",
    "round_reliability", "round_scores", "scale_value", "shared_instrument", "submit_response",
]
