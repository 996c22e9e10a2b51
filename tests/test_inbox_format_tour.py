from datetime import datetime, time, timedelta

from odoo import fields
from odoo.tests import HttpCase, tagged

from .common import ContactCentreData


@tagged("post_install", "-at_install")
class TestInboxFormatTour(ContactCentreData, HttpCase):
    """The thread in Chromium shows text the way WhatsApp users write it (line breaks, links,
    *bold* _italic_ ~strike~ ```monospace```, hostile HTML as text), dates in the user's formats,
    long words without breaking the layout, and a conversation list driven from the keyboard."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.agent.write({"cc_available": False})
        cls.env["contact.centre.automation"].search([]).active = False
        # The user's formats, unlike luxon's defaults for English: 24 h, day first with dots.
        cls.env.ref("base.lang_en").write({"date_format": "%d.%m.%Y", "time_format": "%H:%M:%S"})

    def conversation(self, name, channel, bodies, preview=None, **numbers):
        """A conversation of the agent's with inbound ``bodies`` [(text, when)], oldest first."""
        contact = self.env["contact.centre.contact"].create(
            {"name": name, "assigned_agent_id": self.agent.id, **numbers}
        )
        thread = self.env["contact.centre.thread"]._get_or_create(contact, channel)
        for body, when in bodies:
            self.env["contact.centre.message"].create(
                {
                    "contact_id": contact.id,
                    "thread_id": thread.id,
                    "channel": channel,
                    "direction": "inbound",
                    "status": "received",
                    "body_text": body,
                    "message_timestamp": when,
                }
            )
        last = bodies[-1][1]
        if channel == "whatsapp":
            config = {"whatsapp_config_id": self.whatsapp_config.id}
        else:
            config = {"sms_config_id": self.twilio_config.id}
        thread.write(
            {
                "last_inbound_date": last,
                "last_message_date": last,
                "last_message_preview": preview or bodies[-1][0],
                **config,
            }
        )
        return thread

    def test_thread_formatting(self):
        now = fields.Datetime.now()
        bodies = [
            "First line\nSecond line",
            "Track it on https://example.com/track?id=42&lang=en or www.example.org/help.",
            "*bold* _it_ ~st~ ```mono *not bold*``` and `code`, snake_case_name 2*3*4 * not bold *",
            "<img src=x onerror=window.__xss=1>",
            "<script>window.__xss=2</script>",
            "https://example.com/" + "a" * 200,
            "b" * 200,
        ]
        threads = self.conversation(
            "Format Customer",
            "whatsapp",
            [(body, now - timedelta(seconds=30 * (len(bodies) - i))) for i, body in enumerate(bodies)],
            preview="c" * 200,
            whatsapp_number="+32470555101",
        )
        threads |= self.conversation(
            "SMS Only Customer",
            "sms",
            [("Hello by text", now - timedelta(minutes=10))],
            sms_number="+32470555102",
        )
        # At noon UTC: the same day in the browser's time zone, whichever it is.
        older = datetime.combine(now.date() - timedelta(days=10), time(12, 0))
        threads |= self.conversation(
            "Older Customer",
            "whatsapp",
            [(f"Sent on {older:%d.%m.%Y}", older)],
            whatsapp_number="+32470555103",
        )
        self.env["contact.centre.template"].create(
            {
                "name": "Formatted Update",
                "channel": "whatsapp",
                "whatsapp_config_id": self.whatsapp_config.id,
                "meta_template_name": "formatted_update",
                "approval_status": "approved",
                "body_text": "Hello *{{1}}*,\nyour order is _on its way_.",
                "variable_ids": [(0, 0, {"placeholder": "1", "source": "field", "field_name": "name"})],
            }
        )
        self.start_tour("/odoo/contact-centre-inbox", "contact_centre_inbox_format", login="cc_agent", timeout=90)
        self.env.invalidate_all()
        self.assertEqual(
            threads.message_ids.mapped("direction"), ["inbound"] * (len(bodies) + 2), "the tour only looks"
        )
        self.assertFalse(threads[0].with_user(self.agent).unread_count, "opening the conversation marked it read")
