"""Attack tests: an agent, a company and a provider account reach only what is theirs.

Each test is one finding of the trust-boundaries review, reproduced the way an attacker would:
RPC-level calls as the agent (``with_user``), webhooks signed for one account carrying another's
ids, two companies with their own numbers, agents and contacts.
"""

import json
import logging
from datetime import timedelta
from types import SimpleNamespace
from unittest.mock import patch

from twilio.request_validator import RequestValidator

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from ..tools.simulator.control import sent_messages
from .common import ContactCentreData, SimulatorMixin, meta_payload, meta_signed, meta_status, meta_text

WHATSAPP_URL = "/contact_centre/webhook/whatsapp"


class TwoCompanies(ContactCentreData):
    """Company A (the test data of ``ContactCentreData``) and company B with its own WhatsApp
    number, Infobip account, agent, supervisor, contact and conversation."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "Company B"})
        cls.whatsapp_b = cls.env["contact.centre.whatsapp.config"].create(
            {
                "name": "B's WhatsApp",
                "company_id": cls.company_b.id,
                "account_id": "waba-b",
                "phone_number_id": "900000000000002",
                "access_token": "b-token",
                "app_secret": "b-app-secret",
            }
        )
        cls.infobip_a = cls.env["contact.centre.sms.config"].create(
            {
                "name": "A's Infobip",
                "provider": "infobip",
                "api_base_url": "http://127.0.0.1:9",
                "webhook_token": "a-tok",
            }
        )
        cls.infobip_b = cls.env["contact.centre.sms.config"].create(
            {
                "name": "B's Infobip",
                "provider": "infobip",
                "company_id": cls.company_b.id,
                "api_base_url": "http://127.0.0.1:9",
                "webhook_token": "b-tok",
            }
        )
        cls.agent_b = new_test_user(
            cls.env,
            "cc_agent_b",
            groups="contact_centre.group_contact_centre_agent",
            company_id=cls.company_b.id,
            company_ids=[cls.company_b.id],
        )
        cls.supervisor_b = new_test_user(
            cls.env,
            "cc_supervisor_b",
            groups="contact_centre.group_contact_centre_supervisor",
            company_id=cls.company_b.id,
            company_ids=[cls.company_b.id],
        )
        cls.contact_b = (
            cls.env["contact.centre.contact"]
            .with_company(cls.company_b)
            .create({"name": "Bea of B", "whatsapp_number": "+32470888001", "sms_number": "+32470888001"})
        )
        cls.thread_b = cls.env["contact.centre.thread"]._get_or_create(cls.contact_b, "whatsapp")
        cls.thread_b.write({"whatsapp_config_id": cls.whatsapp_b.id, "last_inbound_date": fields.Datetime.now()})
        cls.message_b = cls.inbound(cls.thread_b, "wamid.B1", "B's secret order", cls.whatsapp_b)

    @classmethod
    def inbound(cls, thread, external_id, text, config):
        return cls.env["contact.centre.message"].create(
            {
                "contact_id": thread.contact_id.id,
                "thread_id": thread.id,
                "channel": thread.channel,
                "direction": "inbound",
                "status": "received",
                "provider": config._provider_name(),
                "external_message_id": external_id,
                "body_text": text,
                config._message_config_field(): config.id,
            }
        )

    @classmethod
    def outbound(cls, thread, external_id, config, status="sent"):
        return cls.env["contact.centre.message"].create(
            {
                "contact_id": thread.contact_id.id,
                "thread_id": thread.id,
                "channel": thread.channel,
                "direction": "outbound",
                "status": status,
                "provider": config._provider_name(),
                "external_message_id": external_id,
                "body_text": "Your order",
                config._message_config_field(): config.id,
            }
        )


@tagged("post_install", "-at_install")
class TestSendingPathsOnly(SimulatorMixin, TwoCompanies, HttpCase):
    """Finding 1: messages are created and changed only by the product's sending paths."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.contact = cls.env["contact.centre.contact"].create(
            {"name": "Olga", "whatsapp_number": "+32470555001", "sms_number": "+32470555001"}
        )
        cls.thread = cls.env["contact.centre.thread"]._get_or_create(cls.contact, "whatsapp")
        cls.thread.write({"whatsapp_config_id": cls.whatsapp_config.id, "last_inbound_date": fields.Datetime.now()})

    def queued(self, **values):
        return self.env["contact.centre.message"].create(
            {
                "contact_id": self.contact.id,
                "thread_id": self.thread.id,
                "channel": "whatsapp",
                "direction": "outbound",
                "status": "queued",
                "provider": "meta",
                "body_text": "hello",
                "whatsapp_config_id": self.whatsapp_config.id,
                **values,
            }
        )

    def test_agent_cannot_create_a_message_over_rpc(self):
        for user in (self.agent, self.supervisor):
            with self.assertRaises(AccessError), mute_logger("odoo.addons.base.models.ir_model"):
                self.env["contact.centre.message"].with_user(user).create(
                    {
                        "contact_id": self.contact_b.id,
                        "channel": "whatsapp",
                        "direction": "outbound",
                        "status": "queued",
                        "whatsapp_config_id": self.whatsapp_b.id,
                        "interactive_payload": {"type": "cta_url", "action": {"url": "https://evil.example"}},
                        "author_id": self.admin.id,
                    }
                )

    def test_agent_cannot_rewrite_a_stored_message(self):
        message = self.inbound(self.thread, "wamid.MINE", "original", self.whatsapp_config)
        for field, value in (
            ("body_text", "rewritten"),
            ("status", "queued"),
            ("author_id", self.admin.id),
            ("external_message_id", "wamid.OTHER"),
        ):
            for user in (self.agent, self.supervisor):
                with self.assertRaises(AccessError), mute_logger("odoo.addons.base.models.ir_model"):
                    message.with_user(user).write({field: value})
        self.assertEqual(message.body_text, "original")

    def test_each_send_is_checked_again_as_it_leaves_and_fails_alone(self):
        good = self.queued(body_text="the genuine reply")
        opted_out_contact = self.env["contact.centre.contact"].create(
            {"name": "Gone", "whatsapp_number": "+32470555002"}
        )
        gone_thread = self.env["contact.centre.thread"]._get_or_create(opted_out_contact, "whatsapp")
        gone_thread.write({"whatsapp_config_id": self.whatsapp_config.id, "last_inbound_date": fields.Datetime.now()})
        opted_out = self.queued(contact_id=opted_out_contact.id, thread_id=gone_thread.id)
        opted_out_contact._set_opt_in("whatsapp", False, "keyword")  # after it was queued
        other_company = self.queued(whatsapp_config_id=self.whatsapp_b.id)
        no_config = self.queued(whatsapp_config_id=False)
        old_thread_contact = self.env["contact.centre.contact"].create(
            {"name": "Quiet", "whatsapp_number": "+32470555003"}
        )
        old_thread = self.env["contact.centre.thread"]._get_or_create(old_thread_contact, "whatsapp")
        old_thread.write({"last_inbound_date": fields.Datetime.now() - timedelta(days=3)})
        outside_window = self.queued(contact_id=old_thread_contact.id, thread_id=old_thread.id)

        self.env["contact.centre.message"]._send_queued()

        self.assertEqual(good.status, "sent")
        self.assertEqual([m["body"]["text"]["body"] for m in sent_messages(self.simulator_url)], ["the genuine reply"])
        self.assertIn("opted out", opted_out.error_message)
        self.assertIn("another company", other_company.error_message)
        self.assertIn("window is closed", outside_window.error_message)
        self.assertEqual(no_config.status, "failed")
        for message in (opted_out, other_company, no_config, outside_window):
            self.assertEqual((message.status, message.send_claimed_at), ("failed", False))

    def test_fixed_template_variables_cannot_be_overridden(self):
        template = self.env["contact.centre.template"].create(
            {
                "name": "Price",
                "channel": "whatsapp",
                "whatsapp_config_id": self.whatsapp_config.id,
                "meta_template_name": "price",
                "language": "en_US",
                "approval_status": "approved",
                "body_text": "Hello {{1}}, the price is {{2}}",
                "variable_ids": [
                    fields.Command.create({"placeholder": "1", "source": "field", "field_name": "name"}),
                    fields.Command.create({"placeholder": "2", "source": "fixed", "fixed_value": "100 EUR"}),
                ],
            }
        )
        self.contact.write({"assigned_agent_id": self.agent.id})
        self.thread._assign(self.agent)
        row = self.thread.with_user(self.agent).inbox_send(
            template_id=template.id, values={"1": "Olga", "2": "0 EUR", "3": "smuggled"}
        )
        message = self.env["contact.centre.message"].browse(row["id"])
        self.assertEqual(message.body_text, "Hello Olga, the price is 100 EUR")
        self.assertEqual(message.template_values, {"1": "Olga", "2": "100 EUR"})


