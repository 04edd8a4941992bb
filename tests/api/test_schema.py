"""The OpenAPI schema and Swagger UI: generated from the code, served without a CDN."""

import pytest
import yaml
from django.test import Client

from workspaces import services
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def test_the_schema_is_openapi_3_and_describes_the_management_api():
    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    created = paths["/api/workspaces/{workspace}/keys/"]["post"]["responses"]["201"]
    ref = created["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/ApiKeyCreated"
    created_schema = schema["components"]["schemas"]["ApiKeyCreated"]
    assert created_schema["properties"]["key"]["readOnly"] is True
    assert "key" not in schema["components"]["schemas"]["ApiKey"]["properties"]
    bearer = schema["components"]["securitySchemes"]["managementKey"]
    assert bearer == {
        "type": "http",
        "scheme": "bearer",
        "description": "A management key: `Authorization: Bearer sk-orca-mgmt-…`",
    }
    usage = paths["/api/workspaces/{workspace}/usage/"]["get"]
    assert {p["name"] for p in usage["parameters"]} >= {"key", "model", "status", "since"}
    for operations in paths.values():
        for operation in operations.values():
            assert {"401", "403"} <= set(operation["responses"]), operation["operationId"]
    assert "/api/schema/" not in paths and "/api/docs/" not in paths


def test_the_yaml_schema_is_the_same_document():
    as_yaml = yaml.safe_load(Client().get("/api/schema/").content)
    assert as_yaml == Client().get("/api/schema/?format=json").json()


def test_swagger_ui_loads_its_assets_from_orca():
    page = Client().get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "/api/schema/" in html


def test_the_schema_and_docs_need_no_login_and_tell_nothing_of_a_workspace(django_user_model):
    workspace, _ = services.get_or_create_workspace("schema-secret-slug")
    services.create_management_key(workspace, role=Role.OWNER, name="schema-secret-name")
    text = Client().get("/api/schema/").content.decode()
    assert "schema-secret" not in text


def test_an_unknown_api_url_is_a_json_404_and_a_bad_one_a_json_400():
    missing = Client().get("/api/no-such-thing/")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not found."}
    bad = Client().get("/api/workspaces/a%00b/")
    assert bad.status_code == 400 and "NUL" in bad.json()["detail"]
    page = Client().get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
