"""WhatsApp reply buttons and lists: Meta's exact shape, and every limit refused with a clear reason."""

import re

import pytest

from tools.interactive import (
    InteractiveError,
    build_buttons,
    build_from_text,
    build_list,
    options_of,
    parse_options,
    preview,
    validate,
)


def test_buttons_have_meta_shape():
    payload = build_buttons("Confirm your visit?", ["Yes", {"id": "no", "title": "No"}], header="Visit", footer="Acme")
    assert payload == {
        "type": "button",
        "header": {"type": "text", "text": "Visit"},
        "body": {"text": "Confirm your visit?"},
        "footer": {"text": "Acme"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "option-1", "title": "Yes"}},
                {"type": "reply", "reply": {"id": "no", "title": "No"}},
            ]
        },
    }
    assert validate(payload) is payload
    # Empty Odoo fields (False) are no header or footer.
    assert build_buttons("Ok?", ["Yes"], header=False, footer=False) == {
        "type": "button",
        "body": {"text": "Ok?"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "option-1", "title": "Yes"}}]},
    }


def test_list_has_meta_shape():
    payload = build_list(
        "Pick a slot",
        "Slots",
        [
            {"title": "Morning", "rows": ["9:00", {"id": "ten", "title": "10:00", "description": "Short wait"}]},
            {"title": "Afternoon", "rows": ["14:00"]},
        ],
    )
    assert payload == {
        "type": "list",
        "body": {"text": "Pick a slot"},
        "action": {
            "button": "Slots",
            "sections": [
                {
                    "title": "Morning",
                    "rows": [
                        {"id": "option-1", "title": "9:00"},
                        {"id": "ten", "title": "10:00", "description": "Short wait"},
                    ],
                },
                {"title": "Afternoon", "rows": [{"id": "option-3", "title": "14:00"}]},
            ],
        },
    }
    assert validate(payload) is payload
    assert options_of(payload) == ["9:00", "10:00", "14:00"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: build_buttons("Hi", []), "at least one option"),
        (lambda: build_buttons("Hi", ["a", "b", "c", "d"]), "at most 3 reply buttons"),
        (lambda: build_buttons("Hi", ["x" * 21]), "Button 1's title is 21 characters long: at most 20"),
        (lambda: build_buttons("Hi", ["ok", " "]), "Button 2 has no title"),
        (lambda: build_buttons("Hi", [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]), "same id 'a'"),
        (lambda: build_buttons("Hi", ["Yes", "yes"]), "same title 'yes'"),
        (lambda: build_buttons("", ["Yes"]), "needs a body text"),
        (lambda: build_buttons("x" * 1025, ["Yes"]), "The body is 1025 characters long: at most 1024"),
        (lambda: build_buttons("Hi", ["Yes"], header="h" * 61), "The header is 61 characters long"),
        (lambda: build_buttons("Hi", ["Yes"], footer="f" * 61), "The footer is 61 characters long"),
        (lambda: build_list("Hi", "", [{"rows": ["a"]}]), "label of the button"),
        (lambda: build_list("Hi", "b" * 21, [{"rows": ["a"]}]), "list button's label is 21"),
        (lambda: build_list("Hi", "Go", []), "at least one option"),
        (lambda: build_list("Hi", "Go", [{"rows": [str(i) for i in range(11)]}]), "at most 10 options in a list"),
        (
            lambda: build_list("Hi", "Go", [{"title": f"S{i}", "rows": ["a"]} for i in range(11)]),
            "at most 10 sections",
        ),
        (lambda: build_list("Hi", "Go", [{"rows": ["a"]}, {"title": "B", "rows": ["b"]}]), "Section 1 needs a title"),
        (lambda: build_list("Hi", "Go", [{"title": "A", "rows": []}]), "Section 1 has no options"),
        (lambda: build_list("Hi", "Go", [{"rows": ["r" * 25]}]), "Option 1's title is 25 characters long"),
        (
            lambda: build_list("Hi", "Go", [{"rows": [{"title": "a", "description": "d" * 73}]}]),
            "Option 1's description is 73",
        ),
        (lambda: build_list("Hi", "Go", [{"rows": [{"id": "x", "title": "a"}, {"id": "x", "title": "b"}]}]), "'x'"),
        (lambda: build_list("Hi", "Go", [{"title": "s" * 25, "rows": ["a"]}]), "Section 1's title is 25"),
    ],
)
def test_limits_are_refused_with_the_reason(build, message):
    with pytest.raises(InteractiveError, match=re.escape(message)):
        build()


def test_duplicate_button_titles_are_refused():
    with pytest.raises(InteractiveError, match="Two buttons have the same title 'yes'"):
        build_buttons("Hi", [{"id": "1", "title": "Yes"}, {"id": "2", "title": "yes"}])


def test_validate_checks_payloads_built_elsewhere():
    with pytest.raises(InteractiveError, match="at most 3 reply buttons"):
        validate(
            {
                "type": "button",
                "body": {"text": "Hi"},
                "action": {"buttons": [{"reply": {"id": str(i), "title": str(i)}} for i in range(4)]},
            }
        )
    with pytest.raises(InteractiveError, match="Every button needs an id"):
        validate({"type": "button", "body": {"text": "Hi"}, "action": {"buttons": [{"reply": {"title": "A"}}]}})
    with pytest.raises(InteractiveError, match="Every list option needs an id"):
        validate(
            {
                "type": "list",
                "body": {"text": "Hi"},
                "action": {"button": "Go", "sections": [{"rows": [{"title": "A"}]}]},
            }
        )
    with pytest.raises(InteractiveError, match='version "3"'):  # flows are checked too (tests/unit/test_flows.py)
        validate({"type": "flow", "body": {"text": "Hi"}, "action": {"name": "flow"}})


def test_options_text_one_per_line_with_sections_and_descriptions():
    text = "[Morning]\n9:00 | early\n\n10:00\n[Afternoon]\n14:00\n"
    assert parse_options(text) == [
        {
            "title": "Morning",
            "rows": [{"title": "9:00", "description": "early"}, {"title": "10:00", "description": ""}],
        },
        {"title": "Afternoon", "rows": [{"title": "14:00", "description": ""}]},
    ]
    assert parse_options("Yes\nNo") == [
        {"title": "", "rows": [{"title": "Yes", "description": ""}, {"title": "No", "description": ""}]}
    ]
    listed = build_from_text("list", "Pick", text, button="Slots")
    assert [s["title"] for s in listed["action"]["sections"]] == ["Morning", "Afternoon"]
    assert listed["action"]["sections"][0]["rows"][0] == {"id": "option-1", "title": "9:00", "description": "early"}
    assert build_from_text("button", "Ok?", "Yes\nNo")["action"]["buttons"][1]["reply"] == {
        "id": "option-2",
        "title": "No",
    }
    with pytest.raises(InteractiveError, match="Reply buttons have no sections"):
        build_from_text("button", "Ok?", "[A]\nYes")
    with pytest.raises(InteractiveError, match="Reply buttons have no descriptions"):
        build_from_text("button", "Ok?", "Yes | sure")


def test_preview_shows_the_options():
    buttons = build_buttons("Confirm?", ["Yes", "No"], header="Visit")
    assert preview(buttons) == "Visit\nConfirm?\n[ Yes ]\n[ No ]"
    listed = build_list("Pick", "Slots", [{"title": "Morning", "rows": [{"title": "9:00", "description": "early"}]}])
    assert preview(listed) == "Pick\n☰ Slots\nMorning:\n  • 9:00 (early)"
    assert preview(None) == ""
