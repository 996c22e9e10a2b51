from odoo import fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    cc_available = fields.Boolean(
        "Available for Conversations", default=True, help="New conversations are assigned only to available agents."
    )
    cc_capacity = fields.Integer(
        "Conversation Capacity", default=10, help="Open conversations an agent can hold before being skipped."
    )
