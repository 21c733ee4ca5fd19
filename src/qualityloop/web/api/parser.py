"""The API's request parser: JSON bodies and query strings, refusing text with a NUL character.

PostgreSQL cannot store a NUL (0x00) in a text column, SQLite can: refusing it on input gives the
same answer on both engines (422, one message per column) instead of a 500 on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja.errors import ValidationError
from ninja.parser import Parser

NUL_MESSAGE = "text may not contain the NUL character (\\u0000)"


def _nul_locations(value: Any, loc: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Where in ``value`` (JSON: text, lists, objects) a text or an object key holds a NUL."""
    if isinstance(value, str):
        return [loc] if "\x00" in value else []
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in _nul_locations(item, (*loc, i))]
    if isinstance(value, dict):
        return [found for key, item in value.items()
                for found in ([(*loc, key)] if "\x00" in str(key) else [])
                + _nul_locations(item, (*loc, key))]
    return []


def refuse_nul(data: Any, source: str) -> None:
    """Raise ninja's ValidationError naming every place of ``data`` whose text holds a NUL."""
    found = _nul_locations(data, (source,))
    if found:
        raise ValidationError([{"loc": loc, "msg": NUL_MESSAGE, "type": "nul_character"}
                               for loc in found])


class NulRefusingParser(Parser):
    """ninja's JSON parser, plus :func:`refuse_nul` on what it parsed."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = super().parse_body(request)
        refuse_nul(data, "body")
        return data

    def parse_querydict(self, data: MultiValueDict, list_fields: list[str],
                        request: HttpRequest) -> dict[str, Any]:
        parsed = super().parse_querydict(data, list_fields, request)
        refuse_nul(parsed, "query")
        return parsed
