from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    cc_opt_out_words = fields.Char(
        "Extra Opt-out Words",
        config_parameter="contact_centre.opt_out_words",
        help="Comma-separated words that opt a contact out when sent alone, on top of STOP, STOPALL, "
        "UNSUBSCRIBE, END, QUIT, CANCEL, REVOKE and OPTOUT.",
    )
    cc_opt_in_words = fields.Char(
        "Extra Opt-in Words",
        config_parameter="contact_centre.opt_in_words",
        help="Comma-separated words that opt a contact back in when sent alone, on top of START, YES and UNSTOP.",
    )
    cc_help_words = fields.Char(
        "Extra Help Words",
        config_parameter="contact_centre.help_words",
        help="Comma-separated words that ask for help when sent alone, on top of HELP and INFO.",
    )
    cc_help_text = fields.Char(
        "Help Answer",
        config_parameter="contact_centre.help_text",
        help="Sent to a contact who asks for help; empty for the default answer.",
    )
    cc_opt_out_text = fields.Char(
        "Opt-out Confirmation",
        config_parameter="contact_centre.opt_out_text",
        help="Sent to a contact who opts out; empty for the default answer.",
    )
    cc_opt_in_text = fields.Char(
        "Opt-in Confirmation",
        config_parameter="contact_centre.opt_in_text",
        help="Sent to a contact who opts back in; empty for the default answer.",
    )
    cc_assignment_method = fields.Selection(
        [("round_robin", "Round robin"), ("fewest_open", "Fewest open conversations")],
        "Assignment",
        default="round_robin",
        config_parameter="contact_centre.assignment_method",
    )
    cc_reply_takes = fields.Boolean(
        "A Reply Takes the Conversation",
        default=True,
        config_parameter="contact_centre.reply_takes",
        help="An agent replying to an unassigned conversation takes it.",
    )
    cc_whatsapp_read_receipts = fields.Boolean(
        "Send WhatsApp Read Receipts",
        default=True,
        config_parameter="contact_centre.whatsapp_read_receipts",
        help="An agent opening a conversation marks the customer's latest WhatsApp message read (blue ticks).",
    )
    cc_sms_max_segments = fields.Integer(
        "Largest SMS (segments)",
        default=10,
        config_parameter="contact_centre.sms_max_segments",
        help="Outgoing SMS above this many segments are refused.",
    )
    cc_max_media_bytes = fields.Integer(
        "Largest Stored Media (bytes)",
        config_parameter="contact_centre.max_media_bytes",
        help="0: WhatsApp's own limit for each kind of media (image 5 MB, audio and video 16 MB, document 100 MB).",
    )
    cc_webhook_max_bytes = fields.Integer(
        "Largest Webhook Body (bytes)",
        default=1 << 20,
        config_parameter="contact_centre.webhook_max_bytes",
        help="Larger webhook requests are refused (413) before they are read.",
    )
