from odoo import api, fields, models

from ..tools.batch_cache import batch_cached
from ..tools.keywords import match_keyword, parse_keywords


class ContactCentreScript(models.Model):
    """What an agent says in a given situation, suggested when its keywords come up."""

    _name = "contact.centre.script"
    _description = "Agent Script"
    _order = "sequence, name"

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    script_type = fields.Selection(
        [
            ("greeting", "Greeting"),
            ("faq", "FAQ Answer"),
            ("objection", "Objection Handling"),
            ("closing", "Closing"),
            ("escalation", "Escalation"),
            ("other", "Other"),
        ],
        "Type",
        required=True,
        default="faq",
    )
    category_id = fields.Many2one("contact.centre.script.category", "Category", ondelete="set null")
    channel = fields.Selection([("whatsapp", "WhatsApp"), ("sms", "SMS")], help="Empty: both channels.")
    content_html = fields.Html("Guidance", sanitize=True, help="Notes for the agent; not sent.")
    content_text = fields.Text("Message", required=True, translate=True, help="The text inserted in the composer.")
    trigger_keywords = fields.Char("Keywords", help="Comma-separated; the script is suggested when one appears.")
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)

    @api.model
    def _suggest_for(self, text, channel, company):
        """Scripts of ``company`` (or shared) whose keywords appear in ``text`` (whole words, any case or accent)."""
        domain = [
            ("trigger_keywords", "!=", False),
            ("channel", "in", (channel, False)),
            ("company_id", "in", (company.id, False)),
        ]
        # Once per ingestion batch (the batch changes no script).
        scripts = self.browse(
            batch_cached(self.env, ("keyword_scripts", channel, company.id), lambda: self.search(domain).ids)
        )
        return scripts.filtered(lambda script: match_keyword(text or "", parse_keywords(script.trigger_keywords)))
