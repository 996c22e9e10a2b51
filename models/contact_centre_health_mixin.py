import logging

from odoo import fields, models
from odoo.tools.mail import plaintext2html

from ..tools.providers import health

_logger = logging.getLogger(__name__)

HEALTH_STATES = [("ok", "OK"), ("warning", "Warning"), ("error", "Error")]


class ContactCentreHealthMixin(models.AbstractModel):
    """*Test connection* of a provider configuration: the Odoo-free client's ``check_health()``,
    its result kept on the configuration, explained in words and posted in its chatter."""

    _name = "contact.centre.health.mixin"
    _description = "Contact Centre Account Health"

    health_state = fields.Selection(
        HEALTH_STATES, "Health", readonly=True, copy=False, help="The result of the last connection test."
    )
    health_problem = fields.Char(readonly=True, copy=False, help="Technical: what the last test found wrong.")
    health_checked_at = fields.Datetime("Last Tested On", readonly=True, copy=False)
    health_message = fields.Text("Connection", readonly=True, copy=False)

    def action_check_health(self):
        """Ask the provider whether the account works (administrators: it uses the secrets)."""
        self.check_access("write")
        for config in self:
            config._store_health(config._run_health_check())
        if len(self) != 1:
            return False
        kind = {"ok": "success", "warning": "warning"}.get(self.health_state, "danger")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Connection test"),
                "message": self.health_message,
                "type": kind,
                "sticky": kind != "success",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def _campaign_block_reason(self, recipients=0):
        """Why a campaign must not send through this configuration now, in words, or False (see
        the WhatsApp number's: quality, restrictions, messaging limit)."""
        return False

    def _messaging_room(self):
        """How many more customers campaigns may reach in the coming 24 hours; None: no known limit."""
        return

    def _run_health_check(self):
        """The provider's ``HealthResult``; never raises (a bug in a client is an unknown failure)."""
        self.ensure_one()
        try:
            return self._get_provider().check_health()
        except Exception as error:  # noqa: BLE001 - a failed test is a result to show, not a traceback
            _logger.exception("Connection test of %s failed", self)
            # Its type only: the text of an unexpected error can hold a URL with a key (logged above).
            return health.failure(health.UNKNOWN, type(error).__name__)

    def _store_health(self, result):
        message = self._health_text(result)
        if result.detail and result.state == health.ERROR:
            message = f"{message}\n{self.env._('Provider answer: %(detail)s', detail=result.detail)}"
        values = {
            "health_state": result.state,
            "health_problem": result.problem or False,
            "health_checked_at": fields.Datetime.now(),
            "health_message": message,
            **self._health_values(result),
        }
        self.sudo().write(values)
        self.message_post(body=plaintext2html(self.env._("Connection test: %(message)s", message=message)))

    def _health_values(self, result):
        """Provider-specific fields to write from a check's ``info``."""
        return {}

    def _health_text(self, result):
        """The result in words: what the provider said, or what is wrong and what to do."""
        if result.state == health.OK:
            return self._health_ok_text(result.info)
        return self._health_problem_text(result) or self._health_generic_text(result.problem)

    def _health_ok_text(self, info):
        return self.env._("Connected.")

    def _health_problem_text(self, result):
        """Provider-specific words for ``result.problem``; falsy for the generic ones."""
        return False

    def _health_generic_text(self, problem):
        _ = self.env._
        texts = {
            health.CREDENTIALS: _("The provider refused the credentials: check them and enter them again."),
            health.NOT_FOUND: _("The provider does not know this account: check its identifiers and base URL."),
            health.PERMISSION: _("The credentials are valid but not allowed to use this account."),
            health.UNREACHABLE: _(
                "The provider could not be reached (network failure, timeout, throttling or an outage): check "
                "the API base URL and try again later."
            ),
            health.ACCOUNT: _("The provider account is suspended or closed: no message can be sent."),
            health.NO_CREDIT: _("The account has no credit left: top it up, or messages will be refused."),
            health.NOT_CONFIGURED: _("Enter the account's credentials first."),
        }
        return texts.get(problem) or _("The provider answered with an error this test does not recognise.")
