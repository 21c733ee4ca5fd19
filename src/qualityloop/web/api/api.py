"""The QualityLoop REST API: one router per record kind, plus the kind registry and ``/me``.

OpenAPI at ``/api/openapi.json``, interactive docs at ``/api/docs``. Every operation needs an API
token (``Authorization: Bearer TOKEN``) or a logged-in browser session.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from qualityloop.records.accounts.models import role_of
from qualityloop.services.permissions import NotAllowed, may_change_records
from qualityloop.services.record_kinds import KINDS, Column, RecordKind, kind_for_model
from qualityloop.services.signatures import SignatureLocked
from qualityloop.web.api import (
    change_control,
    complaints,
    management_review,
    objectives,
    problem_solving,
)
from qualityloop.web.api.auth import API_AUTH
from qualityloop.web.api.parser import NulRefusingParser
from qualityloop.web.api.records import Invalid, build_router, caller
from qualityloop.web.api.schemas import ErrorOut, KindOut, MeOut, column_type_name

api = NinjaAPI(
    title="QualityLoop API",
    version="1",
    description=(
        "Read and change the records of the quality system. Authenticate with "
        "`Authorization: Bearer TOKEN` (a token is printed by `qualityloop user add`). Records "
        "are addressed by their `external_id`; references to other records are external ids. "
        "The viewer role may read but not change anything."
    ),
    urls_namespace="api",
    auth=API_AUTH,
    parser=NulRefusingParser(),
)


@api.exception_handler(NotAllowed)
def _not_allowed(request: HttpRequest, exc: NotAllowed) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=403)


@api.exception_handler(SignatureLocked)
def _signature_locked(request: HttpRequest, exc: SignatureLocked) -> HttpResponse:
    """Too many wrong signature passwords: 429, and when to try again (services/signatures.py)."""
    response = api.create_response(request, {"detail": str(exc)}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(Invalid)
def _invalid(request: HttpRequest, exc: Invalid) -> HttpResponse:
    problems = [
        {"column": None if column == "__all__" else column, "message": message}
        for column, message in exc.problems.items()
    ]
    return api.create_response(request, {"detail": problems}, status=422)


@api.exception_handler(ValidationError)
def _invalid_input(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """Malformed input gets the same shape as refused records: one message per column."""
    problems = [
        {"column": _column_of(error.get("loc", ())), "message": _message_of(error)}
        for error in exc.errors
    ]
    return api.create_response(request, {"detail": problems}, status=422)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """django-ninja answers a body that is not JSON with 400 "Cannot parse request body" (the
    only 400 of the API): it is malformed input like any other, so 422 with the same shape."""
    if exc.status_code == 400 and isinstance(exc.__cause__, ValidationError):
        return _invalid_input(request, exc.__cause__)  # parsed, but refused (web/api/parser.py)
    if exc.status_code == 400:
        problem = {"column": None, "message": "the request body is not valid JSON; expected a "
                                              "JSON object with the record's columns"}
        return api.create_response(request, {"detail": [problem]}, status=422)
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


def _column_of(loc) -> str | None:
    # loc looks like ("body", "payload", "status") or ("query", "limit").
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "payload", "filters")]
    return ".".join(parts) or None


def _message_of(error: dict) -> str:
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "extra_forbidden":
        return "unknown column"
    if "input" in error and error.get("type") != "missing" and not isinstance(
        error["input"], dict
    ):
        return f"{message} (got {error['input']!r})"
    return message


for _kind in KINDS:
    api.add_router(f"/{_kind.name}/", build_router(_kind))
api.add_router("/nonconformances/", problem_solving.nonconformance_steps)
api.add_router("/actions/", problem_solving.action_steps)
api.add_router("/change-requests/", change_control.change_steps)
api.add_router("/management-reviews/", management_review.review_steps)
api.add_router("/review-pack", management_review.review_pack)
api.add_router("/complaints/", complaints.complaint_steps)
api.add_router("/objectives/", objectives.objective_status)


@api.get("/me", response={200: MeOut, 401: ErrorOut}, tags=["account"],
         summary="Who the caller is and what they may do")
def me(request: HttpRequest):
    user = caller(request)
    return {"username": user.username, "role": role_of(user),
            "can_write": may_change_records(user)}


@api.get("/kinds", response={200: list[KindOut], 401: ErrorOut}, tags=["kinds"],
         summary="The record kinds and their columns")
def kinds(request: HttpRequest):
    return [_describe(kind) for kind in KINDS]


def _describe(kind: RecordKind) -> dict:
    return {
        "name": kind.name,
        "description": kind.description,
        "url": reverse(f"api:{kind.name}-list"),
        "has_history": hasattr(kind.model, "history"),
        "columns": [_describe_column(col) for col in kind.columns],
    }


def _describe_column(col: Column) -> dict:
    target = kind_for_model(col.target) if col.target is not None else None
    return {
        "name": col.name,
        "type": column_type_name(col),
        "required": col.required,
        "expected": col.expected(),
        "choices": [value for value, _ in col.choices],
        "references": target.name if target else None,
        "description": str(col.field.help_text or ""),
    }
