"""Twilio Programmable Messaging (SMS, and WhatsApp through Twilio), with the ``twilio`` package."""

import logging
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from ..phone import classify_sender
from .base import (
    CONFIG,
    RECIPIENT,
    RETRY,
    WINDOW,
    IgnoredEvent,
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
from .health import (
    ACCOUNT,
    NOT_CONFIGURED,
    OK,
    TRIAL,
    TWILIO_PROBLEMS,
    UNREACHABLE,
    WARNING,
    HealthResult,
    failure,
    from_error,
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

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
MAX_MEDIA = 10  # Twilio: at most 10 media per message
# Click-to-WhatsApp ad referral parameters of Twilio's inbound webhook, as Meta names them
REFERRAL_PARAMETERS = {
    "ReferralSourceUrl": "source_url",
    "ReferralSourceId": "source_id",
    "ReferralSourceType": "source_type",
    "ReferralHeadline": "headline",
    "ReferralBody": "body",
    "ReferralMediaContentType": "media_type",
    "ReferralMediaUrl": "image_url",
    "ReferralMediaId": "media_id",
    "ReferralCtwaClid": "ctwa_clid",
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


def with_reference(url, reference):
    """The status callback URL of one message: ours with ``ref=<our reference>`` added. Twilio
    signs the whole URL, query included, and posts every status of the message to it."""
    if not reference:
        return url
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != "ref"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("ref", reference)])))


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
            params["status_callback"] = with_reference(message.status_callback, message.client_ref)
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

    def check_health(self):
        """``HealthResult`` of the account (``GET /2010-04-01/Accounts/<sid>.json`` through the SDK):
        an account that is not active cannot send; a trial account reaches verified numbers only."""
        if not self.account_sid or not self.auth_token:
            return failure(NOT_CONFIGURED, "No account SID or auth token")
        try:
            account = self._client().api.accounts(self.account_sid).fetch()
        except TwilioRestException as error:
            return from_error(self._error(error), TWILIO_PROBLEMS)
        except Exception as error:  # noqa: BLE001 - the SDK lets requests' transport errors through
            return failure(UNREACHABLE, f"twilio: cannot reach the API ({type(error).__name__})", "network")
        info = {
            key: str(value)
            for key, value in (
                ("friendly_name", account.friendly_name),
                ("status", account.status),
                ("type", account.type),
            )
            if value
        }
        if (account.status or "").lower() != "active":
            return failure(ACCOUNT, f"Twilio: the account is {account.status or 'not active'}", info=info)
        if (account.type or "").lower() == "trial":
            return HealthResult(WARNING, TRIAL, info=info)
        return HealthResult(OK, info=info)

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
        """Inbound messages and status callbacks. Only a form without a MessageSid is refused; a
        callback this integration does not know is an ``IgnoredEvent``."""
        form = request.form
        if not isinstance(form, dict) or not form.get("MessageSid"):
            raise WebhookParseError("A Twilio webhook is a form with a MessageSid")
        form = {key: value for key, value in form.items() if isinstance(value, str)}
        status = form.get("MessageStatus") or form.get("SmsStatus")
        sid, account = form["MessageSid"], form.get("AccountSid")
        if status in (None, "", "received", "receiving"):
            if not form.get("From"):
                return [IgnoredEvent("twilio.inbound", "an inbound message without From", account, sid, raw=form)]
            return [self._parse_inbound(form)]
        if status not in STATUSES:
            reason = f"a status this integration does not know: {status}"
            return [IgnoredEvent(f"twilio.status.{status}", reason, account, sid, raw=form)]
        return [
            StatusUpdate(
                provider_message_id=sid,
                status=STATUSES[status],
                error_code=form.get("ErrorCode") or None,
                error_title=form.get("ErrorMessage") or None,
                recipient=e164_or_raw(form.get("To")),
                account_ref=account,
                provider_status=status,
                client_ref=(request.query or {}).get("ref") or None,
                raw=form,
            )
        ]

    def _parse_inbound(self, form):
        sender_kind, sender = classify_sender(form["From"])
        channel = "whatsapp" if form["From"].lower().startswith("whatsapp:") else "sms"
        media = self._media(form)
        twilio_type = (form.get("MessageType") or "").lower()
        values = {"message_type": "text", "text": form.get("Body")}
        if twilio_type == "location" or (form.get("Latitude") and form.get("Longitude")):
            location = {
                key.lower(): form[key] for key in ("Latitude", "Longitude", "Address", "Label") if form.get(key)
            }
            if "label" in location:
                location["name"] = location.pop("label")
            for key in ("latitude", "longitude"):
                try:
                    location[key] = float(location[key])
                except (KeyError, ValueError):
                    location.pop(key, None)
            parts = [location.get("name"), location.get("address")]
            text = " - ".join(p for p in parts if p) or form.get("Body")
            if not text and "latitude" in location and "longitude" in location:
                text = f"{location['latitude']}, {location['longitude']}"
            values.update(message_type="location", location=location, text=text or None)
        elif form.get("ButtonPayload") or form.get("ButtonText") or twilio_type == "button":
            values.update(
                message_type="button" if twilio_type in ("button", "") else "interactive",
                interactive_id=form.get("ButtonPayload") or None,
                interactive_title=form.get("ButtonText") or None,
            )
        elif form.get("ListId") or form.get("ListTitle"):
            values.update(
                message_type="interactive",
                interactive_id=form.get("ListId") or None,
                interactive_title=form.get("ListTitle") or None,
                text=form.get("Body") or form.get("ListTitle") or None,
            )
        elif media:
            kind = twilio_type if twilio_type in MEDIA_TYPES else (media[0].mime_type or "").split("/")[0]
            values["message_type"] = kind if kind in MEDIA_TYPES else "document"
        elif twilio_type and twilio_type not in ("text", "sms", "mms"):
            values["message_type"] = "unknown"
        return InboundMessage(
            provider_message_id=form["MessageSid"],
            sender=sender,
            recipient=e164_or_raw(form.get("To")),
            channel=channel,
            media=media,
            reply_to_provider_id=form.get("OriginalRepliedMessageSid") or None,
            profile_name=form.get("ProfileName") or None,
            account_ref=form.get("AccountSid"),
            sender_kind=sender_kind,
            forwarded=form.get("Forwarded", "").lower() == "true",
            frequently_forwarded=form.get("FrequentlyForwarded", "").lower() == "true",
            referral=self._referral(form),
            raw=dict(form),
            **values,
        )

    @staticmethod
    def _media(form):
        """The media of an inbound message; a NumMedia that is not a number counts the MediaUrlN given."""
        try:
            count = int(form.get("NumMedia") or 0)
        except ValueError:
            count = MAX_MEDIA
        return tuple(
            Media(form[f"MediaUrl{i}"], form.get(f"MediaContentType{i}") or None)
            for i in range(min(max(count, 0), MAX_MEDIA))
            if form.get(f"MediaUrl{i}")
        )

    @staticmethod
    def _referral(form):
        """A click-to-WhatsApp ad's referral (Referral* parameters), with Meta's key names."""
        referral = {key: form[name] for name, key in REFERRAL_PARAMETERS.items() if form.get(name)}
        if referral.get("media_type", "").startswith("video") and "image_url" in referral:
            referral["video_url"] = referral.pop("image_url")
        return referral or None