@tagged("post_install", "-at_install")
class TestCompaniesAreSeparate(TwoCompanies, HttpCase):
    """Finding 2: a company's agents and supervisors reach nothing of another company."""

    def test_agent_of_a_cannot_read_b_messages(self):
        Message = self.env["contact.centre.message"]
        for user in (self.agent, self.supervisor):
            self.assertFalse(Message.with_user(user).search_read([("id", "=", self.message_b.id)], ["body_text"]))
            with self.assertRaises(AccessError), mute_logger("odoo.addons.base.models.ir_rule"):
                self.env["contact.centre.thread"].with_user(user).browse(self.thread_b.id).inbox_messages()
            with self.assertRaises(AccessError), mute_logger("odoo.addons.base.models.ir_rule"):
                self.env["contact.centre.thread"].with_user(user).browse(self.thread_b.id).inbox_open()
            self.assertFalse(Message.with_user(user).inbox_message_rows([self.message_b.id]))
        self.assertTrue(Message.with_user(self.supervisor_b).search([("id", "=", self.message_b.id)]))

    def test_attachments_follow_their_messages(self):
        attachment = self.env["ir.attachment"].create(
            {"name": "b.txt", "raw": b"B only", "res_model": "contact.centre.message", "res_id": self.message_b.id}
        )
        with self.assertRaises(AccessError), mute_logger("odoo.addons.base.models.ir_rule"):
            attachment.with_user(self.supervisor).read(["raw"])
        self.assertEqual(attachment.with_user(self.supervisor_b).read(["raw"])[0]["raw"], b"B only")

    def test_recipients_sessions_and_webhook_events_are_per_company(self):
        campaign_b = self.env["contact.centre.campaign"].create(
            {
                "name": "B's campaign",
                "company_id": self.company_b.id,
                "contact_ids": [fields.Command.link(self.contact_b.id)],
            }
        )
        recipient = self.env["contact.centre.campaign.recipient"].create(
            {"campaign_id": campaign_b.id, "contact_id": self.contact_b.id}
        )
        event = self.env["contact.centre.webhook.event"].create(
            {"provider": "meta", "whatsapp_config_id": self.whatsapp_b.id, "company_id": self.company_b.id}
        )
        chatbot = self.env["whatsapp.chatbot"].create({"name": "Bot", "company_id": self.company_b.id})
        session = self.env["whatsapp.chatbot.session"].create({"chatbot_id": chatbot.id, "thread_id": self.thread_b.id})
        admin_a = new_test_user(self.env, "cc_admin_a", groups="contact_centre.group_contact_centre_admin")
        for record in (recipient, event, session):
            self.assertFalse(record.with_user(admin_a).search([("id", "=", record.id)]), record._name)
        with self.assertRaises(AccessError), mute_logger("odoo.addons.base.models.ir_model"):
            recipient.with_user(self.agent_b).read(["state"])  # agents never read campaign recipients

    def test_live_notifications_reach_only_those_who_may_see(self):
        sent = []
        with patch.object(type(self.env["bus.bus"]), "_sendone", lambda bus, channel, *args: sent.append(channel)):
            self.thread_b._notify_inbox(self.message_b)
        self.assertTrue(sent)
        for channel in sent:
            target = channel[0] if isinstance(channel, tuple) else channel
            self.assertNotEqual(target._name, "res.groups", "a group reaches users of every company")
            self.assertIn(target, (self.company_b, self.agent_b.partner_id, self.supervisor_b.partner_id))
        websocket = self.env["ir.websocket"]
        channels = {}
        for user in (self.supervisor, self.agent_b):
            fake_request = SimpleNamespace(session=SimpleNamespace(uid=user.id))
            with patch("odoo.addons.bus.models.ir_websocket.request", new=fake_request):
                channels[user] = websocket.with_user(user)._build_bus_channel_list([])
        channels_a, channels_b = channels[self.supervisor], channels[self.agent_b]
        self.assertIn((self.company_a, "contact_centre_supervisors"), channels_a)
        self.assertNotIn((self.company_b, "contact_centre_agents"), channels_a)
        self.assertIn((self.company_b, "contact_centre_agents"), channels_b)
        self.assertNotIn((self.company_b, "contact_centre_supervisors"), channels_b)

    def test_campaign_filter_is_evaluated_within_its_company(self):
        campaign = self.env["contact.centre.campaign"].create(
            {"name": "A's promo", "filter_domain": "[('id', '!=', 0)]", "user_id": self.supervisor.id}
        )
        campaign._prepare_recipients()
        audience = campaign.env["contact.centre.campaign.recipient"].search([("campaign_id", "=", campaign.id)])
        self.assertTrue(audience)
        self.assertNotIn(self.contact_b, audience.contact_id)
        self.assertEqual(set(audience.contact_id.company_id.ids), {self.company_a.id})

    def test_another_companys_campaign_form_and_figures_are_refused(self):
        """The campaign form's own read (``web_read``, which lists the first contacts itself) and
        its figures (read from the tallies in SQL) answer only for campaigns of the user's company."""
        campaign_b = (
            self.env["contact.centre.campaign"]
            .with_company(self.company_b)
            .create({"name": "B's promo", "contact_ids": [fields.Command.set(self.contact_b.ids)]})
        )
        campaign_b._prepare_recipients()
        form = {
            "name": {},
            "sent_count": {},
            "audience_count": {},
            "listed_count": {},
            "contact_ids": {"fields": {"name": {}}},
        }
        [values] = campaign_b.with_user(self.supervisor_b).web_read(form)
        self.assertEqual(
            (values["audience_count"], values["contact_ids"]), (1, [{"id": self.contact_b.id, "name": "Bea of B"}])
        )
        for user in (self.supervisor, self.agent):
            with self.assertRaises(AccessError):
                campaign_b.with_user(user).web_read(form)
            with self.assertRaises(AccessError):
                campaign_b.with_user(user).read(["recipient_count", "sent_count"])
        # A search by name from company A finds nothing either.
        self.assertFalse(
            self.env["contact.centre.campaign"].with_user(self.supervisor).search([("name", "=", "B's promo")])
        )

    def test_a_campaign_takes_only_its_companys_numbers_templates_and_contacts(self):
        """Found by RPC as company B's supervisor: a campaign of B took A's WhatsApp number,
        templates and contacts (ids are written without being read); it was scheduled, and each of its
        messages failed only as it left (the send-time check). Its number, providers, templates and
        contacts are now of its company (templates may be shared), refused when written. Refused to
        B's supervisor as records it may not read, without their names (Odoo's company message names
        them: ids tried one after the other would have listed A's contacts); a user of both companies
        is told which company each belongs to."""
        template_a = self.env["contact.centre.template"].create(
            {"name": "A's hello", "channel": "sms", "body_text": "Hello {{name}}"}
        )
        template_shared = template_a.copy({"name": "Everyone's hello", "company_id": False})
        crossings = {
            "whatsapp_config_id": self.whatsapp_config.id,
            "sms_config_id": self.infobip_a.id,
            "template_id": template_a.id,
            "sms_template_id": template_a.id,
            "test_contact_id": self.contact_free.id,
            "contact_ids": [fields.Command.link(self.contact_free.id)],
        }
        names = (self.whatsapp_config.name, self.infobip_a.name, template_a.name, self.contact_free.name)
        Campaign = self.env["contact.centre.campaign"].with_company(self.company_b)
        campaign_b = Campaign.with_user(self.supervisor_b).create({"name": "B's promo"})
        for user, refusal in ((self.supervisor_b, AccessError), (self.env.user, UserError)):
            for field, value in crossings.items():
                for create in (False, True):
                    with (
                        self.subTest(user=user.login, field=field, create=create),
                        self.assertRaises(refusal) as caught,
                    ):
                        if create:
                            Campaign.with_user(user).create({"name": "B's other promo", field: value})
                        else:
                            campaign_b.with_user(user).write({field: value})
                    if refusal is AccessError:
                        self.assertFalse([name for name in names if name in str(caught.exception)])
                    else:
                        self.assertIn("belongs to another company", str(caught.exception))
        campaign_b.with_user(self.supervisor_b).write(
            {
                "whatsapp_config_id": self.whatsapp_b.id,
                "sms_config_id": self.infobip_b.id,
                "template_id": template_shared.id,
                "test_contact_id": self.contact_b.id,
                "contact_ids": [fields.Command.set(self.contact_b.ids)],
            }
        )
        self.assertEqual((campaign_b.whatsapp_config_id, campaign_b.contact_ids), (self.whatsapp_b, self.contact_b))
        # From the contact's side: a contact of A on B's campaign, by a user of both companies.
        with self.assertRaisesRegex(ValidationError, "campaigns of its company"):
            self.contact_free.write({"campaign_ids": [fields.Command.link(campaign_b.id)]})
        # A WhatsApp template of B registered on A's number: refused too.
        with self.assertRaises(AccessError):
            self.env["contact.centre.template"].with_user(self.supervisor_b).with_company(self.company_b).create(
                {"name": "B's hello", "body_text": "Hello", "whatsapp_config_id": self.whatsapp_config.id}
            )
        with self.assertRaisesRegex(UserError, "belongs to another company"):
            self.env["contact.centre.template"].with_company(self.company_b).create(
                {"name": "B's hello", "body_text": "Hello", "whatsapp_config_id": self.whatsapp_config.id}
            )

    def test_a_user_of_both_companies_opens_a_campaign_of_either(self):
        """Found in Chromium as the administrator, both companies enabled: B's campaign (its
        responsible B's supervisor) failed with "Access to unauthorized or invalid companies": its
        audience is counted as its responsible, who was given the reader's companies. The
        responsible is one of the campaign's company's users."""
        campaign_b = (
            self.env["contact.centre.campaign"]
            .with_company(self.company_b)
            .create(
                {
                    "name": "B's promo",
                    "user_id": self.supervisor_b.id,
                    "contact_ids": [fields.Command.set(self.contact_b.ids)],
                }
            )
        )
        both = new_test_user(
            self.env,
            "cc_supervisor_ab",
            groups="contact_centre.group_contact_centre_supervisor",
            company_ids=[self.company_a.id, self.company_b.id],
        )
        as_both = campaign_b.with_user(both).with_context(allowed_company_ids=[self.company_a.id, self.company_b.id])
        self.assertEqual(as_both.read(["audience_count"])[0]["audience_count"], 1)
        with self.assertRaisesRegex(UserError, "belongs to another company"):
            campaign_b.write({"user_id": self.supervisor.id})  # A's supervisor cannot be its responsible

    def test_an_automation_takes_only_its_companys_script_chatbot_and_hours(self):
        """The same for automations: B's automation starting A's chatbot would talk to B's customers
        with A's steps."""
        script_a = self.env["contact.centre.script"].create({"name": "A's script", "content_text": "A's answer"})
        chatbot_a = self.env["whatsapp.chatbot"].create({"name": "A's bot"})
        crossings = {
            "script_id": script_a.id,
            "chatbot_id": chatbot_a.id,
            "calendar_id": self.company_a.resource_calendar_id.id,
        }
        automation_b = (
            self.env["contact.centre.automation"]
            .with_company(self.company_b)
            .create(
                {
                    "name": "B's welcome",
                    "automation_type": "auto_reply",
                    "trigger_type": "first_message",
                    "response_message": "Welcome to B!",
                }
            )
        )
        self.assertEqual(automation_b.company_id, self.company_b)
        for field, value in crossings.items():
            with self.subTest(field=field), self.assertRaisesRegex(UserError, "company"):
                automation_b.write({field: value})
        automation_b.write({"calendar_id": self.company_b.resource_calendar_id.id})
        self.assertEqual(automation_b.calendar_id.company_id, self.company_b)

    def test_agents_do_not_send_a_campaigns_test(self):
        """The form's *Send Test* is a supervisor's button; by RPC, an agent (who reads campaigns)
        is refused and nothing leaves."""
        template = self.env["contact.centre.template"].create(
            {"name": "Promo", "channel": "sms", "body_text": "Hello {{name}}"}
        )
        campaign = self.env["contact.centre.campaign"].create(
            {
                "name": "Promo",
                "channel": "sms",
                "template_id": template.id,
                "sms_config_id": self.twilio_config.id,
                "test_contact_id": self.contact_agent.id,
            }
        )
        messages = self.env["contact.centre.message"].search_count([])
        with self.assertRaises(AccessError), mute_logger("odoo.addons.base.models.ir_model"):
            campaign.with_user(self.agent).action_test_send()
        self.assertEqual(self.env["contact.centre.message"].search_count([]), messages)
        view = campaign.with_user(self.agent).get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertNotIn("action_test_send", view)
        self.assertIn(
            "action_test_send",
            campaign.with_user(self.supervisor).get_views([(False, "form")])["views"]["form"]["arch"],
        )

    def test_a_campaign_preview_shows_only_a_contact_its_reader_may_see(self):
        """A campaign of company B listing a contact that later moved to company A (a campaign takes
        only its company's contacts, but a contact's company may change after): B's supervisor's
        preview is rendered for B's contact, never A's, and opens even when the template too moved
        to A (read as the related field it replaced read it)."""
        Contact = self.env["contact.centre.contact"].with_company(self.company_b)
        moved = Contact.create({"name": "Aldo, now of A", "whatsapp_number": "+32470999001"})
        contact_b = Contact.create({"name": "Bo of B", "whatsapp_number": "+32470999002"})
        template = (
            self.env["contact.centre.template"]
            .with_company(self.company_b)
            .create({"name": "Hello, now A's", "channel": "sms", "body_text": "Hello {{name}}"})
        )
        campaign_b = (
            self.env["contact.centre.campaign"]
            .with_company(self.company_b)
            .create(
                {
                    "name": "B's list",
                    "channel": "sms",
                    "template_id": template.id,
                    "contact_ids": [fields.Command.set((moved | contact_b).ids)],
                }
            )
        )
        for record in (moved, template):
            record.write({"company_id": self.company_a.id})
        self.assertEqual(campaign_b.preview_contact_id, moved)  # the first by id, for a user of both
        self.env.invalidate_all()  # as a request of B's supervisor reads them: from the database
        as_b = campaign_b.with_user(self.supervisor_b).with_company(self.company_b)
        self.assertEqual((contact_b.company_id, as_b.preview_contact_id), (self.company_b, contact_b))
        self.assertEqual(as_b.template_preview, "Hello Bo of B")
        self.assertNotIn("Aldo", as_b.template_preview)

    def test_an_empty_filter_is_nobody(self):
        for empty in (False, "[]"):
            campaign = self.env["contact.centre.campaign"].create({"name": "Empty", "filter_domain": empty})
            campaign._prepare_recipients()
            self.assertFalse(
                self.env["contact.centre.campaign.recipient"].search([("campaign_id", "=", campaign.id)]), empty
            )

    def test_inbound_rules_use_the_receiving_configuration_company(self):
        # A's contact has the same number as the B customer who writes to B's number.
        self.env["contact.centre.contact"].create({"name": "A's Bea", "whatsapp_number": "+32470777001"})
        self.env["contact.centre.campaign"].create(
            {"name": "A's keyword", "campaign_type": "inbound", "keyword": "JOIN", "state": "running"}
        )
        self.env["contact.centre.script"].create(
            {"name": "A's script", "content_text": "A's answer", "trigger_keywords": "refund"}
        )
        self.agent.cc_available = True
        self.agent_b.cc_available = True
        payload = meta_payload(
            [meta_text("wamid.BIN", "JOIN refund", sender="32470777001")],
            number_id=self.whatsapp_b.phone_number_id,
            contacts=[{"profile": {"name": "Bea"}, "wa_id": "32470777001"}],
        )
        payload["entry"][0]["id"] = "waba-b"
        body, headers = meta_signed(payload, secret="b-app-secret")
        self.assertEqual(self.url_open(WHATSAPP_URL, data=body, headers=headers).status_code, 200)
        self.process_webhooks()
        message = self.env["contact.centre.message"].search([("external_message_id", "=", "wamid.BIN")])
        self.assertEqual(message.contact_id.company_id, self.company_b, "a contact of the receiving company")
        self.assertEqual((message.company_id, message.thread_id.company_id), (self.company_b, self.company_b))
        self.assertEqual(message.thread_id.whatsapp_config_id, self.whatsapp_b, "answered from B's number")
        self.assertFalse(message.campaign_id, "A's keyword campaign does not enrol B's customers")
        self.assertFalse(message.thread_id.suggested_script_ids)
        self.assertIn(message.thread_id.assigned_agent_id, self.agent_b | self.env["res.users"])


