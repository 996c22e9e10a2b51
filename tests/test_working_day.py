"""The working day of agents and supervisors (issue #11): assignment that moves what the record
rules read, taking unassigned work, per-user unread, consent that stands up to an audit, SMS
length, one contact per number, template variables chosen among the contact's fields."""

from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from .common import ContactCentreCase


@tagged("post_install", "-at_install")
class TestWorkingDay(ContactCentreCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Thread = cls.env["contact.centre.thread"]
        cls.queue = cls.Thread._get_or_create(cls.contact_free, "whatsapp")
        cls.queue.write({"whatsapp_config_id": cls.whatsapp_config.id, "last_inbound_date": fields.Datetime.now()})

    def test_reassigned_conversation_opens_for_its_new_agent(self):
        thread = self.Thread._get_or_create(self.contact_agent, "whatsapp")
        thread.with_user(self.supervisor).action_assign_to(self.agent2)
        as_agent2 = thread.with_user(self.agent2)
        self.assertEqual(as_agent2.inbox_open()["contact"]["name"], "Assigned To Agent")
        self.assertEqual(self.contact_agent.assigned_agent_id, self.agent2)
        self.assertFalse(self.Thread.with_user(self.agent).search([("id", "=", thread.id)]))

    def test_reassigning_to_nobody_puts_it_back_in_the_queue(self):
        thread = self.Thread._get_or_create(self.contact_agent, "whatsapp")
        thread.with_user(self.supervisor).action_assign_to(False)
        self.assertFalse(thread.assigned_agent_id)
        self.assertIn(
            thread.id, [row["id"] for row in self.Thread.with_user(self.agent2).inbox_conversations("unassigned")]
        )

    def test_notifications_say_no_agent_as_false_and_tell_the_queue_it_left(self):
        sent = []
        with patch.object(
            type(self.env["bus.bus"]),
            "_sendone",
            lambda bus, channel, kind, payload: sent.append((channel, kind, payload)),
        ):
            self.queue._notify_inbox(self.env["contact.centre.message"])
            self.queue.with_user(self.agent).action_take()
        unassigned = sent[0][2]
        self.assertIs(unassigned["assigned_agent_id"], False)
        left = [payload for channel, kind, payload in sent if kind == "contact_centre/thread_left"]
        self.assertEqual(left, [{"thread_id": self.queue.id, "assigned_agent_id": [self.agent.id, self.agent.name]}])

    def test_take_and_reply_takes_it(self):
        self.queue.with_user(self.agent).action_take()
        self.assertEqual(self.queue.assigned_agent_id, self.agent)
        with self.assertRaisesRegex(UserError, "already taken"):
            self.queue.with_user(self.supervisor).action_take()
        other = self.Thread._get_or_create(
            self.env["contact.centre.contact"].create({"name": "New", "whatsapp_number": "+32470111001"}), "whatsapp"
        )
        other.write({"whatsapp_config_id": self.whatsapp_config.id, "last_inbound_date": fields.Datetime.now()})
        other.with_user(self.agent2).inbox_send(text="Hello, I'm on it")
        self.assertEqual(other.assigned_agent_id, self.agent2)
        self.env["ir.config_parameter"].set_param("contact_centre.reply_takes", False)  # unchecked in Settings
        third = self.Thread._get_or_create(
            self.env["contact.centre.contact"].create({"name": "Third", "whatsapp_number": "+32470111002"}), "whatsapp"
        )
        third.write({"whatsapp_config_id": self.whatsapp_config.id, "last_inbound_date": fields.Datetime.now()})
        third.with_user(self.agent2).inbox_send(text="Hello")
        self.assertFalse(third.assigned_agent_id)

    def test_only_agents_are_assigned_automatically(self):
        Users = self.env["res.users"]
        assignable = Users.search(Users._cc_assignable_domain(self.env.company))
        self.assertIn(self.agent, assignable)
        self.assertNotIn(self.supervisor, assignable)
        self.assertNotIn(self.admin, assignable)

    def test_agents_create_contacts(self):
        contact = (
            self.env["contact.centre.contact"]
            .with_user(self.agent)
            .create({"name": "Walk-in", "whatsapp_number": "+32470111003"})
        )
        self.assertEqual(contact.company_id, self.env.company)
        self.assertFalse(contact.marketing_whatsapp, "a new contact has no marketing consent")
        self.assertTrue(contact.opt_in_whatsapp, "service messages are allowed until the contact opts out")

    def test_one_number_one_contact_per_company(self):
        with self.assertRaisesRegex(ValidationError, "already the number of Unassigned"), self.env.cr.savepoint():
            self.env["contact.centre.contact"].create({"name": "Twin", "sms_number": "+32470000003"})
        other_company = self.env["res.company"].create({"name": "Other"})
        twin = (
            self.env["contact.centre.contact"]
            .with_company(other_company)
            .create({"name": "Twin", "sms_number": "+32470000003"})
        )
        self.assertEqual(twin.company_id, other_company)

    def test_consent_after_stop_only_the_customer_restores(self):
        contact = self.contact_free
        contact._set_opt_in("whatsapp", False, "keyword")
        wizard = (
            self.env["contact.centre.consent.wizard"]
            .with_user(self.agent)
            .create(
                {
                    "contact_id": contact.id,
                    "channel": "whatsapp",
                    "purpose": "both",
                    "source": "agent",
                    "note": "Called us",
                }
            )
        )
        with self.assertRaisesRegex(UserError, "only their own START"):
            wizard.action_record()
        contact._set_opt_in("whatsapp", True, "keyword")
        self.assertTrue(contact.opt_in_whatsapp)
        history = contact.consent_ids
        self.assertEqual(set(history.mapped("source")), {"keyword"})

    def test_agent_records_consent_with_a_source_and_a_note(self):
        contact = self.contact_free
        wizard = (
            self.env["contact.centre.consent.wizard"]
            .with_user(self.agent)
            .create(
                {
                    "contact_id": contact.id,
                    "channel": "sms",
                    "purpose": "marketing",
                    "source": "web_form",
                    "note": "Newsletter form, 12 May",
                }
            )
        )
        wizard.action_record()
        self.assertTrue(contact.marketing_sms)
        [event] = contact.consent_ids
        self.assertEqual((event.user_id, event.source, event.note), (self.agent, "web_form", "Newsletter form, 12 May"))
        self.assertIn("Opted in to SMS", contact.message_ids[0].body)
        with self.assertRaises(AccessError):
            contact.with_user(self.agent).write({"opt_in_sms": False})

    def test_sms_above_the_segment_limit_is_refused(self):
        contact = self.env["contact.centre.contact"].create({"name": "Texter", "sms_number": "+32470111004"})
        thread = self.Thread._get_or_create(contact, "sms")
        thread.sms_config_id = self.twilio_config
        long_text = "x" * (160 * 11)
        self.assertEqual(thread.inbox_compose_info(text=long_text)["sms_max_segments"], 10)
        with self.assertRaisesRegex(UserError, "at most 10"):
            thread._send_message(text=long_text)
        self.env["ir.config_parameter"].set_param("contact_centre.sms_max_segments", "12")
        self.assertEqual(thread._send_message(text=long_text).status, "queued")

    def test_template_variable_is_a_readable_contact_field(self):
        template = self.env["contact.centre.template"].create({"name": "T", "channel": "sms", "body_text": "Hi {{1}}"})
        for bad in ("no_such_field", "message_ids"):
            with self.assertRaises(ValidationError):
                self.env["contact.centre.template.variable"].create(
                    {"template_id": template.id, "placeholder": "1", "source": "field", "field_name": bad}
                )
        variable = self.env["contact.centre.template.variable"].create(
            {"template_id": template.id, "placeholder": "1", "source": "field", "field_name": "city"}
        )
        self.assertEqual(variable.contact_model, "contact.centre.contact")
