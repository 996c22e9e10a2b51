from datetime import datetime

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..tools.providers import InboundMessage
from .common import ContactCentreCase


@tagged("post_install", "-at_install")
class TestInboundRules(ContactCentreCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Demo automations must not interfere: these tests set up their own.
        cls.env["contact.centre.automation"].search([]).active = False
        cls.Message = cls.env["contact.centre.message"].sudo()
        cls.counter = 0

    def receive(self, text, sender="+32470777001", channel="whatsapp", interactive_id=None, when=None):
        type(self).counter += 1
        event = InboundMessage(
            provider_message_id=f"in-{self.counter}",
            sender=sender,
            recipient="900000000000001",
            channel=channel,
            text=text,
            profile_name="Rita",
            interactive_id=interactive_id,
            interactive_title=text,
            timestamp=when,
        )
        config = self.whatsapp_config if channel == "whatsapp" else self.twilio_config
        self.assertFalse(self.Message._ingest_events(config, [event]))
        return self.Message.search([("external_message_id", "=", event.provider_message_id)])

    def replies(self, message):
        return message.thread_id.message_ids.filtered(lambda m: m.direction == "outbound").sorted("id")

    # Opt-out
    def test_stop_words_opt_out_and_are_confirmed(self):
        for word in ("STOP", "unsubscribe", "End", "quit", "CANCEL"):
            message = self.receive(word)
            contact = message.contact_id
            self.assertFalse(contact.opt_in_whatsapp, word)
            self.assertEqual(contact.opt_in_whatsapp_source, "keyword")
            self.assertTrue(any("Opted out of WhatsApp" in body for body in contact.message_ids.mapped("body")))
            self.assertIn("START", self.replies(message)[-1].body_text)
            self.receive("START")
            self.assertTrue(contact.opt_in_whatsapp)

    def test_a_sentence_with_stop_is_not_an_opt_out(self):
        message = self.receive("please stop calling me")
        self.assertTrue(message.contact_id.opt_in_whatsapp)

    def test_configured_words_and_help(self):
        self.env["ir.config_parameter"].sudo().set_param("contact_centre.opt_out_words", "ARRET, desinscrire")
        self.env["ir.config_parameter"].sudo().set_param("contact_centre.help_text", "Call 555.")
        message = self.receive("Arrêt", channel="sms")
        self.assertFalse(message.contact_id.opt_in_sms)
        self.assertTrue(message.contact_id.opt_in_whatsapp)
        help_message = self.receive("HELP", channel="sms")
        self.assertEqual(self.replies(help_message)[-1].body_text, "Call 555.")

    def test_opted_out_contact_gets_no_automated_reply(self):
        self.env["contact.centre.automation"].create(
            {
                "name": "Hi",
                "automation_type": "auto_reply",
                "trigger_type": "any_message",
                "response_message": "Hello!",
            }
        )
        first = self.receive("STOP")
        self.receive("hello again")
        self.assertEqual(len(self.replies(first)), 1)  # only the opt-out confirmation

    # Automations
    def test_keyword_automation_replies_and_suggests_a_script(self):
        script = self.env["contact.centre.script"].create({"name": "Delay", "content_text": "Sorry for the delay"})
        automation = self.env["contact.centre.automation"].create(
            {
                "name": "Hours",
                "automation_type": "keyword",
                "trigger_type": "keyword",
                "trigger_keywords": "opening hours, open",
                "response_message": "We open at 9.",
                "script_id": script.id,
            }
        )
        message = self.receive("What are your OPENING hours?")
        self.assertEqual(self.replies(message).body_text, "We open at 9.")
        self.assertTrue(self.replies(message).is_automated)
        self.assertEqual(message.thread_id.suggested_script_ids, script)
        self.assertEqual(automation.trigger_count, 1)
        other = self.receive("reopening soon?", sender="+32470777002")
        self.assertFalse(self.replies(other))

    def test_scripts_matching_the_message_are_suggested(self):
        self.env["contact.centre.script"].search([]).active = False
        script = self.env["contact.centre.script"].create(
            {"name": "Refunds", "content_text": "Refunds take 5 days", "trigger_keywords": "refund, money back"}
        )
        message = self.receive("I want my money back!")
        self.assertEqual(message.thread_id.suggested_script_ids, script)
        other = self.receive("hello", sender="+32470777004")
        self.assertFalse(other.thread_id.suggested_script_ids)

    def test_first_message_auto_reply_only_once_per_conversation(self):
        self.env["contact.centre.automation"].create(
            {
                "name": "Welcome",
                "automation_type": "auto_reply",
                "trigger_type": "first_message",
                "response_message": "Welcome!",
            }
        )
        first = self.receive("hi")
        self.receive("are you there?")
        self.assertEqual(self.replies(first).mapped("body_text"), ["Welcome!"])
        first.thread_id.action_resolve()
        self.receive("back again")
        self.assertEqual(self.replies(first).mapped("body_text"), ["Welcome!", "Welcome!"])

    def test_outside_hours_auto_reply(self):
        calendar = self.env["resource.calendar"].create(
            {
                "name": "9-17 Brussels",
                "tz": "Europe/Brussels",
                "attendance_ids": [
                    fields.Command.create({"name": f"day {d}", "dayofweek": str(d), "hour_from": 9, "hour_to": 17})
                    for d in range(5)
                ],
            }
        )
        self.env["contact.centre.automation"].create(
            {
                "name": "Closed",
                "automation_type": "auto_reply",
                "trigger_type": "outside_hours",
                "calendar_id": calendar.id,
                "response_message": "We are closed.",
            }
        )
        with freeze_time("2026-11-25 22:00:00"):  # a Wednesday, 23:00 in Brussels
            night = self.receive("hello", when=datetime(2026, 11, 25, 22, 0))
        with freeze_time("2026-11-25 10:00:00"):
            day = self.receive("hello", sender="+32470777003", when=datetime(2026, 11, 25, 10, 0))
        self.assertEqual(self.replies(night).mapped("body_text"), ["We are closed."])
        self.assertFalse(self.replies(day))

    def test_no_agent_auto_reply(self):
        self.env["res.users"].search([]).write({"cc_available": False})
        self.env["contact.centre.automation"].create(
            {
                "name": "Queue",
                "automation_type": "auto_reply",
                "trigger_type": "no_agent",
                "response_message": "All agents are busy.",
            }
        )
        message = self.receive("hi")
        self.assertEqual(self.replies(message).mapped("body_text"), ["All agents are busy."])
        self.assertFalse(message.thread_id.assigned_agent_id)

    # Chatbot
    def make_bot(self):
        bot = self.env["whatsapp.chatbot"].create({"name": "Bot"})
        Step = self.env["whatsapp.chatbot.step"]
        Step.create({"chatbot_id": bot.id, "sequence": 1, "step_type": "message", "message": "Hi, I am a bot."})
        question = Step.create(
            {
                "chatbot_id": bot.id,
                "sequence": 2,
                "step_type": "question",
                "message": "Need?",
                "option_ids": [
                    fields.Command.create({"name": "Track", "sequence": 1}),
                    fields.Command.create({"name": "Human", "sequence": 2}),
                ],
            }
        )
        Step.create(
            {
                "chatbot_id": bot.id,
                "sequence": 3,
                "step_type": "capture",
                "capture_field": "email",
                "message": "Your e-mail?",
            }
        )
        handover = Step.create(
            {"chatbot_id": bot.id, "sequence": 4, "step_type": "handover", "message": "Passing you on."}
        )
        question.option_ids[1].next_step_id = handover
        self.env["contact.centre.automation"].create(
            {
                "name": "Bot",
                "automation_type": "chatbot",
                "trigger_type": "keyword",
                "trigger_keywords": "bot",
                "chatbot_id": bot.id,
            }
        )
        return bot, question

    def test_chatbot_on_whatsapp_with_buttons_capture_and_handover(self):
        self.make_bot()
        start = self.receive("bot please")
        thread = start.thread_id
        self.assertFalse(thread.assigned_agent_id, "no assignment while the bot runs")
        replies = self.replies(start)
        self.assertEqual(replies.mapped("body_text"), ["Hi, I am a bot.", "Need?"])
        buttons = replies[1].interactive_payload["action"]["buttons"]
        self.assertEqual([b["reply"]["title"] for b in buttons], ["Track", "Human"])
        self.receive("Track", interactive_id=buttons[0]["reply"]["id"])
        self.assertEqual(self.replies(start)[-1].body_text, "Your e-mail?")
        self.receive("rita@example.com")
        self.assertEqual(thread.contact_id.email, "rita@example.com")
        self.assertEqual(self.replies(start)[-1].body_text, "Passing you on.")
        session = self.env["whatsapp.chatbot.session"].search([("thread_id", "=", thread.id)])
        self.assertEqual(session.state, "handed_over")
        self.assertTrue(thread.assigned_agent_id, "handed over to an agent")
        count = len(self.replies(start))
        self.receive("thanks")
        self.assertEqual(len(self.replies(start)), count, "the bot stopped")

    def test_chatbot_by_sms_with_numbered_options_and_fallback(self):
        self.make_bot()
        start = self.receive("bot", channel="sms", sender="+32470777009")
        self.assertEqual(self.replies(start)[-1].body_text, "Need?\n1. Track\n2. Human")
        self.receive("banana", channel="sms", sender="+32470777009")
        self.assertIn("did not understand", self.replies(start)[-2].body_text)
        self.receive("2", channel="sms", sender="+32470777009")
        self.assertEqual(self.replies(start)[-1].body_text, "Passing you on.")

    # Assignment
    def agents(self, *users, capacity=10):
        self.env["res.users"].search([]).write({"cc_available": False})
        for user in users:
            user.write({"cc_available": True, "cc_capacity": capacity})

    def test_round_robin_assignment(self):
        self.agents(self.agent, self.agent2)
        owners = [self.receive("hi", sender=f"+3247088800{i}").thread_id.assigned_agent_id for i in range(4)]
        self.assertEqual(len(set(owners)), 2)
        self.assertNotEqual(owners[0], owners[1])
        self.assertEqual(owners[0], owners[2])
        self.assertEqual(owners[1], owners[3])

    def test_fewest_open_with_capacity(self):
        self.env["ir.config_parameter"].sudo().set_param("contact_centre.assignment_method", "fewest_open")
        self.agents(self.agent, self.agent2, capacity=1)
        first = self.receive("hi", sender="+32470888101").thread_id
        second = self.receive("hi", sender="+32470888102").thread_id
        third = self.receive("hi", sender="+32470888103").thread_id
        self.assertEqual({first.assigned_agent_id, second.assigned_agent_id}, {self.agent, self.agent2})
        self.assertFalse(third.assigned_agent_id, "over capacity: stays in the queue")

    def test_existing_agent_keeps_the_contact_and_reopen(self):
        self.agents(self.agent, self.agent2)
        thread = self.receive("hi", sender="+32470000002").thread_id  # contact_agent2's number
        self.assertEqual(thread.assigned_agent_id, self.agent2)
        thread.action_resolve()
        self.receive("again", sender="+32470000002")
        self.assertEqual(thread.state, "open")

    def test_only_supervisors_reassign(self):
        self.agents(self.agent)
        thread = self.receive("hi").thread_id
        with self.assertRaises(AccessError):
            thread.with_user(self.agent).action_assign_to(self.agent2)
        thread.with_user(self.supervisor).action_assign_to(self.agent2)
        self.assertEqual(thread.assigned_agent_id, self.agent2)

    def test_inbound_keyword_campaign_enrols(self):
        campaign = self.env["contact.centre.campaign"].create(
            {
                "name": "Join",
                "campaign_type": "inbound",
                "channel": "sms",
                "keyword": "JOIN",
                "state": "running",
                "reply_text": "Welcome to the club",
                "sms_config_id": self.twilio_config.id,
            }
        )
        message = self.receive("join", channel="sms", sender="+32470777111")
        self.assertIn(message.contact_id, campaign.contact_ids)
        self.assertEqual(message.contact_id.opt_in_sms_source, "campaign")
        self.assertEqual(self.replies(message).body_text, "Welcome to the club")
        self.assertEqual(self.replies(message).campaign_id, campaign)
