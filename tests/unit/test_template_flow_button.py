"""WhatsApp templates with a FLOW button, Odoo-free: Meta's rules for the button, the create request,
its reading back from Meta's list, the send components carrying each message's flow token, and the
simulator accepting such a template on create and on send (and refusing what Meta refuses)."""

import pytest
import requests

from tools.interactive import new_flow_token
from tools.meta_templates import (
    Button,
    TemplateDraft,
    create_payload,
    parse_template,
    preview_text,
    send_components,
    template_keys,
    validate,
)
from tools.providers import MetaCloudProvider, OutboundMessage, ProviderError, TemplateMessage
from tools.simulator.control import seed_flows, sent_messages

SIGN_UP = Button("FLOW", "Sign up", flow_id="1234567890", navigate_screen="WELCOME", flow_status="PUBLISHED")


def draft(**values):
    base = {
        "name": "join_us",
        "language": "en_US",
        "category": "MARKETING",
        "body": "Hello {{1}}, join our club in a minute.",
        "examples": {"1": "Ann"},
        "buttons": (SIGN_UP,),
    }
    return TemplateDraft(**{**base, **values})


def codes(template):
    return [issue.code for issue in validate(template)]


# Meta's rules
def test_a_flow_button_with_other_buttons_passes():
    buttons = (SIGN_UP, Button("URL", "Rules", url="https://club.example/rules"), Button("QUICK_REPLY", "Later"))
    assert validate(draft(buttons=buttons)) == []
    assert template_keys("NONE", "", "Hi {{1}} there", buttons) == ["1"], "a flow button takes no variable"


@pytest.mark.parametrize(
    ("button", "code"),
    [
        (Button("FLOW", "Sign up", navigate_screen="WELCOME"), "flow_missing"),
        (Button("FLOW", "Sign up", flow_id="1"), "flow_screen_missing"),
        (Button("FLOW", "Sign up", flow_id="1", navigate_screen="SUCCESS"), "flow_screen_reserved"),
        (Button("FLOW", "Sign up", flow_id="1", navigate_screen="A", flow_status="draft"), "flow_not_published"),
        (Button("FLOW", "", flow_id="1", navigate_screen="A"), "button_text_missing"),
        (Button("FLOW", "s" * 26, flow_id="1", navigate_screen="A"), "button_text_too_long"),
    ],
)
def test_each_flow_button_rule_is_reported(button, code):
    assert code in codes(draft(buttons=(button,)))


def test_one_flow_button_at_most_and_none_in_authentication():
    issues = validate(draft(buttons=(SIGN_UP, SIGN_UP)))
    assert [str(issue) for issue in issues] == ["A template has at most 1 flow button(s)."]
    assert "auth_buttons" in codes(draft(category="AUTHENTICATION", buttons=(SIGN_UP,)))
    [issue] = validate(draft(buttons=(Button("FLOW", "Go", flow_id="7", navigate_screen="A", flow_status="blocked"),)))
    assert str(issue) == "The flow of button 1 is blocked: Meta takes only a published flow."
    throttled = Button("FLOW", "Go", flow_id="7", navigate_screen="A", flow_status="throttled")
    assert validate(draft(buttons=(throttled,))) == []


# Create, sync, send, preview
def test_create_payload_names_the_flow_and_its_first_screen():
    [_body, buttons] = create_payload(draft())["components"]
    assert buttons == {
        "type": "BUTTONS",
        "buttons": [
            {
                "type": "FLOW",
                "text": "Sign up",
                "flow_id": "1234567890",
                "flow_action": "navigate",
                "navigate_screen": "WELCOME",
            }
        ],
    }


def test_a_flow_button_is_read_back_from_meta():
    item = {
        "id": "42",
        "name": "join_us",
        "language": "en_US",
        "status": "APPROVED",
        "components": [
            {"type": "BODY", "text": "Join us"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "FLOW",
                        "text": "Sign up",
                        "flow_id": 1234567890,
                        "flow_action": "NAVIGATE",
                        "navigate_screen": "WELCOME",
                    },
                    {"type": "QUICK_REPLY", "text": "Later"},
                ],
            },
        ],
    }
    template = parse_template(item)
    assert template.buttons[0] == Button("FLOW", "Sign up", flow_id="1234567890", navigate_screen="WELCOME")
    assert template.buttons[1].type == "QUICK_REPLY"
    assert template.examples == {}


