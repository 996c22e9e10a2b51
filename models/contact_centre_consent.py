from odoo import api, fields, models

from .contact_centre_contact import CHANNELS, CONSENT_SOURCES, CONSENT_STATES, PURPOSES


class ContactCentreConsent(models.Model):
    """One event of a contact's consent on one channel for one purpose: given or withdrawn, how,
    when, and what proves it (the customer's message, or the user who recorded it with a note).

    Append-only, an audit trail: the contact's current consent is its latest event per channel
    and purpose. Service messages (replies, transactional templates) need that the contact did
    not withdraw; campaigns need marketing consent given.
    """

    _name = "contact.centre.consent"
    _description = "Consent"
    _order = "date DESC, id DESC"
    _rec_name = "contact_id"

    contact_id = fields.Many2one("contact.centre.contact", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="contact_id.company_id", store=True)
    channel = fields.Selection(CHANNELS, required=True)
    purpose = fields.Selection(PURPOSES, required=True)
    state = fields.Selection(CONSENT_STATES, required=True)
    source = fields.Selection(CONSENT_SOURCES, required=True)
    date = fields.Datetime(required=True, default=fields.Datetime.now)
    user_id = fields.Many2one("res.users", "Recorded By", default=lambda self: self.env.user)
    message_id = fields.Many2one("contact.centre.message", "Proof (Message)", ondelete="set null")
    note = fields.Text(help="Where and how the customer gave or withdrew consent.")

    @api.model
    def _latest(self, contacts):
        """{(contact id, channel, purpose): latest consent} of ``contacts``."""
        latest = {}
        for consent in contacts.consent_ids.sorted(lambda c: (c.date, c.id)):
            latest[consent.contact_id.id, consent.channel, consent.purpose] = consent
        return latest
