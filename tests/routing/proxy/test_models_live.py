"""GET /v1/models and /v1/models/{id} through the official openai SDK."""

import httpx
import openai
import pytest


def test_list_models_in_openai_shape_with_orca_fields(live, sdk):
    models = {m.id: m for m in sdk.models.list()}
    assert {"fake/chat", "orca/demo", "fake/error-500"} <= set(models)
    item = models["fake/chat"].model_dump()
    assert item["object"] == "model"
    assert item["owned_by"] == "fake"
    assert item["supported_endpoint_types"] == ["openai"]
    assert item["context_length"] == 128_000
    assert item["max_completion_tokens"] == 16_384
    assert item["pricing"] == {
        "prompt": "0.00000015",
        "completion": "0.0000006",
        "input_cache_read": "0.000000075",
    }
    assert "base_url" not in str(item) and "127.0.0.1" not in str(item)


def test_retrieve_a_model_whose_id_has_a_slash(sdk):
    model = sdk.models.retrieve("fake/chat")
    assert model.id == "fake/chat"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("fake/does-not-exist")


def test_listing_shows_only_models_the_key_may_use(live, db_access):
    _, raw = live.new_key(name="demo only", allowed_models=["orca/*"])
    restricted = openai.OpenAI(base_url=live.base_url, api_key=raw, max_retries=0)
    assert [m.id for m in restricted.models.list()] == ["orca/demo", "orca/demo-embed"]
    with pytest.raises(openai.NotFoundError):
        restricted.models.retrieve("fake/chat")


def test_models_need_a_key(live):
    response = httpx.get(f"{live.base_url}/models", timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "orcarouter_api_error"
    assert response.headers["x-orca-request-id"].startswith("req_")
