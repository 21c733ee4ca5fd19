"""The public survey form reached by a personal link: no login, one set of answers per link."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from qualityloop.services import assessment
from qualityloop.services.assessment import AssessmentError, LinkRefused

REFUSED_STATUS = {"unknown": 404, "used": 410, "closed": 410}


@never_cache
@csrf_protect
def survey_form(request: HttpRequest, token: str) -> HttpResponse:
    """Show the instrument for a personal link; on POST store the answers and say thank you."""
    try:
        link = assessment.link_state(token)
    except LinkRefused as refused:
        return _refused(request, refused)
    answers: dict[str, Any] = {}
    error = ""
    if request.method == "POST":
        spec = link.round.instrument.spec
        answers = {item: request.POST.get(item) or None for item in spec.item_ids}
        try:
            assessment.submit_response(token, answers)
        except LinkRefused as refused:
            return _refused(request, refused)
        except AssessmentError as problem:
            error = str(problem)
        else:
            return redirect("survey-thanks")
    return render(request, "qualityloop/survey/form.html",
                  {"link": link, "survey": link.round, "sections": _sections(link, answers),
                   "error": error, "item_count": len(link.round.instrument.spec.item_ids)},
                  status=400 if error else 200)


def survey_thanks(request: HttpRequest) -> HttpResponse:
    """Shown once the answers are stored."""
    return render(request, "qualityloop/survey/thanks.html")


def _refused(request: HttpRequest, refused: LinkRefused) -> HttpResponse:
    return render(request, "qualityloop/survey/refused.html",
                  {"reason": refused.reason, "message": str(refused)},
                  status=REFUSED_STATUS.get(refused.reason, 400))


def _sections(link, answers: dict[str, Any]) -> list[dict[str, Any]]:
    """One section per construct: its items with the scale points to choose from."""
    spec = link.round.instrument.spec
    points = [{"value": str(v), "label": spec.scale_labels.get(v, "")}
              for v in range(spec.scale_min, spec.scale_max + 1)]
    sections, number = [], 0
    for construct in spec.constructs:
        items = []
        for item in construct.items:
            number += 1
            items.append({"id": item.id, "text": item.text, "number": number,
                          "chosen": str(answers.get(item.id) or "")})
        sections.append({"name": construct.name, "description": construct.description,
                         "items": items, "points": points})
    return sections
