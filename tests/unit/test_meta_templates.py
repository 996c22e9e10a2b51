"""WhatsApp templates at Meta, Odoo-free: Meta's rules, the create request, sync pages, the send
components and the preview; the provider's template calls against the simulator (create, paging,
resumable upload, review posted back as a signed webhook)."""

import hashlib
import hmac
import json

import pytest
import requests

from tools.meta_templates import (
    BODY_MAX,
    Button,
    TemplateDraft,
    create_payload,
    edit_payload,
    missing_values,
    next_cursor,
    parse_page,
    parse_template,
    preview_text,
    send_components,
    template_keys,
    validate,
)
from tools.providers import MetaCloudProvider, ProviderError, WebhookRequest
from tools.simulator.control import configure

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


def draft(**values):
    base = {
        "name": "order_shipped",
        "language": "en_US",
        "category": "MARKETING",
        "body": "Hello {{1}}, your order {{2}} has shipped.",
        "examples": {"1": "Ann", "2": "#42"},
    }
    return TemplateDraft(**{**base, **values})


def codes(template):
    return [issue.code for issue in validate(template)]


# Meta's rules
def test_a_complete_template_passes():
    template = draft(
        header_format="TEXT",
        header_text="Order {{1}}",
        examples={"1": "Ann", "2": "#42", "header_1": "#42", "url_1": "42", "code": "SAVE10"},
        footer="Reply STOP to opt out",
        buttons=(
            Button("QUICK_REPLY", "Yes"),
            Button("QUICK_REPLY", "No"),
            Button("URL", "Track", url="https://shop.example/track/{{1}}", example="42"),
            Button("PHONE_NUMBER", "Call us", phone_number="+32 470 12 34 56"),
            Button("COPY_CODE", example="SAVE10"),
        ),
    )
    assert validate(template) == []


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"name": "Order Shipped"}, "name"),
        ({"language": ""}, "language"),
        ({"category": "PROMO"}, "category"),
        ({"body": " "}, "body_missing"),
        ({"body": "Hi {{1}} " + "x" * BODY_MAX, "examples": {"1": "a"}}, "body_too_long"),
        ({"body": "Hi {{1}} and {{3}}.", "examples": {"1": "a", "3": "c"}}, "body_gap"),
        ({"body": "Hi {{name}}.", "examples": {"name": "a"}}, "body_named"),
        ({"body": "{{1}}, hello", "examples": {"1": "a"}}, "body_edge"),
        ({"body": "Hello {{1}}", "examples": {"1": "a"}}, "body_edge"),
        ({"examples": {"1": "Ann"}}, "example_missing"),
        ({"header_format": "TEXT", "header_text": "x" * 61}, "header_too_long"),
        ({"header_format": "TEXT", "header_text": "{{1}} and {{2}}"}, "header_variables"),
        ({"header_format": "TEXT", "header_text": "Order {{1}}"}, "example_missing"),
        ({"header_format": "TEXT", "header_text": ""}, "header_text_missing"),
        ({"header_format": "IMAGE"}, "header_sample_missing"),
        ({"footer": "y" * 61}, "footer_too_long"),
        ({"footer": "Bye {{1}}"}, "footer_variables"),
        ({"buttons": tuple(Button("QUICK_REPLY", f"R{i}") for i in range(11))}, "too_many_buttons"),
        ({"buttons": (Button("QUICK_REPLY", "z" * 26),)}, "button_text_too_long"),
        ({"buttons": (Button("QUICK_REPLY", ""),)}, "button_text_missing"),
        ({"buttons": tuple(Button("URL", "Go", url=f"https://x.example/{i}") for i in range(3))}, "too_many_of_type"),
        ({"buttons": (Button("URL", "Go", url="https://x.example/" + "a" * 2000),)}, "url_too_long"),
        ({"buttons": (Button("URL", "Go", url="ftp://x.example"),)}, "url_invalid"),
        ({"buttons": (Button("URL", "Go", url="https://x.example/{{1}}/track"),)}, "url_variable"),
        ({"buttons": (Button("URL", "Go", url="https://x.example/{{1}}"),)}, "example_missing"),
        ({"buttons": (Button("PHONE_NUMBER", "Call", phone_number="call me"),)}, "phone_invalid"),
        ({"buttons": (Button("COPY_CODE"),)}, "code_example_missing"),
        ({"buttons": (Button("COPY_CODE", example="C" * 16),)}, "code_example_too_long"),
        ({"category": "UTILITY", "buttons": (Button("COPY_CODE", example="SAVE"),)}, "code_not_marketing"),
        (
            {
                "buttons": (
                    Button("QUICK_REPLY", "Yes"),
                    Button("URL", "Go", url="https://x.example"),
                    Button("QUICK_REPLY", "No"),
                )
            },
            "buttons_not_grouped",
        ),
        ({"category": "AUTHENTICATION", "header_format": "TEXT", "header_text": "Code"}, "auth_header"),
        ({"category": "AUTHENTICATION"}, "auth_buttons"),
    ],
)
def test_each_rule_of_meta_is_reported(values, code):
    assert code in codes(draft(**values))


