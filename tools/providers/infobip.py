"""Infobip SMS (and WhatsApp reports), sending with ``infobip-api-python-client``.

Infobip does not sign its webhooks: the URL carries a secret token of ours (the Odoo controller
passes it as ``request.query["token"]``) compared in constant time.
"""

import threading

from infobip_api_client.api.sms_api import SmsApi
from infobip_api_client.api_client import ApiClient
from infobip_api_client.configuration import Configuration
from infobip_api_client.exceptions import ApiException
from infobip_api_client.models.sms_destination import SmsDestination
from infobip_api_client.models.sms_message import SmsMessage
from infobip_api_client.models.sms_message_content import SmsMessageContent
from infobip_api_client.models.sms_message_delivery_reporting import SmsMessageDeliveryReporting
from infobip_api_client.models.sms_request import SmsRequest
from infobip_api_client.models.sms_text_content import SmsTextContent
from infobip_api_client.models.sms_webhooks import SmsWebhooks

from .base import (
    CONFIG,
    RECIPIENT,
    RETRY,
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
    parse_retry_after,
    tokens_match,
    utc_from_iso,
)

# Inbound media URLs are on the account's base URL (xxxxx.api.infobip.com) or api.infobip.com;
# the API key goes nowhere else (Infobip: "Base URL", "API authentication").
MEDIA_HOSTS = ("api.infobip.com", ".api.infobip.com")

# Status groups of delivery reports
STATUS_GROUPS = {
    "PENDING": "sent",
    "ACCEPTED": "sent",
    "DELIVERED": "delivered",
    "UNDELIVERABLE": "failed",
    "EXPIRED": "failed",
    "REJECTED": "failed",
}
# Error groups of delivery reports and of send answers
ERROR_GROUP_KINDS = {
    "HANDSET_ERRORS": RECIPIENT,
    "USER_ERRORS": RECIPIENT,
    "OPERATOR_ERRORS": RETRY,
}
REJECTED_STATUS_KINDS = {
    "REJECTED_NETWORK": RECIPIENT,
    "REJECTED_PREFIX_MISSING": RECIPIENT,
    "REJECTED_DESTINATION": RECIPIENT,
    "REJECTED_NOT_ENOUGH_CREDITS": CONFIG,
    "REJECTED_SENDER": CONFIG,
    "REJECTED_DESTINATION_NOT_REGISTERED": RECIPIENT,
}