@tagged("post_install", "-at_install")
class TestProviderAccounts(TwoCompanies, HttpCase):
    """Finding 3: a request verified with one account's secret touches that account's data only."""

    def post_meta(self, payload, secret):
        body, headers = meta_signed(payload, secret=secret)
        response = self.url_open(WHATSAPP_URL, data=body, headers=headers)
        self.process_webhooks()
        return response

    def test_a_secret_cannot_carry_b_number(self):
        outbound_b = self.outbound(self.thread_b, "wamid.BOUT", self.whatsapp_b)
        b_number = self.whatsapp_b.phone_number_id
        only_b = meta_payload(
            [meta_text("wamid.INJECT", "injected", sender="32470888001")],
            statuses=[meta_status("wamid.BOUT", "failed", errors=[{"code": 131026, "title": "x"}])],
            number_id=b_number,
        )
        self.assertEqual(self.post_meta(only_b, "test-app-secret").status_code, 403)
        # A's number and B's in one request signed by A: A's event is taken, B's ignored.
        both = meta_payload([meta_text("wamid.A_OK", "hello A")])
        both["entry"].append(only_b["entry"][0])
        with self.assertLogs("odoo.addons.contact_centre.controllers.main", logging.WARNING):
            self.assertEqual(self.post_meta(both, "test-app-secret").status_code, 200)
        Message = self.env["contact.centre.message"]
        self.assertTrue(Message.search([("external_message_id", "=", "wamid.A_OK")]))
        self.assertFalse(Message.search([("external_message_id", "=", "wamid.INJECT")]))
        self.assertEqual(outbound_b.status, "sent")
        self.assertEqual(self.thread_b.whatsapp_config_id, self.whatsapp_b)
        self.assertEqual(self.message_b.thread_id, self.thread_b)

    def test_a_account_events_never_reach_b_contacts_or_messages(self):
        """Consent, identity and reactions signed by A's app, naming B's customer and message."""
        self.contact_b._set_opt_in("whatsapp", True, "import")
        customer = self.contact_b.whatsapp_number.lstrip("+")
        preferences = meta_payload(
            field="user_preferences",
            value={
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "1555", "phone_number_id": self.whatsapp_config.phone_number_id},
                "user_preferences": [{"wa_id": customer, "category": "marketing_messages", "value": "stop"}],
            },
        )
        reaction = meta_payload(
            [
                {
                    "from": customer,
                    "id": "wamid.REACT_B",
                    "timestamp": "1749416383",
                    "type": "reaction",
                    "reaction": {"message_id": "wamid.B1", "emoji": "👎"},
                }
            ]
        )
        identity = meta_payload(
            [
                {
                    "from": customer,
                    "id": "wamid.ID_B",
                    "timestamp": "1749416383",
                    "type": "system",
                    "system": {"body": "User identity changed", "type": "customer_identity_changed"},
                }
            ]
        )
        for payload in (preferences, reaction, identity):
            self.assertEqual(self.post_meta(payload, "test-app-secret").status_code, 200)
        self.assertTrue(self.contact_b.marketing_whatsapp)
        self.assertFalse(self.message_b.reactions)
        self.assertFalse(self.contact_b.identity_changed_date)

    def test_token_account_cannot_touch_another_account_messages(self):
        thread_b_sms = self.env["contact.centre.thread"]._get_or_create(self.contact_b, "sms")
        outbound_b = self.outbound(thread_b_sms, "IB-SHARED-1", self.infobip_b)
        report = {
            "results": [
                {
                    "messageId": "IB-SHARED-1",
                    "to": "32470888001",
                    "status": {"groupName": "UNDELIVERABLE", "name": "UNDELIVERABLE_REJECTED_OPERATOR"},
                    "error": {"groupName": "HANDSET_ERRORS", "id": 27, "name": "EC_ABSENT_SUBSCRIBER"},
                }
            ]
        }
        inbound = {"results": [{"messageId": "IB-IN-1", "from": "32470888001", "to": "447860099299", "text": "hi"}]}
        path = f"/contact_centre/webhook/infobip/{self.infobip_a.id}/a-tok"
        for payload in (report, inbound):
            self.assertEqual(self.url_open(path, data=json.dumps(payload)).status_code, 200)
        self.process_webhooks()
        self.assertEqual(outbound_b.status, "sent")
        injected = self.env["contact.centre.message"].search([("external_message_id", "=", "IB-IN-1")])
        self.assertEqual(injected.contact_id.company_id, self.company_a)
        self.assertNotEqual(injected.contact_id, self.contact_b)

    def test_same_provider_id_on_two_accounts_never_collides(self):
        thread_a = self.env["contact.centre.thread"]._get_or_create(self.contact_free, "sms")
        thread_b = self.env["contact.centre.thread"]._get_or_create(self.contact_b, "sms")
        mine = self.outbound(thread_a, "IB-COLLIDE", self.infobip_a)
        theirs = self.outbound(thread_b, "IB-COLLIDE", self.infobip_b)
        report = {"results": [{"messageId": "IB-COLLIDE", "status": {"groupName": "DELIVERED", "name": "DELIVERED"}}]}
        path = f"/contact_centre/webhook/infobip/{self.infobip_b.id}/b-tok"
        self.assertEqual(self.url_open(path, data=json.dumps(report)).status_code, 200)
        self.process_webhooks()
        self.assertEqual((mine.status, theirs.status), ("sent", "delivered"))

    def test_twilio_events_of_another_account_sid_are_ignored(self):
        form = {
            "MessageSid": "SMFOREIGN",
            "AccountSid": "ACsomeoneelse0000000000000000000000",
            "From": "+32470999003",
            "To": "+15005550006",
            "Body": "hi",
        }
        path = f"/contact_centre/webhook/twilio/{self.twilio_config.id}"
        signature = RequestValidator("test-auth-token").compute_signature(self.base_url() + path, form)
        self.assertEqual(self.url_open(path, data=form, headers={"X-Twilio-Signature": signature}).status_code, 200)
        self.process_webhooks()
        self.assertFalse(self.env["contact.centre.message"].search([("external_message_id", "=", "SMFOREIGN")]))


