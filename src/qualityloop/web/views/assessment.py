"""The Assessment page: a unit's construct maturity in a survey round (radar against the
organisation, trend across rounds), the reliability of the instrument on those answers, every
item's answers, and what the records show for the same unit and year.

The numbers come from ``qualityloop.analytics.assessment`` (scores, reliability) and
``services.tqm_index`` (record-based index, survey versus records); this module only picks the
answers in scope, shapes tables for the template and caches the result per unit, round and day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from qualityloop.records.accounts.models import role_of
from qualityloop.records.assessment.models import SurveyResponse, SurveyRound
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.report import assessment_charts, charts
from qualityloop.services import assessment, permissions, tqm_index
from qualityloop.web.views.unit_scope import cached_for_unit, selected_unit, unit_options

MIN_RESPONSES = 5  # fewer answers than this: no statistics (unstable, and too close to people)
HTMT_BOOTSTRAP = 200
HTMT_SEED = 20260501
ORGANISATION = "Organisation"


# choosing the round -----------------------------------------------------------------------------

def rounds_with_counts() -> list[SurveyRound]:
    """Every round, newest first, each with ``answered`` (its number of responses)."""
    return list(SurveyRound.objects.select_related("instrument")
                .annotate(answered=Count("responses")).order_by("-opened_on", "-pk"))


def chosen_round(rounds: list[SurveyRound], key: str) -> SurveyRound | None:
    """The round named by ``key``; else the latest round with responses; else the latest."""
    if key:
        named = [r for r in rounds if r.external_id == key]
        if named:
            return named[0]
    answered = [r for r in rounds if r.answered]
    candidates = answered or rounds
    return candidates[0] if candidates else None


def same_instrument_rounds(survey: SurveyRound, rounds: list[SurveyRound]) -> list[SurveyRound]:
    """The rounds with responses answered on the items of ``survey``'s instrument, oldest
    first (their scores are comparable, so they make the trend)."""
    spec = survey.instrument.spec
    alike = [r for r in rounds if r.answered or r.pk == survey.pk]
    alike = [r for r in alike if r.instrument_id == survey.instrument_id
             or (r.instrument.spec.blocks == spec.blocks
                 and r.instrument.spec.reverse_item_ids == spec.reverse_item_ids)]
    return sorted(alike, key=lambda r: (r.opened_on, r.pk))


def unit_keys(unit: OrgUnit | None) -> set[str] | None:
    """External ids of the unit and every unit below it; None for the whole organisation."""
    if unit is None:
        return None
    return {unit.external_id, *(u.external_id for u in unit.descendants())}


def round_label(survey: SurveyRound) -> str:
    return f"{survey.external_id} · {survey.opened_on:%b %Y}"


# the survey side --------------------------------------------------------------------------------

@dataclass
class Scope:
    """The answers a page shows: one round, one unit (with the units below it) or all."""

    survey: SurveyRound
    rounds: list[SurveyRound]
    unit: OrgUnit | None
    spec: Any
    frame: pd.DataFrame  # wide answers of every comparable round, all units
    scores: pd.DataFrame  # construct scores of the same rows

    @classmethod
    def build(cls, survey: SurveyRound, rounds: list[SurveyRound],
              unit: OrgUnit | None) -> Scope:
        from qualityloop.analytics.assessment import construct_scores

        spec = survey.instrument.spec
        frame = assessment.responses_frame(rounds)
        return cls(survey, rounds, unit, spec, frame, construct_scores(frame, spec))

    def rows(self, this_round: bool = True, in_unit: bool = True) -> pd.Series:
        keep = pd.Series(True, index=self.frame.index)
        if this_round:
            keep &= self.frame["round"] == self.survey.external_id
        keys = unit_keys(self.unit)
        if in_unit and keys is not None:
            keep &= self.frame["unit"].isin(keys)
        return keep

    @property
    def answers(self) -> pd.DataFrame:
        """The round's answers from the unit in scope."""
        return self.frame[self.rows()]

    @property
    def construct_names(self) -> dict[str, str]:
        return {c.id: c.name for c in self.spec.constructs}


