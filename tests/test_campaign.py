from datetime import datetime
from unittest.mock import patch

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..tools.simulator.control import configure, sent_messages
from .common import ContactCentreCase, SimulatorMixin


@tagged("post_install", "-at_install")
class TestCampaign(SimulatorMixin, ContactCentreCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.env["contact.centre.automation"].search([]).active = False
        cls.whatsapp_config.rate_limit = 1000
        cls.twilio_config.rate_limit = 1000
        Template = cls.env["contact.centre.template"]
        cls.wa_template = Template.create(
            {
                "name": "Promo",
                "channel": "whatsapp",
                "whatsapp_config_id": cls.whatsapp_config.id,
                "meta_template_name": "promo",
                "approval_status": "approved",
                "body_text": "Hi {{1}}, 20% off",
                "variable_ids": [fields.Command.create({"placeholder": "1", "field_name": "name"})],
            }
        )
        cls.sms_template = Template.create({"name": "Promo SMS", "channel": "sms", "body_text": "Hi {{name}}, 20% off"})
        Contact = cls.env["contact.centre.contact"]
        cls.ana = Contact.create({"name": "Ana", "whatsapp_number": "+32470100001", "sms_number": "+32470100001"})
        cls.ben = Contact.create({"name": "Ben", "whatsapp_number": "+32470100002"})
        cls.cid = Contact.create({"name": "Cid", "sms_number": "+32470100003", "preferred_channel": "sms"})
        cls.dan = Contact.create(
            {"name": "Dan", "whatsapp_number": "+32470100004", "opt_in_whatsapp": False, "sms_number": "+32470100004"}
        )
        cls.eve = Contact.create({"name": "Eve"})

    def campaign(self, **values):
        return self.env["contact.centre.campaign"].create(
            {
                "name": "Spring",
                "channel": "whatsapp",
                "template_id": self.wa_template.id,
                "sms_template_id": self.sms_template.id,
                "whatsapp_config_id": self.whatsapp_config.id,
                "sms_config_id": self.twilio_config.id,
                "use_quiet_hours": False,
                "contact_ids": [fields.Command.set((self.ana | self.ben | self.cid | self.dan | self.eve).ids)],
                **values,
            }
        )

    def run_cron(self):
        """What the dispatch cron runs (its own cursor would not see this test's uncommitted data)."""
        self.env["contact.centre.campaign"]._process_dispatch()

    def recipients(self, campaign):
        return {r.contact_id.name: (r.state, r.exclusion_reason or r.channel) for r in campaign.recipient_ids}

    def test_whatsapp_campaign_with_exclusions_and_statistics(self):
        campaign = self.campaign()
        campaign.action_schedule()
        self.assertEqual(campaign.state, "scheduled")
        self.run_cron()
        self.assertEqual(campaign.state, "done")
        self.assertEqual(
            self.recipients(campaign),
            {
                "Ana": ("sent", "whatsapp"),
                "Ben": ("sent", "whatsapp"),
                "Cid": ("excluded", "no_number"),
                "Dan": ("excluded", "opted_out"),
                "Eve": ("excluded", "no_number"),
            },
        )
        sent = sent_messages(self.simulator_url)
        self.assertEqual(sorted(m["to"] for m in sent), ["32470100001", "32470100002"])
        self.assertEqual(sent[0]["body"]["template"]["name"], "promo")
        self.assertEqual((campaign.recipient_count, campaign.excluded_count, campaign.sent_count), (2, 3, 2))
        message = campaign.cc_message_ids.filtered(lambda m: m.contact_id == self.ana)
        self.assertEqual(message.body_text, "Hi Ana, 20% off")
        self.assertEqual(message.thread_id.channel, "whatsapp")
        # Delivery, a reply and an opt-out come back afterwards.
        message.status = "read"
        inbound = self.env["contact.centre.message"].create(
            {
                "contact_id": self.ana.id,
                "thread_id": message.thread_id.id,
                "channel": "whatsapp",
                "direction": "inbound",
                "status": "received",
                "body_text": "nice",
                "message_timestamp": fields.Datetime.add(message.message_timestamp, minutes=1),
            }
        )
        self.ben._set_opt_in("whatsapp", False, "keyword")
        self.ben.opt_in_whatsapp_date = fields.Datetime.add(fields.Datetime.now(), minutes=1)
        campaign.invalidate_recordset()
        self.assertEqual(
            (campaign.read_count, campaign.delivered_count, campaign.replied_count, campaign.opted_out_count),
            (1, 1, 1, 1),
        )
        self.assertEqual(campaign.read_rate, 50.0)
        self.assertTrue(inbound)

    def test_each_contact_once_with_the_filter(self):
        campaign = self.campaign(filter_domain=f"[('id', 'in', {[self.ana.id, self.ben.id]})]")
        campaign.action_schedule()
        self.run_cron()
        self.assertEqual(len(sent_messages(self.simulator_url)), 2)
        self.assertEqual(len(campaign.recipient_ids), 5)

    def test_both_channels_with_sms_fallback(self):
        campaign = self.campaign(channel="both", sms_fallback=True)
        campaign.action_schedule()
        self.run_cron()
        self.assertEqual(
            self.recipients(campaign),
            {
                "Ana": ("sent", "whatsapp"),
                "Ben": ("sent", "whatsapp"),
                "Cid": ("sent", "sms"),
                "Dan": ("sent", "sms"),
                "Eve": ("excluded", "no_number"),
            },
        )
        by_provider = {m["provider"] for m in sent_messages(self.simulator_url)}
        self.assertEqual(by_provider, {"meta", "twilio"})

    def test_undeliverable_on_whatsapp_falls_back_to_sms(self):
        campaign = self.campaign(sms_fallback=True, contact_ids=[fields.Command.set(self.ana.ids)])
        configure(self.simulator_url, fail_next=[131026])
        campaign.action_schedule()
        self.run_cron()
        self.assertEqual(self.recipients(campaign), {"Ana": ("sent", "sms")})
        self.assertEqual(sorted(campaign.cc_message_ids.mapped("status")), ["failed", "sent"])

    def test_quiet_hours_wait_for_the_end_of_the_window(self):
        campaign = self.campaign(
            use_quiet_hours=True,
            quiet_hours_start=21,
            quiet_hours_end=8,
            contact_ids=[fields.Command.set(self.ana.ids)],
        )
        with freeze_time("2026-11-25 22:30:00"):  # 23:30 in Brussels
            campaign.action_schedule()
            self.run_cron()
            recipient = campaign.recipient_ids
            self.assertEqual(recipient.state, "pending")
            self.assertEqual(recipient.next_attempt, datetime(2026, 11, 26, 7, 0))  # 08:00 in Brussels
            self.assertEqual(sent_messages(self.simulator_url), [])
        with freeze_time("2026-11-26 07:01:00"):
            self.run_cron()
        self.assertEqual(campaign.recipient_ids.state, "sent")
        self.assertEqual(campaign.state, "done")

    def test_pause_and_resume(self):
        campaign = self.campaign()
        campaign.action_schedule()
        campaign.action_pause()
        self.run_cron()
        self.assertEqual(sent_messages(self.simulator_url), [])
        campaign.action_resume()
        self.assertEqual(campaign.state, "running")
        self.run_cron()
        self.assertEqual(campaign.state, "done")
        self.assertEqual(len(sent_messages(self.simulator_url)), 2)

    def test_broken_credentials_stop_the_campaign_with_the_reason(self):
        campaign = self.campaign()
        configure(self.simulator_url, meta_access_token="not-ours")
        campaign.action_schedule()
        self.run_cron()
        self.assertEqual(campaign.state, "paused")
        self.assertIn("configuration", campaign.stop_reason)
        self.assertEqual(
            set(campaign.recipient_ids.filtered(lambda r: r.state != "excluded").mapped("state")), {"pending"}
        )
        configure(self.simulator_url, meta_access_token=None)
        campaign.action_resume()
        self.run_cron()
        self.assertEqual(campaign.state, "done")

    def test_throttling_backs_off_and_retries_later(self):
        campaign = self.campaign(contact_ids=[fields.Command.set(self.ana.ids)])
        configure(self.simulator_url, fail_next=["http:503"] * 4)
        with patch.object(type(self.whatsapp_config._get_provider()), "backoff", 0.001):
            campaign.action_schedule()
            self.run_cron()
        recipient = campaign.recipient_ids
        self.assertEqual((recipient.state, recipient.attempts), ("pending", 1))
        self.assertTrue(recipient.next_attempt)
        recipient.next_attempt = fields.Datetime.now()
        self.run_cron()
        self.assertEqual(recipient.state, "sent")

    def test_in_flight_recipients_of_a_dead_run_go_to_review(self):
        campaign = self.campaign(contact_ids=[fields.Command.set(self.ana.ids)])
        campaign.action_schedule()
        campaign.write({"state": "running"})
        campaign._prepare_recipients()
        campaign.recipient_ids.write({"state": "sending", "claimed_at": fields.Datetime.now()})
        self.run_cron()
        self.assertEqual(campaign.recipient_ids.state, "review")
        self.assertEqual(sent_messages(self.simulator_url), [])
        self.assertEqual(campaign.review_count, 1)

    def test_unapproved_template_cannot_be_scheduled_and_test_send(self):
        self.wa_template.approval_status = "pending"
        with self.assertRaisesRegex(UserError, "not approved"):
            self.campaign().action_schedule()
        self.wa_template.approval_status = "approved"
        campaign = self.campaign(test_contact_id=self.ana.id)
        message = campaign.action_test_send()
        self.assertEqual((message.template_id, message.campaign_id.id), (self.wa_template, False))

    def test_sms_campaign_cost_estimate(self):
        campaign = self.campaign(
            channel="sms",
            template_id=self.sms_template.id,
            sms_segment_cost=0.05,
            contact_ids=[fields.Command.set((self.ana | self.cid).ids)],
        )
        self.assertEqual(campaign.sms_segments, 1)
        self.assertAlmostEqual(campaign.sms_cost_estimate, 0.10)
        campaign.action_schedule()
        self.run_cron()
        bodies = sorted(m["body"]["Body"] for m in sent_messages(self.simulator_url))
        self.assertEqual(bodies, ["Hi Ana, 20% off", "Hi Cid, 20% off"])
