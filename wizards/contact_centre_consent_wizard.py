from odoo import fields, models
from odoo.exceptions import UserError

from ..models.contact_centre_contact import CHANNELS, CONSENT_SOURCES, RECORDED_SOURCES


class ContactCentreConsentWizard(models.TransientModel):
    """Record consent the customer gave or withdrew elsewhere (a web form, a call, an import),
    with its source and a note: logged on the contact, never a silent checkbox. Consent the
    customer withdrew with their own keyword (STOP) is restored only by their own keyword."""

    _name = "contact.centre.consent.wizard"
    _description = "Record Consent"

    contact_id = fields.Many2one("contact.centre.contact", required=True, ondelete="cascade")
    channel = fields.Selection(CHANNELS, required=True, default="whatsapp")
    purpose = fields.Selection(
        [("service", "Service messages"), ("marketing", "Marketing (campaigns)"), ("both", "Both")],
        required=True,
        default="marketing",
    )
    state = fields.Selection([("granted", "Given"), ("revoked", "Withdrawn")], required=True, default="granted")
    source = fields.Selection(
        [(key, label) for key, label in CONSENT_SOURCES if key in RECORDED_SOURCES], required=True, default="agent"
    )
    note = fields.Text(required=True, help="Where, when and how the customer said it: the proof an auditor reads.")

    def action_record(self):
        self.ensure_one()
        contact = self.contact_id
        contact.check_access("write")
        if not (self.note or "").strip():
            raise UserError(self.env._("Say where and how the customer gave or withdrew consent."))
        if self.state == "granted" and contact._customer_opted_out(self.channel):
            raise UserError(
                self.env._(
                    "%(contact)s opted out with their own keyword on this channel: only their own START restores it.",
                    contact=contact.display_name,
                )
            )
        purposes = ("service", "marketing") if self.purpose == "both" else (self.purpose,)
        contact._set_opt_in(self.channel, self.state == "granted", self.source, purposes=purposes, note=self.note)
        return {"type": "ir.actions.act_window_close"}
