from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import HttpCase, tagged

from ..tools.simulator.control import configure
from . import test_inbox_tour
from .common import ContactCentreData, SimulatorMixin


@tagged("post_install", "-at_install")
class TestInboxDayTour(SimulatorMixin, ContactCentreData, HttpCase):
    """The working day of agents and supervisors in Chromium (issue #11), one tour per flow:
    reassigning, the live Unassigned queue, unread per user, back to the queue, Take and a reply
    that takes, the SMS length limit and failures explained. Tours: static/tests/tours/inbox_day_tour.js."""

    # Hands queued messages to the simulator and ingests webhooks while a tour runs (no crons in tests).
    running_crons = test_inbox_tour.TestInboxTours.running_crons

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.agent.name = "Alice Agent"
        cls.agent2.name = "Bruno Agent"
        cls.supervisor.name = "Sam Supervisor"
        # Nobody available: new conversations stay in the queue and the tours' stay where the test puts them.
        cls.env["res.users"].with_context(active_test=False).search([("cc_available", "=", True)]).write(
            {"cc_available": False}
        )
        # Demo automations (a chatbot on "order") would answer before the agent: these tours are about agents.
        cls.env["contact.centre.automation"].search([]).active = False
        cls.Thread = cls.env["contact.centre.thread"]

    def setUp(self):
        super().setUp()
        # The simulator signs its inbound webhooks with the test number's secret; it posts no statuses
        # back (they would reach the server after the tour, in the next test).
        configure(self.simulator_url, meta_app_secret="test-app-secret")

    def conversation(self, name, number, agent=None, bodies=("Hello",), channel="whatsapp", minutes_ago=5):
        """A conversation of ``agent`` (or unassigned) whose contact wrote ``bodies``, the last
        ``minutes_ago`` minutes ago."""
        numbers = {"whatsapp_number": number} if channel == "whatsapp" else {"sms_number": number}
        contact = self.env["contact.centre.contact"].create(
            {"name": name, "assigned_agent_id": agent.id if agent else False, **numbers}
        )
        thread = self.Thread._get_or_create(contact, channel)
        last = fields.Datetime.now() - timedelta(minutes=minutes_ago)
        for index, body in enumerate(bodies):
            self.env["contact.centre.message"].create(
                {
                    "contact_id": contact.id,
                    "thread_id": thread.id,
                    "channel": channel,
                    "direction": "inbound",
                    "status": "received",
                    "body_text": body,
                    "message_timestamp": last - timedelta(seconds=len(bodies) - 1 - index),
                }
            )
        config = (
            {"whatsapp_config_id": self.whatsapp_config.id}
            if channel == "whatsapp"
            else {"sms_config_id": self.twilio_config.id}
        )
        thread.write(
            {"last_inbound_date": last, "last_message_date": last, "last_message_preview": bodies[-1], **config}
        )
        return thread

    def start_day_tour(self, tour, login):
        # The simulator's webhook calls carry no test cookie: let every request in during the tour.
        with patch.object(self, "http_request_allow_all", True), self.running_crons():
            self.start_tour("/odoo/contact-centre-inbox", tour, login=login, timeout=90)

    def test_flow1_reassigned_conversation_opens_for_its_new_agent(self):
        thread = self.conversation(
            "Reassign Customer", "+32470555401", self.agent, bodies=("Hello", "My parcel is late")
        )
        self.start_day_tour("contact_centre_day_reassign", "cc_supervisor")
        self.env.invalidate_all()
        self.assertEqual(thread.assigned_agent_id, self.agent2)
        self.assertEqual(thread.contact_id.assigned_agent_id, self.agent2)
        self.assertFalse(self.Thread.with_user(self.agent).search([("id", "=", thread.id)]), "Alice lost it")

        self.start_day_tour("contact_centre_day_reassigned_opens", "cc_agent2")
        self.env.invalidate_all()
        self.assertEqual(thread.with_user(self.agent2).unread_count, 0, "Bruno read it")
        self.assertEqual(thread.assigned_agent_id, self.agent2)

    def test_flow2_unassigned_queue_is_live(self):
        self.conversation("Queue Waiting", "+32470555202", minutes_ago=10)
        self.start_day_tour("contact_centre_day_queue_live", "cc_agent")
        self.env.invalidate_all()
        thread = self.Thread.search([("contact_id.whatsapp_number", "=", "+32470555201")])
        self.assertEqual(len(thread), 1)
        self.assertEqual(thread.contact_id.name, "Queue Newcomer")
        self.assertFalse(thread.assigned_agent_id, "nobody available: it stays in the queue")
        self.assertEqual(thread.state, "open")
        self.assertEqual(
            thread.message_ids.sorted("id").mapped("body_text"), ["Hello, my bill is wrong", "Is anybody there?"]
        )
        self.assertEqual(thread.with_user(self.agent).unread_count, 2)

    def test_unread_after_a_burst_counts_each_message_once(self):
        thread = self.conversation(
            "Burst Customer", "+32470555901", self.agent, bodies=("First thing", "Second thing"), minutes_ago=0
        )
        last = self.env["bus.bus"]._bus_last_id()
        # Announced as the ingestion announces them, stored as at its commit, seconds before the page
        # opens (the bus replays the last 50 s to a page just opened).
        thread.message_ids._notify_inbox()
        self.env.cr.precommit.run()
        self.env.cr.execute("UPDATE bus_bus SET create_date = %s WHERE id > %s", [fields.Datetime.now(), last])
        self.assertTrue(self.env.cr.rowcount)
        self.start_day_tour("contact_centre_day_unread_after_burst", "cc_agent")
        self.env.invalidate_all()
        self.assertEqual(thread.with_user(self.agent).unread_count, 3)

    def test_flow6_supervisor_reading_leaves_the_agents_unread(self):
        thread = self.conversation(
            "Unread Customer", "+32470555601", self.agent, bodies=("First question", "Second question")
        )
        self.assertEqual(thread.with_user(self.agent).unread_count, 2)
        self.start_day_tour("contact_centre_day_supervisor_reads", "cc_supervisor")
        self.env.invalidate_all()
        self.assertEqual(thread.with_user(self.agent).unread_count, 2, "Alice has still read nothing")
        self.assertEqual(thread.with_user(self.supervisor).unread_count, 0)
        self.assertEqual(thread.assigned_agent_id, self.agent)

    def test_flow11_back_to_the_queue(self):
        thread = self.conversation("Requeue Customer", "+32470555111", self.agent)
        self.conversation("Reassign Customer", "+32470555112", self.agent2)
        self.start_day_tour("contact_centre_day_back_to_queue", "cc_supervisor")
        self.env.invalidate_all()
        self.assertFalse(thread.assigned_agent_id)
        self.assertFalse(thread.contact_id.assigned_agent_id)
        self.assertIn(
            thread.id, [row["id"] for row in self.Thread.with_user(self.agent2).inbox_conversations("unassigned")]
        )

    def test_take(self):
        thread = self.conversation("Take Customer", "+32470555701")
        self.start_day_tour("contact_centre_day_take", "cc_agent")
        self.env.invalidate_all()
        self.assertEqual(thread.assigned_agent_id, self.agent)
        self.assertEqual(thread.contact_id.assigned_agent_id, self.agent)
        self.assertFalse(thread.message_ids.filtered(lambda m: m.direction == "outbound"), "taking sends nothing")

    def test_reply_takes_and_new_messages_scroll_into_view(self):
        bodies = [f"Message {i}" for i in range(1, 46)]
        thread = self.conversation("Reply Customer", "+32470555301", bodies=bodies)
        self.start_day_tour("contact_centre_day_reply_takes", "cc_agent")
        self.env.invalidate_all()
        self.assertEqual(thread.assigned_agent_id, self.agent)
        reply = thread.message_ids.filtered(lambda m: m.direction == "outbound")
        self.assertEqual(reply.mapped("body_text"), ["Blue, as ordered."])
        self.assertEqual(reply.author_id, self.agent)

    def test_sms_limit_and_failure_explained(self):
        self.env["ir.config_parameter"].set_param("contact_centre.sms_max_segments", "2")
        bodies = [f"Line {i}" for i in range(1, 31)]
        thread = self.conversation("Sms Customer", "+32470555801", self.agent, bodies=bodies, channel="sms")
        failed = self.env["contact.centre.message"].create(
            {
                "contact_id": thread.contact_id.id,
                "thread_id": thread.id,
                "channel": "sms",
                "direction": "outbound",
                "provider": "twilio",
                "sms_config_id": self.twilio_config.id,
                "status": "failed",
                "body_text": "Your code is 1234 http://bit.ly/xyz",
                "error_code": "30007",
                "error_message": "Message filtered by carrier",
                "message_timestamp": fields.Datetime.now() - timedelta(minutes=1),
            }
        )
        self.assertTrue(thread.contact_id.opt_in_sms)
        self.start_day_tour("contact_centre_day_sms_and_failure", "cc_agent")
        self.env.invalidate_all()
        sent = thread.message_ids.filtered(lambda m: m.direction == "outbound") - failed
        self.assertEqual(sent.mapped("body_text"), ["Your refund is on its way."], "nothing above the limit left")
        self.assertEqual(failed.status, "failed", "the tour only looked at the failure")
