from odoo import models

from .contact_centre_thread import INBOX_AGENTS, INBOX_SUPERVISORS
from .res_users import AGENT_GROUP, SUPERVISOR_GROUP


class IrWebsocket(models.AbstractModel):
    _inherit = "ir.websocket"

    def _build_bus_channel_list(self, channels):
        """Subscribe contact centre users to the inbox channels of the companies they work in:
        conversations are announced per company, never to a group of every company's users."""
        channels = super()._build_bus_channel_list(channels)
        user = self.env.user
        for group, subchannel in ((AGENT_GROUP, INBOX_AGENTS), (SUPERVISOR_GROUP, INBOX_SUPERVISORS)):
            if user and user.has_group(group):
                channels.extend((company, subchannel) for company in user.company_ids)
        return channels
