from odoo import api, fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    cc_available = fields.Boolean(
        "Available for Conversations", default=True, help="New conversations are assigned only to available agents."
    )
    cc_capacity = fields.Integer(
        "Conversation Capacity", default=10, help="Open conversations an agent can hold before being skipped."
    )

    @api.model
    def _cc_agent_domain(self):
        """Internal users of the contact centre (agents, and supervisors and administrators, who are agents too)."""
        return [
            ("all_group_ids", "in", self.env.ref("contact_centre.group_contact_centre_agent").ids),
            ("share", "=", False),
        ]
