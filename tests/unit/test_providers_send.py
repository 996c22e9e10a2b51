"""Every send operation of every provider, over real HTTP against the simulator."""

import hashlib
import hmac
import json

import pytest

from tools.providers import (
    CONFIG,
    RECIPIENT,
    RETRY,
    WINDOW,
    CustomHttpProvider,
    InfobipProvider,
    MetaCloudProvider,
    OutboundMessage,
    ProviderError,
    SendResult,
    TemplateMessage,
    TwilioProvider,
    WebhookRequest,
)
from tools.rendering import meta_components
from tools.simulator.control import configure, sent_messages

SID = "ACsim000000000000000000000000000000"


def meta(base_url, **kwargs):
    return MetaCloudProvider(
        phone_number_id="100000000000001",
        access_token="token",
        app_secret="secret",
        waba_id="200000000000001",
        base_url=base_url,
        **kwargs,
    )


def twilio(base_url, **kwargs):
    return TwilioProvider(account_sid=SID, auth_token="auth-token", sender="+15005550006", base_url=base_url, **kwargs)


def infobip(base_url):
    return InfobipProvider(base_url=base_url, api_key="key", sender="ACME", webhook_token="t")


def custom(base_url, **kwargs):
    return CustomHttpProvider(
        url=f"{base_url}/custom/send",
        body_template='{"to": "{{to}}", "text": "{{text}}", "from": "{{sender}}", "ref": "{{client_ref}}"}',
        message_id_path="data.id",
        auth_header="Authorization: Bearer gw",
        sender="ACME",
        **kwargs,
    )


def fast(provider):
    provider.backoff = 0.001
    return provider


# Meta
def test_meta_sends_text_with_reply_context(simulator):
    result = meta(simulator).send(OutboundMessage(to="+32470123456", text='He said "hi"\n', reply_to="wamid.X"))
    assert isinstance(result, SendResult) and result.provider_message_id.startswith("wamid.")
    [sent] = sent_messages(simulator)
    assert sent["body"]["to"] == "32470123456"
    assert sent["body"]["text"] == {"body": 'He said "hi"\n', "preview_url": False}
    assert sent["body"]["context"] == {"message_id": "wamid.X"}


def test_meta_sends_template_with_components(simulator):
    template = TemplateMessage("order_shipped", "en_US", meta_components(["Ann", "#42"]))
    meta(simulator).send(OutboundMessage(to="+32470123456", template=template))
    body = sent_messages(simulator)[0]["body"]
    assert body["type"] == "template"
    assert body["template"]["name"] == "order_shipped"
    assert body["template"]["language"] == {"code": "en_US"}
    assert body["template"]["components"][0]["parameters"][1] == {"type": "text", "text": "#42"}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            OutboundMessage(to="+32470123456", media_type="image", media_url="https://x/a.png", text="cap"),
            {"type": "image", "image": {"link": "https://x/a.png", "caption": "cap"}},
        ),
        (
            OutboundMessage(to="+32470123456", media_type="document", media_id="m1", filename="a.pdf"),
            {"type": "document", "document": {"id": "m1", "filename": "a.pdf"}},
        ),
    ],
)
def test_meta_sends_media(simulator, message, expected):
    meta(simulator).send(message)
    body = sent_messages(simulator)[0]["body"]
    assert {key: body[key] for key in expected} == expected


def test_meta_sends_interactive_buttons_and_flows(simulator):
    buttons = {
        "type": "button",
        "body": {"text": "Pick"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "Yes"}}]},
    }
    flow = {
        "type": "flow",
        "body": {"text": "Sign up"},
        "action": {
            "name": "flow",
            "parameters": {"flow_message_version": "3", "flow_token": "tok-1", "flow_id": "123", "flow_cta": "Open"},
        },
    }
    provider = meta(simulator)
    provider.send(OutboundMessage(to="+32470123456", interactive=buttons))
    provider.send(OutboundMessage(to="+32470123456", interactive=flow))
    sent = sent_messages(simulator)
    assert [s["body"]["interactive"] for s in sent] == [buttons, flow]


def test_meta_mark_as_read_templates_flows_media(simulator):
    provider = meta(simulator)
    provider.mark_as_read("wamid.IN")
    created = provider.create_template(
        {
            "name": "welcome",
            "language": "en_US",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hi {{1}}"}],
        }
    )
    assert created["status"] == "PENDING"
    assert [t["name"] for t in provider.list_templates()] == ["welcome"]
    assert provider.list_flows()[0]["id"] == "1234567890"
    media_id = provider.upload_media(b"%PDF-1.4", "application/pdf", "a.pdf")
    content, mime, _name = provider.download_media(media_id)
    assert content.startswith(b"\x89PNG") and mime == "image/png"
    with pytest.raises(ProviderError) as caught:
        provider.download_media(media_id, max_bytes=10)
    assert caught.value.code == "too_large"


