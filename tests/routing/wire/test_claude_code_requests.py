"""What Claude Code sends on the Anthropic Messages surface, and the google-genai model and
token-count shapes (pure; no Django, no database)."""

import copy

import pytest

from routing.wire import anthropic, gemini, untranslatable
from routing.wire.canonical import InvalidRequest
from tests.fakes import anthropic_upstream as fake
from tests.fakes import gemini_upstream

TOOL = {
    "name": "Bash",
    "description": "Run a command.",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
}
CACHE = {"type": "ephemeral", "ttl": "1h"}


def claude_code_body(**extra):
    """The shape Claude Code 2.1 sends (captured from its CLI; texts shortened): a system
    prompt in cached blocks, a user turn, then a trailing system turn."""
    body = {
        "model": "anthropic-fake/claude",
        "max_tokens": 64000,
        "stream": True,
        "metadata": {"user_id": '{"device_id":"d1","account_uuid":"","session_id":"s1"}'},
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1"},
            {"type": "text", "text": "You are Claude Code.", "cache_control": CACHE},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>Be careful.</system-reminder>"},
                    {"type": "text", "text": "What is 2+2?"},
                ],
            },
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "# Environment\nlinux", "cache_control": CACHE}
                ],
            },
        ],
        "tools": [TOOL, {**TOOL, "name": "Later", "defer_loading": True}],
    }
    body.update(extra)
    return body


# --- validation: only what Orca must understand ----------------------------------------------


def test_claude_code_body_is_valid_for_orca_and_for_the_fake_upstream():
    body = claude_code_body(
        cache_control={"type": "ephemeral"},
        container="container_011",
        mcp_servers=[{"type": "url", "url": "https://mcp.example.com/sse", "name": "x"}],
        speed="fast",
    )
    anthropic.validate_messages_request(body)
    fake.validate_request({**body, "model": "claude-fake"})


@pytest.mark.parametrize(
    "extra",
    [
        {"brand_new_option": {"anything": True}},
        {"thinking": {"type": "between_tools"}},
        {"tools": [{"type": "advisor_20260301", "name": "advisor"}]},
        {
            "messages": [
                {"role": "system", "content": "A leading system turn: the provider judges it."},
                {"role": "user", "content": [{"type": "search_result", "source": "s"}]},
            ]
        },
    ],
)
def test_what_orca_need_not_understand_is_not_refused(extra):
    anthropic.validate_messages_request(claude_code_body(**extra))


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"role": "system"}], "messages[0].content"),
        ([{"role": "system", "content": 5}], "messages[0].content"),
        ([{"role": "system", "content": [{"text": "no type"}]}], "messages[0].content[0]"),
        (
            [{"role": "user", "content": [{"type": "mid_conv_system", "content": 5}]}],
            "messages[0].content[0].content",
        ),
        ([{"role": "developer", "content": "x"}], "messages[0].role"),
    ],
)
def test_system_turns_orca_translates_are_checked(messages, param):
    with pytest.raises(InvalidRequest) as info:
        anthropic.validate_messages_request(claude_code_body(messages=messages))
    assert info.value.param == param


def test_a_count_tokens_body_needs_no_max_tokens_even_with_a_thinking_budget():
    body = claude_code_body(thinking={"type": "enabled", "budget_tokens": 2048})
    del body["max_tokens"]
    anthropic.validate_messages_request(body, count_tokens=True)
    with pytest.raises(InvalidRequest) as info:
        anthropic.validate_messages_request(body)
    assert info.value.param == "max_tokens"


# --- translation: Anthropic client -> canonical -> each upstream kind ------------------------


def test_mid_conversation_system_turns_stay_in_place_in_the_canonical_form():
    body = claude_code_body(
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "system", "content": "Now answer in French."},
            {"role": "assistant", "content": "Bonjour"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "And now?"},
                    {
                        "type": "mid_conv_system",
                        "content": [
                            {"type": "text", "text": "Be brief."},
                            {"type": "text", "text": "Use Bash."},
                        ],
                    },
                ],
            },
        ]
    )
    anthropic.validate_messages_request(body)
    chat = anthropic.messages_to_chat(body)
    assert untranslatable.KEY not in chat
    assert chat["messages"] == [
        {
            "role": "system",
            "content": "x-anthropic-billing-header: cc_version=2.1\n\nYou are Claude Code.",
        },
        {"role": "user", "content": "Hi"},
        {"role": "system", "content": "Now answer in French."},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "And now?"},
        {"role": "system", "content": "Be brief.\n\nUse Bash."},
    ]
    assert chat["reasoning_effort"] == "high"  # output_config.effort, thinking adaptive
    assert chat["user"].startswith('{"device_id"')
    for dropped in ("context_management", "thinking", "output_config", "cache_control"):
        assert dropped not in chat


