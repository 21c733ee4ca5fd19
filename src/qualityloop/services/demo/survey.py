"""Two completed TQM assessment rounds for the demo, answered from each unit's latent TQM level.

See "TQM assessment survey" in docs/demo-model.md for the equation. Round 1 is six months before
quality policy v2, round 2 six months after it, both answered on the built-in instrument by
60-85 % of the people of every operating unit. The rounds are anonymous, like most such surveys:
the links carry no person and the responses no link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qualityloop.records.assessment.models import (
    Instrument,
    SurveyInvitation,
    SurveyResponse,
    SurveyRound,
    instrument_key,
)
from qualityloop.services.demo.calendar import Calendar, plus_days
from qualityloop.services.demo.causal_model import World
from qualityloop.services.demo.organisation import Organisation
from qualityloop.services.demo.writer import insert_columns, stamp

ROUND_MONTHS = (18, 30)  # policy v2 is approved at month 24
OPEN_DAYS = 21
STEP = "Survey rounds"

Write = Callable[[type, dict, str], int]
Link = Callable[..., int]


@dataclass(frozen=True)
class SurveyModel:
    """Parameters of the answer equation (docs/demo-model.md, "TQM assessment survey")."""

    centre: float = 4.3  # answer of a respondent at the organisation's average, before noise
    tqm_weight: float = 0.8  # beta: how much of the unit's TQM level q_u each construct shows
    unit_construct_sd: float = 0.45  # gamma_uc: a unit's own strengths and weaknesses
    respondent_sd: float = 0.25  # rho_r: how positively a respondent answers everything
    respondent_construct_sd: float = 0.7  # epsilon_rc: a respondent's own view per construct
    loading_range: tuple = (0.75, 1.0)  # lambda_j: how strongly an item reflects its construct
    item_noise_sd: float = 0.75  # e_rcj
    response_rate: tuple = (0.60, 0.85)  # per unit and round, uniform
    missing_share: float = 0.02  # answers left empty, at random
    policy_uplift: float = 0.3  # delta_c in round 2 for the constructs policy v2 addresses
    policy_constructs: tuple = ("leadership", "customer_focus", "training")


def build_survey_rounds(rng: np.random.Generator, write: Write, link: Link, cal: Calendar,
                        org: Organisation, world: World,
                        model: SurveyModel | None = None) -> None:
    """Write the built-in instrument and two closed rounds with their links and answers."""
    from qualityloop.analytics.assessment import builtin_instrument

    model = model or SurveyModel()
    spec = builtin_instrument()
    loaded = cal.month_start(ROUND_MONTHS[0]) - 7
    write(Instrument, {
        "id": [1], "external_id": [instrument_key(spec.id, spec.version)], "name": [spec.name],
        "version": [spec.version], "yaml": [spec.to_yaml()], "loaded_by_id": [None],
        "loaded_on": stamp(np.array([loaded])), "created_at": stamp(np.array([loaded])),
    }, STEP)
    opened = np.array([cal.month_start(m) for m in ROUND_MONTHS])
    closes = plus_days(opened, OPEN_DAYS)
    n = len(ROUND_MONTHS)
    write(SurveyRound, {
        "id": np.arange(1, n + 1), "external_id": [f"SR-{i:03d}" for i in range(1, n + 1)],
        "name": [f"TQM assessment {year}" for year in cal.year_of(np.array(ROUND_MONTHS))],
        "instrument_id": 1, "opened_by_id": None, "opened_on": stamp(opened),
        "closes_on": closes, "closed_on": stamp(plus_days(closes, 1)), "anonymous": True,
        "status": "closed", "created_at": stamp(opened),
    }, STEP)
    units = np.asarray(org.unit_ids)
    link(SurveyRound.units, np.repeat(np.arange(1, n + 1), len(units)), np.tile(units, n))
    profile = _unit_profiles(rng, spec, len(units), model)
    sheets = _Sheets()
    for r, opened_on in enumerate(opened):
        uplift = model.policy_uplift * profile.policy * (r > 0)
        for k, unit_id in enumerate(units.tolist()):
            level = model.tqm_weight * world.units.tqm[k] + profile.unit_construct[k] + uplift
            _answer_unit(rng, sheets, r + 1, unit_id, len(org.people_in[unit_id]), level,
                         opened_on, spec, profile, model)
    sheets.write()


@dataclass
class _Profiles:
    unit_construct: np.ndarray  # (unit, construct) gamma_uc
    loading: np.ndarray  # lambda_j per item
    construct_of_item: np.ndarray  # construct index of each item
    reverse: np.ndarray  # bool per item
    policy: np.ndarray  # 1 for the constructs policy v2 addresses


def _unit_profiles(rng, spec, n_units: int, model: SurveyModel) -> _Profiles:
    constructs = [c.id for c in spec.constructs]
    return _Profiles(
        unit_construct=rng.normal(0, model.unit_construct_sd, size=(n_units, len(constructs))),
        loading=rng.uniform(*model.loading_range, size=len(spec.items)),
        construct_of_item=np.array([constructs.index(spec.construct_of(i.id).id)
                                    for i in spec.items]),
        reverse=np.array([i.reverse for i in spec.items]),
        policy=np.array([c in model.policy_constructs for c in constructs], dtype=float),
    )


def _answer_unit(rng, sheets: _Sheets, round_id: int, unit_id: int, people: int,
                 level: np.ndarray, opened_on, spec, profile: _Profiles,
                 model: SurveyModel) -> None:
    """One link per person of the unit; a share of them answer (see the module docstring)."""
    low, high = model.response_rate
    answering = int(np.clip(np.rint(rng.uniform(low, high) * people),
                            np.ceil(low * people), np.floor(high * people)))
    answered = np.zeros(people, dtype=bool)
    answered[rng.choice(people, size=answering, replace=False)] = True
    days = plus_days(np.full(people, opened_on), rng.integers(0, OPEN_DAYS, size=people))
    eta = (level[None, :] + rng.normal(0, model.respondent_sd, size=(answering, 1))
           + rng.normal(0, model.respondent_construct_sd, size=(answering, len(level))))
    raw = (model.centre + profile.loading * eta[:, profile.construct_of_item]
           + rng.normal(0, model.item_noise_sd, size=(answering, len(profile.loading))))
    answers = np.clip(np.rint(raw), spec.scale_min, spec.scale_max)
    answers[:, profile.reverse] = spec.scale_min + spec.scale_max - answers[:, profile.reverse]
    missing = rng.random(answers.shape) < model.missing_share
    sheets.add(rng, (round_id, unit_id, opened_on), answered, days, answers, missing,
               spec.item_ids)


class _Sheets:
    """Invitation and response columns collected over every unit and round."""

    def __init__(self) -> None:
        self.links: dict[str, list] = {k: [] for k in (
            "round_id", "unit_id", "key_hash", "created_at", "used_at")}
        self.responses: dict[str, list] = {k: [] for k in (
            "round_id", "unit_id", "submitted_at", "answers")}

    def add(self, rng, where: tuple, answered: np.ndarray, days: np.ndarray,
            answers: np.ndarray, missing: np.ndarray, item_ids: list[str]) -> None:
        round_id, unit_id, opened_on = where
        people = len(answered)
        used = stamp(days, hour=0).make(0, people)
        self.links["round_id"] += [round_id] * people
        self.links["unit_id"] += [unit_id] * people
        self.links["key_hash"] += [hashlib.sha256(rng.bytes(24)).hexdigest()
                                   for _ in range(people)]
        self.links["created_at"] += stamp(np.full(people, opened_on)).make(0, people)
        self.links["used_at"] += [u if a else None for u, a in zip(used, answered, strict=True)]
        order = np.argsort(days[answered], kind="stable")  # responses in the order they came
        self.responses["round_id"] += [round_id] * len(order)
        self.responses["unit_id"] += [unit_id] * len(order)
        self.responses["submitted_at"] += [used[i] for i in np.flatnonzero(answered)[order]]
        for row in order:
            sheet = {item: (None if missing[row, j] else int(answers[row, j]))
                     for j, item in enumerate(item_ids)}
            self.responses["answers"].append(json.dumps(sheet))

    def write(self) -> None:
        """Links and responses keep no history: plain inserts."""
        n_links, n_responses = len(self.links["round_id"]), len(self.responses["round_id"])
        insert_columns(SurveyInvitation, {"id": np.arange(1, n_links + 1), "person_id": None,
                                          **self.links})
        insert_columns(SurveyResponse, {"id": np.arange(1, n_responses + 1),
                                        "invitation_id": None, "respondent": "", "source": "web",
                                        **self.responses})