def test_issues_read_in_english_with_their_values():
    [issue] = validate(draft(footer="y" * 61))
    assert str(issue) == "The footer has 61 characters: Meta allows 60."
    [issue] = validate(draft(examples={"1": "Ann"}))
    assert "{{2}}" in str(issue)


def test_quick_replies_after_the_other_buttons_are_grouped():
    buttons = (Button("URL", "Go", url="https://x.example"), Button("QUICK_REPLY", "Yes"), Button("QUICK_REPLY", "No"))
    assert codes(draft(buttons=buttons)) == []


# The create request
def test_create_payload_has_every_component_with_its_examples():
    template = draft(
        header_format="IMAGE",
        has_header_sample=True,
        footer="Thanks",
        examples={"1": "Ann", "2": "#42", "url_1": "42", "code": "SAVE10"},
        buttons=(
            Button("URL", "Track", url="https://shop.example/t/{{1}}", example="42"),
            Button("COPY_CODE", example="SAVE10"),
            Button("QUICK_REPLY", "Stop"),
        ),
    )
    payload = create_payload(template, header_handle="4::aGVsbG8=")
    assert payload == {
        "name": "order_shipped",
        "language": "en_US",
        "category": "MARKETING",
        "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aGVsbG8="]}},
            {
                "type": "BODY",
                "text": "Hello {{1}}, your order {{2}} has shipped.",
                "example": {"body_text": [["Ann", "#42"]]},
            },
            {"type": "FOOTER", "text": "Thanks"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Track",
                        "url": "https://shop.example/t/{{1}}",
                        "example": ["https://shop.example/t/42"],
                    },
                    {"type": "COPY_CODE", "example": "SAVE10"},
                    {"type": "QUICK_REPLY", "text": "Stop"},
                ],
            },
        ],
    }
    assert edit_payload(template, "4::aGVsbG8=") == {"category": "MARKETING", "components": payload["components"]}
    with pytest.raises(ValueError):
        create_payload(template)  # a media header needs its uploaded sample


def test_create_payload_text_header_and_authentication():
    payload = create_payload(
        draft(header_format="TEXT", header_text="Order {{1}}", examples={"1": "a", "2": "b", "header_1": "#1"})
    )
    assert payload["components"][0] == {
        "type": "HEADER",
        "format": "TEXT",
        "text": "Order {{1}}",
        "example": {"header_text": ["#1"]},
    }
    auth = create_payload(draft(category="AUTHENTICATION", buttons=(Button("COPY_CODE", "Copy code", example="1"),)))
    assert auth["components"] == [
        {"type": "BODY", "add_security_recommendation": True},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]},
    ]


# Sync
META_ITEM = {
    "id": "594425479261596",
    "name": "spring_sale",
    "language": "en_US",
    "status": "REJECTED",
    "category": "MARKETING",
    "parameter_format": "POSITIONAL",
    "rejected_reason": "INVALID_FORMAT",
    "quality_score": {"score": "YELLOW", "date": 1700000000},
    "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Sale {{1}}", "example": {"header_text": ["today"]}},
        {"type": "BODY", "text": "Hi {{1}}, {{2}} off", "example": {"body_text": [["Ann", "20%"]]}},
        {"type": "FOOTER", "text": "Bye"},
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "URL",
                    "text": "Shop",
                    "url": "https://x.example/s/{{1}}",
                    "example": ["https://x.example/s/abc"],
                },
                {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550051310"},
                {"type": "COPY_CODE", "text": "Copy offer code", "example": ["SAVE20"]},
            ],
        },
    ],
}


