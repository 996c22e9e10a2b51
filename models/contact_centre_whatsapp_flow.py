from odoo import api, fields, models
from odoo.exceptions import UserError

from ..tools.interactive import (
    SENDABLE_FLOW_STATUSES,
    InteractiveError,
    build_flow,
    flow_from_meta,
    new_flow_token,
)
from ..tools.providers import ProviderError

FLOW_STATUSES = [
    ("draft", "Draft"),
    ("published", "Published"),
    ("throttled", "Throttled"),
    ("deprecated", "Deprecated"),
    ("blocked", "Blocked"),
]


class ContactCentreWhatsappFlow(models.Model):
    """A WhatsApp Flow (Meta's multi-screen form) that can be sent from a number.

    Flows are made in WhatsApp Manager (or Meta's Flows API) and belong to the WhatsApp Business
    Account: *Sync Flows* on the number lists them here; the button label and the first screen
    (which Meta's list does not give) are ours to set. A flow message carries a fresh token that
    Meta sends back with the customer's answers (``nfm_reply``): see ``contact.centre.message``.
    """

    _name = "contact.centre.whatsapp.flow"
    _description = "WhatsApp Flow"
    _order = "name"

    name = fields.Char(required=True)
    config_id = fields.Many2one("contact.centre.whatsapp.config", "WhatsApp Number", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="config_id.company_id", store=True)
    flow_id = fields.Char("Meta Flow ID", required=True)
    status = fields.Selection(
        FLOW_STATUSES,
        default="draft",
        help="Meta's status of the flow: only a published flow can be sent (a throttled one is published, "
        "sent at a limited rate). A flow Meta no longer lists is marked deprecated.",
    )
    categories = fields.Char(help="Meta's categories of the flow (sign up, appointment booking, survey...).")
    cta = fields.Char(
        "Button Label",
        default="Open",
        help="Text of the button that opens the flow (flow_cta): at most 20 characters, no emoji.",
    )
    first_screen = fields.Char(
        "First Screen", help="The id of the screen the flow opens on, as written in its Flow JSON (e.g. WELCOME)."
    )
    meta_synced_date = fields.Datetime("Last Synchronised", readonly=True, copy=False)

    _config_flow_uniq = models.Constraint("UNIQUE(config_id, flow_id)", "This flow is already listed for this number.")

    @api.depends("name", "status")
    def _compute_display_name(self):
        statuses = dict(self._fields["status"]._description_selection(self.env))
        for flow in self:
            flow.display_name = (
                flow.name if flow.status == "published" else f"{flow.name} ({statuses.get(flow.status, '')})"
            )

    # Sending

    def _is_sendable(self):
        return (self.status or "").upper() in SENDABLE_FLOW_STATUSES

    def _interactive_payload(self, body, cta=None, header=None, footer=None):
        """The interactive flow message opening this flow at its first screen, with a new token;
        ``InteractiveError`` says what WhatsApp would refuse (not published, label too long...)."""
        self.ensure_one()
        return build_flow(
            body,
            self.flow_id,
            cta or self.cta,
            self.first_screen,
            new_flow_token(),
            header=header,
            footer=footer,
            status=self.status,
        )

    def _check_sendable_payload(self, body, cta=None, header=None, footer=None):
        """``_interactive_payload``, a ``UserError`` naming the flow when it cannot be sent."""
        try:
            return self._interactive_payload(body, cta=cta, header=header, footer=footer)
        except InteractiveError as error:
            raise UserError(self.env._("Flow %(flow)s: %(error)s", flow=self.name, error=error)) from error

    # Sync with Meta

    @api.model
    def _action_sync(self, configs):
        """The Sync Flows button: the flows of each number's business account, from Meta.
        Administrators only (creating flows is theirs); a notification says what changed."""
        self.check_access("create")
        totals = {"total": 0, "created": 0, "updated": 0, "deprecated": 0}
        for config in configs:
            try:
                counts = self.sudo()._sync_meta(config)
            except ProviderError as error:
                raise UserError(
                    self.env._(
                        "Meta did not list the flows of WhatsApp number %(number)s: %(error)s",
                        number=config.name,
                        error=error,
                    )
                ) from error
            for key, count in counts.items():
                totals[key] += count
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": self.env._("Flows synchronised"),
                "message": self.env._(
                    "%(total)s flows at Meta: %(created)s new, %(updated)s updated, %(deprecated)s no longer listed.",
                    **totals,
                ),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    @api.model
    def _sync_meta(self, config):
        """Bring ``config``'s flows up to date with Meta's list of its business account: new ones are
        created, known ones (same Meta id) take Meta's name, status and categories, those Meta no
        longer lists are marked deprecated. Returns {"total", "created", "updated", "deprecated"}."""
        remote = [item for item in config.sudo()._get_provider().list_flows() if item.get("id")]
        known = {flow.flow_id: flow for flow in self.search([("config_id", "=", config.id)])}
        now = fields.Datetime.now()
        creates, updated = [], 0
        for item in remote:
            values, flow_id = self._values_from_meta(item), flow_from_meta(item)["flow_id"]
            flow = known.pop(flow_id, None)
            if flow is None:
                creates.append({**values, "config_id": config.id, "flow_id": flow_id, "meta_synced_date": now})
                continue
            changes = {key: value for key, value in values.items() if flow[key] != value}
            if changes:
                updated += 1
            flow.write({**changes, "meta_synced_date": now})
        gone = self.browse([flow.id for flow in known.values() if flow.status != "deprecated"])
        gone.write({"status": "deprecated"})
        self.create(creates)
        return {"total": len(remote), "created": len(creates), "updated": updated, "deprecated": len(gone)}

    @api.model
    def _values_from_meta(self, item):
        """Name, status and categories of one of Meta's flows, as ``tools.interactive.flow_from_meta``
        reads them (what Meta does not say is left as it is)."""
        meta = flow_from_meta(item)
        values = {"name": meta["name"]}
        if meta["status"]:
            values["status"] = meta["status"]
        if meta["categories"] is not None:
            values["categories"] = meta["categories"] or False
        return values
