"""The Odoo-free pure rules: phone numbers, status order, keywords, SMS segments, rendering."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.keywords import match_keyword, normalize, opt_command, parse_keywords
from tools.phone import InvalidPhoneNumber, e164_to_wa_id, region_of, timezone_of, to_e164, wa_id_to_e164
from tools.rendering import (
    MissingTemplateValues,
    TemplateError,
    count_check,
    meta_components,
    placeholders,
    render,
    validate_positional,
)
from tools.segments import sms_info
from tools.status import STATUSES, is_forward, next_status


# Phone numbers
@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+32 470 12 34 56", None, "+32470123456"),
        ("0470123456", "BE", "+32470123456"),
        ("0032 470 12 34 56", None, "+32470123456"),
        ("whatsapp:+14155238886", None, "+14155238886"),
        ("tel:+44 7911 123456", None, "+447911123456"),
        ("(415) 555-2671", "us", "+14155552671"),
    ],
)
def test_to_e164_normalises(raw, region, expected):
    assert to_e164(raw, default_region=region) == expected


@pytest.mark.parametrize("raw", ["", "hello", "0470123456", "+32 12", "+999 123456789"])
def test_to_e164_refuses_invalid(raw):
    with pytest.raises(InvalidPhoneNumber):
        to_e164(raw)


def test_whatsapp_ids_round_trip():
    assert wa_id_to_e164("32470123456") == "+32470123456"
    assert e164_to_wa_id("+32470123456") == "32470123456"
    with pytest.raises(InvalidPhoneNumber):
        wa_id_to_e164("123")


def test_region_and_timezone():
    assert region_of("+32470123456") == "BE"
    assert timezone_of("+32470123456") == "Europe/Brussels"
    assert timezone_of("not a number") is None


@given(st.text(max_size=30))
def test_to_e164_only_raises_invalid_phone_number(text):
    try:
        result = to_e164(text)
    except InvalidPhoneNumber:
        return
    assert result.startswith("+") and result[1:].isdigit()


# Status order
@pytest.mark.parametrize(
    ("current", "new", "forward"),
    [
        ("queued", "sent", True),
        ("sent", "delivered", True),
        ("delivered", "read", True),
        ("queued", "read", True),
        ("delivered", "sent", False),
        ("read", "delivered", False),
        ("sent", "sent", False),
        ("sent", "failed", True),
        ("delivered", "failed", False),
        ("read", "failed", False),
        ("failed", "sent", False),
        ("failed", "delivered", True),
        ("failed", "read", True),
        ("sent", "bogus", False),
        (None, "sent", True),
    ],
)
def test_is_forward(current, new, forward):
    assert is_forward(current, new) is forward


@given(st.lists(st.sampled_from(STATUSES), max_size=12))
def test_status_never_moves_backwards(updates):
    rank = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}
    status = "queued"
    for new in updates:
        kept = next_status(status, new)
        if status in rank and kept in rank:
            assert rank[kept] >= rank[status]
        status = kept
    if "read" in updates:
        assert status == "read"


# Keywords
def test_normalize_and_match():
    assert normalize("  Ça   VA, très bien!  ") == "ca va tres bien"
    assert parse_keywords("join, Start ,  HELP me,,") == ["join", "Start", "HELP me"]
    assert match_keyword("I want to JOIN now", ["join"]) == "join"
    assert match_keyword("Rejoin", ["join"]) is None
    assert match_keyword("new   Order please", ["price", "New order"]) == "New order"
    assert match_keyword("café", ["CAFE"]) == "CAFE"
    assert match_keyword("", ["x"]) is None


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("STOP", "opt_out"),
        ("stop.", "opt_out"),
        (" Unsubscribe ", "opt_out"),
        ("cancel", "opt_out"),
        ("please stop calling", None),
        ("start", "opt_in"),
        ("Yes", "opt_in"),
        ("HELP", "help"),
        ("", None),
    ],
)
def test_opt_command(text, command):
    assert opt_command(text) == command


def test_opt_command_extra_words():
    assert opt_command("arrêt", extra_out=("ARRET",)) == "opt_out"
    assert opt_command("arrêt") is None


# SMS segments
@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),
        ("é" * 160, "GSM-7", 160, 1),
        ("ć" * 70, "UCS-2", 70, 1),
        ("ć" * 71, "UCS-2", 71, 2),
        ("😀" * 35, "UCS-2", 70, 1),
        ("😀" * 36, "UCS-2", 72, 2),
    ],
)
def test_sms_info(text, encoding, units, segments):
    info = sms_info(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


def test_extension_character_is_not_split_across_segments():
    # 152 plain characters then an escape pair: the pair cannot start at septet 153.
    info = sms_info("a" * 152 + "€" + "a" * 10)
    assert info.segments == 2
    assert info.remaining == 153 - 12


@given(st.text(max_size=500))
def test_sms_info_is_consistent(text):
    info = sms_info(text)
    assert info.segments * info.per_segment >= info.units
    assert 0 <= info.remaining <= info.per_segment


# Rendering
def test_placeholders_and_render():
    text = "Hello {{1}}, your order {{2}} ships {{ 1 }}"
    assert placeholders(text) == ["1", "2"]
    assert render(text, {1: "Ann", "2": "#42"}) == "Hello Ann, your order #42 ships Ann"
    assert render("Hi {{first_name}}", {"first_name": "Bo"}) == "Hi Bo"


def test_render_reports_every_missing_value():
    with pytest.raises(MissingTemplateValues) as caught:
        render("{{1}} {{2}} {{3}}", {"2": "x"})
    assert caught.value.missing == ["1", "3"]


@pytest.mark.parametrize("text", ["{{1}} {{3}}", "{{2}}", "{{1}} {{name}}"])
def test_validate_positional_refuses(text):
    with pytest.raises(TemplateError):
        validate_positional(text)


def test_validate_positional_accepts():
    validate_positional("{{1}} and {{2}} then {{1}}")
    validate_positional("no placeholder")


def test_count_check_reports_extra_values():
    assert count_check("{{1}}", {"1": "a", "2": "b"}) == ["2"]


def test_meta_components():
    components = meta_components(
        ["Ann", 42],
        header={"type": "image", "link": "https://x/y.png"},
        buttons=[{"index": 0, "sub_type": "url", "value": "abc"}],
    )
    assert components == [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x/y.png"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "abc"}]},
    ]


def test_failures_are_explained_in_words():
    from tools.errors import NOT_ON_WHATSAPP, OPTED_OUT, REFUSED, UNKNOWN, WINDOW, explain

    assert explain("meta", 131026) is NOT_ON_WHATSAPP
    assert explain("meta", "131047") is WINDOW
    assert explain("twilio", "21610") is OPTED_OUT
    assert explain("custom", "refused") is REFUSED
    assert explain("infobip", "nonsense") is UNKNOWN
    assert explain(None, None) is UNKNOWN
    assert explain("meta", "131026").todo
