import json
import time
from datetime import timedelta

import requests

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, HttpCase, tagged

from ..tools.simulator.control import configure, seed_flows, sent_messages
from .common import ContactCentreData, SimulatorMixin, meta_payload, meta_signed


@tagged("post_install", "-at_install")
class TestWhatsappFlows(SimulatorMixin, ContactCentreData, HttpCase):
    """WhatsApp Flows: synchronised from Meta, sent from the composer or a chatbot step with a token
    of their own, and the customer's answers (``nfm_reply``) found again by that token, shown as
    answers and captured into contact fields."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.Message = cls.env["contact.centre.message"]
        cls.Flow = cls.env["contact.centre.whatsapp.flow"]
        cls.contact = cls.env["contact.centre.contact"].create({"name": "Ines", "whatsapp_number": "+32470999001"})
        cls.other = cls.env["contact.centre.contact"].create({"name": "Omar", "whatsapp_number": "+32470999002"})
        cls.thread = cls.open_thread(cls.contact)
        cls.other_thread = cls.open_thread(cls.other)
        cls.signup = cls.Flow.create(
            {
                "name": "Sign up",
                "config_id": cls.whatsapp_config.id,
                "flow_id": "555000111",
                "status": "published",
                "cta": "Sign up",
                "first_screen": "WELCOME",
            }
        )

    @classmethod
    def open_thread(cls, contact):
        thread = cls.env["contact.centre.thread"]._get_or_create(contact, "whatsapp")
        thread.write(
            {
                "last_inbound_date": fields.Datetime.now() - timedelta(hours=1),
                "whatsapp_config_id": cls.whatsapp_config.id,
                "assigned_agent_id": cls.agent.id,
            }
        )
        return thread

    # Sync

    def test_sync_creates_updates_and_deprecates_the_numbers_flows(self):
        kept = self.Flow.create(
            {"name": "Old name", "config_id": self.whatsapp_config.id, "flow_id": "700", "status": "draft"}
        )
        kept.write({"cta": "Book now", "first_screen": "PICK_DAY"})
        gone = self.Flow.create({"name": "Gone", "config_id": self.whatsapp_config.id, "flow_id": "799"})
        seed_flows(
            self.simulator_url,
            "waba-test",
            [
                {"id": "700", "name": "Book a visit", "status": "PUBLISHED", "categories": ["APPOINTMENT_BOOKING"]},
                {"id": "701", "name": "Survey", "status": "DRAFT", "categories": ["SURVEY", "OTHER"]},
                *({"id": str(800 + i), "name": f"Form {i}", "status": "PUBLISHED"} for i in range(120)),
            ],
        )
        action = self.whatsapp_config.with_user(self.admin).action_sync_flows()
        self.assertIn("122 flows at Meta: 121 new, 1 updated, 2 no longer listed", action["params"]["message"])
        flows = self.whatsapp_config.flow_ids
        self.assertEqual(len(flows), 124, "listed across pages (Meta pages by 100 here): 122, plus two gone")
        self.assertRecordValues(
            kept,
            [{"name": "Book a visit", "status": "published", "categories": "Appointment booking"}],
        )
        self.assertEqual((kept.cta, kept.first_screen), ("Book now", "PICK_DAY"), "our settings are kept")
        survey = flows.filtered(lambda f: f.flow_id == "701")
        self.assertRecordValues(survey, [{"name": "Survey", "status": "draft", "categories": "Survey, Other"}])
        self.assertEqual((gone.status, self.signup.status), ("deprecated", "deprecated"))
        # Meta publishes the survey: the next sync says so, and creates nothing again.
        seed_flows(self.simulator_url, "waba-test", [{"id": "701", "name": "Survey", "status": "PUBLISHED"}])
        action = self.whatsapp_config.with_user(self.admin).action_sync_flows()
        self.assertIn("1 flows at Meta: 0 new, 1 updated, 121 no longer listed", action["params"]["message"])
        self.assertEqual(survey.status, "published")
        self.assertEqual(len(self.whatsapp_config.flow_ids), 124)

    def test_sync_is_for_administrators_and_says_what_went_wrong(self):
        for user in (self.agent, self.supervisor):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.whatsapp_config.with_user(user).action_sync_flows()
        configure(self.simulator_url, meta_access_token="another-token")
        with self.assertRaisesRegex(UserError, "Meta did not list the flows of WhatsApp number Test WhatsApp"):
            self.whatsapp_config.with_user(self.admin).action_sync_flows()
        self.assertEqual(self.whatsapp_config.flow_ids, self.signup)

    # Sending from the composer

    def composer(self, contact=None, **values):
        action = (contact or self.contact).with_user(self.agent).action_open_composer(channel="whatsapp")
        form = Form(self.env["contact.centre.composer"].with_user(self.agent).with_context(**action["context"]))
        form.mode = "interactive"
        form.interactive_kind = "flow"
        for name, value in values.items():
            setattr(form, name, value)
        return form

    def send_flow(self, contact=None, **values):
        form = self.composer(contact, flow_id=self.signup, body="Create your account in a minute", **values)
        form.save().action_send()
        self.Message._send_queued()
        return self.Message.search(
            [("contact_id", "=", (contact or self.contact).id), ("direction", "=", "outbound")], limit=1
        )

    def test_the_composer_sends_a_flow_message_with_its_own_token(self):
        form = self.composer(flow_id=self.signup, body="Create your account", interactive_footer="Acme")
        self.assertEqual(form.flow_cta, "Sign up", "the flow's own label by default")
        self.assertEqual(form.preview, "Create your account\nAcme\n[ ▸ Sign up ]")
        form.flow_cta = "Start"
        form.save().action_send()
        self.Message._send_queued()
        message = self.Message.search([("contact_id", "=", self.contact.id), ("direction", "=", "outbound")])
        self.assertEqual((message.status, message.message_type), ("sent", "interactive"))
        [sent] = sent_messages(self.simulator_url)
        interactive = sent["body"]["interactive"]
        parameters = interactive["action"]["parameters"]
        self.assertEqual(interactive["type"], "flow")
        self.assertEqual(interactive["body"], {"text": "Create your account"})
        self.assertEqual(interactive["action"]["name"], "flow")
        self.assertEqual(
            {key: value for key, value in parameters.items() if key != "flow_token"},
            {
                "flow_message_version": "3",
                "flow_id": "555000111",
                "flow_cta": "Start",
                "flow_action": "navigate",
                "flow_action_payload": {"screen": "WELCOME"},
            },
        )
        self.assertEqual(parameters["flow_token"], message.flow_token)
        self.assertGreaterEqual(len(message.flow_token), 32)
        again = self.send_flow()
        self.assertNotEqual(again.flow_token, message.flow_token, "one token per message")

    def test_the_composer_offers_published_flows_of_the_number_and_refuses_the_rest(self):
        draft = self.Flow.create(
            {"name": "Draft", "config_id": self.whatsapp_config.id, "flow_id": "9", "status": "draft"}
        )
        form = self.composer(body="Hi")
        self.assertEqual(form.flow_config_id, self.whatsapp_config)
        offered = self.Flow.with_user(self.agent).search(
            [("config_id", "=", form.flow_config_id.id), ("status", "in", ("published", "throttled"))]
        )
        self.assertEqual(offered, self.signup)
        cases = [
            ({"flow_id": draft}, "only a published flow can be sent"),
            ({"flow_id": self.signup, "flow_cta": "A label much too long"}, "at most 20"),
            ({"flow_id": self.signup, "body": ""}, "needs a body text"),
        ]
        for values, error in cases:
            with self.subTest(error=error):
                composer = (
                    self.env["contact.centre.composer"]
                    .with_user(self.agent)
                    .create(
                        {"contact_id": self.contact.id, "mode": "interactive", "interactive_kind": "flow", "body": "Hi"}
                    )
                )
                composer.write({key: value.id if hasattr(value, "id") else value for key, value in values.items()})
                with self.assertRaisesRegex(UserError, error):
                    composer.action_send()
        self.signup.first_screen = False
        with self.assertRaisesRegex(UserError, "Flow Sign up: .* has no first screen"):
            self.composer(flow_id=self.signup, body="Hi").save().action_send()
        self.assertFalse(self.Message.search([("contact_id", "=", self.contact.id)]))

    # The customer's answers

    def post_flow_reply(self, wamid, token, answers, sender="32470999001", context=None):
        reply = {
            "from": sender,
            "id": wamid,
            "timestamp": str(int(time.time())),
            "type": "interactive",
            "interactive": {
                "type": "nfm_reply",
                "nfm_reply": {
                    "name": "flow",
                    "body": "Sent",
                    "response_json": json.dumps({"flow_token": token, **answers}),
                },
            },
        }
        if context:
            reply["context"] = {"from": "15550100001", "id": context}
        body, signed = meta_signed(meta_payload([reply]))
        response = self.url_open("/contact_centre/webhook/whatsapp", data=body, headers=signed)
        self.assertEqual(response.status_code, 200)
        self.process_webhooks()
        return self.Message.search([("external_message_id", "=", wamid)])

    def test_the_answers_come_back_linked_by_token_and_shown_as_answers(self):
        asked = self.send_flow()
        answer = self.post_flow_reply(
            "wamid.FLOWREPLY",
            asked.flow_token,
            {"screen_0_First_name_0": "Ines", "email": "ines@example.com", "screen_0_Topics_2": ["billing", "news"]},
        )
        self.assertEqual(answer.direction, "inbound")
        self.assertEqual(answer.parent_message_id, asked)
        self.assertEqual(answer.flow_token, asked.flow_token)
        self.assertEqual(answer.body_text, "First name: Ines\nTopics: billing, news\nEmail: ines@example.com")
        [row] = answer._inbox_rows()
        self.assertEqual(row["body_text"], answer.body_text)
        self.assertEqual(row["parent"]["id"], asked.id)
        self.assertEqual(answer.interactive_payload["flow_response"]["email"], "ines@example.com")

    def test_a_token_of_another_conversation_or_unknown_links_nothing(self):
        others = self.send_flow(self.other)
        stolen = self.post_flow_reply("wamid.STOLEN", others.flow_token, {"email": "x@example.com"})
        self.assertEqual(stolen.thread_id, self.thread)
        self.assertFalse(stolen.parent_message_id, "Omar's flow token from Ines's conversation")
        self.assertEqual(stolen.body_text, "Email: x@example.com")
        forged = self.post_flow_reply("wamid.FORGED", "made-up-token", {"email": "y@example.com"})
        self.assertFalse(forged.parent_message_id)
        self.assertEqual(forged.body_text, "Email: y@example.com")

    # Chatbot

    def test_a_chatbot_flow_step_waits_for_the_answers_and_captures_them(self):
        with self.assertRaisesRegex(ValidationError, "Choose the WhatsApp Flow"):
            self.env["whatsapp.chatbot"].create(
                {"name": "Broken", "step_ids": [fields.Command.create({"step_type": "flow", "message": "Hi"})]}
            )
        no_screen = self.Flow.create(
            {"name": "No screen", "config_id": self.whatsapp_config.id, "flow_id": "42", "status": "published"}
        )
        with self.assertRaisesRegex(ValidationError, "The flow No screen has no first screen"):
            self.env["whatsapp.chatbot"].create(
                {
                    "name": "Broken",
                    "step_ids": [
                        fields.Command.create({"step_type": "flow", "message": "Hi", "flow_id": no_screen.id})
                    ],
                }
            )
        bot = self.env["whatsapp.chatbot"].create(
            {
                "name": "Onboarding",
                "step_ids": [
                    fields.Command.create(
                        {
                            "sequence": 1,
                            "step_type": "flow",
                            "message": "Tell us about you",
                            "flow_id": self.signup.id,
                            "flow_cta": "Fill in",
                            "flow_field_ids": [
                                fields.Command.create({"answer_key": "email", "contact_field": "email"}),
                                fields.Command.create({"answer_key": "screen_0_City_1", "contact_field": "city"}),
                            ],
                        }
                    ),
                    fields.Command.create({"sequence": 2, "step_type": "message", "message": "Thanks, all set!"}),
                ],
            }
        )
        session = self.env["whatsapp.chatbot.session"]._start(bot, self.thread)
        self.assertEqual((session.state, session.step_id), ("running", bot.step_ids[0]), "waits like a question")
        self.Message._send_queued()
        [sent] = sent_messages(self.simulator_url)
        parameters = sent["body"]["interactive"]["action"]["parameters"]
        self.assertEqual((parameters["flow_id"], parameters["flow_cta"]), ("555000111", "Fill in"))
        asked = self.Message.search([("flow_token", "=", parameters["flow_token"]), ("direction", "=", "outbound")])
        self.assertEqual(asked.thread_id, self.thread)
        # Text instead of the answers: the flow again, with a new token.
        body, signed = meta_signed(
            meta_payload(
                [
                    {
                        "from": "32470999001",
                        "id": "wamid.TEXTINSTEAD",
                        "timestamp": str(int(time.time())),
                        "type": "text",
                        "text": {"body": "what is this?"},
                    }
                ]
            )
        )
        self.url_open("/contact_centre/webhook/whatsapp", data=body, headers=signed)
        self.process_webhooks()
        self.assertEqual(session.state, "running")
        again = self.Message.search(
            [("thread_id", "=", self.thread.id), ("direction", "=", "outbound"), ("flow_token", "!=", False)], limit=1
        )
        self.assertNotEqual(again, asked)
        # A forged token captures nothing.
        self.post_flow_reply("wamid.FORGED_BOT", "made-up-token", {"email": "evil@example.com"})
        self.assertEqual(session.state, "running")
        self.assertNotEqual(self.contact.email, "evil@example.com")
        # The answers: captured, and the bot goes on.
        self.post_flow_reply(
            "wamid.BOTFLOW", asked.flow_token, {"email": "ines@example.com", "screen_0_City_1": "Ghent", "age": 31}
        )
        self.assertEqual((self.contact.email, self.contact.city), ("ines@example.com", "Ghent"))
        self.assertEqual(session.state, "done")
        self.assertEqual(session.answers, {"email": "ines@example.com", "screen_0_City_1": "Ghent", "age": 31})
        last = self.Message.search([("thread_id", "=", self.thread.id), ("direction", "=", "outbound")], limit=1)
        self.assertEqual(last.body_text, "Thanks, all set!")

    def test_a_chatbot_flow_step_on_sms_sends_its_text_and_goes_on(self):
        sms_thread = self.env["contact.centre.thread"]._get_or_create(self.contact, "sms")
        self.contact.sms_number = "+32470999001"
        bot = self.env["whatsapp.chatbot"].create(
            {
                "name": "Onboarding",
                "step_ids": [
                    fields.Command.create(
                        {"sequence": 1, "step_type": "flow", "message": "Tell us", "flow_id": self.signup.id}
                    ),
                    fields.Command.create({"sequence": 2, "step_type": "message", "message": "Bye"}),
                ],
            }
        )
        session = self.env["whatsapp.chatbot.session"]._start(bot, sms_thread)
        self.assertEqual(session.state, "done")
        texts = self.Message.search([("thread_id", "=", sms_thread.id)], order="id").mapped("body_text")
        self.assertEqual(texts, ["Tell us", "Bye"])

    # Sending from a campaign: a template with a flow button

    def flow_template(self):
        """A template opening the sign-up flow, made in the form as an administrator would."""
        form = Form(self.env["contact.centre.template"].with_user(self.admin))
        form.name = "Join the club"
        form.channel = "whatsapp"
        form.whatsapp_config_id = self.whatsapp_config
        form.meta_template_name = "join_club"
        form.category = "MARKETING"
        form.body_text = "Join our club in a minute: tap below."
        with form.button_ids.new() as button:
            button.button_type = "FLOW"
            button.text = "Join"
            button.whatsapp_flow_id = self.signup
            self.assertEqual((button.meta_flow_id, button.navigate_screen), ("555000111", "WELCOME"))
        return form.save()

    def approve_at_meta(self, template):
        """Submitted to the simulator (Meta), approved there, then synchronised back."""
        template.action_submit_to_meta()
        answer = requests.post(
            f"{self.simulator_url}/_sim/templates/{template.meta_template_name}/status",
            json={"status": "APPROVED"},
            timeout=10,
        )
        self.assertEqual(answer.status_code, 200, answer.text)
        self.env["contact.centre.template"]._sync_meta(self.whatsapp_config)
        self.assertEqual(template.approval_status, "approved")

    def test_a_campaign_template_with_a_flow_button_gives_each_message_its_token(self):
        template = self.flow_template()
        self.assertFalse(template.submit_issues)
        self.assertEqual(template.full_preview, "Join our club in a minute: tap below.\n\n▸ Join")
        self.approve_at_meta(template)
        [stored] = requests.get(f"{self.simulator_url}/_sim/templates", timeout=10).json()["templates"]
        self.assertEqual(
            stored["components"][-1],
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "FLOW",
                        "text": "Join",
                        "flow_id": "555000111",
                        "flow_action": "navigate",
                        "navigate_screen": "WELCOME",
                    }
                ],
            },
        )
        Contact = self.env["contact.centre.contact"]
        flo = Contact.create({"name": "Flo", "whatsapp_number": "+32470999011", "opt_in_whatsapp": True})
        gus = Contact.create({"name": "Gus", "whatsapp_number": "+32470999012", "opt_in_whatsapp": True})
        campaign = self.env["contact.centre.campaign"].create(
            {
                "name": "Club drive",
                "channel": "whatsapp",
                "template_id": template.id,
                "whatsapp_config_id": self.whatsapp_config.id,
                "use_quiet_hours": False,
                "contact_ids": [fields.Command.set((flo | gus).ids)],
            }
        )
        campaign.action_schedule()
        self.env["contact.centre.campaign"]._process_dispatch()
        self.assertEqual(campaign.state, "done")
        messages = {message.contact_id: message for message in campaign.cc_message_ids}
        self.assertEqual(set(messages), {flo, gus})
        self.assertEqual({message.status for message in messages.values()}, {"sent"})
        sent = {item["to"]: item["body"]["template"] for item in sent_messages(self.simulator_url)}
        self.assertEqual(set(sent), {"32470999011", "32470999012"})
        tokens = {}
        for contact, number in ((flo, "32470999011"), (gus, "32470999012")):
            [button] = [c for c in sent[number]["components"] if c["type"] == "button"]
            self.assertEqual((button["sub_type"], button["index"]), ("flow", "0"))
            [parameter] = button["parameters"]
            self.assertEqual(parameter["type"], "action")
            tokens[contact] = parameter["action"]["flow_token"]
            self.assertEqual(tokens[contact], messages[contact].flow_token, "the token sent is the one stored")
            self.assertGreaterEqual(len(tokens[contact]), 32)
        self.assertNotEqual(tokens[flo], tokens[gus], "one token per message")
        # Flo's answers come back with her token: linked to her campaign message, not to Gus's.
        answer = self.post_flow_reply(
            "wamid.CAMPAIGNFLOW", tokens[flo], {"screen_0_First_name_0": "Flo"}, sender="32470999011"
        )
        self.assertEqual(answer.contact_id, flo)
        self.assertEqual(answer.parent_message_id, messages[flo])
        self.assertEqual(answer.body_text, "First name: Flo")
        # Flo's token from Gus's conversation links nothing; his own token links his message.
        stolen = self.post_flow_reply("wamid.CAMPAIGNSTOLEN", tokens[flo], {"x": "1"}, sender="32470999012")
        self.assertFalse(stolen.parent_message_id)
        own = self.post_flow_reply("wamid.CAMPAIGNGUS", tokens[gus], {"x": "2"}, sender="32470999012")
        self.assertEqual(own.parent_message_id, messages[gus])

    def test_flow_buttons_are_checked_and_come_back_from_meta(self):
        template = self.flow_template()
        template.button_ids.write({"whatsapp_flow_id": False, "meta_flow_id": False, "navigate_screen": False})
        self.assertEqual(
            template.submit_issues,
            "Button 1 opens a WhatsApp Flow: choose the flow.\n"
            "Button 1 needs the id of the screen its flow opens on, as written in the Flow JSON (e.g. WELCOME).",
        )
        with self.assertRaisesRegex(UserError, "choose the flow"):
            template.action_submit_to_meta()
        elsewhere = self.env["contact.centre.whatsapp.config"].create(
            {
                "name": "Other WABA",
                "account_id": "waba-other",
                "phone_number_id": "900000000000077",
                "access_token": "x",
            }
        )
        foreign = self.Flow.create(
            {"name": "Theirs", "config_id": elsewhere.id, "flow_id": "31", "status": "published", "first_screen": "A"}
        )
        with self.assertRaisesRegex(ValidationError, "belongs to another WhatsApp business account"):
            template.button_ids.whatsapp_flow_id = foreign
        # Templates made in WhatsApp Manager with a flow button: linked to the number's flow of that id.
        requests.post(
            f"{self.simulator_url}/_sim/templates",
            json={
                "waba_id": "waba-test",
                "templates": [
                    {
                        "name": f"manager_{flow_id}",
                        "language": "en_US",
                        "category": "MARKETING",
                        "components": [
                            {"type": "BODY", "text": "Tell us more"},
                            {
                                "type": "BUTTONS",
                                "buttons": [
                                    {
                                        "type": "FLOW",
                                        "text": "Answer",
                                        "flow_id": int(flow_id),
                                        "flow_action": "NAVIGATE",
                                        "navigate_screen": "START",
                                    }
                                ],
                            },
                        ],
                    }
                    for flow_id in ("555000111", "999")
                ],
            },
            timeout=10,
        )
        self.env["contact.centre.template"]._sync_meta(self.whatsapp_config)
        known, unknown = (
            self.env["contact.centre.template"].search([("meta_template_name", "=", f"manager_{flow_id}")])
            for flow_id in ("555000111", "999")
        )
        self.assertRecordValues(
            known.button_ids,
            [
                {
                    "button_type": "FLOW",
                    "text": "Answer",
                    "whatsapp_flow_id": self.signup.id,
                    "meta_flow_id": "555000111",
                    "navigate_screen": "START",
                }
            ],
        )
        self.assertRecordValues(
            unknown.button_ids,
            [{"button_type": "FLOW", "whatsapp_flow_id": False, "meta_flow_id": "999", "navigate_screen": "START"}],
        )
        self.assertEqual(known.full_preview, "Tell us more\n\n▸ Answer")
        # Sent from the inbox, it carries a token of its own as well.
        message = self.thread._send_message(template=unknown)
        self.Message._send_queued()
        self.assertEqual(message.status, "sent", message.error_message)
        [sent] = sent_messages(self.simulator_url)
        [button] = sent["body"]["template"]["components"]
        self.assertEqual(button["parameters"][0]["action"]["flow_token"], message.flow_token)
