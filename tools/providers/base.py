"""The one interface every provider implements, and the normalised events they produce.

A provider object is built from plain configuration (never an Odoo record), sends messages
(``send``; ``send_many`` with many requests in flight so that latency does not bound throughput),
verifies the webhooks it calls and parses them into normalised events. Failures come out as
``ProviderError`` with a ``kind`` that tells the caller what to do about them.
"""

import functools
import hmac
import json
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime

import requests
from requests.adapters import HTTPAdapter

from ..phone import PHONE, classify_sender

_logger = logging.getLogger(__name__)

# Kinds of failure
RETRY = "retry"  # try again later: timeouts, 5xx, throttling
RECIPIENT = "recipient"  # this recipient cannot be reached: do not retry
WINDOW = "window"  # WhatsApp 24 h window closed: send an approved template instead
CONFIG = "config"  # credentials or configuration broken: stop sending through it
UNKNOWN = "unknown"


class ProviderError(Exception):
    def __init__(self, kind, message, code=None, retry_after=None, http_status=None):
        super().__init__(message)
        self.kind = kind
        self.code = None if code is None else str(code)
        self.message = message
        self.retry_after = retry_after
        self.http_status = http_status

    def __str__(self):
        return f"{self.message} (code {self.code})" if self.code else self.message


class WebhookAuthError(Exception):
    """Missing or wrong signature or token: refuse the request, write nothing."""


class WebhookParseError(Exception):
    """A payload that cannot be read: answer 400, write nothing."""


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    url: str
    headers: dict  # keys lower-cased
    body: bytes = b""
    form: dict | None = None
    query: dict = field(default_factory=dict)

    @classmethod
    def build(cls, method, url, headers, body=b"", form=None, query=None):
        return cls(method, url, {k.lower(): v for k, v in dict(headers).items()}, body, form, dict(query or {}))

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        """The decoded body, decoded once (the controller reads it to route, the provider to parse)."""
        return self._payload

    @functools.cached_property
    def _payload(self):
        return load_json(self.body)


def load_json(raw):
    """Decoded JSON of a webhook body; ``WebhookParseError`` for anything that is not JSON,
    including nesting deep enough to exhaust Python's recursion limit."""
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise WebhookParseError(f"The body is not JSON: {type(error).__name__}") from error


@dataclass(frozen=True)
class Media:
    ref: str  # provider media id or URL
    mime_type: str | None = None
    filename: str | None = None
    caption: str | None = None


# What an inbound message can be (``InboundMessage.message_type``); the Odoo side stores these.
INBOUND_MESSAGE_TYPES = (
    "text",
    "image",
    "document",
    "audio",
    "video",
    "sticker",
    "location",
    "interactive",
    "button",
    "contacts",
    "order",  # a cart sent from a catalog: ``order``
    "unsupported",  # a kind WhatsApp itself does not deliver (polls, view-once...): ``errors`` says why
    "unknown",  # a kind this parser does not know yet
)
DIRECTIONS = ("inbound", "outbound")


