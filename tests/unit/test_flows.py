"""WhatsApp Flows: the flow message in Meta's shape, its limits refused with a clear reason, the
customer's answers (``nfm_reply``) drawn as text, and the Flows list read page by page."""

import json

import pytest

from tools.interactive import (
    InteractiveError,
    build_flow,
    flow_answer_label,
    flow_answers,
    flow_answers_text,
    flow_from_meta,
    flow_token_of,
    new_flow_token,
    preview,
    validate,
)
from tools.providers import OutboundMessage, ProviderError
from tools.providers.meta import MetaCloudProvider
from tools.providers.meta_events import parse_envelope
from tools.simulator.control import seed_flows, sent_messages
from tools.simulator.server import DEFAULT_FLOWS

FLOW = {"body": "Tell us about you", "flow_id": "1234567890", "cta": "Sign up", "screen": "WELCOME", "token": "tok-1"}


def flow(**changes):
    values = {**FLOW, **changes}
    return build_flow(
        values.pop("body"),
        values.pop("flow_id"),
        values.pop("cta"),
        values.pop("screen"),
        values.pop("token"),
        **values,
    )


def test_a_flow_message_in_meta_shape():
    assert flow(header="Acme", footer="Takes a minute") == {
        "type": "flow",
        "header": {"type": "text", "text": "Acme"},
        "body": {"text": "Tell us about you"},
        "footer": {"text": "Takes a minute"},
        "action": {
            "name": "flow",
            "parameters": {
                "flow_message_version": "3",
                "flow_token": "tok-1",
                "flow_id": "1234567890",
                "flow_cta": "Sign up",
                "flow_action": "navigate",
                "flow_action_payload": {"screen": "WELCOME"},
            },
        },
    }


def test_header_footer_and_data_are_optional():
    payload = flow(data={"name": "Ann"})
    assert set(payload) == {"type", "body", "action"}
    assert payload["action"]["parameters"]["flow_action_payload"] == {"screen": "WELCOME", "data": {"name": "Ann"}}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"body": "  "}, "needs a body text"),
        ({"body": "x" * 1025}, "1025 characters long: at most 1024"),
        ({"header": "h" * 61}, "header is 61 characters long: at most 60"),
        ({"footer": "f" * 61}, "footer is 61 characters long: at most 60"),
        ({"cta": ""}, "label of the button that opens the flow"),
        ({"cta": "A label far too long!"}, "21 characters long: at most 20"),
        ({"cta": "Go 🚀"}, "cannot contain emoji"),
        ({"flow_id": ""}, "Choose the flow"),
        ({"status": "DRAFT"}, "is draft: only a published flow can be sent"),
        ({"status": "DEPRECATED"}, "is deprecated"),
        ({"status": None}, "is unknown"),
        ({"screen": ""}, "has no first screen"),
        ({"screen": "SUCCESS"}, "reserved end screen"),
        ({"token": ""}, "needs a flow token"),
        ({"token": "t" * 201}, "flow token is 201 characters long: at most 200"),
        ({"data": {}}, "non-empty object"),
    ],
)
def test_what_meta_would_refuse_is_refused_clearly(changes, error):
    with pytest.raises(InteractiveError, match=error):
        flow(**changes)


def test_a_throttled_flow_can_still_be_sent():
    assert flow(status="THROTTLED")["action"]["parameters"]["flow_id"] == "1234567890"


def test_validate_rebuilds_a_flow_payload():
    payload = flow()
    assert validate(payload) is payload
    broken = json.loads(json.dumps(payload))
    broken["action"]["parameters"]["flow_cta"] = "c" * 25
    with pytest.raises(InteractiveError, match="at most 20"):
        validate(broken)
    broken = json.loads(json.dumps(payload))
    broken["action"]["parameters"]["flow_message_version"] = "2"
    with pytest.raises(InteractiveError, match='version "3"'):
        validate(broken)
    broken = json.loads(json.dumps(payload))
    del broken["action"]["parameters"]["flow_action_payload"]
    with pytest.raises(InteractiveError, match="no first screen"):
        validate(broken)


def test_tokens_are_unique_unguessable_and_found_again():
    tokens = {new_flow_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(token) >= 32 for token in tokens)
    token = new_flow_token()
    assert flow_token_of(flow(token=token)) == token
    assert flow_token_of({"flow_token": token, "flow_response": {}}) == token
    assert flow_token_of({"type": "button", "action": {}}) is None
    assert flow_token_of(None) is None