@pytest.mark.parametrize(
    ("code", "kind"),
    [("131047", WINDOW), ("131026", RECIPIENT), ("131049", RECIPIENT), ("190", CONFIG), ("131031", CONFIG)],
)
def test_meta_errors_are_classified(simulator, code, kind):
    configure(simulator, fail_next=[int(code)])
    with pytest.raises(ProviderError) as caught:
        meta(simulator).send(OutboundMessage(to="+32470123456", text="x"))
    assert (caught.value.kind, caught.value.code) == (kind, code)
    assert sent_messages(simulator) == []


def test_meta_bad_token_is_a_configuration_error(simulator):
    configure(simulator, meta_access_token="the-right-one")
    with pytest.raises(ProviderError) as caught:
        meta(simulator).send(OutboundMessage(to="+32470123456", text="x"))
    assert caught.value.kind == CONFIG
    assert "token" not in str(caught.value).lower().replace("access token", "")


def test_meta_throttling_is_retried_then_succeeds(simulator):
    configure(simulator, fail_next=[130429, "http:503", 131056])
    result = fast(meta(simulator)).send(OutboundMessage(to="+32470123456", text="x"))
    assert result.provider_message_id
    assert len(sent_messages(simulator)) == 1


def test_retries_stop_after_max_retries(simulator):
    configure(simulator, fail_next=["http:503"] * 5)
    provider = fast(meta(simulator))
    provider.max_retries = 2
    with pytest.raises(ProviderError) as caught:
        provider.send(OutboundMessage(to="+32470123456", text="x"))
    assert caught.value.kind == RETRY
    # 3 attempts used 3 of the 5 failures: the next two sends still fail once each, then succeed.
    assert len(configure(simulator)["fail_next"]) == 2


def test_permanent_errors_are_not_retried(simulator):
    configure(simulator, fail_next=[131026, 131026])
    with pytest.raises(ProviderError):
        fast(meta(simulator)).send(OutboundMessage(to="+32470123456", text="x"))
    assert len(configure(simulator)["fail_next"]) == 1


def test_retry_after_is_honoured():
    provider = meta("http://127.0.0.1:9")
    error = ProviderError(RETRY, "slow down", retry_after=7)
    assert provider._retry_delay(error, 0) == 7
    assert provider._retry_delay(ProviderError(RETRY, "x", retry_after=999), 0) == provider.max_backoff


def test_unreachable_api_is_retryable():
    provider = fast(meta("http://127.0.0.1:9"))
    provider.max_retries = 0
    with pytest.raises(ProviderError) as caught:
        provider.send(OutboundMessage(to="+32470123456", text="x"))
    assert caught.value.kind == RETRY


def test_send_many_keeps_order_and_reports_each_failure(simulator):
    configure(simulator, fail_next=[131026], latency_ms=20)
    provider = meta(simulator)
    results = provider.send_many([OutboundMessage(to="+32470123456", text=str(i)) for i in range(40)], max_in_flight=10)
    failures = [r for r in results if isinstance(r, ProviderError)]
    assert len(results) == 40 and len(failures) == 1 and failures[0].kind == RECIPIENT
    assert len(sent_messages(simulator)) == 39


# Twilio
def test_twilio_sends_sms_with_status_callback(simulator):
    result = twilio(simulator).send(
        OutboundMessage(to="+32470123456", channel="sms", text="hello", status_callback="https://odoo.example/cb")
    )
    assert result.provider_message_id.startswith("SM") and result.status == "queued"
    [sent] = sent_messages(simulator)
    assert sent["body"]["To"] == "+32470123456" and sent["body"]["From"] == "+15005550006"
    assert sent["body"]["StatusCallback"] == "https://odoo.example/cb"


def test_twilio_messaging_service_and_whatsapp(simulator):
    provider = TwilioProvider(account_sid=SID, auth_token="t", messaging_service_sid="MG123", base_url=simulator)
    provider.send(OutboundMessage(to="+32470123456", channel="whatsapp", text="hi", media_url="https://x/a.png"))
    body = sent_messages(simulator)[0]["body"]
    assert body["MessagingServiceSid"] == "MG123" and body["To"] == "whatsapp:+32470123456"
    assert body["MediaUrl"] == "https://x/a.png"


@pytest.mark.parametrize(("code", "kind"), [(21610, RECIPIENT), (21211, RECIPIENT), (63016, WINDOW)])
def test_twilio_errors_are_classified(simulator, code, kind):
    configure(simulator, fail_next=[code])
    with pytest.raises(ProviderError) as caught:
        twilio(simulator).send(OutboundMessage(to="+32470123456", channel="sms", text="x"))
    assert (caught.value.kind, caught.value.code) == (kind, str(code))


