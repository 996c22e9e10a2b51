from odoo import api, models


class IrConfigParameter(models.Model):
    _inherit = "ir.config_parameter"

    @api.model
    def _cc_get_int(self, key, default):
        """The whole number set in system parameter ``key``, or ``default`` when it is unset or not
        a whole number (a typo in Settings > Technical never breaks a webhook or a dispatch)."""
        value = (self.sudo().get_param(key) or "").strip()
        return int(value) if value.isdigit() else default
