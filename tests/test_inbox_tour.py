import threading
from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import HttpCase, tagged
from odoo.tests.common import _registry_test_lock  # the lock of the connection tests share

from .common import ContactCentreData, SimulatorMixin


@tagged("post_install", "-at_install")
class TestInboxTours(SimulatorMixin, ContactCentreData, HttpCase):
    """The inbox in Chromium: live inbound, replies whose ticks follow the status webhooks, resolve,
    and the template picker outside the WhatsApp window."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.agent.write({"cc_available": False})  # keep the tour's conversations where the test puts them
        # Demo automations (a chatbot on "order") would answer before the agent: this tour is about the agent.
        cls.env["contact.centre.automation"].search([]).active = False

    def setUp(self):
        super().setUp()
        self.post_statuses_back(150)

    def conversation(self, name, number, last_inbound):
        contact = self.env["contact.centre.contact"].create(
            {"name": name, "whatsapp_number": number, "assigned_agent_id": self.agent.id}
        )
        thread = self.env["contact.centre.thread"]._get_or_create(contact, "whatsapp")
        self.env["contact.centre.message"].create(
            {
                "contact_id": contact.id,
                "thread_id": thread.id,
                "channel": "whatsapp",
                "direction": "inbound",
                "status": "received",
                "body_text": "Hello, a question about my order",
                "message_timestamp": last_inbound,
            }
        )
        thread.write(
            {
                "last_inbound_date": last_inbound,
                "last_message_date": last_inbound,
                "last_message_preview": "Hello, a question about my order",
                "whatsapp_config_id": self.whatsapp_config.id,
            }
        )
        return thread

    @contextmanager
    def running_crons(self):
        """Stand in for the crons woken by a reply and by a webhook (crons do not run in tests):
        hand queued messages to the simulator and ingest queued webhook events every few tenths
        of a second while the tour runs.

        The test and its HTTP requests share one database connection under ``_registry_test_lock``:
        the thread works only when it can take that lock at once, and only after ``start_tour`` has
        logged in (which uses the connection without the lock)."""
        stop, logged_in = threading.Event(), threading.Event()

        def run():
            while not stop.is_set() and not logged_in.wait(0.1):
                pass
            while not stop.wait(0.3):
                if not _registry_test_lock.acquire(blocking=False):
                    continue
                try:
                    with self.registry.cursor() as cr:
                        env = api.Environment(cr, SUPERUSER_ID, {})
                        env["contact.centre.message"]._send_queued()
                        env["contact.centre.webhook.event"]._process_pending()
                finally:
                    _registry_test_lock.release()

        authenticate = self.authenticate

        def authenticate_then_start(*args, **kwargs):
            result = authenticate(*args, **kwargs)
            logged_in.set()
            return result

        worker = threading.Thread(target=run, name="cc-crons")
        worker.start()
        try:
            with patch.object(self, "authenticate", authenticate_then_start):
                yield
        finally:
            stop.set()
            worker.join()

    def start_inbox_tour(self, tour):
        # The simulator's webhook calls carry no test cookie: let every request in during the tour.
        with patch.object(self, "http_request_allow_all", True), self.running_crons():
            self.start_tour("/odoo/contact-centre-inbox", tour, login="cc_agent", timeout=90)

    def test_live_conversation(self):
        thread = self.conversation("Tour Customer", "+32470555001", fields.Datetime.now() - timedelta(minutes=5))
        self.start_inbox_tour("contact_centre_inbox_live")
        self.env.invalidate_all()
        messages = thread.message_ids.sorted("id")
        self.assertEqual(
            [(m.direction, m.body_text) for m in messages],
            [
                ("inbound", "Hello, a question about my order"),
                ("inbound", "Where is my order?"),
                ("outbound", "Your order left this morning."),
            ],
        )
        reply = messages[-1]
        self.assertEqual(reply.status, "read")
        self.assertEqual(reply.author_id, self.agent)
        self.assertTrue(reply.external_message_id.startswith("wamid.SIM"))
        self.assertEqual(thread.state, "resolved")
        self.assertEqual(thread.with_user(self.agent).unread_count, 0)

    def test_template_outside_the_window(self):
        self.env["contact.centre.template"].create(
            {
                "name": "Order Update",
                "channel": "whatsapp",
                "whatsapp_config_id": self.whatsapp_config.id,
                "meta_template_name": "order_update",
                "approval_status": "approved",
                "body_text": "Hello {{1}}, your order is on its way.",
                "variable_ids": [(0, 0, {"placeholder": "1", "source": "field", "field_name": "name"})],
            }
        )
        thread = self.conversation("Window Closed Customer", "+32470555002", fields.Datetime.now() - timedelta(days=2))
        self.start_inbox_tour("contact_centre_inbox_template")
        self.env.invalidate_all()
        sent = thread.message_ids.filtered(lambda m: m.direction == "outbound")
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent.message_type, "template")
        self.assertEqual(sent.template_id.meta_template_name, "order_update")
        self.assertEqual(sent.template_values, {"1": "Alice"})
        self.assertEqual(sent.body_text, "Hello Alice, your order is on its way.")
