from odoo import fields, models


class ContactCentreWhatsappFlow(models.Model):
    """A WhatsApp Flow (Meta's multi-screen form) that can be sent from a number."""

    _name = "contact.centre.whatsapp.flow"
    _description = "WhatsApp Flow"
    _order = "name"

    name = fields.Char(required=True)
    config_id = fields.Many2one("contact.centre.whatsapp.config", "WhatsApp Number", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="config_id.company_id", store=True)
    flow_id = fields.Char("Meta Flow ID", required=True)
    status = fields.Selection(
        [("draft", "Draft"), ("published", "Published"), ("deprecated", "Deprecated"), ("blocked", "Blocked")],
        default="draft",
    )
    cta = fields.Char("Button Label", default="Open", help="Text of the button that opens the flow (flow_cta).")
    first_screen = fields.Char("First Screen")

    _config_flow_uniq = models.Constraint("UNIQUE(config_id, flow_id)", "This flow is already listed for this number.")
