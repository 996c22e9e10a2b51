from odoo import api, fields, models


class ContactCentreCampaignSchedule(models.TransientModel):
    """The confirmation Schedule asks for: "Send to N contacts?", N being the campaign's real
    audience (listed contacts and filter, in its company, each once), with the exclusions already
    known."""

    _name = "contact.centre.campaign.schedule"
    _description = "Schedule a Campaign"

    campaign_id = fields.Many2one("contact.centre.campaign", required=True, ondelete="cascade")
    audience_count = fields.Integer("Audience", compute="_compute_audience")
    no_number_count = fields.Integer("No Valid Number", compute="_compute_audience")
    opted_out_count = fields.Integer("Opted Out", compute="_compute_audience")
    duplicate_count = fields.Integer("Number Shared", compute="_compute_audience")
    excluded_count = fields.Integer("Already Excluded", compute="_compute_audience")
    summary = fields.Char(compute="_compute_audience")
    scheduled_date = fields.Datetime(related="campaign_id.scheduled_date")

    @api.depends("campaign_id")
    def _compute_audience(self):
        for wizard in self:
            preview = wizard.campaign_id._audience_preview() if wizard.campaign_id else {}
            audience = preview.get("audience", 0)
            wizard.audience_count = audience
            wizard.no_number_count = preview.get("no_number", 0)
            wizard.opted_out_count = preview.get("opted_out", 0)
            wizard.duplicate_count = preview.get("duplicates", 0)
            wizard.excluded_count = wizard.no_number_count + wizard.opted_out_count + wizard.duplicate_count
            wizard.summary = (
                self.env._("Send to 1 contact?")
                if audience == 1
                else self.env._("Send to %(count)s contacts?", count=audience)
            )

    def action_confirm(self):
        self.ensure_one()
        self.campaign_id.action_schedule()
        return {"type": "ir.actions.act_window_close"}