@tagged("post_install", "-at_install")
class TestHostileWebhooks(ContactCentreData, HttpCase):
    """Finding 5: oversized, deeply nested and malformed bodies; forwarded headers; the token in logs."""

    def test_oversized_body_is_refused_before_anything_is_read(self):
        body = json.dumps(
            {"entry": [{"changes": [{"value": {"metadata": {"phone_number_id": str(i)}}}]} for i in range(120000)]}
        )
        self.assertGreater(len(body), 4 << 20)
        response = self.url_open(WHATSAPP_URL, data=body, headers={"Content-Type": "application/json"})
        self.assertEqual(response.status_code, 413)
        self.assertFalse(self.env["contact.centre.webhook.event"].search([]))

    def test_deeply_nested_or_malformed_json_is_a_400(self):
        for body in ("[" * 50000 + "]" * 50000, '{"entry": [', "not json at all"):
            response = self.url_open(WHATSAPP_URL, data=body, headers={"Content-Type": "application/json"})
            self.assertEqual(response.status_code, 400, body[:20])
            self.assertNotIn("Traceback", response.text)

    def test_a_request_naming_too_many_numbers_is_a_400(self):
        payload = meta_payload([])
        payload["entry"] = [
            {"id": "w", "changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": str(n)}}}]}
            for n in range(100)
        ]
        body, headers = meta_signed(payload)
        self.assertEqual(self.url_open(WHATSAPP_URL, data=body, headers=headers).status_code, 400)

    def test_forwarded_headers_are_not_trusted_outside_proxy_mode(self):
        form = {
            "MessageSid": "SMFWD",
            "AccountSid": "ACtest00000000000000000000000000000",
            "From": "+32470999003",
            "Body": "x",
        }
        path = f"/contact_centre/webhook/twilio/{self.twilio_config.id}"
        forged_url = "https://attacker.example" + path
        headers = {
            "X-Twilio-Signature": RequestValidator("test-auth-token").compute_signature(forged_url, form),
            "X-Forwarded-Host": "attacker.example",
            "X-Forwarded-Proto": "https",
        }
        self.assertEqual(self.url_open(path, data=form, headers=headers).status_code, 403)

    def test_webhook_token_never_in_a_log_line(self):
        path = f"/contact_centre/webhook/infobip/{self.twilio_config.id}/the-secret-token"
        record = logging.LogRecord(
            "werkzeug", logging.INFO, __file__, 1, '%s - - "%s" %s', ("127.0.0.1", f"POST {path} HTTP/1.1", "200"), None
        )
        for log_filter in logging.getLogger("werkzeug").filters:
            log_filter.filter(record)
        self.assertNotIn("the-secret-token", record.getMessage())
        self.assertIn("/contact_centre/webhook/infobip/", record.getMessage())

    def test_inbound_html_is_stored_to_download_not_render(self):
        contact = self.contact_free
        thread = self.env["contact.centre.thread"]._get_or_create(contact, "whatsapp")
        message = self.env["contact.centre.message"].create(
            {
                "contact_id": contact.id,
                "thread_id": thread.id,
                "channel": "whatsapp",
                "direction": "inbound",
                "status": "received",
            }
        )
        config = self.whatsapp_config
        media = type("Media", (), {"ref": "m1", "filename": "x.html", "mime_type": "text/html"})
        event = type("Event", (), {"media": (media,)})
        html = (b"<html><script>alert(1)</script></html>", "text/html", "page.html")
        with patch.object(type(config), "_download_media", lambda *args: html):
            message._store_inbound_media(config, event)
        self.assertEqual(message.attachment_ids.mimetype, "text/plain")


