from odoo import api, fields, models

AGENT_GROUP = "contact_centre.group_contact_centre_agent"
SUPERVISOR_GROUP = "contact_centre.group_contact_centre_supervisor"


class ResUsers(models.Model):
    _inherit = "res.users"

    cc_available = fields.Boolean(
        "Available for Conversations", default=True, help="New conversations are assigned only to available agents."
    )
    cc_capacity = fields.Integer(
        "Conversation Capacity", default=10, help="Open conversations an agent can hold before being skipped."
    )

    @api.model
    def _cc_agent_domain(self, company=None):
        """Internal users of the contact centre (agents, and supervisors and administrators, who are
        agents too), of ``company`` when given: whom a supervisor can hand a conversation to."""
        domain = [("all_group_ids", "in", self.env.ref(AGENT_GROUP).ids), ("share", "=", False)]
        if company:
            domain.append(("company_ids", "in", company.ids))
        return domain

    @api.model
    def _cc_assignable_domain(self, company):
        """Users that automatic assignment gives conversations to: those whose role is Agent (a
        supervisor or an administrator takes one only when handed it)."""
        # Not "all_group_ids not in": a user with any group that does not imply Supervisor matches it.
        supervisor = self.env.ref(SUPERVISOR_GROUP).ids
        return self._cc_agent_domain(company) + [("group_ids", "not any", [("all_implied_ids", "in", supervisor)])]