def test_the_anthropic_upstream_gets_mid_conversation_system_turns_folded_into_system():
    body = claude_code_body()
    chat = anthropic.messages_to_chat(body)
    out = anthropic.chat_to_anthropic_request(
        chat, upstream_model="claude-fake", default_max_tokens=1024
    )
    assert [block["text"] for block in out["system"]] == [
        "x-anthropic-billing-header: cc_version=2.1\n\nYou are Claude Code.",
        "# Environment\nlinux",
    ]
    assert [m["role"] for m in out["messages"]] == ["user"]
    fake.validate_request(out)


def test_gemini_gets_mid_conversation_system_turns_as_system_instruction_parts():
    chat = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "First."},
            {"role": "user", "content": "Hi"},
            {"role": "developer", "content": [{"type": "text", "text": "Second."}]},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Again"},
            {"role": "system", "content": "Third."},
        ],
    }
    out = gemini.chat_to_gemini_request(chat)
    assert out["systemInstruction"] == {
        "parts": [{"text": "First."}, {"text": "Second."}, {"text": "Third."}]
    }
    assert [c["role"] for c in out["contents"]] == ["user", "model", "user"]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        (
            {"tools": [TOOL, {"type": "code_execution_20250522", "name": "code_execution"}]},
            "tools[1]",
        ),
        (
            {"mcp_servers": [{"type": "url", "url": "https://m.example", "name": "m"}]},
            "mcp_servers",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "search_result", "source": "s"}]}]},
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "Go"},
                    {
                        "role": "assistant",
                        "content": [
                            {
                                "type": "server_tool_use",
                                "id": "srvtoolu_1",
                                "name": "code_execution",
                            }
                        ],
                    },
                ]
            },
            "messages[1].content[0]",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {"type": "file", "file_id": "file_1"},
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0].source",
        ),
    ],
)
def test_what_has_no_canonical_form_is_left_out_and_refused_by_every_translation(extra, param):
    body = claude_code_body(**extra)
    anthropic.validate_messages_request(body)
    chat = anthropic.messages_to_chat(body)  # planning and estimates still get a form
    assert chat[untranslatable.KEY]["param"] == param
    before = copy.deepcopy(chat)
    for translate in (
        lambda c: anthropic.chat_to_anthropic_request(c, upstream_model="u", default_max_tokens=64),
        gemini.chat_to_gemini_request,
        untranslatable.refuse,
    ):
        with pytest.raises(InvalidRequest) as info:
            translate(chat)
        assert info.value.param == param
        assert info.value.code == "unsupported_parameter"
    assert chat == before


def test_only_the_first_gap_is_kept():
    chat = {"model": "m", "messages": []}
    untranslatable.record(chat, InvalidRequest("one", param="a"))
    untranslatable.record(chat, InvalidRequest("two", param="b"))
    assert chat[untranslatable.KEY] == {
        "message": "one",
        "param": "a",
        "code": "invalid_value",
    }
    untranslatable.refuse({"model": "m"})  # nothing recorded: nothing to refuse


# --- the fake Anthropic upstream accepts mid-conversation system turns where the API does ----


def fake_body(*roles):
    contents = {"user": "Hi", "assistant": "Hello", "system": "Be brief."}
    messages = [{"role": role, "content": contents[role]} for role in roles]
    return {"model": "claude-fake", "max_tokens": 64, "messages": messages}


@pytest.mark.parametrize(
    "roles",
    [
        ("user", "system"),
        ("user", "system", "assistant"),
        ("user", "system", "assistant", "user", "system"),
    ],
)
def test_the_fake_takes_system_turns_after_a_user_turn(roles):
    fake.validate_request(fake_body(*roles))


@pytest.mark.parametrize(
    ("roles", "problem"),
    [
        (("system", "user"), "immediately follow a user message"),
        (("user", "assistant", "system"), "immediately follow a user message"),
        (("user", "system", "system"), "consecutive system messages"),
        (("user", "system", "user"), "followed by an assistant message"),
    ],
)
def test_the_fake_refuses_system_turns_where_the_api_does(roles, problem):
    with pytest.raises(fake.RequestInvalid, match=problem):
        fake.validate_request(fake_body(*roles))


def test_the_fake_takes_mid_conv_system_blocks_only_at_the_end_of_a_turn():
    block = {"type": "mid_conv_system", "content": [{"type": "text", "text": "Be brief."}]}
    body = fake_body("user")
    body["messages"][0]["content"] = [{"type": "text", "text": "Hi"}, block]
    fake.validate_request(body)
    body["messages"][0]["content"] = [block, {"type": "text", "text": "Hi"}]
    with pytest.raises(fake.RequestInvalid, match="last blocks of a turn"):
        fake.validate_request(body)


# --- model lists -----------------------------------------------------------------------------


def anthropic_items(*ids):
    return [
        anthropic.model_object(public_id=i, created=0, context_length=0, max_output_tokens=0)
        for i in ids
    ]