@tagged("post_install", "-at_install")
class TestSmallerGaps(TwoCompanies, HttpCase):
    """Finding 6: secrets of the custom gateway, assignment, company and consent by direct writes."""

    def test_custom_gateway_settings_are_for_administrators(self):
        gateway = self.env["contact.centre.sms.config"].create(
            {
                "name": "Gateway",
                "provider": "custom",
                "custom_url": "https://gw.example/send?key=SECRET",
                "custom_auth_header": "Authorization: Bearer SECRET",
                "custom_body_template": '{"key": "SECRET"}',
            }
        )
        for field in ("custom_url", "custom_auth_header", "custom_body_template", "webhook_token"):
            for user in (self.agent, self.supervisor):
                with self.assertRaises(AccessError), mute_logger("odoo.models"):
                    gateway.with_user(user).read([field])
        self.assertIn("SECRET", gateway.with_user(self.admin).read(["custom_url"])[0]["custom_url"])

    def test_agents_cannot_assign_unshare_or_consent_by_writing(self):
        thread = self.env["contact.centre.thread"]._get_or_create(self.contact_free, "whatsapp")
        contact = self.contact_free.with_user(self.agent)
        with self.assertRaises(AccessError), mute_logger("odoo.addons.base.models.ir_model"):
            thread.with_user(self.agent).write({"assigned_agent_id": self.agent.id})
        with self.assertRaises(AccessError):
            contact.write({"assigned_agent_id": self.agent.id})
        with self.assertRaises(UserError):
            contact.write({"company_id": False})
        with self.assertRaises(AccessError):
            contact.write({"company_id": self.company_b.id})
        for field in ("opt_in_whatsapp", "opt_in_sms"):
            with self.assertRaises(AccessError):
                contact.write({field: False})
        with self.assertRaises(AccessError):
            thread.with_user(self.agent).action_assign_to(self.agent)
        campaign = self.env["contact.centre.campaign"].create({"name": "A's promo"})
        with self.assertRaises(AccessError):  # from the contact's side of the campaign's list
            contact.write({"campaign_ids": [fields.Command.link(campaign.id)]})
        self.assertFalse(campaign.contact_ids)
        contact.write({"name": "Renamed by the agent", "email": "un@example.com"})  # what agents may edit
        self.assertEqual(self.contact_free.name, "Renamed by the agent")

    def test_supervisor_reassigns_only_to_agents_of_the_company(self):
        thread = self.env["contact.centre.thread"]._get_or_create(self.contact_free, "whatsapp")
        with self.assertRaisesRegex(UserError, "not an agent"):
            thread.with_user(self.supervisor).action_assign_to(self.agent_b)
        thread.with_user(self.supervisor).action_assign_to(self.agent2)
        self.assertEqual((thread.assigned_agent_id, thread.contact_id.assigned_agent_id), (self.agent2, self.agent2))

    def test_agents_cannot_reach_a_contact_through_someone_elses_partner(self):
        with self.assertRaises(AccessError), mute_logger("odoo.addons.base.models.ir_model"):
            self.env["contact.centre.contact"].with_user(self.agent).create(
                {"partner_id": self.admin.partner_id.id, "whatsapp_number": "+32470111222"}
            )