def test_twilio_wrong_credentials(simulator):
    configure(simulator, twilio_credentials={SID: "right"})
    with pytest.raises(ProviderError) as caught:
        twilio(simulator).send(OutboundMessage(to="+32470123456", channel="sms", text="x"))
    assert caught.value.kind == CONFIG and caught.value.code == "20003"
    assert "auth-token" not in str(caught.value)


def test_twilio_send_many(simulator):
    results = twilio(simulator).send_many(
        [OutboundMessage(to="+32470123456", channel="sms", text=str(i)) for i in range(20)], max_in_flight=5
    )
    assert all(isinstance(r, SendResult) for r in results)
    assert len({r.provider_message_id for r in results}) == 20


# Infobip
def test_infobip_sends_sms_with_notify_url(simulator):
    result = infobip(simulator).send(
        OutboundMessage(
            to="+32470123456", channel="sms", text="hello", status_callback="https://odoo.example/ib", client_ref="42"
        )
    )
    assert result.provider_message_id == "42", "Infobip takes the messageId we choose: our reference"
    [sent] = sent_messages(simulator)
    assert sent["to"] == "32470123456"
    assert sent["body"]["destinations"] == [{"to": "32470123456", "messageId": "42"}]
    assert sent["body"]["sender"] == "ACME"
    assert sent["body"]["content"]["text"] == "hello"
    assert sent["body"]["webhooks"] == {"delivery": {"url": "https://odoo.example/ib"}, "callbackData": "42"}


def test_infobip_errors(simulator):
    configure(simulator, infobip_api_key="right")
    with pytest.raises(ProviderError) as caught:
        infobip(simulator).send(OutboundMessage(to="+32470123456", channel="sms", text="x"))
    assert caught.value.kind == CONFIG
    configure(simulator, infobip_api_key=None, fail_next=["http:429"])
    result = fast(infobip(simulator)).send(OutboundMessage(to="+32470123456", channel="sms", text="x"))
    assert result.provider_message_id


# Custom gateway
def test_custom_gateway_fills_the_body_template(simulator):
    result = custom(simulator).send(
        OutboundMessage(to="+32470123456", channel="sms", text='quote " and \\', client_ref="7")
    )
    assert result.provider_message_id.startswith("cust-")
    [sent] = sent_messages(simulator)
    assert sent["body"] == {"to": "+32470123456", "text": 'quote " and \\', "from": "ACME", "ref": "7"}


def test_custom_gateway_errors(simulator):
    configure(simulator, fail_next=["http:500", "http:401"])
    provider = fast(custom(simulator))
    provider.max_retries = 0
    with pytest.raises(ProviderError) as caught:
        provider.send(OutboundMessage(to="+32470123456", text="x"))
    assert caught.value.kind == RETRY
    with pytest.raises(ProviderError) as caught:
        provider.send(OutboundMessage(to="+32470123456", text="x"))
    assert caught.value.kind == CONFIG
    wrong_path = custom(simulator, timeout=5)
    wrong_path.message_id_path = "nowhere.id"
    wrong_path.max_retries = 0
    with pytest.raises(ProviderError):
        wrong_path.send(OutboundMessage(to="+32470123456", text="x"))


# Simulator callbacks
def test_simulator_posts_signed_meta_statuses(simulator, receiver):
    configure(simulator, meta_webhook_url=f"{receiver.url}/wa", meta_app_secret="secret", status_delay_ms=1)
    result = meta(simulator).send(OutboundMessage(to="+32470123456", text="x"))
    posts = receiver.wait_for(3)
    assert len(posts) == 3
    provider = MetaCloudProvider("100000000000001", "token", app_secret="secret")
    statuses = []
    for post in posts:
        expected = "sha256=" + hmac.new(b"secret", post["body"], hashlib.sha256).hexdigest()
        assert post["headers"]["X-Hub-Signature-256"] == expected
        statuses += json.loads(post["body"])["entry"][0]["changes"][0]["value"]["statuses"]
    assert {s["id"] for s in statuses} == {result.provider_message_id}
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    for post in posts:
        request = WebhookRequest.build("POST", "http://x/wa", post["headers"], post["body"])
        provider.verify_webhook(request)
        [event] = provider.parse_webhook(request)
        assert event.provider_message_id == result.provider_message_id


def test_simulator_posts_signed_twilio_statuses(simulator, receiver):
    configure(simulator, status_delay_ms=1)
    provider = twilio(simulator)
    provider.send(OutboundMessage(to="+32470123456", channel="sms", text="x", status_callback=f"{receiver.url}/tw"))
    posts = receiver.wait_for(2)
    assert len(posts) == 2 and all("X-Twilio-Signature" in p["headers"] for p in posts)


def test_session_reads_the_environment_once_unless_proxies_are_set(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    session = MetaCloudProvider("1", "t", base_url="http://127.0.0.1:9")._session
    assert (session.trust_env, session.verify) == (False, "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert MetaCloudProvider("1", "t", base_url="http://127.0.0.1:9")._session.trust_env is True
