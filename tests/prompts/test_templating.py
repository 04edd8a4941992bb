"""Templating: `{{name}}` only, checked values, no way out of the sandbox."""

import timeit

import pytest

from prompts.templating import (
    PromptError,
    Variable,
    parse_variables,
    render,
    render_all,
    variables_in,
)


def error(call, *args) -> PromptError:
    with pytest.raises(PromptError) as caught:
        call(*args)
    return caught.value


# --- the sandbox: only a plain name is a placeholder --------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "{{ x.__class__ }}",
        "{{ x.__class__.__mro__[1].__subclasses__() }}",
        "{% for a in b %}{{ a.b }}{% endfor %}",
        "{% extends 'base.html' %}",
        "{% include 'secrets' %}",
        "{{x|upper}}",
        "{{ x | safe }}",
        "{{ x() }}",
        "{{ x[0] }}",
        "{{ 7*7 }}",
        "{{ 'a' + x }}",
        "{# comment #}",
        "${x} {x} {{}} {{ }}",
        "{{ 1x }}",
    ],
)
def test_anything_but_a_plain_name_is_left_as_written(text):
    assert render(text, (Variable("x", default="v"),), {}, "p") == text


def test_spaces_inside_the_braces_are_allowed():
    assert render("a {{x}} b {{ x }} c {{\tx\n}}", (), {"x": "1"}, "p") == "a 1 b 1 c 1"


def test_nested_braces_substitute_the_inner_name_only():
    assert render("{{{x}}}", (), {"x": "v"}, "p") == "{v}"
    assert render("{{ {{x}} }}", (), {"x": "v"}, "p") == "{{ v }}"


def test_a_value_containing_a_placeholder_stays_literal():
    out = render("{{x}} and {{y}}", (), {"x": "{{y}}", "y": "{{x}}"}, "p")
    assert out == "{{y}} and {{x}}"


def test_values_are_text_booleans_and_numbers_as_json():
    variables = parse_variables(
        [
            {"name": "s"},
            {"name": "b", "type": "boolean"},
            {"name": "i", "type": "integer"},
            {"name": "n", "type": "number"},
        ]
    )
    out = render(
        "{{s}}|{{b}}|{{i}}|{{n}}", variables, {"s": "<&>", "b": False, "i": 3, "n": 2.5}, "p"
    )
    assert out == "<&>|false|3|2.5"
    assert render("{{b}} {{i}}", variables, {"b": True, "i": 4.0}, "p") == "true 4"


# --- variables_in drives the editor --------------------------------------------------------


def test_variables_in_lists_names_in_first_seen_order_once():
    assert variables_in("{{b}} {{ a }} {{b}}", "", "{{c}} {{a}} {{x.y}}") == ["b", "a", "c"]
    assert variables_in("no placeholders") == []
    assert variables_in("{{" + "a" * 64 + "}}") == ["a" * 64]
    assert variables_in("{{" + "a" * 65 + "}}") == []


# --- values are checked before anything is substituted -----------------------------------


def test_a_missing_required_variable_is_named():
    variables = (Variable("customer", required=True),)
    caught = error(render, "Hi {{customer}}", variables, {}, "support@production")
    assert caught.field == "prompt_variables.customer"
    assert caught.message == "support@production needs variable customer"


def test_an_undeclared_name_in_the_text_is_a_required_string():
    caught = error(render, "Hi {{name}}", (), {}, "support@v2")
    assert (caught.field, caught.message) == (
        "prompt_variables.name",
        "support@v2 needs variable name",
    )
    assert error(render, "Hi {{name}}", (), {"name": 3}, "p").field == "prompt_variables.name"
    assert render("Hi {{name}}", (), {"name": "Ann"}, "p") == "Hi Ann"


def test_an_unknown_variable_is_named():
    caught = error(render, "Hi", (Variable("a"),), {"a": "1", "b": "2"}, "support@production")
    assert caught.field == "prompt_variables.b"
    assert caught.message == "b is not a variable of support@production"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("string", 3),
        ("string", {"a": 1}),
        ("integer", 1.5),
        ("integer", True),
        ("integer", "3"),
        ("number", "3"),
        ("number", False),
        ("boolean", 1),
        ("boolean", "true"),
        ("string", ["a"]),
        ("number", float("nan")),
    ],
)
def test_a_value_of_the_wrong_type_is_named(kind, value):
    caught = error(render, "{{v}}", (Variable("v", type=kind),), {"v": value}, "p")
    assert caught.field == "prompt_variables.v"
    assert f"must be a{'n' if kind[0] in 'aeiou' else ''} {kind}" in caught.message