def test_send_components_carry_the_flow_token_in_the_buttons_action():
    buttons = (Button("URL", "Rules", url="https://club.example/r/{{1}}"), SIGN_UP)
    components = send_components("NONE", "", "Hi {{1}} there", buttons, {"1": "Ann", "url_1": "7"}, flow_token="tok-1")
    assert components == [
        {"type": "body", "parameters": [{"type": "text", "text": "Ann"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "7"}]},
        {
            "type": "button",
            "sub_type": "flow",
            "index": "1",
            "parameters": [{"type": "action", "action": {"flow_token": "tok-1"}}],
        },
    ]
    first = send_components("NONE", "", "Hi", (SIGN_UP, buttons[0]), {"url_1": "7"}, flow_token="tok-2")
    assert [(c["sub_type"], c["index"]) for c in first] == [("flow", "0"), ("url", "1")], "in the buttons' order"
    with pytest.raises(ValueError, match="flow token"):
        send_components("NONE", "", "Hi", (SIGN_UP,), {})


def test_preview_shows_the_flow_button():
    assert preview_text("NONE", "", "Join us", "", (SIGN_UP,), {}) == "Join us\n\n▸ Sign up"


# Against the simulator
def meta(simulator, waba="waba-flow"):
    return MetaCloudProvider("100000000000001", "token", app_secret="secret", waba_id=waba, base_url=simulator)


def test_the_simulator_takes_a_flow_template_and_its_tokens(simulator):
    provider = meta(simulator)
    template = draft(category="UTILITY")
    assert provider.create_template(create_payload(template))["status"] == "PENDING"
    requests.post(f"{simulator}/_sim/templates/join_us/status", json={"status": "APPROVED"}, timeout=10)
    tokens = [new_flow_token(), new_flow_token()]
    for token in tokens:
        components = send_components("NONE", "", template.body, template.buttons, {"1": "Ann"}, flow_token=token)
        message = OutboundMessage(to="+32470123456", template=TemplateMessage("join_us", "en_US", components))
        assert provider.send(message).provider_message_id.startswith("wamid.")
    sent = [item["body"]["template"]["components"][1] for item in sent_messages(simulator)]
    assert [component["parameters"][0]["action"]["flow_token"] for component in sent] == tokens
    assert tokens[0] != tokens[1]
    # Without the flow button's parameter, or with another kind of parameter: refused.
    body_only = send_components("NONE", "", template.body, (), {"1": "Ann"})
    with pytest.raises(ProviderError) as caught:
        provider.send(OutboundMessage(to="+32470123456", template=TemplateMessage("join_us", "en_US", body_only)))
    assert caught.value.code == "132000"
    wrong = [
        *body_only,
        {"type": "button", "sub_type": "flow", "index": "0", "parameters": [{"type": "text", "text": "x"}]},
    ]
    with pytest.raises(ProviderError) as caught:
        provider.send(OutboundMessage(to="+32470123456", template=TemplateMessage("join_us", "en_US", wrong)))
    assert caught.value.code == "131008"


@pytest.mark.parametrize(
    ("buttons", "words"),
    [
        ((SIGN_UP, Button("FLOW", "Again", flow_id="1234567891", navigate_screen="A")), "one FLOW button"),
        ((Button("FLOW", "Go", navigate_screen="A"),), "flow_id, flow_name or flow_json"),
        ((Button("FLOW", "Go", flow_id="1234567890"),), "names its screen"),
        ((Button("FLOW", "Go", flow_id="1234567892", navigate_screen="A"),), "1234567892 is DRAFT"),
    ],
)
def test_the_simulator_refuses_what_meta_refuses_of_a_flow_button(simulator, buttons, words):
    """Built without the Odoo-side checks (``create_payload`` does not validate): Meta's own refusal."""
    with pytest.raises(ProviderError) as caught:
        meta(simulator).create_template(create_payload(draft(buttons=buttons)))
    assert words in str(caught.value)


def test_the_simulator_checks_the_flow_among_the_accounts_own(simulator):
    seed_flows(simulator, "waba-flow", [{"id": "1234567890", "name": "Sign up", "status": "DEPRECATED"}])
    with pytest.raises(ProviderError) as caught:
        meta(simulator).create_template(create_payload(draft()))
    assert "1234567890 is DEPRECATED" in str(caught.value)
    assert meta(simulator, "waba-other").create_template(create_payload(draft()))["status"] == "PENDING"