@dataclass(frozen=True)
class InboundMessage:
    """A message a person sent to one of our numbers."""

    provider_message_id: str
    sender: str  # E.164 when sender_kind is "phone", else the identifier as written (short code, sender id, BSUID)
    recipient: str | None
    channel: str
    message_type: str = "text"  # one of INBOUND_MESSAGE_TYPES
    text: str | None = None
    media: tuple = ()
    reply_to_provider_id: str | None = None
    timestamp: datetime | None = None
    profile_name: str | None = None
    interactive_id: str | None = None
    interactive_title: str | None = None
    flow_token: str | None = None
    flow_response: dict | None = None  # the Flow's answer; {"response_json": text} when it is not a JSON object
    account_ref: str | None = None
    sender_kind: str = PHONE  # phone, short_code, alphanumeric, user_id (tools.phone.SENDER_KINDS)
    user_id: str | None = None  # WhatsApp business-scoped user id: reply to it when there is no phone number
    parent_user_id: str | None = None
    username: str | None = None  # WhatsApp username, when the person has one
    edited_of: str | None = None  # an edit: the provider id of the message whose content this replaces
    forwarded: bool = False
    frequently_forwarded: bool = False
    referral: dict | None = None  # click-to-WhatsApp ad: source_url, source_id, source_type, headline, body, ...
    referred_product: dict | None = None  # a question about a catalog product: catalog_id, product_retailer_id
    order: dict | None = None  # catalog_id, text, items [{product_retailer_id, quantity, item_price, currency}]
    location: dict | None = None  # latitude, longitude, name, address, url
    shared_contacts: tuple = ()  # ({"name", "phones": [...], "emails": [...], "organization"}, ...)
    voice: bool = False  # an audio recorded as a voice note
    animated: bool = False  # an animated sticker
    errors: tuple = ()  # ({"code", "title", "details"}, ...): why WhatsApp could not deliver the content
    group_id: str | None = None  # sent in a WhatsApp group
    from_history: bool = False  # synchronised history (coexistence): already answered, open no window
    identity_key_hash: str | None = None  # the sender's identity key, when the identity check is enabled
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class StatusUpdate:
    provider_message_id: str
    status: str  # queued, sent, delivered, read, failed
    timestamp: datetime | None = None
    error_code: str | None = None
    error_title: str | None = None
    recipient: str | None = None
    account_ref: str | None = None
    provider_status: str | None = None  # as the provider wrote it ("played" is status "read", "undelivered" "failed")
    error_details: str | None = None
    recipient_user_id: str | None = None  # WhatsApp business-scoped user id of the recipient
    pricing_category: str | None = None  # Meta: marketing, utility, authentication, service, ...
    pricing_model: str | None = None  # Meta: CBP, PMP
    pricing_type: str | None = None  # Meta: regular, free_customer_service, free_entry_point
    billable: bool | None = None
    conversation_id: str | None = None
    group_id: str | None = None  # a message to a WhatsApp group: the status of one participant
    client_ref: str | None = None  # what we sent as biz_opaque_callback_data / callbackData
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class TemplateStatusUpdate:
    template_name: str
    language: str | None
    status: str  # Meta's, upper case: APPROVED, REJECTED, PAUSED...
    reason: str | None = None
    template_id: str | None = None
    account_ref: str | None = None
    category: str | None = None  # MARKETING, UTILITY, AUTHENTICATION, when the update names it
    explanation: str | None = None  # Meta's words: why it was rejected and what to do, why it was paused
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Reaction:
    """An emoji put on (or taken off) a message; an empty ``emoji`` is a removal."""

    provider_message_id: str  # the reaction's own id
    reaction_to: str | None  # the provider id of the message reacted to
    emoji: str | None
    sender: str
    channel: str = "whatsapp"
    sender_kind: str = PHONE
    user_id: str | None = None
    recipient: str | None = None
    profile_name: str | None = None
    removed: bool = False
    direction: str = "inbound"  # outbound: the business reacted from the WhatsApp Business app (echo)
    timestamp: datetime | None = None
    account_ref: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class MessageDeleted:
    """A message deleted for everyone after it was sent."""

    provider_message_id: str  # the message that was deleted
    sender: str | None = None  # who deleted it: the person (inbound), our number (outbound)
    channel: str = "whatsapp"
    direction: str = "inbound"  # inbound: a message the person sent us; outbound: one we sent (from the app)
    sender_kind: str = PHONE
    user_id: str | None = None
    event_id: str | None = None  # the id of the deletion notice itself, when it has one
    timestamp: datetime | None = None
    account_ref: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class OutboundEcho:
    """A message our number sent from elsewhere than this system: the WhatsApp Business app or a
    linked device (coexistence), or one of the synchronised history. Never to be sent again."""

    provider_message_id: str
    recipient: str  # the person, E.164 or as written (see recipient_kind)
    channel: str = "whatsapp"
    message_type: str = "text"  # as InboundMessage.message_type, plus "template", "interactive"...
    text: str | None = None
    media: tuple = ()
    reply_to_provider_id: str | None = None
    timestamp: datetime | None = None
    recipient_kind: str = PHONE
    recipient_user_id: str | None = None
    sender: str | None = None  # our number as the provider wrote it
    edited_of: str | None = None
    location: dict | None = None
    shared_contacts: tuple = ()
    from_history: bool = False
    history_status: str | None = None  # history: the message's status when it was synchronised
    account_ref: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ConsentUpdate:
    """A person opting out of (or back into) a kind of message in the messaging app itself."""

    sender: str
    granted: bool
    channel: str = "whatsapp"
    purpose: str = "marketing"
    source: str = "whatsapp_preferences"
    sender_kind: str = PHONE
    user_id: str | None = None
    detail: str | None = None  # the provider's words ("User requested to stop marketing messages")
    provider_value: str | None = None  # stop, resume, signup...
    timestamp: datetime | None = None
    account_ref: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class IdentityChange:
    """The person behind an address changed something the contact should be flagged for."""

    sender: str  # the address as known until now
    kind: str  # identity_changed (new device or reinstall: security code), number_changed, user_id_changed
    channel: str = "whatsapp"
    new_sender: str | None = None  # number_changed: the new number (E.164)
    new_user_id: str | None = None
    sender_kind: str = PHONE
    user_id: str | None = None
    identity_hash: str | None = None
    detail: str | None = None
    provider_message_id: str | None = None
    timestamp: datetime | None = None
    account_ref: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ContactSync:
    """A contact added to (or removed from) the address book of the WhatsApp Business app."""

    phone: str  # E.164 or as written
    action: str  # add, remove
    name: str | None = None
    first_name: str | None = None
    phone_kind: str = PHONE
    user_id: str | None = None
    timestamp: datetime | None = None
    account_ref: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class AccountUpdate:
    """Something about the account, a number or a template that is not a message.

    ``kind``: account_update, phone_number_quality, template_category, template_quality,
    template_components, error (``value.errors`` of Meta), history_declined, business_capability...
    """

    kind: str
    event: str | None = None  # the provider's event or new value: FLAGGED, ACCOUNT_RESTRICTION, MARKETING...
    account_ref: str | None = None
    template_id: str | None = None
    template_name: str | None = None
    language: str | None = None
    phone_number: str | None = None
    error_code: str | None = None
    error_title: str | None = None
    details: dict = field(default_factory=dict)
    timestamp: datetime | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class IgnoredEvent:
    """Something inside an authentic webhook that could not be understood: kept, never refused."""

    kind: str  # e.g. "meta.field.calls", "meta.message.request_welcome", "infobip.payment"
    reason: str
    account_ref: str | None = None
    provider_message_id: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