def test_anthropic_model_object_and_pages():
    item = anthropic.model_object(
        public_id="anthropic/claude", created=1_700_000_000, context_length=200_000,
        max_output_tokens=8192,
    )  # fmt: skip
    assert item == {
        "type": "model",
        "id": "anthropic/claude",
        "display_name": "anthropic/claude",
        "created_at": "2023-11-14T22:13:20Z",
        "lifecycle": "active",
        "max_input_tokens": 200_000,
        "max_tokens": 8192,
    }
    items = anthropic_items("a/1", "a/2", "b/1")
    first = anthropic.model_list(items, limit="2")
    assert [m["id"] for m in first["data"]] == ["a/1", "a/2"]
    assert (first["has_more"], first["first_id"], first["last_id"]) == (True, "a/1", "a/2")
    rest = anthropic.model_list(items, limit="2", after_id="a/2")
    assert [m["id"] for m in rest["data"]] == ["b/1"] and rest["has_more"] is False
    back = anthropic.model_list(items, limit="1", before_id="b/1")
    assert [m["id"] for m in back["data"]] == ["a/2"] and back["has_more"] is True
    empty = anthropic.model_list([], limit=None)
    assert empty == {"data": [], "has_more": False, "first_id": None, "last_id": None}


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"after_id": "a", "before_id": "b"}, "before_id"),
    ],
)
def test_anthropic_model_list_refuses_bad_paging(query, param):
    with pytest.raises(InvalidRequest) as info:
        anthropic.model_list(anthropic_items("a/1"), **query)
    assert info.value.param == param


def test_gemini_model_object_and_pages():
    chat = gemini.model_object(
        public_id="google/gemini-3.8-flash", endpoint_types=("chat",),
        capabilities=("tools", "reasoning"), context_length=1_048_576, max_output_tokens=65_536,
    )  # fmt: skip
    assert chat == {
        "name": "models/google/gemini-3.8-flash",
        "displayName": "google/gemini-3.8-flash",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
        "thinking": True,
    }
    embed = gemini.model_object(
        public_id="google/embed", endpoint_types=("embeddings",), capabilities=(),
        context_length=0, max_output_tokens=0,
    )  # fmt: skip
    assert embed == {
        "name": "models/google/embed",
        "displayName": "google/embed",
        "supportedGenerationMethods": ["embedContent", "batchEmbedContents"],
    }
    items = [{**chat, "name": f"models/m/{n}"} for n in range(5)]
    first = gemini.model_list(items, page_size="2")
    assert [m["name"] for m in first["models"]] == ["models/m/0", "models/m/1"]
    second = gemini.model_list(items, page_size="2", page_token=first["nextPageToken"])
    assert [m["name"] for m in second["models"]] == ["models/m/2", "models/m/3"]
    last = gemini.model_list(items, page_size="2", page_token=second["nextPageToken"])
    assert [m["name"] for m in last["models"]] == ["models/m/4"]
    assert "nextPageToken" not in last
    assert len(gemini.model_list(items * 300, page_size="5000")["models"]) == 1000
    assert "nextPageToken" not in gemini.model_list(items)


@pytest.mark.parametrize(("query", "param"), [({"page_size": "-1"}, "pageSize"),
                                              ({"page_token": "%%%"}, "pageToken")])  # fmt: skip
def test_gemini_model_list_refuses_bad_paging(query, param):
    with pytest.raises(InvalidRequest) as info:
        gemini.model_list([], **query)
    assert info.value.param == param


# --- Gemini countTokens bodies ---------------------------------------------------------------


def test_count_tokens_bodies():
    contents = [{"role": "user", "parts": [{"text": "Hello there"}]}]
    assert gemini.validate_count_tokens_request({"contents": contents}) == {"contents": contents}
    inner = {"model": "models/x", "contents": contents, "systemInstruction": {"parts": []}}
    assert gemini.validate_count_tokens_request({"generateContentRequest": inner}) is inner
    assert gemini.validate_count_tokens_request({"generate_content_request": inner}) is inner


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({}, "contents"),
        ({"contents": []}, "contents"),
        ({"contents": [{"parts": [{"text": 1}]}]}, "contents[0].parts[0].text"),
        ({"generateContentRequest": "x"}, "generateContentRequest"),
        ({"generateContentRequest": {"contents": 3}}, "generateContentRequest.contents"),
        (
            {"contents": [{"parts": [{"text": "a"}]}], "generateContentRequest": {}},
            "generateContentRequest",
        ),
    ],
)
def test_count_tokens_bodies_name_the_bad_field(body, param):
    with pytest.raises(InvalidRequest) as info:
        gemini.validate_count_tokens_request(body)
    assert info.value.param == param


def test_the_fake_gemini_count_tokens_wants_the_model_of_a_whole_request():
    contents = [{"role": "user", "parts": [{"text": "a"}]}]
    gemini_upstream.validate_count_tokens({"contents": contents})
    gemini_upstream.validate_count_tokens(
        {"generateContentRequest": {"model": "models/x", "contents": contents}}
    )
    with pytest.raises(gemini_upstream.RequestInvalid, match="model is required"):
        gemini_upstream.validate_count_tokens({"generateContentRequest": {"contents": contents}})
