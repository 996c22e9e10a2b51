"""Twilio Programmable Messaging (SMS, and WhatsApp through Twilio), with the ``twilio`` package."""

import logging
import threading

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from .base import (
    CONFIG,
    RECIPIENT,
    RETRY,
    WINDOW,
    InboundMessage,
    Media,
    Provider,
    ProviderError,
    SendResult,
    StatusUpdate,
    WebhookAuthError,
    WebhookParseError,
    classify_http_status,
    e164_or_raw,
)

TWILIO_API = "https://api.twilio.com"
# Inbound MediaUrl is on api.twilio.com, which wants the account's basic auth and redirects to the
# media itself: mms.twiliocdn.com (media with HTTP auth enforced) or s3-external-1.amazonaws.com
# (older public media), fetched without credentials (Twilio: "Protect media access with HTTP basic
# authentication for Programmable Messaging").
MEDIA_HOSTS = ("api.twilio.com", ".twiliocdn.com", "s3-external-1.amazonaws.com")
MEDIA_CREDENTIAL_HOSTS = ("api.twilio.com",)

ERROR_KINDS = {
    "20003": CONFIG,  # authentication
    "20404": CONFIG,
    "21606": CONFIG,  # From is not a valid sender of this account
    "21212": CONFIG,
    "21211": RECIPIENT,  # invalid To
    "21614": RECIPIENT,  # not a mobile number
    "21408": RECIPIENT,  # region not enabled
    "21610": RECIPIENT,  # opted out (STOP)
    "21612": RECIPIENT,
    "21608": RECIPIENT,  # unverified number on a trial account
    "30003": RECIPIENT,
    "30004": RECIPIENT,
    "30005": RECIPIENT,
    "30006": RECIPIENT,
    "30007": RECIPIENT,
    "30008": RECIPIENT,
    "63016": WINDOW,  # WhatsApp outside the 24 h window
    "20429": RETRY,
    "14107": RETRY,
    "30001": RETRY,  # queue overflow
}

STATUSES = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}

logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


class _BaseUrlHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, sending to ``base_url`` instead of api.twilio.com (tests, simulator)."""

    def __init__(self, base_url, timeout):
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


def _address(number, channel):
    return f"whatsapp:{number}" if channel == "whatsapp" else number


def public_url(request):
    """The URL Twilio signed, as the server sees it. Behind a reverse proxy, Odoo's proxy mode has
    already rebuilt it from the proxy's X-Forwarded-* headers; they are trusted nowhere else (any
    client can send them to a server that has no proxy in front)."""
    return request.url


class TwilioProvider(Provider):
    name = "twilio"
    media_hosts = MEDIA_HOSTS
    media_credential_hosts = MEDIA_CREDENTIAL_HOSTS

    def __init__(
        self,
        account_sid,
        auth_token,
        sender=None,
        messaging_service_sid=None,
        base_url=TWILIO_API,
        timeout=10,
    ):
        super().__init__(timeout=timeout)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.messaging_service_sid = messaging_service_sid
        self.base_url = base_url or TWILIO_API
        self._local = threading.local()

    def _client(self):
        """One Twilio client per thread: its HTTP session is not shared between threads."""
        client = getattr(self._local, "client", None)
        if client is None:
            http_client = _BaseUrlHttpClient(self.base_url, self.timeout)
            client = self._local.client = Client(self.account_sid, self.auth_token, http_client=http_client)
        return client

    def _send_once(self, message):
        params = {"to": _address(message.to, message.channel), "body": message.text or ""}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = _address(self.sender, message.channel)
        if message.media_url:
            params["media_url"] = [message.media_url]
        if message.status_callback:
            params["status_callback"] = message.status_callback
        try:
            created = self._client().messages.create(**params)
        except TwilioRestException as error:
            raise self._error(error) from error
        except Exception as error:  # the SDK lets requests' transport errors through
            raise ProviderError(
                RETRY, f"twilio: cannot reach the API ({type(error).__name__})", code="network"
            ) from error
        return SendResult(
            created.sid, STATUSES.get(created.status, "queued"), {"sid": created.sid, "status": created.status}
        )

    def download_media(self, url, max_bytes=None):
        """(content, mime type, file name) of an inbound media URL (Twilio wants the account's basic auth)."""
        content, mime_type = self._fetch_media(url, max_bytes, auth=(self.account_sid, self.auth_token))
        return content, mime_type, None

    @staticmethod
    def _error(error):
        code = str(error.code) if error.code else None
        kind = ERROR_KINDS.get(code) or classify_http_status(error.status or 0)
        message = error.msg if isinstance(error.msg, str) else f"HTTP {error.status}"
        return ProviderError(kind, f"Twilio: {message}", code=code or error.status, http_status=error.status)

    # Webhooks
    def owns_event(self, event):
        return event.account_ref == self.account_sid

    def verify_webhook(self, request):
        signature = request.header("X-Twilio-Signature")
        if not signature or not self.auth_token:
            raise WebhookAuthError("Missing X-Twilio-Signature")
        validator = RequestValidator(self.auth_token)
        if not validator.validate(public_url(request), request.form or {}, signature):
            raise WebhookAuthError("Wrong X-Twilio-Signature")

    def parse_webhook(self, request):
        form = request.form
        if not isinstance(form, dict) or not form.get("MessageSid"):
            raise WebhookParseError("A Twilio webhook is a form with a MessageSid")
        status = form.get("MessageStatus") or form.get("SmsStatus")
        if status in (None, "received", "receiving") and form.get("From"):
            return [self._parse_inbound(form)]
        if status not in STATUSES:
            return []
        return [
            StatusUpdate(
                provider_message_id=form["MessageSid"],
                status=STATUSES[status],
                error_code=form.get("ErrorCode") or None,
                error_title=form.get("ErrorMessage") or None,
                recipient=e164_or_raw(form.get("To")),
                account_ref=form.get("AccountSid"),
                raw=dict(form),
            )
        ]

    def _parse_inbound(self, form):
        sender = form["From"]
        channel = "whatsapp" if sender.startswith("whatsapp:") else "sms"
        try:
            count = int(form.get("NumMedia") or 0)
        except ValueError as error:
            raise WebhookParseError("NumMedia is not a number") from error
        media = tuple(
            Media(form[f"MediaUrl{i}"], form.get(f"MediaContentType{i}"))
            for i in range(count)
            if form.get(f"MediaUrl{i}")
        )
        kind = (media[0].mime_type or "").split("/")[0] if media else "text"
        return InboundMessage(
            provider_message_id=form["MessageSid"],
            sender=e164_or_raw(sender),
            recipient=e164_or_raw(form.get("To")),
            channel=channel,
            message_type={"image": "image", "video": "video", "audio": "audio"}.get(
                kind, "document" if media else "text"
            ),
            text=form.get("Body"),
            media=media,
            reply_to_provider_id=form.get("OriginalRepliedMessageSid"),
            profile_name=form.get("ProfileName"),
            interactive_id=form.get("ButtonPayload"),
            interactive_title=form.get("ButtonText"),
            account_ref=form.get("AccountSid"),
            raw=dict(form),
        )
