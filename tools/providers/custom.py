"""A custom HTTP SMS gateway, described entirely by its configuration.

Sending: ``method`` to ``url`` with ``body_template`` (JSON text) where ``{{to}}``, ``{{text}}``,
``{{sender}}`` and ``{{client_ref}}`` are replaced by JSON-escaped values, an optional auth header
(``"Name: value"``), and the message id read at ``message_id_path`` (dotted, e.g. ``data.id``) of the
JSON answer.

Webhook contract (POST JSON to ``/contact_centre/webhook/custom/<config_id>/<token>``): one event
object, a list of them, or ``{"events": [...]}``; a status is ``{"id": "...", "status":
"sent|delivered|read|failed", "error_code"?, "error"?, "reference"?}`` (``reference``: the
``{{client_ref}}`` the message was sent with, which settles a message whose send answer was
lost); an inbound message is ``{"id": "...", "from": "+E164", "to": "...", "text": "..."}``.
"""

import json

from ..phone import classify_sender
from .base import (
    RETRY,
    UNKNOWN,
    InboundMessage,
    Provider,
    ProviderError,
    SendResult,
    StatusUpdate,
    WebhookAuthError,
    WebhookParseError,
    classify_http_status,
    e164_or_raw,
    parse_retry_after,
    tokens_match,
)
from .health import NOT_CONFIGURED, OK, HealthResult, failure, from_error

PLACEHOLDERS = ("to", "text", "sender", "client_ref", "media_url")  # media_url: an MMS's file, public URL
STATUSES = {"queued", "sent", "delivered", "read", "failed"}


def fill_body(template, values):
    """``template`` with each ``{{name}}`` replaced by the JSON-escaped ``values[name]``."""
    body = template
    for name in PLACEHOLDERS:
        escaped = json.dumps(str(values.get(name) or ""))[1:-1]
        body = body.replace("{{%s}}" % name, escaped)
    return body


def _reference(item):
    """Our reference, when the gateway echoes the ``{{client_ref}}`` it was sent."""
    value = item.get("reference") or item.get("client_ref")
    return str(value) if isinstance(value, str | int) and value else None


def dig(data, path):
    """The value at a dotted ``path`` (list indexes allowed) of decoded JSON, or None."""
    for key in (path or "").split("."):
        if isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        elif isinstance(data, dict):
            data = data.get(key)
        else:
            return None
    return data


class CustomHttpProvider(Provider):
    name = "custom"

    def __init__(
        self,
        url,
        body_template,
        method="POST",
        auth_header=None,
        message_id_path="id",
        sender=None,
        webhook_token="",
        content_type="application/json",
        timeout=10,
        health_url=None,
    ):
        super().__init__(timeout=timeout)
        self.url = url
        self.method = method or "POST"
        self.body_template = body_template or ""
        self.message_id_path = message_id_path or "id"
        self.sender = sender
        self.webhook_token = webhook_token
        self.content_type = content_type
        self.auth_header = auth_header
        self.health_url = health_url

    def _prepare_session(self, session):
        session.headers["Content-Type"] = self.content_type
        if self.auth_header and ":" in self.auth_header:
            name, value = self.auth_header.split(":", 1)
            session.headers[name.strip()] = value.strip()

    def _send_once(self, message):
        if not self.url:
            raise ProviderError("config", "The gateway has no send URL")
        values = {
            "to": message.to,
            "text": message.text,
            "sender": self.sender,
            "client_ref": message.client_ref,
            "media_url": message.media_url,
        }
        body = fill_body(self.body_template, values).encode()
        response = self._request(self._session, self.method, self.url, data=body)
        if response.status_code >= 400:
            raise ProviderError(
                classify_http_status(response.status_code),
                f"Gateway answered HTTP {response.status_code}",
                code=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                http_status=response.status_code,
            )
        try:
            message_id = dig(response.json(), self.message_id_path)
        except ValueError as error:
            raise ProviderError(UNKNOWN, "The gateway's answer is not JSON") from error
        if not message_id:
            raise ProviderError(RETRY, f"No message id at '{self.message_id_path}' in the gateway's answer")
        return SendResult(str(message_id), "sent", {"answer": response.text[:1000]})

    def check_health(self):
        """``HealthResult`` of ``GET <health URL>`` (with the auth header): any 2xx answer is healthy,
        a redirect is not followed."""
        if not self.health_url:
            return failure(NOT_CONFIGURED, "No health URL")
        try:
            response = self._request(self._session, "GET", self.health_url, allow_redirects=False, stream=True)
        except ProviderError as error:
            return from_error(error)
        with response:
            status = response.status_code
            next(response.iter_content(1 << 16), None)  # a short answer is read whole: the connection ends cleanly
        if 200 <= status < 300:
            return HealthResult(OK, info={"http_status": status})
        error = ProviderError(
            classify_http_status(status), f"Gateway answered HTTP {status}", code=status, http_status=status
        )
        return from_error(error)

    def verify_webhook(self, request):
        if not tokens_match(self.webhook_token, request.query.get("token")):
            raise WebhookAuthError("Wrong webhook token")

    def parse_webhook(self, request):
        payload = request.json()
        items = payload.get("events") if isinstance(payload, dict) and "events" in payload else payload
        items = items if isinstance(items, list) else [items]
        events = []
        for item in items:
            if not isinstance(item, dict):
                raise WebhookParseError("Each gateway event is a JSON object")
            message_id = item.get("id") or item.get("message_id")
            if not message_id:
                raise WebhookParseError("A gateway event has no id")
            if item.get("from") and "text" in item:
                sender_kind, sender = classify_sender(item["from"])
                events.append(
                    InboundMessage(
                        provider_message_id=str(message_id),
                        sender=sender,
                        sender_kind=sender_kind,
                        recipient=e164_or_raw(item.get("to")),
                        channel="sms",
                        text=str(item.get("text") or ""),
                        account_ref=item.get("to"),
                        raw=item,
                    )
                )
            elif item.get("status") in STATUSES:
                events.append(
                    StatusUpdate(
                        provider_message_id=str(message_id),
                        status=item["status"],
                        error_code=str(item["error_code"]) if item.get("error_code") else None,
                        error_title=item.get("error"),
                        client_ref=_reference(item),
                        raw=item,
                    )
                )
        return events