EVENT_TYPES = {
    cls.__name__: cls
    for cls in (
        InboundMessage,
        StatusUpdate,
        TemplateStatusUpdate,
        Reaction,
        MessageDeleted,
        OutboundEcho,
        ConsentUpdate,
        IdentityChange,
        ContactSync,
        AccountUpdate,
        IgnoredEvent,
    )
}
_TUPLE_FIELDS = {cls: {f.name for f in fields(cls) if f.default == ()} for cls in EVENT_TYPES.values()}


def event_to_json(event):
    """A parsed webhook event as plain JSON data (what the webhook queue stores), without ``raw``."""
    data = {f.name: getattr(event, f.name) for f in fields(event) if f.name != "raw"}
    if isinstance(data.get("timestamp"), datetime):
        data["timestamp"] = data["timestamp"].isoformat()
    if "media" in data:
        data["media"] = [asdict(media) for media in data["media"]]
    return {"type": type(event).__name__, **data}


def event_from_json(data):
    """The event ``event_to_json`` wrote (``ValueError`` for anything else)."""
    data = dict(data)
    cls = EVENT_TYPES.get(data.pop("type", None))
    if cls is None:
        raise ValueError("Unknown webhook event type")
    if data.get("timestamp"):
        data["timestamp"] = datetime.fromisoformat(data["timestamp"])
    if "media" in data:
        data["media"] = tuple(Media(**media) for media in data["media"])
    for name in _TUPLE_FIELDS[cls]:
        if isinstance(data.get(name), list):
            data[name] = tuple(data[name])
    return cls(**data)


