import logging
import re

from werkzeug.exceptions import NotFound, RequestEntityTooLarge

from odoo import http
from odoo.http import Response, request

from ..tools.providers import WebhookAuthError, WebhookParseError, WebhookRequest
from ..tools.providers.meta import phone_number_ids, verify_challenge, waba_ids

_logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 1 << 20
MAX_ACCOUNTS_PER_REQUEST = 20


def webhook_max_bytes(controller):
    """Largest webhook body a route reads (``contact_centre.webhook_max_bytes``, 1 MiB by default).

    Odoo calls this before it parses the request's parameters: a body announced larger is refused
    (413) here, without reading a byte of it (werkzeug would read a too large body to its end
    before refusing it); one that does not say its length is cut at the limit by werkzeug."""
    limit = request.env["ir.config_parameter"]._cc_get_int("contact_centre.webhook_max_bytes", DEFAULT_MAX_BODY)
    length = request.httprequest.content_length
    if length is not None and length > limit:
        raise RequestEntityTooLarge()
    return limit


# auth="none": providers are not users; each route checks the provider's own signature or token
# and works as superuser on what it verified.
WEBHOOK = {
    "type": "http",
    "auth": "none",
    "readonly": False,
    "methods": ["POST"],
    "csrf": False,
    "save_session": False,
    "max_content_length": webhook_max_bytes,
}


class _HideWebhookTokens(logging.Filter):
    """The token of an Infobip or custom gateway webhook is part of its URL: keep it out of
    Odoo's request log lines (``werkzeug`` logger) and anything else logging the path."""

    pattern = re.compile(r"(/contact_centre/webhook/(?:infobip|custom)/\d+/)[^/\s?\"]+")

    def filter(self, record):
        if isinstance(record.msg, str) and "/contact_centre/webhook/" in record.msg:
            record.msg = self.pattern.sub(r"\1***", record.msg)
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(self.pattern.sub(r"\1***", arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


for _name in ("werkzeug", "odoo.http"):
    _log = logging.getLogger(_name)
    if not any(isinstance(f, _HideWebhookTokens) for f in _log.filters):
        _log.addFilter(_HideWebhookTokens())


class ContactCentreWebhook(http.Controller):
    """Provider webhooks: verify, parse (both Odoo-free), then queue the events for ingestion
    (``contact.centre.webhook.event``) and answer at once.

    413 for a body over the limit, 400 (short text, no traceback) for a malformed body, 404 for an
    unknown configuration, 403 and nothing written for a wrong or missing signature or token, 200
    otherwise. Events are queued only for the configuration whose secret verified the request, and
    only those that name it: a request signed with one account's secret never reaches another's data.
    """

    @http.route(
        "/contact_centre/webhook/whatsapp", type="http", auth="public", methods=["GET"], csrf=False, save_session=False
    )
    def whatsapp_verify(self, **query):
        tokens = request.env["contact.centre.whatsapp.config"].sudo().search([]).mapped("verify_token")
        challenge = verify_challenge(request.httprequest.args, tokens)
        if challenge is None:
            return Response("Forbidden", status=403, content_type="text/plain")
        return Response(challenge, status=200, content_type="text/plain")

    @http.route("/contact_centre/webhook/whatsapp", **WEBHOOK)
    def whatsapp_events(self):
        """One URL serves every number of every Meta app: the numbers (or business accounts) the
        body names give the candidate configurations, and each one whose app secret verifies the
        signature gets the events that name it."""
        webhook = self._webhook_request()
        try:
            payload = webhook.json()
        except WebhookParseError:
            return self._answer(400, "Malformed payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
            return self._answer(400, "Not a WhatsApp webhook")
        numbers = sorted(phone_number_ids(payload))
        accounts = sorted(waba_ids(payload))
        if len(numbers) > MAX_ACCOUNTS_PER_REQUEST or len(accounts) > MAX_ACCOUNTS_PER_REQUEST:
            return self._answer(400, "Too many accounts in one request")
        Config = request.env["contact.centre.whatsapp.config"].sudo()
        # Template updates name a business account and no number.
        configs = Config._find_for_webhook(numbers, [] if numbers else accounts)
        if not configs:
            return self._answer(404, "Unknown WhatsApp number")
        verified = [
            (config, provider) for config in configs if self._verifies(provider := config._get_provider(), webhook)
        ]
        if not verified:
            _logger.warning("Refused a WhatsApp webhook with a wrong signature")
            return self._answer(403, "Wrong signature")
        return self._ingest(verified, webhook)

    @http.route("/contact_centre/webhook/twilio/<int:config_id>", **WEBHOOK)
    def twilio_events(self, config_id, **form):
        config = self._sms_config(config_id, "twilio")
        return self._verify_and_ingest(config, self._webhook_request())

    @http.route("/contact_centre/webhook/<any(infobip,custom):provider>/<int:config_id>/<string:token>", **WEBHOOK)
    def token_events(self, provider, config_id, token, **kwargs):
        config = self._sms_config(config_id, provider)
        return self._verify_and_ingest(config, self._webhook_request(token=token))

    # Helpers

    @staticmethod
    def _answer(status, text="OK"):
        return Response(text, status=status, content_type="text/plain")

    @staticmethod
    def _sms_config(config_id, provider):
        config = request.env["contact.centre.sms.config"].sudo().browse(config_id).exists()
        if not config or not config.active or config.provider != provider:
            raise NotFound()
        return config

    @staticmethod
    def _webhook_request(token=None):
        httprequest = request.httprequest
        form = httprequest.form.to_dict() if httprequest.mimetype == "application/x-www-form-urlencoded" else None
        query = httprequest.args.to_dict()
        if token is not None:
            query["token"] = token
        return WebhookRequest.build(
            httprequest.method, httprequest.url, httprequest.headers, httprequest.get_data(), form, query
        )

    @staticmethod
    def _verifies(provider, webhook):
        try:
            provider.verify_webhook(webhook)
        except WebhookAuthError:
            return False
        return True

    def _verify_and_ingest(self, config, webhook):
        provider = config._get_provider()
        if not self._verifies(provider, webhook):
            _logger.warning("Refused a %s webhook with a wrong signature or token", config.provider)
            return self._answer(403, "Wrong signature or token")
        return self._ingest([(config, provider)], webhook)

    def _ingest(self, verified, webhook):
        """Queue, for each verified (configuration, provider), the events that name its account;
        events naming no verified account are dropped and logged."""
        try:
            events = verified[0][1].parse_webhook(webhook)
        except WebhookParseError as error:
            _logger.info("Malformed %s webhook: %s", verified[0][0]._provider_name(), error)
            return self._answer(400, "Malformed payload")
        Queue = request.env["contact.centre.webhook.event"].sudo()
        foreign = len(events)
        for config, provider in verified:
            own = [event for event in events if provider.owns_event(event)]
            foreign -= len(own)
            Queue._enqueue(config, own)
        if foreign:
            _logger.warning(
                "Ignored %s %s webhook event(s) naming an account other than the one that signed the request",
                foreign,
                verified[0][0]._provider_name(),
            )
        if verified[0][0]._provider_name() == "twilio":
            return Response("<Response/>", status=200, content_type="text/xml")
        return self._answer(200)