def test_defaults_fill_what_is_not_sent_and_null_counts_as_not_sent():
    variables = parse_variables(
        [
            {"name": "tone", "default": "friendly"},
            {"name": "limit", "type": "integer", "default": 50},
        ]
    )
    assert render("{{tone}} {{limit}}", variables, {}, "p") == "friendly 50"
    assert render("{{tone}} {{limit}}", variables, {"tone": None, "limit": 9}, "p") == "friendly 9"
    # an optional variable with no default renders empty
    assert render("[{{note}}]", (Variable("note"),), {}, "p") == "[]"


def test_values_must_be_an_object():
    assert error(render_all, "x", [], (), ["a"], "p").field == "prompt_variables"


def test_render_all_checks_every_text_then_substitutes_copies():
    messages = [
        {"role": "user", "content": "Example for {{product}}"},
        {"role": "assistant", "content": "Sure, {{customer}}."},
    ]
    variables = (Variable("customer", required=True),)
    caught = error(
        render_all, "You help {{customer}}.", messages, variables, {"customer": "A"}, "p"
    )
    assert caught.field == "prompt_variables.product"  # used only in a message: still required
    system, out = render_all(
        "You help {{customer}}.",
        messages,
        variables,
        {"customer": "Acme", "product": "anvils"},
        "p",
    )
    assert system == "You help Acme."
    assert out == [
        {"role": "user", "content": "Example for anvils"},
        {"role": "assistant", "content": "Sure, Acme."},
    ]
    assert messages[0]["content"] == "Example for {{product}}"  # the version is not touched
    assert render_all("plain", [], (), None, "p") == ("plain", [])


# --- declarations ----------------------------------------------------------------------------


def test_parse_variables_reads_the_json_list():
    parsed = parse_variables(
        [
            {"name": "customer", "required": True, "description": "who asks"},
            {"name": "limit", "type": "integer", "default": 100},
        ]
    )
    assert parsed == (
        Variable("customer", "string", None, True, "who asks"),
        Variable("limit", "integer", 100, False, ""),
    )
    assert parse_variables(None) == () and parse_variables([]) == ()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"name": "a"}, "variables"),
        (["a"], "variables[0]"),
        ([{"name": "ok"}, {"name": "1bad"}], "variables[1].name"),
        ([{"name": "a.b"}], "variables[0].name"),
        ([{"name": "a" * 65}], "variables[0].name"),
        ([{}], "variables[0].name"),
        ([{"name": "a"}, {"name": "a"}], "variables[1].name"),
        ([{"name": "ok"}, {"name": "a", "type": "date"}], "variables[1].type"),
        ([{"name": "a", "required": "yes"}], "variables[0].required"),
        ([{"name": "a", "type": "integer", "default": "x"}], "variables[0].default"),
        ([{"name": "a", "required": True, "default": "x"}], "variables[0].default"),
        ([{"name": "a", "description": 3}], "variables[0].description"),
        ([{"name": "a", "colour": "red"}], "variables[0].colour"),
        ([{"name": f"v{i}"} for i in range(101)], "variables"),
    ],
)
def test_parse_variables_names_the_bad_entry(raw, field):
    assert error(parse_variables, raw).field == field


def test_parse_variables_names_the_caller_s_field():
    assert error(parse_variables, [{"name": "a", "type": "x"}], "version.variables").field == (
        "version.variables[0].type"
    )


# --- fast enough for every call ----------------------------------------------------------------


def test_rendering_a_2kb_system_text_with_5_variables_is_fast():
    body = "Keep answers short, cite the documentation, never invent product names. " * 30
    text = (
        "For {{customer}} about {{product}}. "
        + body[:1960]
        + " In {{lang}}, {{tone}}, {{limit}} words."
    )
    variables = parse_variables(
        [
            {"name": "customer", "required": True},
            {"name": "product"},
            {"name": "tone", "default": "friendly"},
            {"name": "lang", "default": "English"},
            {"name": "limit", "type": "integer", "default": 100},
        ]
    )
    values = {"customer": "Acme", "product": "anvils"}
    assert len(text) > 2000 and len(variables_in(text)) == 5
    runs = 2000
    best = min(timeit.repeat(lambda: render(text, variables, values, "p"), number=runs, repeat=5))
    # ~5 us on a quiet machine; the bound leaves room for a busy shared CI box
    assert best / runs < 100e-6
