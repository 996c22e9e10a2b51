from odoo import fields, models

RECIPIENT_STATES = [
    ("pending", "Pending"),
    ("sending", "Handed Over"),
    ("unconfirmed", "Awaiting Confirmation"),
    ("sent", "Sent"),
    ("failed", "Failed"),
    ("excluded", "Excluded"),
    ("review", "To Review"),
    ("enrolled", "Enrolled"),
]

EXCLUSION_REASONS = [
    ("opted_out", "No marketing consent on the channel"),
    ("no_number", "No number for the channel"),
    ("invalid_number", "Invalid number"),
    ("duplicate_number", "Another contact with this number is in the campaign"),
]


class ContactCentreCampaignRecipient(models.Model):
    """One contact of one campaign, with its own dispatch state.

    ``sending`` is set, and committed, just before the message is handed to the provider. A row
    still ``sending`` whose run's process died is ``unconfirmed``: never sent again by itself, it
    follows its message when the provider's callback settles it, and goes to ``review`` when the
    configuration's wait ends without one (see ``message._settle_unconfirmed``).
    """

    _name = "contact.centre.campaign.recipient"
    _description = "Campaign Recipient"
    _order = "id"

    campaign_id = fields.Many2one("contact.centre.campaign", required=True, ondelete="cascade")
    contact_id = fields.Many2one("contact.centre.contact", required=True, ondelete="cascade")
    channel = fields.Selection([("whatsapp", "WhatsApp"), ("sms", "SMS")])
    state = fields.Selection(RECIPIENT_STATES, required=True, default="pending")
    exclusion_reason = fields.Selection(EXCLUSION_REASONS)
    message_id = fields.Many2one("contact.centre.message", ondelete="set null", index="btree_not_null")
    claimed_at = fields.Datetime("Handed Over At")
    next_attempt = fields.Datetime()
    attempts = fields.Integer()
    error = fields.Char()

    _campaign_contact_uniq = models.Constraint("UNIQUE(campaign_id, contact_id)", "A contact is in a campaign once.")
    _dispatch_idx = models.Index("(campaign_id, state, id)")