def test_parse_template_reads_status_quality_and_components():
    template = parse_template(META_ITEM)
    assert (template.status, template.rejected_reason, template.quality, template.category) == (
        "rejected",
        "INVALID_FORMAT",
        "yellow",
        "MARKETING",
    )
    assert (template.header_format, template.header_text, template.body, template.footer) == (
        "TEXT",
        "Sale {{1}}",
        "Hi {{1}}, {{2}} off",
        "Bye",
    )
    assert [b.type for b in template.buttons] == ["URL", "PHONE_NUMBER", "COPY_CODE"]
    assert template.examples == {"header_1": "today", "1": "Ann", "2": "20%", "url_1": "abc", "code": "SAVE20"}


def test_parse_template_tolerates_odd_items():
    assert parse_template({"name": "x"}) is None
    assert parse_template("nonsense") is None
    odd = parse_template({"name": "x", "language": "fr", "status": "SOMETHING_NEW", "components": ["?", {"type": 3}]})
    assert (odd.status, odd.meta_status, odd.body, odd.buttons) == (None, "SOMETHING_NEW", "", ())
    assert parse_template({**META_ITEM, "status": "REINSTATED"}).status == "approved"


def test_pages_follow_after_only_while_meta_gives_next():
    last = {"data": [META_ITEM], "paging": {"cursors": {"before": "QVFI", "after": "QVFJ"}}}
    assert parse_page(last) == ([parse_template(META_ITEM)], None)
    more = {"data": [META_ITEM, {"bad": 1}], "paging": {"cursors": {"after": "QVFJ"}, "next": "https://graph/..."}}
    templates, after = parse_page(more)
    assert (len(templates), after) == (1, "QVFJ")
    assert next_cursor({"data": []}) is None


# Sending and previews
BUTTONS = (
    Button("QUICK_REPLY", "Stop"),
    Button("URL", "Track", url="https://shop.example/t/{{1}}"),
    Button("COPY_CODE", example="SAVE10"),
)


def test_keys_and_missing_values():
    keys = template_keys("TEXT", "Order {{1}}", "Hi {{1}} {{2}}", BUTTONS)
    assert keys == ["header_1", "1", "2", "url_1", "code"]
    assert missing_values("TEXT", "Order {{1}}", "Hi {{1}} {{2}}", BUTTONS, {"1": "a", "2": "b", "code": "X"}) == [
        "header_1",
        "url_1",
    ]