@dataclass(frozen=True)
class TemplateMessage:
    name: str
    language: str
    components: list = field(default_factory=list)


@dataclass
class OutboundMessage:
    to: str  # E.164
    channel: str = "whatsapp"
    text: str | None = None
    template: TemplateMessage | None = None
    media_url: str | None = None
    media_id: str | None = None
    media_type: str | None = None  # image, document, audio, video
    filename: str | None = None
    interactive: dict | None = None
    reply_to: str | None = None
    status_callback: str | None = None
    client_ref: str | None = None


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str = "sent"
    raw: dict = field(default_factory=dict, compare=False, repr=False)


# What crosses the pipe to a sender process (``tools/send_worker.py``): plain data, so that the
# two sides need not import these classes under the same module name.


def outbound_to_wire(message):
    """Its fields as they are (``asdict`` would copy every list and dict of the template's
    components first: the pipe's pickling copies them anyway)."""
    data = dict(vars(message))
    if message.template is not None:
        data["template"] = dict(vars(message.template))
    return data


def outbound_from_wire(data):
    template = data.get("template")
    return OutboundMessage(**{**data, "template": TemplateMessage(**template) if template else None})


def answer_to_wire(answer):
    """A ``SendResult`` or ``ProviderError`` as a tuple (the raw answer is not sent back)."""
    if isinstance(answer, SendResult):
        return ("sent", answer.provider_message_id, answer.status)
    return ("error", answer.kind, answer.message, answer.code, answer.retry_after, answer.http_status)


def answer_from_wire(data):
    if data[0] == "sent":
        return SendResult(data[1], data[2])
    return ProviderError(*data[1:])


def utc_from_timestamp(value):
    """Aware UTC datetime from unix seconds (int or numeric string), or None."""
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def utc_from_iso(value):
    """Aware UTC datetime from an ISO 8601 string (Infobip writes ``+0000``), or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def e164_or_raw(value):
    """E.164 form of a number a provider wrote (with or without +, or as ``whatsapp:+...``).

    Anything that is not a phone number (a short code, a sender id, a WhatsApp user id) is kept as
    written rather than losing the message it came with: see ``tools.phone.classify_sender``.
    """
    if not value:
        return None
    return classify_sender(value)[1] or None


def tokens_match(expected, given):
    """Constant-time comparison of two secrets; an empty expected secret never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(str(expected).encode(), str(given).encode())


def classify_http_status(status):
    """Kind of failure for a bare HTTP status when the provider's error code says nothing more."""
    if status == 429 or status >= 500:
        return RETRY
    if status in (401, 403):
        return CONFIG
    return UNKNOWN


def parse_retry_after(value):
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


