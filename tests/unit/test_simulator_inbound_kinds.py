"""The simulator posts every inbound kind (``POST /_sim/inbound`` with a "kind") in a shape the
provider parsers read into the intended event, correctly signed (issue #15)."""

import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest

from tools.providers import InfobipProvider, MetaCloudProvider, TwilioProvider, WebhookRequest
from tools.simulator.control import post_inbound
from tools.simulator.server import INBOUND_KINDS

NUMBER_ID, WABA = "100000000000001", "waba"
META = MetaCloudProvider(NUMBER_ID, "token", app_secret="demo-app-secret", waba_id=WABA)
TWILIO = TwilioProvider(account_sid="ACsim", auth_token="twilio-token")
INFOBIP = InfobipProvider(base_url="http://127.0.0.1:9", api_key="k", webhook_token="s3cret")

# The event types each kind is read into, in order
META_KINDS = {
    "text": ["InboundMessage"],
    "image": ["InboundMessage"],
    "video": ["InboundMessage"],
    "document": ["InboundMessage"],
    "audio": ["InboundMessage"],
    "voice": ["InboundMessage"],
    "sticker": ["InboundMessage"],
    "sticker_animated": ["InboundMessage"],
    "location": ["InboundMessage"],
    "contacts": ["InboundMessage"],
    "order": ["InboundMessage"],
    "reaction": ["Reaction"],
    "reaction_removed": ["Reaction"],
    "edit": ["InboundMessage"],
    "revoke": ["MessageDeleted"],
    "unsupported": ["InboundMessage"],
    "button": ["InboundMessage"],
    "button_reply": ["InboundMessage"],
    "list_reply": ["InboundMessage"],
    "nfm_reply": ["InboundMessage"],
    "referral": ["InboundMessage"],
    "forwarded": ["InboundMessage"],
    "frequently_forwarded": ["InboundMessage"],
    "group": ["InboundMessage"],
    "system_identity_changed": ["IdentityChange"],
    "system_number_changed": ["IdentityChange"],
    "request_welcome": ["IgnoredEvent"],
    "odd_beside_good": ["IgnoredEvent", "InboundMessage"],
    "status": ["StatusUpdate"],
    "errors": ["AccountUpdate"],
    "echo": ["OutboundEcho"],
    "echo_edit": ["OutboundEcho"],
    "echo_revoke": ["MessageDeleted"],
    "history": ["InboundMessage", "OutboundEcho"],
    "state_sync": ["ContactSync"],
    "preferences_stop": ["ConsentUpdate"],
    "preferences_resume": ["ConsentUpdate"],
    "template_status": ["TemplateStatusUpdate"],
    "template_category": ["AccountUpdate"],
    "template_quality": ["AccountUpdate"],
    "template_components": ["AccountUpdate"],
    "phone_number_quality": ["AccountUpdate"],
    "account_update": ["AccountUpdate"],
    "unknown_field": ["IgnoredEvent"],
}
TWILIO_KINDS = {
    "text": ["InboundMessage"],
    "media": ["InboundMessage"],
    "location": ["InboundMessage"],
    "button": ["InboundMessage"],
    "referral": ["InboundMessage"],
    "forwarded": ["InboundMessage"],
    "status": ["StatusUpdate"],
}
INFOBIP_KINDS = {
    "sms": ["InboundMessage"],
    "text": ["InboundMessage"],
    "image": ["InboundMessage"],
    "document": ["InboundMessage"],
    "voice": ["InboundMessage"],
    "sticker": ["InboundMessage"],
    "location": ["InboundMessage"],
    "contact": ["InboundMessage"],
    "button": ["InboundMessage"],
    "button_reply": ["InboundMessage"],
    "list_reply": ["InboundMessage"],
    "flow_reply": ["InboundMessage"],
    "order": ["InboundMessage"],
    "reaction": ["Reaction"],
    "reaction_removed": ["Reaction"],
    "unsupported": ["InboundMessage"],
    "referral": ["InboundMessage"],
    "seen": ["StatusUpdate"],
    "delivery": ["StatusUpdate"],
    "identity_changed": ["IdentityChange"],
    "payment": ["IgnoredEvent"],
    "marketing_stop": ["ConsentUpdate"],
    "template_status": ["TemplateStatusUpdate"],
    "odd_beside_good": ["IgnoredEvent", "InboundMessage"],
}
EXPECTED = {"meta": META_KINDS, "twilio": TWILIO_KINDS, "infobip": INFOBIP_KINDS}
CASES = [(provider, kind) for provider, kinds in EXPECTED.items() for kind in kinds]


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.put({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def sink():
    """One endpoint for the whole module (the shared ``receiver`` fixture takes 0.5 s to stop)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    server.received = queue.Queue()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()


@pytest.fixture
def receiver(sink):
    """The module's endpoint, emptied; ``wait_for(1)`` gives what was posted to it since."""
    while not sink.received.empty():
        sink.received.get_nowait()
    sink.wait_for = lambda count: [sink.received.get(timeout=5) for _ in range(count)]
    return sink


def test_every_simulator_kind_is_tested():
    assert {provider: set(kinds) for provider, kinds in INBOUND_KINDS.items()} == {
        provider: set(kinds) for provider, kinds in EXPECTED.items()
    }


def _received_request(provider, url, received):
    headers, body = received["headers"], received["body"]
    if provider == "twilio":
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        request = WebhookRequest.build("POST", url, headers, body, form=form)
        TWILIO.verify_webhook(request)
        return TWILIO, request
    if provider == "meta":
        request = WebhookRequest.build("POST", url, headers, body)
        META.verify_webhook(request)
        return META, request
    return INFOBIP, WebhookRequest.build("POST", url, headers, body, query={"token": "s3cret"})


@pytest.mark.parametrize(("provider", "kind"), CASES)
def test_simulator_posts_each_kind(simulator, receiver, provider, kind):
    url = f"{receiver.url}/hook/{provider}/{kind}"
    sender = "whatsapp:+32470123456" if provider == "twilio" and kind != "status" else "+32470123456"
    answer = post_inbound(
        simulator, provider=provider, url=url, kind=kind, auth_token="twilio-token", text="Hi", **{"from": sender}
    )
    assert answer["status"] == 200, answer
    [received] = receiver.wait_for(1)
    parser, request = _received_request(provider, url, received)
    events = parser.parse_webhook(request)
    assert [type(event).__name__ for event in events] == EXPECTED[provider][kind]
    assert all(parser.owns_event(event) for event in events)


def test_simulator_posts_a_message_from_a_user_id_only(simulator, receiver):
    url = f"{receiver.url}/hook/meta/bsuid"
    answer = post_inbound(simulator, provider="meta", url=url, kind="text", user_id="US.13491208655302741918")
    assert answer["status"] == 200
    [received] = receiver.wait_for(1)
    parser, request = _received_request("meta", url, received)
    [event] = parser.parse_webhook(request)
    assert (event.sender, event.sender_kind, event.user_id) == ("US.13491208655302741918", "user_id", event.sender)


def test_simulator_refuses_an_unknown_kind(simulator, receiver):
    answer = post_inbound(simulator, provider="meta", url=receiver.url, kind="nope", **{"from": "+32470123456"})
    assert "kind is one of" in answer["error"]