def _maturity(scores: pd.DataFrame, spec: Any, by: tuple[str, ...] = ()) -> pd.DataFrame:
    from qualityloop.analytics.assessment import aggregate_scores

    return aggregate_scores(scores, by=by, instrument=spec)


def radar_table(scope: Scope) -> pd.DataFrame:
    """Maturity per construct for the unit and for the organisation (all respondents)."""
    names = scope.construct_names
    parts = []
    if scope.unit is not None:
        mine = _maturity(scope.scores[scope.rows()], scope.spec)
        parts.append(mine.assign(series=scope.unit.name))
    everyone = _maturity(scope.scores[scope.rows(in_unit=False)], scope.spec)
    parts.append(everyone.assign(series=f"{ORGANISATION} (all respondents)"))
    table = pd.concat(parts, ignore_index=True)
    table["construct_id"] = table["construct"]
    table["construct"] = table["construct"].map(names)
    return table


def trend_table(scope: Scope) -> pd.DataFrame:
    """Maturity per construct and round for the unit in scope, rounds oldest first."""
    table = _maturity(scope.scores[scope.rows(this_round=False)], scope.spec, by=("round",))
    labels = {r.external_id: round_label(r) for r in scope.rounds}
    table = table[table["n"] > 0].copy()
    table["construct"] = table["construct"].map(scope.construct_names)
    table["order"] = table["round"].map(list(labels).index)
    table["round"] = table["round"].map(labels)
    return table.sort_values(["order"], kind="stable")


def item_rows(scope: Scope, loadings: pd.DataFrame | None) -> list[dict[str, Any]]:
    """One row per item: text, reverse mark, mean, the share of each answer, share missing and
    (when reliability was computed) the loading and alpha if dropped."""
    answers = scope.answers
    low, high = scope.spec.scale_min, scope.spec.scale_max
    rows = []
    for construct in scope.spec.constructs:
        for number, item in enumerate(construct.items, start=1):
            column = answers[item.id]
            given = column.dropna()
            counts = [int((given == point).sum()) for point in range(low, high + 1)]
            loading = loadings.loc[item.id] if loadings is not None else None
            rows.append({
                "id": item.id, "text": item.text, "reverse": item.reverse,
                "construct": construct.name, "first": number == 1,
                "construct_size": len(construct.items),
                "mean": _plain(given.mean()) if len(given) else None,
                "answered": len(given),
                "share_missing": _plain(column.isna().mean()) if len(column) else None,
                "distribution": _distribution(counts, low, len(given)),
                "loading": _plain(loading["loading"]) if loading is not None else None,
                "loading_ok": _plain(loading["loading_ok"]) if loading is not None else None,
                "alpha_if_dropped": (_plain(loading["alpha_if_dropped"])
                                     if loading is not None else None),
            })
    return rows


def _distribution(counts: list[int], low: int, total: int) -> list[dict[str, Any]]:
    return [{"point": low + i, "count": c, "share": c / total if total else 0.0}
            for i, c in enumerate(counts)]


