"""Everything the providers really send (issue #15), through the real webhook routes: every sample
of tests/unit/payloads (written after each provider's documented examples) re-addressed to this
database's configurations and signed is answered 200 and ingested without a failure, and each
kind does what the product promises with it."""

import json
from pathlib import Path

from twilio.request_validator import RequestValidator

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from .common import ContactCentreData, meta_signed

PAYLOADS = Path(__file__).parent / "unit" / "payloads"
WHATSAPP_URL = "/contact_centre/webhook/whatsapp"


def sample(provider, name):
    data = json.loads((PAYLOADS / provider / f"{name}.json").read_text())
    data.pop("_source", None)
    return data


@tagged("post_install", "-at_install")
class TestProviderEvents(ContactCentreData, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Message = cls.env["contact.centre.message"]
        cls.Event = cls.env["contact.centre.webhook.event"]
        cls.infobip = cls.env["contact.centre.sms.config"].create(
            {"name": "Infobip", "provider": "infobip", "api_base_url": "http://127.0.0.1:9", "webhook_token": "ib-tok"}
        )

    # Posting, re-addressed to this database's accounts

    def post_meta(self, payload):
        for entry in payload.get("entry", []):
            entry["id"] = self.whatsapp_config.account_id
            for change in entry.get("changes", []):
                if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                    continue
                metadata = change["value"].get("metadata")
                if isinstance(metadata, dict):
                    metadata["phone_number_id"] = self.whatsapp_config.phone_number_id
        body, headers = meta_signed(payload)
        response = self.url_open(WHATSAPP_URL, data=body, headers=headers)
        self.process()
        return response

    def post_twilio(self, form):
        form = {**form, "AccountSid": self.twilio_config.twilio_account_sid}
        path = f"/contact_centre/webhook/twilio/{self.twilio_config.id}"
        signature = RequestValidator("test-auth-token").compute_signature(self.base_url() + path, form)
        response = self.url_open(path, data=form, headers={"X-Twilio-Signature": signature})
        self.process()
        return response

    def post_infobip(self, payload):
        response = self.url_open(f"/contact_centre/webhook/infobip/{self.infobip.id}/ib-tok", data=json.dumps(payload))
        self.process()
        return response

    def process(self):
        self.process_webhooks()
        failed = self.Event.search([("state", "=", "failed")])
        self.assertFalse(failed, failed.mapped("error"))

    def message(self, external_id):
        return self.Message.search([("external_message_id", "=", external_id)])

    # Every documented shape is accepted and ingested

    def test_every_sample_is_accepted_and_ingested(self):
        for path in sorted((PAYLOADS / "meta").glob("*.json")):
            with self.subTest(sample=f"meta/{path.stem}"):
                self.assertEqual(self.post_meta(sample("meta", path.stem)).status_code, 200)
        for path in sorted((PAYLOADS / "infobip").glob("*.json")):
            with self.subTest(sample=f"infobip/{path.stem}"):
                self.assertEqual(self.post_infobip(sample("infobip", path.stem)).status_code, 200)
        for path in sorted((PAYLOADS / "twilio").glob("*.json")):
            with self.subTest(sample=f"twilio/{path.stem}"):
                self.assertEqual(self.post_twilio(sample("twilio", path.stem)["form"]).status_code, 200)

    def test_odd_event_beside_a_good_one(self):
        payload = sample("meta", "odd_beside_good")
        self.assertEqual(self.post_meta(payload).status_code, 200)
        self.assertTrue(self.Message.search([("direction", "=", "inbound")]))

    # What each kind does

    def test_reaction_edit_and_deletion_land_on_their_message(self):
        text = sample("meta", "text")
        original_id = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
        text["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = original_id
        self.post_meta(text)
        original = self.message(original_id)
        self.assertTrue(original)
        reaction = sample("meta", "reaction")
        reaction["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["message_id"] = original_id
        self.post_meta(reaction)
        self.assertEqual(original.reactions, {"customer": "👍"})
        self.assertEqual(original._inbox_rows()[0]["reactions"], {"customer": "👍"})  # what the thread shows
        removed = sample("meta", "reaction_removed")
        removed["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["message_id"] = original_id
        self.post_meta(removed)
        self.assertFalse(original.reactions)
        before = original.body_text
        self.post_meta(sample("meta", "edit"))
        self.assertTrue(original.is_edited)
        self.assertEqual(original.edit_history, [before])
        self.assertNotEqual(original.body_text, before)
        self.post_meta(sample("meta", "revoke"))
        self.assertTrue(original.is_deleted)

    def test_user_id_sender_becomes_a_contact_and_is_replied_to(self):
        self.post_meta(sample("meta", "text_bsuid_only"))
        contact = self.env["contact.centre.contact"].search([("sender_ref", "=", "US.13491208655302741918")])
        self.assertEqual((contact.sender_kind, contact.whatsapp_number), ("user_id", False))
        self.assertEqual(contact._number_for("whatsapp"), "US.13491208655302741918")

    def test_short_code_sender_cannot_be_replied_to(self):
        self.post_twilio(sample("twilio", "sms_from_short_code")["form"])
        contact = self.env["contact.centre.contact"].search([("sender_kind", "=", "short_code")])
        self.assertTrue(contact.sender_ref)
        thread = contact.thread_ids
        thread.sms_config_id = self.twilio_config
        with self.assertRaisesRegex(UserError, "cannot be replied to"):
            thread._send_message(text="Thanks")

    def test_marketing_preferences_from_inside_whatsapp(self):
        contact = self.env["contact.centre.contact"].create(
            {"name": "Sheena", "whatsapp_number": "+16505551234", "opt_in_whatsapp": True}
        )
        self.assertTrue(contact.marketing_whatsapp)
        self.post_meta(sample("meta", "user_preferences_stop"))
        self.assertFalse(contact.marketing_whatsapp)
        self.assertTrue(contact.opt_in_whatsapp, "service messages still allowed")
        self.assertEqual(contact.consent_ids[0].source, "provider")
        self.post_meta(sample("meta", "user_preferences_resume"))
        self.assertTrue(contact.marketing_whatsapp)

    def test_identity_change_is_flagged_and_echoes_join_the_conversation(self):
        contact = self.env["contact.centre.contact"].create({"name": "Sheena", "whatsapp_number": "+16505551234"})
        self.post_meta(sample("meta", "system_customer_identity_changed"))
        self.assertTrue(contact.identity_changed_date)
        self.post_meta(sample("meta", "smb_message_echo_text"))
        echo = self.Message.search([("is_echo", "=", True)])
        self.assertEqual(
            (echo.direction, echo.contact_id, echo.body_text), ("outbound", contact, "Yes, it comes in red and blue.")
        )
        self.assertEqual(echo.thread_id.last_message_preview, "Yes, it comes in red and blue.")

    def test_orders_referrals_and_unsupported_are_kept(self):
        self.post_meta(sample("meta", "order"))
        order = self.Message.search([("message_type", "=", "order")])
        self.assertTrue(order.details["order"]["items"])
        referral = sample("meta", "text_click_to_whatsapp_referral")
        referral["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.REFERRAL"  # the samples share ids
        self.post_meta(referral)
        referred = self.Message.search([("details", "!=", False)]).filtered(lambda m: "referral" in m.details)
        self.assertTrue(referred.contact_id.came_from)
        unsupported = sample("meta", "unsupported")
        unsupported["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.UNSUPPORTED"
        self.post_meta(unsupported)
        unsupported = self.Message.search([("message_type", "=", "unsupported")])
        self.assertTrue(unsupported.details["errors"])

    def test_seen_report_and_played_status_mark_read(self):
        thread = self.env["contact.centre.thread"]._get_or_create(self.contact_free, "whatsapp")
        played = sample("meta", "status_played")
        wamid = played["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
        self.Message.create(
            {
                "contact_id": self.contact_free.id,
                "thread_id": thread.id,
                "channel": "whatsapp",
                "direction": "outbound",
                "status": "sent",
                "provider": "meta",
                "external_message_id": wamid,
                "whatsapp_config_id": self.whatsapp_config.id,
                "message_timestamp": fields.Datetime.now(),
            }
        )
        self.post_meta(played)
        self.assertEqual(self.message(wamid).status, "read")

    def test_pricing_is_kept_and_summed_by_category(self):
        thread = self.env["contact.centre.thread"]._get_or_create(self.contact_free, "whatsapp")
        status = sample("meta", "status_sent")
        wamid = status["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
        self.Message.create(
            {
                "contact_id": self.contact_free.id,
                "thread_id": thread.id,
                "channel": "whatsapp",
                "direction": "outbound",
                "status": "queued",
                "provider": "meta",
                "external_message_id": wamid,
                "whatsapp_config_id": self.whatsapp_config.id,
            }
        )
        self.post_meta(status)
        message = self.message(wamid)
        self.assertEqual((message.status, message.pricing_category, message.billable), ("sent", "utility", True))
        self.assertEqual(thread.pricing_summary, "utility 1 (1 billable)")

    def test_kinds_left_alone_are_marked_on_the_request(self):
        self.assertEqual(self.post_meta(sample("meta", "field_not_handled")).status_code, 200)
        event = self.Event.search([], limit=1)
        self.assertEqual(event.state, "done")
        self.assertTrue(event.ignored_kinds)
