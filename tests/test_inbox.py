from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import ContactCentreCase


@tagged("post_install", "-at_install")
class TestInboxCalls(ContactCentreCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Thread = cls.env["contact.centre.thread"]
        now = fields.Datetime.now()
        cls.mine = Thread._get_or_create(cls.contact_agent, "whatsapp")
        cls.theirs = Thread._get_or_create(cls.contact_agent2, "whatsapp")
        cls.queue = Thread._get_or_create(cls.contact_free, "whatsapp")
        for index, thread in enumerate((cls.mine, cls.theirs, cls.queue)):
            thread.last_message_date = now - timedelta(minutes=index)
        cls.messages = cls.env["contact.centre.message"].create(
            [
                {
                    "contact_id": cls.contact_agent.id,
                    "thread_id": cls.mine.id,
                    "channel": "whatsapp",
                    "direction": "inbound",
                    "status": "received",
                    "body_text": f"message {i}",
                    "message_timestamp": now - timedelta(minutes=100 - i),
                }
                for i in range(100)
            ]
        )

    def conversations(self, user, **kwargs):
        """Ids of the page, restricted to this test's conversations (demo data may be there too)."""
        rows = self.env["contact.centre.thread"].with_user(user).inbox_conversations(**kwargs)
        ours = set((self.mine | self.theirs | self.queue).ids)
        return [row["id"] for row in rows if row["id"] in ours]

    def test_views_respect_record_rules(self):
        self.assertEqual(self.conversations(self.agent, view="mine"), self.mine.ids)
        self.assertEqual(self.conversations(self.agent, view="unassigned"), self.queue.ids)
        self.assertEqual(self.conversations(self.agent, view="all"), (self.mine | self.queue).ids)
        self.assertEqual(
            self.conversations(self.supervisor, view="all")[:3], (self.mine | self.theirs | self.queue).ids
        )
        self.queue.action_resolve()
        self.assertEqual(self.conversations(self.agent, view="resolved"), self.queue.ids)

    def test_search_by_name_or_number(self):
        self.assertEqual(self.conversations(self.supervisor, view="all", search="Agent 2"), self.theirs.ids)
        self.assertEqual(self.conversations(self.supervisor, view="all", search="+32 470 000 003"), self.queue.ids)
        self.assertEqual(self.conversations(self.supervisor, view="all", channel="sms"), [])

    def test_thread_pages_backwards(self):
        Thread = self.env["contact.centre.thread"].with_user(self.agent)
        last = Thread.browse(self.mine.id).inbox_messages(limit=40)
        self.assertEqual([m["body_text"] for m in last], [f"message {i}" for i in range(60, 100)])
        older = Thread.browse(self.mine.id).inbox_messages(before_id=last[0]["id"], limit=40)
        self.assertEqual([m["body_text"] for m in older], [f"message {i}" for i in range(20, 60)])

    def test_each_row_says_which_messages_its_unread_count_includes(self):
        """The inbox adds a message the bus announces to a row's badge only above the row's
        ``unread_through_id``: announcements the bus replays to a page opened just after a burst
        are in the count the page read already."""

        def row(user, thread):
            rows = self.env["contact.centre.thread"].with_user(user).inbox_conversations(view="all")
            return next((r["unread_count"], r["unread_through_id"]) for r in rows if r["id"] == thread.id)

        newest = max(self.messages.ids)
        self.assertEqual(row(self.agent, self.mine), (100, newest))
        self.assertEqual(row(self.agent, self.queue), (0, 0), "nothing received, nothing read")
        self.env["contact.centre.thread"].with_user(self.agent).browse(self.mine.id).inbox_open()
        self.assertEqual(row(self.agent, self.mine), (0, newest), "read up to the newest")
        self.assertEqual(row(self.supervisor, self.mine), (100, newest), "per user")
        later = self.messages[:1].copy({"body_text": "one more", "message_timestamp": fields.Datetime.now()})
        self.env.invalidate_all()
        self.assertEqual(row(self.agent, self.mine), (1, later.id))
        reply = self.messages[:1].copy({"direction": "outbound", "status": "sent", "body_text": "an answer"})
        self.env.invalidate_all()
        self.assertEqual(row(self.agent, self.mine), (1, later.id), "an outbound message is not counted")
        self.assertGreater(reply.id, later.id)

    def test_open_marks_read_and_brings_the_panel(self):
        self.mine.write({"last_inbound_date": fields.Datetime.now()})
        unread = self.mine.with_user(self.agent).unread_count
        self.assertGreater(unread, 0)
        script = self.env["contact.centre.script"].create(
            {"name": "Late parcel", "content_text": "Sorry for the delay.", "trigger_keywords": "late"}
        )
        self.mine.suggested_script_ids = script
        self.env["contact.centre.template"].create(
            {
                "name": "Greeting",
                "channel": "whatsapp",
                "approval_status": "approved",
                "body_text": "Hello {{1}}",
                "variable_ids": [(0, 0, {"placeholder": "1", "source": "field", "field_name": "name"})],
            }
        )
        details = self.env["contact.centre.thread"].with_user(self.agent).browse(self.mine.id).inbox_open()
        self.assertEqual(self.mine.with_user(self.agent).unread_count, 0)
        # Unread is per user: the agent reading it leaves the supervisor's count, and the other way round.
        self.assertEqual(self.mine.with_user(self.supervisor).unread_count, unread)
        self.env["contact.centre.thread"].with_user(self.supervisor).browse(self.mine.id).inbox_open()
        self.assertEqual(self.mine.with_user(self.supervisor).unread_count, 0)
        self.mine.invalidate_recordset(["unread_count"])
        self.assertEqual(
            self.env["contact.centre.thread"]
            .with_user(self.agent)
            .search([("unread_count", ">", 0), ("id", "=", self.mine.id)])
            .ids,
            [],
        )
        self.assertEqual(details["contact"]["whatsapp_number"], "+32470000001")
        self.assertEqual(details["scripts"], [{"id": script.id, "name": "Late parcel", "text": "Sorry for the delay."}])
        greeting = next(t for t in details["templates"] if t["name"] == "Greeting")
        self.assertEqual(greeting["variables"], [{"name": "1", "label": "{{1}}", "value": "Assigned To Agent"}])
        self.assertFalse(details["can_reassign"])
        self.assertTrue(
            self.env["contact.centre.thread"].with_user(self.supervisor).browse(self.mine.id).inbox_open()["agents"]
        )

    def test_agent_cannot_open_a_colleagues_conversation(self):
        with self.assertRaises(AccessError):
            self.env["contact.centre.thread"].with_user(self.agent).browse(self.theirs.id).inbox_open()

    def test_compose_info_counts_sms_segments(self):
        thread = self.env["contact.centre.thread"]._get_or_create(self.contact_agent, "sms")
        info = thread.with_user(self.agent).inbox_compose_info(text="é" * 71)
        self.assertEqual((info["sms_encoding"], info["sms_segments"]), ("GSM-7", 1))
        info = thread.with_user(self.agent).inbox_compose_info(text="ś" * 71)
        self.assertEqual((info["sms_encoding"], info["sms_segments"]), ("UCS-2", 2))
        self.assertIsNone(self.mine.inbox_compose_info(text="hi")["sms_encoding"])

    def test_send_refuses_free_text_outside_the_window_and_missing_values(self):
        Thread = self.env["contact.centre.thread"].with_user(self.agent)
        self.mine.last_inbound_date = fields.Datetime.now() - timedelta(days=2)
        with self.assertRaisesRegex(UserError, "Write a message first"):
            Thread.browse(self.mine.id).inbox_send(text="  ")
        with self.assertRaisesRegex(UserError, "window is closed"):
            Thread.browse(self.mine.id).inbox_send(text="Hello")
        template = self.env["contact.centre.template"].create(
            {"name": "T", "channel": "whatsapp", "approval_status": "approved", "body_text": "Hi {{1}}"}
        )
        with self.assertRaisesRegex(UserError, "Missing values"):
            Thread.browse(self.mine.id).inbox_send(template_id=template.id, values={})
        row = Thread.browse(self.mine.id).inbox_send(template_id=template.id, values={"1": "Ann"})
        self.assertEqual((row["body_text"], row["status"], row["direction"]), ("Hi Ann", "queued", "outbound"))