def _plain(value: Any) -> Any:
    """A table cell for the template: NaN and <NA> become None, numpy scalars Python ones."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def reliability_tables(scope: Scope) -> dict[str, Any]:
    """The reliability assessment of the answers in scope, as rows for the template."""
    from qualityloop.analytics.assessment import THRESHOLDS, assess_reliability

    result = assess_reliability(scope.answers, scope.spec, bootstrap=HTMT_BOOTSTRAP,
                                seed=HTMT_SEED)
    names = scope.construct_names
    constructs = [{"id": cid, **{k: _plain(v) for k, v in row.items()}}
                  for cid, row in result.constructs.iterrows()]
    pairs = {(row["construct_a"], row["construct_b"]): {k: _plain(v) for k, v in row.items()}
             for row in result.htmt_pairs.to_dict("records")}
    ids = list(names)
    matrix = [{"name": names[a], "cells": [
        pairs.get((b, a)) if j < i else None for j, b in enumerate(ids[:-1])]}
        for i, a in enumerate(ids) if i > 0]
    return {"constructs": constructs, "warnings": result.warnings,
            "htmt_columns": [names[c] for c in ids[:-1]], "htmt_rows": matrix,
            "bootstrap": result.bootstrap, "respondents": result.respondents,
            "thresholds": THRESHOLDS, "loadings": result.loadings}


# the record side --------------------------------------------------------------------------------

def _index(period: str, unit: OrgUnit | None) -> pd.DataFrame:
    """The record-based index by calendar year, cached per unit and day; ``unit`` None gives
    the default (operating) units."""
    name = f"assessment-index:{period}"
    return cached_for_unit(name, unit, lambda: tqm_index.record_index(period, unit=unit))


def _organisation_root() -> OrgUnit | None:
    roots = list(OrgUnit.objects.filter(parent__isnull=True)[:2])
    return roots[0] if len(roots) == 1 else None


def record_side(scope: Scope, survey_by_unit: pd.DataFrame) -> dict[str, Any]:
    """The record-based index of the unit (or the whole organisation) for the round's year,
    and where the survey and the records disagree."""
    year = str(scope.survey.opened_on.year)
    compared_units = _index("year", None)
    compared = compared_units[compared_units["period"] == year]
    target = scope.unit or _organisation_root()
    own = compared[compared["unit"] == target.external_id] if target is not None else compared[:0]
    if target is not None and own.empty:
        full = _index("year", target)
        own = full[full["period"] == year]
    indicators = [_indicator_row(row) for _, row in own.iterrows()]
    summary = tqm_index.summarise(own) if len(own) else pd.DataFrame()
    composite = _plain(summary["composite"].iloc[0]) if len(summary) else None
    scored = int(summary["indicators_scored"].iloc[0]) if len(summary) else 0
    comparison = (tqm_index.compare_with_survey(compared, survey_by_unit)
                  if len(compared) and len(survey_by_unit) else pd.DataFrame())
    return {"year": year, "unit_name": target.name if target is not None else "",
            "indicators": indicators, "composite": composite, "scored": scored,
            "min_indicators": tqm_index.MIN_INDICATORS_FOR_COMPOSITE,
            "comparison": _comparison_rows(comparison, scope.unit, scope.construct_names)}


def _indicator_row(row: pd.Series) -> dict[str, Any]:
    indicator = tqm_index.BY_NAME[row["indicator"]]
    value = _plain(row["value"])
    days = indicator.direction == "lower"
    shown = None if value is None else (f"{value:.1f} days" if days else f"{value:.0%}")
    return {"name": indicator.name, "label": indicator.label, "definition": indicator.definition,
            "scoring": indicator.scoring, "value": shown,
            "numerator": _plain(row["numerator"]), "denominator": _plain(row["denominator"]),
            "score": _plain(row["score_0_100"]), "reason": row["reason"] or ""}


def _comparison_rows(table: pd.DataFrame, unit: OrgUnit | None,
                     names: dict[str, str]) -> dict[str, Any]:
    """The comparison rows of the unit (all flagged rows for the whole organisation)."""
    if table.empty:
        return {"rows": [], "units": 0, "shown_for": "none", "flagged": 0}
    keys = unit_keys(unit)
    if keys is None:
        chosen, shown_for = table[table["flag"]], "flagged"
    else:
        chosen, shown_for = table[table["unit"].isin(keys)], "unit"
    rows = [{"unit_name": r["unit_name"], "construct": names.get(r["construct"], r["construct"]),
             "indicators": [tqm_index.BY_NAME[n].label for n in r["indicators"].split(", ")],
             "survey": _plain(r["survey_score"]), "records": _plain(r["record_score"]),
             "difference": _plain(r["difference"]), "flag": bool(r["flag"]),
             "reason": r["flag_reason"], "sentence": r["sentence"]}
            for _, r in chosen.iterrows()]
    return {"rows": rows, "units": int(table["unit"].nunique()), "shown_for": shown_for,
            "flagged": sum(r["flag"] for r in rows)}


# the page ---------------------------------------------------------------------------------------

def figures(survey: SurveyRound, rounds: list[SurveyRound], unit: OrgUnit | None
            ) -> dict[str, Any]:
    """Everything the page shows for one round and unit (uncached; see :func:`cached_figures`).
    """
    scope = Scope.build(survey, same_instrument_rounds(survey, rounds), unit)
    answered = len(scope.answers)
    found: dict[str, Any] = {"answered": answered, "round_total": int(scope.rows(
        in_unit=False).sum()), "enough": answered >= MIN_RESPONSES,
        "min_responses": MIN_RESPONSES, "rounds_in_trend": len(scope.rounds)}
    if not found["enough"]:
        return found
    order = [c.name for c in scope.spec.constructs]
    radar = radar_table(scope)
    trend = trend_table(scope)
    reliability = reliability_tables(scope)
    who = unit.name if unit is not None else "the organisation"
    survey_by_unit = _maturity(scope.scores[scope.rows(in_unit=False)], scope.spec,
                               by=("unit",))
    found.update({
        "maturity": _maturity_rows(radar, unit),
        "charts": {
            "radar": charts.to_svg(assessment_charts.maturity_radar_chart(
                radar, f"Construct maturity in {survey.external_id}, {who}", order=order)),
            "trend": charts.to_svg(assessment_charts.maturity_trend_chart(
                trend, f"Maturity across rounds, {who}", order=order)),
        },
        "reliability": reliability,
        "items": item_rows(scope, reliability.pop("loadings")),
        "records": record_side(scope, survey_by_unit),
        "scale": [scope.spec.scale_min, scope.spec.scale_max],
        "scale_labels": scope.spec.scale_labels,
    })
    return found


def _maturity_rows(radar: pd.DataFrame, unit: OrgUnit | None) -> list[dict[str, Any]]:
    """One row per construct: the unit's mean, sd, n and maturity beside the organisation's."""
    series = list(dict.fromkeys(radar["series"]))
    mine = radar[radar["series"] == series[0]].set_index("construct_id")
    everyone = radar[radar["series"] == series[-1]].set_index("construct_id")
    rows = []
    for cid, row in mine.iterrows():
        own, overall = _plain(row["maturity"]), _plain(everyone.loc[cid, "maturity"])
        rows.append({"id": cid, "name": row["construct"], "mean": _plain(row["mean"]),
                     "sd": _plain(row["sd"]), "n": int(row["n"]), "maturity": own,
                     "organisation": overall if unit is not None else None,
                     "difference": (own - overall if unit is not None and own is not None
                                    and overall is not None else None)})
    return rows


def responses_stamp(rounds: list[SurveyRound]) -> str:
    """Changes whenever a response is added to or removed from these rounds (one query)."""
    stats = SurveyResponse.objects.filter(round__in=rounds).aggregate(n=Count("pk"), last=Max("pk"))
    return f"{stats['n']}-{stats['last']}"


def cached_figures(survey: SurveyRound, rounds: list[SurveyRound], unit: OrgUnit | None
                   ) -> dict[str, Any]:
    """:func:`figures`, cached per unit, round and day, and recomputed when answers arrive.

    The reliability bootstrap and the record-based index take a second or two on the demo.
    """
    stamp = responses_stamp(rounds)
    name = f"assessment:{survey.pk}:{stamp}"
    return cached_for_unit(name, unit, lambda: figures(survey, rounds, unit))


@login_required
def assessment_page(request: HttpRequest) -> HttpResponse:
    """The Assessment page; an HTMX request returns only the part below the selectors."""
    allowed = role_of(request.user) is not None
    rounds = rounds_with_counts() if allowed else []
    survey = chosen_round(rounds, request.GET.get("round", "").strip())
    unit = selected_unit(request) if allowed else None
    found = cached_figures(survey, rounds, unit) if survey is not None else None
    context = {
        "allowed": allowed, "rounds": rounds, "survey": survey, "unit": unit,
        "units": unit_options(request.user) if allowed else [], "figures": found,
        "may_run": permissions.may_run_surveys(request.user),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "qualityloop/assessment/_page_body.html", context)
    return render(request, "qualityloop/assessment/page.html", context)
