import time
from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, HttpCase, tagged

from ..tools.simulator.control import sent_messages
from .common import ContactCentreData, SimulatorMixin, meta_payload, meta_signed


@tagged("post_install", "-at_install")
class TestInteractive(SimulatorMixin, ContactCentreData, HttpCase):
    """Agents send reply buttons and lists from the composer; the customer's choice comes back as
    an answer to the question (Meta's ``context.id``)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.Message = cls.env["contact.centre.message"]
        cls.contact = cls.env["contact.centre.contact"].create({"name": "Ines", "whatsapp_number": "+32470999001"})
        cls.thread = cls.env["contact.centre.thread"]._get_or_create(cls.contact, "whatsapp")
        cls.thread.write(
            {
                "last_inbound_date": fields.Datetime.now() - timedelta(hours=1),
                "whatsapp_config_id": cls.whatsapp_config.id,
                "assigned_agent_id": cls.agent.id,
            }
        )

    def composer(self, **values):
        action = self.contact.with_user(self.agent).action_open_composer(channel="whatsapp")
        form = Form(self.env["contact.centre.composer"].with_user(self.agent).with_context(**action["context"]))
        form.mode = "interactive"
        for name, value in values.items():
            setattr(form, name, value)
        return form

    def sent_message(self):
        self.Message._send_queued()
        message = self.Message.search([("contact_id", "=", self.contact.id), ("direction", "=", "outbound")], limit=1)
        self.assertEqual(message.status, "sent")
        [sent] = sent_messages(self.simulator_url)
        self.assertEqual(sent["body"]["type"], "interactive")
        return message, sent["body"]["interactive"]

    def test_reply_buttons_reach_meta_in_its_shape(self):
        form = self.composer(body="Confirm your visit tomorrow?", interactive_options="Yes\nNo\nCall me")
        self.assertEqual(form.preview, "Confirm your visit tomorrow?\n[ Yes ]\n[ No ]\n[ Call me ]")
        form.save().action_send()
        message, interactive = self.sent_message()
        expected = {
            "type": "button",
            "body": {"text": "Confirm your visit tomorrow?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "option-1", "title": "Yes"}},
                    {"type": "reply", "reply": {"id": "option-2", "title": "No"}},
                    {"type": "reply", "reply": {"id": "option-3", "title": "Call me"}},
                ]
            },
        }
        self.assertEqual(interactive, expected)
        self.assertEqual((message.message_type, message.body_text), ("interactive", "Confirm your visit tomorrow?"))
        self.assertEqual(message.interactive_payload, expected)

    def test_list_with_sections_reaches_meta_in_its_shape(self):
        form = self.composer(
            body="Pick a slot",
            interactive_kind="list",
            interactive_button="Slots",
            interactive_header="Appointments",
            interactive_footer="Acme Clinic",
            interactive_options="[Morning]\n9:00 | no wait\n10:00\n[Afternoon]\n14:00",
        )
        self.assertIn("  • 9:00 (no wait)", form.preview)
        form.save().action_send()
        _message, interactive = self.sent_message()
        self.assertEqual(
            interactive,
            {
                "type": "list",
                "header": {"type": "text", "text": "Appointments"},
                "body": {"text": "Pick a slot"},
                "footer": {"text": "Acme Clinic"},
                "action": {
                    "button": "Slots",
                    "sections": [
                        {
                            "title": "Morning",
                            "rows": [
                                {"id": "option-1", "title": "9:00", "description": "no wait"},
                                {"id": "option-2", "title": "10:00"},
                            ],
                        },
                        {"title": "Afternoon", "rows": [{"id": "option-3", "title": "14:00"}]},
                    ],
                },
            },
        )

    def test_invalid_options_are_refused_clearly(self):
        cases = [
            ({"interactive_options": "A\nB\nC\nD"}, "at most 3 reply buttons"),
            ({"interactive_options": "A much too long button title"}, "at most 20 are allowed"),
            ({"interactive_options": ""}, "at least one option"),
            (
                {"interactive_kind": "list", "interactive_options": "\n".join(str(i) for i in range(11))},
                "at most 10 options in a list",
            ),
        ]
        for values, error in cases:
            with self.subTest(error=error):
                form = self.composer(body="Choose", **values)
                self.assertIn(error, form.preview)
                with self.assertRaisesRegex(UserError, error):
                    form.save().action_send()
        self.assertFalse(self.Message.search([("contact_id", "=", self.contact.id)]))

    def test_buttons_outside_the_window_are_refused(self):
        self.thread.last_inbound_date = fields.Datetime.now() - timedelta(hours=30)
        composer = (
            self.env["contact.centre.composer"]
            .with_user(self.agent)
            .create(
                {
                    "contact_id": self.contact.id,
                    "mode": "interactive",
                    "body": "Still there?",
                    "interactive_options": "Yes",
                }
            )
        )
        with self.assertRaisesRegex(UserError, "window is closed"):
            composer.action_send()

    def test_the_choice_comes_back_as_an_answer_to_the_question(self):
        self.composer(body="Confirm?", interactive_options="Yes\nNo").save().action_send()
        question, _interactive = self.sent_message()
        reply = {
            "from": "32470999001",
            "id": "wamid.CHOICE",
            "timestamp": str(int(time.time())),
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "option-2", "title": "No"}},
            "context": {"from": "15550100001", "id": question.external_message_id},
        }
        body, signed = meta_signed(meta_payload([reply]))
        self.assertEqual(self.url_open("/contact_centre/webhook/whatsapp", data=body, headers=signed).status_code, 200)
        self.process_webhooks()
        answer = self.Message.search([("external_message_id", "=", "wamid.CHOICE")])
        self.assertEqual((answer.direction, answer.body_text), ("inbound", "No"))
        self.assertEqual(answer.parent_message_id, question)
        self.assertEqual(answer.interactive_payload, {"id": "option-2", "title": "No"})
        [row] = answer._inbox_rows()
        self.assertEqual(row["parent"], {"id": question.id, "preview": "Confirm?", "direction": "outbound"})

    def test_a_list_choice_links_to_the_list(self):
        self.composer(body="Pick", interactive_kind="list", interactive_options="Red\nBlue").save().action_send()
        question, _interactive = self.sent_message()
        reply = {
            "from": "32470999001",
            "id": "wamid.LISTCHOICE",
            "timestamp": str(int(time.time())),
            "type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {"id": "option-2", "title": "Blue"}},
            "context": {"from": "15550100001", "id": question.external_message_id},
        }
        body, signed = meta_signed(meta_payload([reply]))
        self.url_open("/contact_centre/webhook/whatsapp", data=body, headers=signed)
        self.process_webhooks()
        answer = self.Message.search([("external_message_id", "=", "wamid.LISTCHOICE")])
        self.assertEqual((answer.body_text, answer.parent_message_id), ("Blue", question))

    def test_chatbot_questions_use_buttons_a_list_or_numbered_text(self):
        bot = self.env["whatsapp.chatbot"].create({"name": "Bot"})

        def question(*names, message="Which one?"):
            return self.env["whatsapp.chatbot.step"].create(
                {
                    "chatbot_id": bot.id,
                    "step_type": "question",
                    "message": message,
                    "option_ids": [
                        fields.Command.create({"name": name, "sequence": i}) for i, name in enumerate(names)
                    ],
                }
            )

        Session = self.env["whatsapp.chatbot.session"]
        buttons = Session._interactive(question("Yes", "No"))
        self.assertEqual(buttons["type"], "button")
        listed = Session._interactive(question("A", "B", "C", "D"))
        self.assertEqual(listed["type"], "list")
        self.assertEqual(len(listed["action"]["sections"][0]["rows"]), 4)
        long_titles = Session._interactive(question("A title longer than twenty-four characters"))
        self.assertEqual(long_titles["action"]["sections"][0]["rows"][0]["title"], "A title longer than twen")
        self.assertEqual(Session._interactive(question("Yes", "No", message="x" * 2000))["type"], "list")
        self.assertIsNone(Session._interactive(question("Yes", message="x" * 4097)), "too long: numbered text")
