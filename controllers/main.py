import logging

from werkzeug.exceptions import NotFound

from odoo import http
from odoo.http import Response, request

from ..tools.providers import WebhookAuthError, WebhookParseError, WebhookRequest
from ..tools.providers.meta import phone_number_ids, verify_challenge, waba_ids

_logger = logging.getLogger(__name__)

# auth="none": providers are not users; each route checks the provider's own signature or token
# and works as superuser on what it verified.
WEBHOOK = {
    "type": "http",
    "auth": "none",
    "readonly": False,
    "methods": ["POST"],
    "csrf": False,
    "save_session": False,
}


class ContactCentreWebhook(http.Controller):
    """Provider webhooks: verify, parse (both Odoo-free), then queue the events for ingestion
    (``contact.centre.webhook.event``) and answer at once.

    403 and nothing written for a wrong or missing signature or token, 404 for an unknown
    configuration, 400 (short text, no traceback) for a malformed body, 200 otherwise.
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
        raw = request.httprequest.get_data()
        Config = request.env["contact.centre.whatsapp.config"].sudo()
        numbers = phone_number_ids(raw)
        configs = (
            Config._find_for_webhook(numbers) if numbers else Config.search([("account_id", "in", list(waba_ids(raw)))])
        )
        if not configs:
            return self._answer(404, "Unknown WhatsApp number")
        webhook = self._webhook_request()
        for config in configs:
            provider = config._get_provider()
            if self._verifies(provider, webhook):
                return self._ingest(config, provider, webhook)
        return self._answer(403, "Wrong signature")

    @http.route("/contact_centre/webhook/twilio/<int:config_id>", **WEBHOOK)
    def twilio_events(self, config_id, **form):
        config = self._sms_config(config_id, "twilio")
        return self._verify_and_ingest(config, self._webhook_request())

    @http.route(
        [
            "/contact_centre/webhook/infobip/<int:config_id>/<string:token>",
            "/contact_centre/webhook/custom/<int:config_id>/<string:token>",
        ],
        **WEBHOOK,
    )
    def token_events(self, config_id, token, **kwargs):
        provider = request.httprequest.path.split("/")[3]
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
        return self._ingest(config, provider, webhook)

    def _ingest(self, config, provider, webhook):
        try:
            events = provider.parse_webhook(webhook)
        except WebhookParseError as error:
            _logger.info("Malformed %s webhook: %s", config._provider_name(), error)
            return self._answer(400, "Malformed payload")
        request.env["contact.centre.webhook.event"].sudo()._enqueue(config, events)
        if config._provider_name() == "twilio":
            return Response("<Response/>", status=200, content_type="text/xml")
        return self._answer(200)