class InfobipProvider(Provider):
    name = "infobip"
    media_hosts = MEDIA_HOSTS
    media_credential_hosts = MEDIA_HOSTS

    def __init__(self, base_url, api_key, sender=None, webhook_token="", timeout=10):
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.sender = sender
        self.webhook_token = webhook_token
        self._local = threading.local()

    def _sms_api(self):
        """One SDK client per thread (its urllib3 pool is sized for one caller)."""
        api = getattr(self._local, "sms_api", None)
        if api is None:
            configuration = Configuration(host=self.base_url, api_key=self.api_key, api_key_prefix="App")
            api = self._local.sms_api = SmsApi(ApiClient(configuration))
        return api

    def sms_request(self, message):
        """The SDK's ``SmsRequest`` (``POST /sms/3/messages``) for ``message``."""
        webhooks = None
        if message.status_callback or message.client_ref:
            webhooks = SmsWebhooks(
                delivery=SmsMessageDeliveryReporting(url=message.status_callback) if message.status_callback else None,
                callback_data=str(message.client_ref) if message.client_ref else None,
            )
        return SmsRequest(
            messages=[
                SmsMessage(
                    sender=self.sender,
                    destinations=[SmsDestination(to=message.to.lstrip("+"))],
                    content=SmsMessageContent(SmsTextContent(text=message.text or "")),
                    webhooks=webhooks,
                )
            ]
        )

    def _send_once(self, message):
        try:
            answer = self._sms_api().send_sms_messages(self.sms_request(message), _request_timeout=self.timeout)
        except ApiException as error:
            raise self._error(error) from error
        except Exception as error:  # urllib3's transport errors come through the SDK as they are
            raise ProviderError(
                RETRY, f"infobip: cannot reach the API ({type(error).__name__})", code="network"
            ) from error
        sent = answer.messages[0] if answer.messages else None
        if sent is None or not sent.message_id:
            raise ProviderError(RETRY, "Infobip accepted the request but returned no message id")
        status = sent.status
        if status and str(status.group_name or "").endswith("REJECTED"):
            kind = REJECTED_STATUS_KINDS.get(status.name, RECIPIENT)
            raise ProviderError(kind, f"Infobip: {status.description or status.name}", code=status.name)
        return SendResult(sent.message_id, "sent", answer.to_dict())

    def download_media(self, url, max_bytes=None):
        """(content, mime type, file name) of an inbound media URL, with the API key."""
        content, mime_type = self._fetch_media(url, max_bytes, headers={"Authorization": f"App {self.api_key}"})
        return content, mime_type, None

    @staticmethod
    def _error(error):
        status = error.status or 0
        text = error.body if isinstance(error.body, str) else ""
        retry_after = parse_retry_after((error.headers or {}).get("Retry-After")) if error.headers else None
        return ProviderError(
            classify_http_status(status),
            f"Infobip: HTTP {status} {text[:200]}".strip(),
            code=status,
            retry_after=retry_after,
            http_status=status,
        )

    # Webhooks
    def verify_webhook(self, request):
        if not tokens_match(self.webhook_token, request.query.get("token")):
            raise WebhookAuthError("Wrong webhook token")

    def parse_webhook(self, request):
        payload = request.json()
        results = payload.get("results") if isinstance(payload, dict) else None
        if not isinstance(results, list):
            raise WebhookParseError("An Infobip webhook has a 'results' list")
        try:
            events = [self._parse_result(result) for result in results]
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise WebhookParseError(f"Malformed Infobip webhook: {type(error).__name__}: {error}") from error
        return [event for event in events if event]

    def _parse_result(self, result):
        if not isinstance(result, dict) or not result.get("messageId"):
            raise ValueError("a result without messageId")
        if isinstance(result.get("status"), dict):
            return self._parse_report(result)
        if result.get("seenAt"):
            return StatusUpdate(
                str(result["messageId"]),
                "read",
                utc_from_iso(result["seenAt"]),
                recipient=e164_or_raw(result.get("to")),
                raw=result,
            )
        if "text" in result or "cleanText" in result or isinstance(result.get("message"), dict):
            return self._parse_inbound(result)
        return None

    def _parse_report(self, result):
        status = result["status"]
        error = result.get("error") if isinstance(result.get("error"), dict) else {}
        failed = error and error.get("groupName") not in (None, "OK") and error.get("id") not in (None, 0)
        mapped = STATUS_GROUPS.get(status.get("groupName"))
        if mapped is None:
            return None
        return StatusUpdate(
            provider_message_id=str(result["messageId"]),
            status="failed" if failed and mapped != "delivered" else mapped,
            timestamp=utc_from_iso(result.get("doneAt") or result.get("sentAt")),
            error_code=str(error.get("id")) if failed else None,
            error_title=(error.get("description") or error.get("name")) if failed else None,
            recipient=e164_or_raw(result.get("to")),
            raw=result,
        )

    def _parse_inbound(self, result):
        message = result.get("message") if isinstance(result.get("message"), dict) else None
        channel = "whatsapp" if message is not None or result.get("integrationType") == "WHATSAPP" else "sms"
        text, media, kind = result.get("cleanText") or result.get("text"), (), "text"
        if message is not None:
            kind = str(message.get("type") or "TEXT").lower()
            text = message.get("text") or message.get("caption")
            if message.get("url"):
                media = (Media(message["url"], None, None, message.get("caption")),)
        return InboundMessage(
            provider_message_id=str(result["messageId"]),
            sender=e164_or_raw(result["from"]),
            recipient=e164_or_raw(result.get("to")),
            channel=channel,
            message_type=kind if kind in ("text", "image", "document", "audio", "video", "location") else "unknown",
            text=text,
            media=media,
            timestamp=utc_from_iso(result.get("receivedAt")),
            profile_name=(result.get("contact") or {}).get("name") if isinstance(result.get("contact"), dict) else None,
            account_ref=result.get("to"),
            raw=result,
        )
