from datetime import timedelta

from odoo import fields
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