def test_preview_shows_the_button():
    assert preview(flow(header="Acme")) == "Acme\nTell us about you\n[ ▸ Sign up ]"


def test_answers_are_drawn_as_label_and_value():
    response = {
        "flow_token": "tok-1",
        "screen_0_First_name_0": "Ann",
        "email": "ann@example.com",
        "screen_1_Topics_2": ["billing", "delivery"],
        "newsletter": True,
        "address": {"city": "Ghent"},
    }
    assert flow_answers(response) == {key: value for key, value in response.items() if key != "flow_token"}
    assert flow_answers_text(response) == (
        "First name: Ann\nTopics: billing, delivery\nAddress: City: Ghent\nEmail: ann@example.com\nNewsletter: Yes"
    )
    assert flow_answers_text({"flow_token": "tok-1"}) == ""
    assert flow_answers_text({"response_json": "not json"}) == "not json"
    assert flow_answers_text(None) == ""
    assert flow_answer_label("screen_12_Date_of_birth_3") == "Date of birth"


def test_an_nfm_reply_gives_token_and_answers():
    response = {"flow_token": "tok-9", "screen_0_Email_0": "a@b.c"}
    message = {
        "from": "32470999001",
        "id": "wamid.FLOW",
        "timestamp": "1749416383",
        "type": "interactive",
        "interactive": {
            "type": "nfm_reply",
            "nfm_reply": {"name": "flow", "body": "Sent", "response_json": json.dumps(response)},
        },
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "waba",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": "1"},
                            "contacts": [{"profile": {"name": "Ann"}, "wa_id": "32470999001"}],
                            "messages": [message],
                        },
                    }
                ],
            }
        ],
    }
    [event] = parse_envelope(payload)
    assert (event.flow_token, event.flow_response) == ("tok-9", response)
    assert flow_answers_text(event.flow_response) == "Email: a@b.c"


def meta(simulator, waba="waba-1"):
    return MetaCloudProvider(
        access_token="t", phone_number_id="1", app_secret="s", waba_id=waba, base_url=simulator, api_version="v21.0"
    )


def test_the_simulator_lists_realistic_flows(simulator):
    flows = meta(simulator).list_flows()
    assert [f["id"] for f in flows] == [f["id"] for f in DEFAULT_FLOWS]
    assert {f["status"] for f in flows} == {"PUBLISHED", "DRAFT", "DEPRECATED"}
    assert all(set(f) >= {"id", "name", "status", "categories", "validation_errors"} for f in flows)


def test_flows_are_listed_page_by_page(simulator):
    seeded = [{"id": str(1000 + i), "name": f"Flow {i}", "status": "PUBLISHED"} for i in range(7)]
    seed_flows(simulator, "waba-paged", seeded)
    provider = meta(simulator, "waba-paged")
    assert [f["name"] for f in provider.list_flows(limit=3)] == [f"Flow {i}" for i in range(7)]
    assert [f["categories"] for f in provider.list_flows()][:1] == [["OTHER"]]
    assert meta(simulator, "waba-other").list_flows()[0]["id"] == DEFAULT_FLOWS[0]["id"]


def test_the_simulator_refuses_an_unpublished_flow(simulator):
    provider = meta(simulator)
    draft = flow(flow_id="1234567892")  # a draft flow of DEFAULT_FLOWS; built as if published
    with pytest.raises(ProviderError, match="131009|not valid"):
        provider.send(OutboundMessage(to="+32470123456", interactive=draft))
    provider.send(OutboundMessage(to="+32470123456", interactive=flow()))
    [sent] = sent_messages(simulator)
    assert sent["body"]["interactive"]["action"]["parameters"]["flow_token"] == "tok-1"


def test_flow_from_meta_reads_one_item_of_metas_list():
    assert flow_from_meta({"id": 42, "name": "Sign up", "status": "PUBLISHED", "categories": ["SIGN_UP", "OTHER"]}) == {
        "flow_id": "42",
        "name": "Sign up",
        "status": "published",
        "categories": "Sign up, Other",
    }
    unknown = flow_from_meta({"id": "7", "status": "SOMETHING_NEW"})
    assert (unknown["name"], unknown["status"], unknown["categories"]) == ("7", None, None)
    assert flow_from_meta({"id": "8", "categories": []})["categories"] == ""
