"""The OpenAPI document names every request body after its own schema: two different schemas
sharing one component name would make /api/openapi.json show one operation the other's body."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from qualityloop.web.api.api import api


def _request_bodies() -> list[tuple[str, str, type]]:
    """(method, path, body schema class) of every operation that takes a JSON body."""
    found = []
    for prefix, router in api._routers:
        for path, path_operation in router.path_operations.items():
            for operation in path_operation.operations:
                for model in operation.signature.models:
                    if model.__ninja_param_source__ != "body":
                        continue
                    for field in model.model_fields.values():
                        for method in operation.methods:
                            found.append((method, f"/api{prefix}{path}", field.annotation))
    return found


def _component_of(document: dict[str, Any], method: str, path: str) -> str:
    path = path.replace("//", "/")
    body = document["paths"][path][method.lower()]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def test_no_two_request_schemas_share_a_component_name():
    by_name: dict[str, set[type]] = defaultdict(set)
    for _method, _path, schema in _request_bodies():
        by_name[schema.__name__].add(schema)
    clashes = {name: sorted(f"{c.__module__}.{c.__qualname__}" for c in classes)
               for name, classes in by_name.items() if len(classes) > 1}
    assert clashes == {}


def test_every_request_body_in_the_document_is_the_handlers_own():
    document = api.get_openapi_schema()
    bodies = _request_bodies()
    assert len(bodies) > 50  # the generated per-kind writes and the workflow steps
    for method, path, schema in bodies:
        component = document["components"]["schemas"][_component_of(document, method, path)]
        accepted = set(schema.model_json_schema().get("properties", {}))
        assert set(component.get("properties", {})) == accepted, f"{method} {path}"


def test_the_two_close_steps_document_their_own_bodies():
    document = api.get_openapi_schema()
    nc = _component_of(document, "POST", "/api/nonconformances/{external_id}/close")
    complaint = _component_of(document, "POST", "/api/complaints/{external_id}/close")
    schemas = document["components"]["schemas"]
    assert "password" in schemas[nc]["properties"]
    assert "satisfaction" in schemas[complaint]["properties"]
    assert "password" not in schemas[complaint]["properties"]