def test_send_components_carry_header_body_and_button_parameters():
    values = {"1": "Ann\nSmith", "2": "#42", "url_1": "42", "code": "SAVE10"}
    components = send_components("IMAGE", "", "Hi {{1}} {{2}}", BUTTONS, values, {"link": "https://x/y.png"})
    assert components == [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x/y.png"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ann Smith"}, {"type": "text", "text": "#42"}]},
        {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "42"}]},
        {
            "type": "button",
            "sub_type": "copy_code",
            "index": "2",
            "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}],
        },
    ]
    document = send_components("DOCUMENT", "", "Hi", (), {}, {"id": "123", "filename": "a.pdf"})
    assert document[0]["parameters"] == [{"type": "document", "document": {"id": "123", "filename": "a.pdf"}}]
    named = send_components("TEXT", "Hi {{1}}", "Dear {{first}}", (), {"header_1": "you", "first": "Ann"}, named=True)
    assert named == [
        {"type": "header", "parameters": [{"type": "text", "text": "you"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ann", "parameter_name": "first"}]},
    ]


def test_preview_shows_the_whole_message():
    text = preview_text("TEXT", "Order {{1}}", "Hi {{1}}, {{2}}", "Thanks", BUTTONS, {"header_1": "#42", "1": "Ann"})
    assert text == "*Order #42*\nHi Ann, {{2}}\n_Thanks_\n\n↩ Stop\n↗ Track\n⧉ Copy code SAVE10"
    assert preview_text("IMAGE", "", "Hi", "", (), {}) == "[Image]\nHi"


# The provider's template calls, against the simulator
def meta(simulator, waba="waba-tpl"):
    return MetaCloudProvider("100000000000001", "token", app_secret="secret", waba_id=waba, base_url=simulator)


def test_list_templates_follows_every_page(simulator):
    templates = [
        {
            "name": f"t_{i:03d}",
            "language": "en_US",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "x"}],
        }
        for i in range(57)
    ]
    requests.post(f"{simulator}/_sim/templates", json={"waba_id": "waba-tpl", "templates": templates}, timeout=10)
    requests.post(f"{simulator}/_sim/templates", json={"waba_id": "other", "templates": templates[:3]}, timeout=10)
    items = meta(simulator).list_templates(limit=10)
    assert [item["name"] for item in items] == [t["name"] for t in templates]
    assert items[0]["quality_score"]["score"] == "UNKNOWN"
    assert "rejected_reason" in items[0]


def test_create_then_review_posts_a_signed_webhook(simulator, receiver):
    provider = meta(simulator)
    payload = create_payload(draft(category="UTILITY"))
    created = provider.create_template(payload)
    assert (created["status"], created["category"]) == ("PENDING", "UTILITY")
    with pytest.raises(ProviderError) as caught:
        provider.create_template(payload)
    assert "already exists" in str(caught.value)
    answer = requests.post(
        f"{simulator}/_sim/templates/order_shipped/status",
        json={"status": "REJECTED", "reason": "INVALID_FORMAT", "url": receiver.url, "app_secret": "secret"},
        timeout=10,
    ).json()
    assert answer == {"templates": 1, "webhooks": [200]}
    [posted] = receiver.wait_for(1)
    signature = "sha256=" + hmac.new(b"secret", posted["body"], hashlib.sha256).hexdigest()
    assert posted["headers"]["X-Hub-Signature-256"] == signature
    request = WebhookRequest("POST", receiver.url, {"x-hub-signature-256": signature}, posted["body"])
    provider.verify_webhook(request)
    [event] = provider.parse_webhook(request)
    assert (event.template_name, event.status, event.reason, event.template_id) == (
        "order_shipped",
        "REJECTED",
        "INVALID_FORMAT",
        created["id"],
    )
    assert parse_template(provider.list_templates()[0]).status == "rejected"
    # Edited, it is pending again
    provider.edit_template(
        created["id"], edit_payload(draft(category="UTILITY", body="Hello {{1}}, order {{2}} left."))
    )
    assert provider.list_templates()[0]["status"] == "PENDING"


def test_resumable_upload_gives_a_handle_the_template_can_use(simulator):
    provider = meta(simulator)
    handle = provider.upload_resumable("123456789", PNG, "image/png", "sample.png")
    assert handle.startswith("4::")
    template = draft(header_format="IMAGE", has_header_sample=True, category="UTILITY")
    assert provider.create_template(create_payload(template, handle))["status"] == "PENDING"
    with pytest.raises(ProviderError) as caught:
        provider.create_template(create_payload(draft(name="other", header_format="IMAGE"), "4::forged"))
    assert "handle" in str(caught.value).lower()
    with pytest.raises(ProviderError):
        provider.upload_resumable("123456789", PNG, "text/html", "page.html")


def test_sending_a_known_template_checks_its_parameters(simulator):
    provider = meta(simulator)
    buttons = (Button("URL", "Track", url="https://shop.example/t/{{1}}", example="42"),)
    template = draft(category="UTILITY", buttons=buttons, examples={"1": "a", "2": "b", "url_1": "42"})
    provider.create_template(create_payload(template))
    from tools.providers import OutboundMessage, TemplateMessage  # noqa: PLC0415

    values = {"1": "Ann", "2": "#1", "url_1": "42"}
    components = send_components("NONE", "", template.body, buttons, values)
    message = OutboundMessage(to="+32470123456", template=TemplateMessage("order_shipped", "en_US", components))
    with pytest.raises(ProviderError) as caught:
        provider.send(message)  # still pending
    assert caught.value.code == "132001"
    requests.post(f"{simulator}/_sim/templates/order_shipped/status", json={"status": "APPROVED"}, timeout=10)
    assert provider.send(message).provider_message_id.startswith("wamid.")
    short = OutboundMessage(to="+32470123456", template=TemplateMessage("order_shipped", "en_US", components[:1]))
    with pytest.raises(ProviderError) as caught:
        provider.send(short)
    assert caught.value.code == "132000"
    configure(simulator, meta_webhook_url=None)
    assert json.loads(json.dumps(components))  # plain JSON


def test_meta_words_on_a_review_survive_the_queue():
    from pathlib import Path  # noqa: PLC0415

    from tools.providers import event_from_json, event_to_json  # noqa: PLC0415

    body = (Path(__file__).parent / "payloads" / "meta" / "template_status_rejected.json").read_bytes()
    signature = "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    provider = meta("http://127.0.0.1:9")
    [event] = provider.parse_webhook(WebhookRequest("POST", "/", {"x-hub-signature-256": signature}, body))
    assert event.explanation == (
        "Your template has parameters placed next to each other. Separate parameters with descriptive text."
    )
    assert event_from_json(event_to_json(event)) == event
