from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools.batch_cache import batch_cached
from ..tools.keywords import match_keyword, parse_keywords

AUTOMATION_TYPES = [
    ("keyword", "Keyword"),
    ("auto_reply", "Auto-reply"),
    ("chatbot", "Chatbot"),
]

TRIGGER_TYPES = [
    ("keyword", "Message contains a keyword"),
    ("first_message", "First message of a conversation"),
    ("outside_hours", "Outside business hours"),
    ("no_agent", "No agent available"),
    ("any_message", "Any inbound message"),
]


class ContactCentreAutomation(models.Model):
    """A rule run on each inbound message, in sequence order: reply, suggest a script or start a bot."""

    _name = "contact.centre.automation"
    _description = "Contact Centre Automation"
    _inherit = ["mail.thread", "contact.centre.company.mixin"]
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    channel = fields.Selection(
        [("whatsapp", "WhatsApp"), ("sms", "SMS"), ("both", "Both")], required=True, default="both"
    )
    automation_type = fields.Selection(AUTOMATION_TYPES, "Type", required=True, default="keyword", tracking=True)
    trigger_type = fields.Selection(TRIGGER_TYPES, "Trigger", required=True, default="keyword")
    trigger_keywords = fields.Char("Keywords", help="Comma-separated; whole words, any case or accent.")
    response_message = fields.Text("Reply", translate=True)
    script_id = fields.Many2one(
        "contact.centre.script",
        "Suggested Script",
        check_company=True,
        help="Keyword automations may suggest a script instead of replying.",
    )
    chatbot_id = fields.Many2one("whatsapp.chatbot", "Chatbot", ondelete="restrict", check_company=True)
    calendar_id = fields.Many2one(
        "resource.calendar",
        "Business Hours",
        check_company=True,
        help="Outside-hours auto-replies: the working time of the team.",
    )
    stop_processing = fields.Boolean(
        "Stop Further Automations", default=True, help="When this rule fires, later rules are not run."
    )
    trigger_count = fields.Integer("Times Triggered", readonly=True, copy=False)

    @api.constrains("automation_type", "trigger_type", "trigger_keywords", "response_message", "chatbot_id")
    def _check_configuration(self):
        for automation in self:
            if automation.trigger_type == "keyword" and not automation.trigger_keywords:
                raise ValidationError(self.env._("A keyword automation needs at least one keyword."))
            if automation.automation_type == "chatbot" and not automation.chatbot_id:
                raise ValidationError(self.env._("Choose the chatbot this automation starts."))
            if automation.automation_type == "auto_reply" and not automation.response_message:
                raise ValidationError(self.env._("An auto-reply needs the reply text."))

    @api.model
    def _run_on_inbound(self, message):
        """Run the active automations of ``message``'s channel in sequence order on it."""
        company = message._provider_config().company_id or message.company_id
        domain = [("channel", "in", (message.channel, "both")), ("company_id", "in", (company.id, False))]
        # Once per ingestion batch: trigger_count, the one thing firing changes, is not in the domain.
        ids = batch_cached(
            self.env, ("inbound_automations", message.channel, company.id), lambda: self.search(domain).ids
        )
        for automation in self.browse(ids):
            if not automation._matches(message):
                continue
            automation._fire(message)
            if automation.stop_processing:
                return automation
        return self.browse()

    def _matches(self, message):
        self.ensure_one()
        trigger = self.trigger_type
        if trigger == "keyword":
            return bool(match_keyword(message.body_text or "", parse_keywords(self.trigger_keywords)))
        if trigger == "first_message":
            return message.thread_id._is_new_conversation(message)
        if trigger == "outside_hours":
            return bool(self.calendar_id) and not self._within_hours(message.message_timestamp)
        if trigger == "no_agent":
            return not message.thread_id.assigned_agent_id and not message.thread_id._available_agents()
        return trigger == "any_message"

    def _within_hours(self, when):
        """True when ``when`` (naive UTC) falls in a working interval of the calendar."""
        start = fields.Datetime.to_datetime(when).replace(tzinfo=None)
        tz_start = fields.Datetime.context_timestamp(self.with_context(tz=self.calendar_id.tz), start)
        intervals = self.calendar_id._work_intervals_batch(
            tz_start - timedelta(minutes=1), tz_start + timedelta(minutes=1)
        )
        return any(begin <= tz_start < end for begin, end, _meta in intervals[False])

    def _fire(self, message):
        self.ensure_one()
        self.sudo().trigger_count += 1
        thread = message.thread_id
        if self.automation_type == "chatbot":
            self.env["whatsapp.chatbot.session"]._start(self.chatbot_id, thread)
            return
        if self.script_id:
            thread.suggested_script_ids = [fields.Command.link(self.script_id.id)]
        if self.response_message:
            thread._send_automated(text=self.response_message)
