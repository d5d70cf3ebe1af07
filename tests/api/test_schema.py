"""The OpenAPI document is valid OpenAPI 3 and lists every API route."""

import re

import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate


def api_routes(patterns=None, prefix=""):
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from api_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


@pytest.mark.django_db
def test_schema_is_valid_openapi3_and_complete(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    validate(schema)

    documented = {path for path in schema["paths"]}
    # Every router list route under api/v1/ (format-suffix variants and the root aside) must be documented.
    routes = {r for r in api_routes() if r.startswith("api/v1/") and "format" not in r and r != "api/v1/^$"}
    expected = set()
    for route in routes:
        path = re.sub(r"\(\?P<\w+>[^)]*\)|<(?:\w+:)?\w+>", "{id}", route)
        expected.add("/" + path.replace("^", "").replace("$", ""))
    missing = {p for p in expected if p not in documented and p != "/api/v1/"}
    assert not missing, f"undocumented API routes: {sorted(missing)}"
    for must in ("/api/v1/nodes/", "/api/v1/auth/token/", "/api/v1/audit/", "/api/v1/users/", "/api/v1/meters/"):
        assert must in documented


def test_swagger_ui_is_served_locally(client):
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html