class Provider:
    """Base of every provider: retries, concurrent sending, a pooled HTTP session."""

    name = None
    max_retries = 3
    backoff = 0.5  # first retry delay in seconds, doubled at each try
    max_backoff = 30.0
    pool_size = 128
    media_hosts = ()  # documented hosts of inbound media (exact names, or ".suffix" for subdomains)
    media_credential_hosts = ()  # those of them that may receive the credentials
    media_deadline = 30.0  # seconds for a whole media download, redirects included
    spec = None  # (name, settings) when made by ``make_provider``: what a sender process rebuilds it from

    def __init__(self, timeout=10):
        self.timeout = timeout
        self._http = None
        self._http_lock = threading.Lock()
        self._media_local = threading.local()

    @classmethod
    def prepare(cls):
        """Import what sending imports on first use: a sender process does it before it says it is
        ready, so that its first requests do not wait for it past their booked times."""

    # Sending
    def send(self, message):
        """Send one message, retrying only what may succeed later. Raises ``ProviderError``."""
        attempt = 0
        while True:
            try:
                return self._send_once(message)
            except ProviderError as error:
                if error.kind != RETRY or attempt >= self.max_retries:
                    raise
                time.sleep(self._retry_delay(error, attempt))
                attempt += 1

    def send_many(self, messages, max_in_flight=32):
        """Send ``messages`` with up to ``max_in_flight`` requests at once.

        Returns, in the input order, a ``SendResult`` or the ``ProviderError`` of each message.
        """
        messages = list(messages)
        if not messages:
            return []
        workers = max(1, min(max_in_flight, len(messages)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"cc-{self.name}") as pool:
            return list(pool.map(self._send_or_error, messages))

    def _send_or_error(self, message):
        try:
            return self.send(message)
        except ProviderError as error:
            return error

    def lookup_statuses(self, references):
        """``StatusUpdate`` of the messages sent with our ``references``, for a provider that can be
        asked by our reference; None when it cannot (Meta and Twilio: only their callbacks tell)."""
        return

    def _retry_delay(self, error, attempt):
        if error.retry_after is not None:
            return min(error.retry_after, self.max_backoff)
        delay = min(self.backoff * 2**attempt, self.max_backoff)
        return delay * (0.5 + random.random() / 2)

    def _send_once(self, message):
        raise NotImplementedError

    # Webhooks
    def verify_webhook(self, request):
        raise NotImplementedError

    def owns_event(self, event):
        """Whether a parsed event names this account (number, business account, account SID):
        a request verified with this account's secret carries events of this account only."""
        return True

    def parse_webhook(self, request):
        raise NotImplementedError

    # Media
    def _fetch_media(self, url, max_bytes, headers=None, auth=None):
        """(content, content type) of an inbound media URL, through ``tools.fetch.fetch_media``:
        only from ``media_hosts`` or the base URL, credentials only to ``media_credential_hosts``."""
        from ..fetch import fetch_media  # tools.fetch imports this module: import it when first used

        return fetch_media(
            self._media_session(),
            url,
            allowed_hosts=self.media_hosts,
            base_url=getattr(self, "base_url", None),
            credential_hosts=self.media_credential_hosts,
            headers=headers,
            auth=auth,
            max_bytes=max_bytes,
            deadline=self.media_deadline,
            timeout=self.timeout,
        )

    def _media_session(self):
        """This thread's session for media downloads: one without the API session's default
        headers, so that nothing but what ``_fetch_media`` is given ever goes with a download."""
        session = getattr(self._media_local, "session", None)
        if session is None:
            session = self._media_local.session = self._new_session()
        return session

    # HTTP
    @property
    def _session(self):
        """The keep-alive HTTP session of this provider, made on first use (a webhook check needs none)."""
        with self._http_lock:
            if self._http is None:
                self._http = self._new_session()
                self._prepare_session(self._http)
        return self._http

    def _prepare_session(self, session):
        """Headers every request of this provider carries."""

    def _new_session(self):
        session = requests.Session()
        if not requests.utils.getproxies():
            # requests reads the environment (proxies, .netrc, CA bundle) again on every request, a
            # quarter of its CPU per message: without proxies to honour, read the CA bundle once here.
            session.trust_env = False
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def _request(self, session, method, url, **kwargs):
        """``session.request`` with transport failures turned into retryable ``ProviderError``."""
        try:
            return session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout as error:
            raise ProviderError(RETRY, f"{self.name}: timed out after {self.timeout} s", code="timeout") from error
        except requests.RequestException as error:
            raise ProviderError(
                RETRY, f"{self.name}: cannot reach the API ({type(error).__name__})", code="network"
            ) from error
