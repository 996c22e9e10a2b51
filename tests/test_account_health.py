import time
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, TransactionCase, tagged

from ..tools.providers import WebhookRequest
from ..tools.providers.receipts import send_read_receipts
from ..tools.simulator.control import configure, read_receipts, set_phone_number
from .common import ContactCentreData, SimulatorMixin, meta_payload, meta_signed

RECEIPTS_LATER = "odoo.addons.contact_centre.models.contact_centre_thread_seen.send_read_receipts_later"


def sent_at_once(receipts):
    """The background sending of read receipts, run in the caller's thread (deterministic tests)."""
    send_read_receipts(receipts)


@tagged("post_install", "-at_install")
class TestTestConnection(SimulatorMixin, ContactCentreData, TransactionCase):
    """*Test connection* of WhatsApp numbers and SMS providers, against the simulator."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        SmsConfig = cls.env["contact.centre.sms.config"]
        cls.infobip_config = SmsConfig.create(
            {"name": "Test Infobip", "provider": "infobip", "sender": "ACME", "infobip_api_key": "test-key"}
        )
        cls.infobip_config.api_base_url = cls.simulator_url
        cls.custom_config = SmsConfig.create(
            {
                "name": "Test Gateway",
                "provider": "custom",
                "custom_url": f"{cls.simulator_url}/custom/send",
                "custom_health_url": f"{cls.simulator_url}/custom/health",
            }
        )

    def check(self, config):
        action = config.with_user(self.admin).action_check_health()
        config.invalidate_recordset()
        return action

    def last_note(self, config):
        return config.message_ids[:1].body or ""

    def test_whatsapp_number_ok(self):
        action = self.check(self.whatsapp_config)
        config = self.whatsapp_config
        self.assertEqual(config.health_state, "ok")
        self.assertEqual(
            (config.verified_name, config.quality_rating, config.messaging_limit_tier, config.name_status),
            ("Simulated Business", "GREEN", "TIER_1K", "APPROVED"),
        )
        self.assertTrue(config.health_checked_at and config.quality_updated_at)
        self.assertIn("Simulated Business", config.health_message)
        self.assertIn("1,000 customers", config.health_message)
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn("Connection test", self.last_note(config))
        # The number Meta gives fills an empty display number
        self.assertEqual(config.display_phone_number, "+15550100001")

    def test_whatsapp_low_quality_is_a_warning(self):
        set_phone_number(self.simulator_url, phone_number_id=self.whatsapp_config.phone_number_id, quality_rating="RED")
        self.check(self.whatsapp_config)
        self.assertEqual((self.whatsapp_config.health_state, self.whatsapp_config.quality_rating), ("warning", "RED"))
        self.assertIn("low (red)", self.whatsapp_config.health_message)

    def test_whatsapp_errors_say_what_is_wrong(self):
        configure(self.simulator_url, meta_access_token="another-token")
        action = self.check(self.whatsapp_config)
        self.assertEqual(self.whatsapp_config.health_state, "error")
        self.assertIn("access token is invalid or has expired (Meta error 190)", self.whatsapp_config.health_message)
        self.assertEqual(action["params"]["type"], "danger")
        configure(self.simulator_url, meta_access_token=None, fail_next=["100", "803", "200", "10"])
        for _code in range(2):
            self.check(self.whatsapp_config)
            self.assertIn("does not know this phone number id", self.whatsapp_config.health_message)
        for _code in range(2):
            self.check(self.whatsapp_config)
            self.assertIn("may not use this number", self.whatsapp_config.health_message)
        # The last good values stay: an error says nothing about the quality
        self.check(self.whatsapp_config)
        self.assertEqual(self.whatsapp_config.health_state, "ok")

    def test_twilio(self):
        self.check(self.twilio_config)
        self.assertEqual(self.twilio_config.health_state, "ok")
        self.assertIn("Simulated Twilio account (active)", self.twilio_config.health_message)
        configure(self.simulator_url, twilio_credentials={self.twilio_config.twilio_account_sid: "other"})
        self.check(self.twilio_config)
        self.assertEqual(self.twilio_config.health_state, "error")
        self.assertIn("error 20003", self.twilio_config.health_message)
        configure(self.simulator_url, twilio_credentials=None, twilio_account_status="suspended")
        self.check(self.twilio_config)
        self.assertIn("The Twilio account is suspended", self.twilio_config.health_message)

    def test_infobip(self):
        self.check(self.infobip_config)
        self.assertEqual(self.infobip_config.health_state, "ok")
        self.assertIn("Balance: 100.0 EUR", self.infobip_config.health_message)
        configure(self.simulator_url, infobip_api_key="another-key")
        self.check(self.infobip_config)
        self.assertEqual(self.infobip_config.health_state, "error")
        self.assertIn("Infobip refused the API key (HTTP 401)", self.infobip_config.health_message)

    def test_custom_gateway(self):
        self.check(self.custom_config)
        self.assertEqual(self.custom_config.health_state, "ok")
        configure(self.simulator_url, fail_next=["http:503"])
        self.check(self.custom_config)
        self.assertEqual(self.custom_config.health_state, "error")
        self.assertIn("HTTP 503", self.custom_config.health_message)
        self.custom_config.custom_health_url = False
        self.check(self.custom_config)
        self.assertIn("Set a health URL", self.custom_config.health_message)

    def test_only_administrators_test_connections(self):
        with self.assertRaises(AccessError):
            self.whatsapp_config.with_user(self.agent).action_check_health()
        with self.assertRaises(AccessError):
            self.twilio_config.with_user(self.supervisor).action_check_health()
        with self.assertRaises(AccessError):
            self.custom_config.with_user(self.agent).read(["custom_health_url"])


@tagged("post_install", "-at_install")
class TestQualityWebhooks(ContactCentreData, TransactionCase):
    """Meta's phone_number_quality_update and account_update webhooks keep the number's quality,
    messaging limit and restrictions; campaigns ask the number whether they may send."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.whatsapp_config.display_phone_number = "+15550100001"
        cls.other_number = cls.env["contact.centre.whatsapp.config"].create(
            {
                "name": "Other number",
                "account_id": "waba-test",
                "phone_number_id": "900000000000002",
                "display_phone_number": "+15550100002",
                "access_token": "t",
                "app_secret": "test-app-secret",
            }
        )

    def ingest(self, config, field, value, at=None):
        payload = meta_payload(field=field, value=value)
        payload["entry"][0]["time"] = int(at or time.time())
        body, headers = meta_signed(payload)
        provider = config._get_provider()
        request = WebhookRequest.build("POST", "http://odoo/webhook", headers, body)
        events = [event for event in provider.parse_webhook(request) if provider.owns_event(event)]
        self.assertEqual(self.env["contact.centre.message"]._ingest_events(config, events), [])

    def quality(self, event, tier="TIER_10K", number="15550100001", at=None):
        value = {"display_phone_number": number, "event": event, "current_limit": tier}
        for config in self.whatsapp_config | self.other_number:  # the webhook names the account: both get it
            self.ingest(config, "phone_number_quality_update", value, at)

    def test_quality_and_tier_follow_the_webhooks(self):
        self.quality("FLAGGED")
        config = self.whatsapp_config
        self.assertEqual((config.quality_rating, config.messaging_limit_tier), ("RED", "TIER_10K"))
        self.assertEqual((config.health_state, config.health_problem), ("warning", "quality"))
        self.assertFalse(self.other_number.quality_rating, "the event names the first number only")
        self.assertIn("FLAGGED", config.message_ids[:1].body)
        self.quality("UNFLAGGED")
        self.assertEqual((config.quality_rating, config.health_state), ("UNKNOWN", "ok"))
        self.quality("UPGRADE", tier="TIER_100K")
        self.assertEqual(config.messaging_limit_tier, "TIER_100K")
        # A late, older event changes nothing
        self.quality("DOWNGRADE", tier="TIER_250", at=time.time() - 3600)
        self.assertEqual(config.messaging_limit_tier, "TIER_100K")

    def test_account_restriction_blocks_campaigns_until_it_ends(self):
        config = self.whatsapp_config
        self.assertFalse(config._campaign_block_reason())
        until = int(time.time()) + 86400
        restriction = {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": until}
        self.ingest(config, "account_update", {"event": "ACCOUNT_RESTRICTION", "restriction_info": [restriction]})
        self.assertEqual(config.account_restriction, "RESTRICTED_BIZ_INITIATED_MESSAGING")
        self.assertIn("restricts business-initiated messages", config._campaign_block_reason())
        config.restricted_until = fields.Datetime.now() - timedelta(minutes=1)
        self.assertFalse(config._campaign_block_reason())
        self.ingest(config, "account_update", {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE"}})
        self.assertIn("disabled or restricted", config._campaign_block_reason())
        self.ingest(config, "account_update", {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "REINSTATE"}})
        self.assertFalse(config.account_restriction)
        self.assertFalse(config._campaign_block_reason())

    def test_low_quality_blocks_campaigns(self):
        self.quality("FLAGGED")
        self.assertIn("low (red)", self.whatsapp_config._campaign_block_reason())
        self.assertFalse(self.other_number._campaign_block_reason())

    def test_messaging_limit_counts_customers_of_the_last_24_hours(self):
        config = self.whatsapp_config
        config.messaging_limit_tier = "TIER_50"
        Contact, Message = self.env["contact.centre.contact"], self.env["contact.centre.message"]
        contacts = Contact.create([{"name": f"C{i}", "whatsapp_number": f"+3247100000{i}"} for i in range(5)])
        now = fields.Datetime.now()

        def message(contact, config=config, **values):
            return {
                "contact_id": contact.id,
                "channel": "whatsapp",
                "direction": "outbound",
                "message_type": "template",
                "status": "delivered",
                "whatsapp_config_id": config.id,
                "message_timestamp": now - timedelta(hours=1),
                **values,
            }

        Message.create(
            [
                message(contacts[0]),
                message(contacts[0]),  # the same customer counts once
                message(contacts[1], config=self.other_number),  # the account's other number counts too
                message(contacts[2], status="failed"),
                message(contacts[3], message_type="text"),  # inside the window: not business-initiated
                message(contacts[4], message_timestamp=now - timedelta(hours=25)),
            ]
        )
        self.assertEqual(config._unique_customers_today(), 2)
        self.assertEqual(config._messaging_room(), 48)
        self.assertFalse(config._campaign_block_reason())
        self.assertFalse(config._campaign_block_reason(48))
        reason = config._campaign_block_reason(49)
        self.assertIn("50 customers per 24 hours", reason)
        self.assertIn("2 customers were already reached", reason)
        config.messaging_limit_tier = "TIER_UNLIMITED"
        self.assertFalse(config._campaign_block_reason(10**6))
        self.assertIsNone(config._messaging_room())


@tagged("post_install", "-at_install")
class TestQualityWebhookEndToEnd(SimulatorMixin, ContactCentreData, HttpCase):
    """The simulator's quality change reaches the number through the signed webhook."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.whatsapp_config.display_phone_number = "+15550100001"

    def test_simulated_quality_drop_reaches_the_number(self):
        self.env.flush_all()  # what a commit would do: the webhook request reads the database
        with self.allow_requests(all_requests=True):  # the simulator's request carries no test cookie
            answer = set_phone_number(
                self.simulator_url,
                phone_number_id=self.whatsapp_config.phone_number_id,
                quality_rating="RED",
                messaging_limit_tier="TIER_250",
                url=self.base_url() + "/contact_centre/webhook/whatsapp",
                app_secret="test-app-secret",
                waba_id="waba-test",
            )
        self.assertEqual(answer["status"], 200, answer)
        self.process_webhooks()
        self.whatsapp_config.invalidate_recordset()
        self.assertEqual(
            (self.whatsapp_config.quality_rating, self.whatsapp_config.messaging_limit_tier), ("RED", "TIER_250")
        )
        self.assertTrue(self.whatsapp_config._campaign_block_reason())


@tagged("post_install", "-at_install")
class TestReadReceipts(SimulatorMixin, ContactCentreData, TransactionCase):
    """An agent opening a conversation marks the customer's latest WhatsApp message read, once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.thread = cls.env["contact.centre.thread"]._get_or_create(cls.contact_agent, "whatsapp")

    def receive(self, wamid, minutes_ago=0, **values):
        return self.env["contact.centre.message"].create(
            {
                "contact_id": self.contact_agent.id,
                "thread_id": self.thread.id,
                "channel": "whatsapp",
                "direction": "inbound",
                "status": "received",
                "provider": "meta",
                "external_message_id": wamid,
                "whatsapp_config_id": self.whatsapp_config.id,
                "body_text": wamid,
                "message_timestamp": fields.Datetime.now() - timedelta(minutes=minutes_ago),
                **values,
            }
        )

    def open_and_commit(self, user=None):
        """The agent opens the conversation; its transaction commits (post-commit hooks run)."""
        self.thread.with_user(user or self.agent).inbox_open()
        self.env.cr.postcommit.run()

    def receipts(self):
        return [receipt["message_id"] for receipt in read_receipts(self.simulator_url)]

    def test_latest_inbound_message_is_marked_read_once(self):
        self.receive("wamid.OLD", minutes_ago=10)
        self.receive("wamid.LATEST", minutes_ago=5)
        self.receive("wamid.EARLIER-BUT-LATE", minutes_ago=8)  # ingested last, written earlier
        with patch(RECEIPTS_LATER, sent_at_once):
            self.open_and_commit()
            self.assertEqual(self.receipts(), ["wamid.LATEST"])
            self.open_and_commit()
            self.open_and_commit(self.supervisor)
            self.assertEqual(self.receipts(), ["wamid.LATEST"], "each message is marked read once")
            self.receive("wamid.NEW")
            self.open_and_commit()
        self.assertEqual(self.receipts(), ["wamid.LATEST", "wamid.NEW"])
        receipt = read_receipts(self.simulator_url)[-1]
        self.assertEqual(receipt["phone_number_id"], self.whatsapp_config.phone_number_id)

    def test_nothing_is_sent_before_the_commit_nor_when_it_rolls_back(self):
        self.receive("wamid.A")
        with patch(RECEIPTS_LATER, sent_at_once):
            self.thread.with_user(self.agent).inbox_open()
            self.assertEqual(self.receipts(), [])
            self.env.cr.postcommit.clear()  # what a rollback does
        self.assertEqual(self.receipts(), [])

    def test_setting_turns_it_off(self):
        self.receive("wamid.A")
        self.env["res.config.settings"].create({"cc_whatsapp_read_receipts": False}).execute()
        with patch(RECEIPTS_LATER, sent_at_once):
            self.open_and_commit()
        self.assertEqual(self.receipts(), [])
        self.env["res.config.settings"].create({"cc_whatsapp_read_receipts": True}).execute()
        with patch(RECEIPTS_LATER, sent_at_once):
            self.open_and_commit()
        self.assertEqual(self.receipts(), ["wamid.A"])

    def test_only_meta_messages_of_the_last_30_days(self):
        self.receive("wamid.OLD", minutes_ago=31 * 24 * 60)
        with patch(RECEIPTS_LATER, sent_at_once):
            self.open_and_commit()
        self.assertEqual(self.receipts(), [])
        sms = self.env["contact.centre.thread"]._get_or_create(self.contact_agent, "sms")
        self.env["contact.centre.message"].create(
            {
                "contact_id": self.contact_agent.id,
                "thread_id": sms.id,
                "channel": "sms",
                "direction": "inbound",
                "status": "received",
                "provider": "twilio",
                "external_message_id": "SM1",
                "sms_config_id": self.twilio_config.id,
            }
        )
        with patch(RECEIPTS_LATER, sent_at_once):
            sms.with_user(self.agent).inbox_open()
            self.env.cr.postcommit.run()
        self.assertEqual(self.receipts(), [])

    def test_sent_in_the_background_and_failures_do_not_break_the_inbox(self):
        self.receive("wamid.A")
        self.open_and_commit()  # the real background thread
        deadline = time.time() + 10
        while not self.receipts() and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.receipts(), ["wamid.A"])
        configure(self.simulator_url, meta_access_token="another-token")
        self.receive("wamid.B")
        with (
            patch(RECEIPTS_LATER, sent_at_once),
            self.assertLogs("odoo.addons.contact_centre.tools.providers.receipts", "WARNING"),
        ):
            self.open_and_commit()
        self.assertEqual(self.receipts(), ["wamid.A"])
