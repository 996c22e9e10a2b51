import json
import threading
import time
from unittest.mock import patch

import requests
from twilio.request_validator import RequestValidator

from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from ..tools.providers import InboundMessage
from .common import ContactCentreData, SimulatorMixin, meta_payload, meta_signed, meta_status, meta_text

WHATSAPP_URL = "/contact_centre/webhook/whatsapp"


@tagged("post_install", "-at_install")
class TestWhatsappWebhook(SimulatorMixin, ContactCentreData, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.Message = cls.env["contact.centre.message"]

    def post_meta(self, payload, secret="test-app-secret", headers=None):
        body, signed = meta_signed(payload, secret)
        response = self.url_open(WHATSAPP_URL, data=body, headers=headers if headers is not None else signed)
        self.process_webhooks()
        return response

    def messages(self, wamid):
        return self.Message.search([("external_message_id", "=", wamid)])

    def test_verification_handshake(self):
        ok = self.url_open(f"{WHATSAPP_URL}?hub.mode=subscribe&hub.verify_token=test-verify-token&hub.challenge=4242")
        self.assertEqual((ok.status_code, ok.text), (200, "4242"))
        refused = self.url_open(f"{WHATSAPP_URL}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=4242")
        self.assertEqual(refused.status_code, 403)

    def test_inbound_text_creates_contact_thread_and_message(self):
        response = self.post_meta(meta_payload([meta_text("wamid.IN1", "Hello there")]))
        self.assertEqual(response.status_code, 200)
        message = self.messages("wamid.IN1")
        self.assertEqual(len(message), 1)
        self.assertEqual((message.direction, message.status, message.body_text), ("inbound", "received", "Hello there"))
        contact = message.contact_id
        self.assertEqual((contact.name, contact.whatsapp_number), ("Emma Webhook", "+32470999001"))
        self.assertEqual(message.thread_id.unread_count, 1)
        self.assertEqual(message.whatsapp_config_id, self.whatsapp_config)
        self.assertTrue(contact.whatsapp_window_open)
        self.assertEqual(message.thread_id.whatsapp_config_id, self.whatsapp_config)

    def test_inbound_of_every_type(self):
        now = str(int(time.time()))
        items = [
            {
                "from": "32470999001",
                "id": "wamid.IMG",
                "timestamp": now,
                "type": "image",
                "image": {"id": "MEDIA1", "mime_type": "image/png", "caption": "my parcel"},
            },
            {
                "from": "32470999001",
                "id": "wamid.DOC",
                "timestamp": "1700000001",
                "type": "document",
                "document": {"id": "MEDIA2", "mime_type": "application/pdf", "filename": "invoice.pdf"},
            },
            {
                "from": "32470999001",
                "id": "wamid.LOC",
                "timestamp": "1700000002",
                "type": "location",
                "location": {"latitude": 50.85, "longitude": 4.35, "name": "Grand-Place"},
            },
            {
                "from": "32470999001",
                "id": "wamid.BTN",
                "timestamp": "1700000003",
                "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Yes"}},
            },
            {
                "from": "32470999001",
                "id": "wamid.FLOW",
                "timestamp": "1700000004",
                "type": "interactive",
                "interactive": {
                    "type": "nfm_reply",
                    "nfm_reply": {
                        "name": "flow",
                        "body": "Sent",
                        "response_json": '{"flow_token": "tok-7", "email": "e@example.com"}',
                    },
                },
            },
            {
                "from": "32470999001",
                "id": "wamid.QR",
                "timestamp": "1700000005",
                "type": "button",
                "button": {"text": "Track", "payload": "TRACK"},
            },
        ]
        self.assertEqual(self.post_meta(meta_payload(items)).status_code, 200)
        image = self.messages("wamid.IMG")
        self.assertEqual((image.message_type, image.body_text), ("image", "my parcel"))
        self.assertEqual(len(image.attachment_ids), 1)
        self.assertTrue(image.attachment_ids.raw.startswith(b"\x89PNG"))
        self.assertEqual(self.messages("wamid.DOC").attachment_ids.name, "invoice.pdf")
        self.assertEqual(self.messages("wamid.LOC").body_text, "Grand-Place")
        self.assertEqual(self.messages("wamid.BTN").interactive_payload, {"id": "yes-1", "title": "Yes"})
        flow = self.messages("wamid.FLOW").interactive_payload
        self.assertEqual((flow["flow_token"], flow["flow_response"]["email"]), ("tok-7", "e@example.com"))
        self.assertEqual(self.messages("wamid.QR").interactive_payload["id"], "TRACK")
        inbound = self.messages("wamid.IMG").thread_id.message_ids.filtered(lambda m: m.direction == "inbound")
        self.assertEqual(len(inbound), 6)
        # "Yes" is also an opt-in word: it was confirmed by one automated message.
        self.assertEqual(len(self.messages("wamid.IMG").thread_id.message_ids.filtered("is_automated")), 1)

    def test_too_large_media_keeps_the_message(self):
        self.env["ir.config_parameter"].sudo().set_param("contact_centre.max_media_bytes", 10)
        item = {
            "from": "32470999001",
            "id": "wamid.BIG",
            "timestamp": "1700000000",
            "type": "image",
            "image": {"id": "MEDIA9", "mime_type": "image/png"},
        }
        self.assertEqual(self.post_meta(meta_payload([item])).status_code, 200)
        message = self.messages("wamid.BIG")
        self.assertFalse(message.attachment_ids)
        self.assertIn("Media not stored", message.error_message)

    def test_sender_outside_known_number_ranges_is_kept(self):
        item = meta_text("wamid.ODD", "from a test number", sender="99912345678")
        payload = meta_payload([item], contacts=[{"profile": {"name": "Tester"}, "wa_id": "99912345678"}])
        self.assertEqual(self.post_meta(payload).status_code, 200)
        self.assertEqual(self.messages("wamid.ODD").contact_id.whatsapp_number, "+99912345678")

    def test_reply_is_linked_to_the_message_it_answers(self):
        self.post_meta(meta_payload([meta_text("wamid.Q", "Question")]))
        self.post_meta(meta_payload([meta_text("wamid.A", "Answer", context={"from": "1555", "id": "wamid.Q"})]))
        self.assertEqual(self.messages("wamid.A").parent_message_id, self.messages("wamid.Q"))

    def test_batch_and_duplicates(self):
        payload = meta_payload([meta_text("wamid.B1", "one"), meta_text("wamid.B2", "two")])
        payload["entry"].append(
            meta_payload(
                [meta_text("wamid.B3", "three", sender="32470999002")],
                contacts=[{"profile": {"name": "Other"}, "wa_id": "32470999002"}],
            )["entry"][0]
        )
        for _attempt in range(3):  # Meta retries: the same POST three times
            self.assertEqual(self.post_meta(payload).status_code, 200)
        stored = self.Message.search([("external_message_id", "in", ["wamid.B1", "wamid.B2", "wamid.B3"])])
        self.assertEqual(len(stored), 3)
        self.assertEqual(len(stored.contact_id), 2)
        self.assertEqual(stored.filtered(lambda m: m.external_message_id == "wamid.B1").thread_id.unread_count, 2)

    def test_concurrent_duplicates_store_one_message(self):
        body, headers = meta_signed(meta_payload([meta_text("wamid.RACE", "race")]))
        codes = []

        def post():
            response = requests.post(self.base_url() + WHATSAPP_URL, data=body, headers=headers, timeout=30)
            codes.append(response.status_code)

        threads = [threading.Thread(target=post) for _ in range(4)]
        with self.allow_requests(all_requests=True):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        self.assertEqual(codes, [200] * 4)
        self.process_webhooks()
        self.assertEqual(len(self.messages("wamid.RACE")), 1)

    def test_unique_index_is_the_guard_when_the_lookup_misses(self):
        """Two workers that both looked before either committed: the second insert hits the index."""
        event = InboundMessage("wamid.GUARD", "+32470999001", "900000000000001", "whatsapp", text="hi")
        Message = self.Message.sudo()
        first = Message._ingest_inbound(self.whatsapp_config, "meta", event)
        with patch.object(type(Message), "_find_by_external_id", lambda *args: Message.browse()):
            second = Message._ingest_inbound(self.whatsapp_config, "meta", event)
        self.assertTrue(first)
        self.assertFalse(second)
        self.assertEqual(len(self.messages("wamid.GUARD")), 1)

    def _outbound(self, wamid, status="sent"):
        thread = self.env["contact.centre.thread"]._get_or_create(self.contact_free, "whatsapp")
        return self.Message.create(
            {
                "contact_id": self.contact_free.id,
                "thread_id": thread.id,
                "channel": "whatsapp",
                "direction": "outbound",
                "status": status,
                "provider": "meta",
                "external_message_id": wamid,
                "body_text": "out",
                "whatsapp_config_id": self.whatsapp_config.id,
            }
        )

    def test_statuses_never_move_backwards(self):
        message = self._outbound("wamid.OUT1")
        self.post_meta(meta_payload(statuses=[meta_status("wamid.OUT1", "read")]))
        self.post_meta(
            meta_payload(statuses=[meta_status("wamid.OUT1", "delivered"), meta_status("wamid.OUT1", "sent")])
        )
        self.assertEqual(message.status, "read")
        self.assertTrue(message.read_date)

    def test_failure_keeps_its_reason_and_a_late_read_lifts_it(self):
        message = self._outbound("wamid.OUT2")
        failed = meta_status("wamid.OUT2", "failed", errors=[{"code": 131026, "title": "Message undeliverable"}])
        self.post_meta(meta_payload(statuses=[failed]))
        self.assertEqual(
            (message.status, message.error_code, message.error_message), ("failed", "131026", "Message undeliverable")
        )
        self.post_meta(meta_payload(statuses=[meta_status("wamid.OUT2", "sent")]))
        self.assertEqual(message.status, "failed")
        self.post_meta(meta_payload(statuses=[meta_status("wamid.OUT2", "read")]))
        self.assertEqual(message.status, "read")
        self.assertFalse(message.error_code)

    def test_status_for_an_unknown_message_is_ignored(self):
        response = self.post_meta(meta_payload(statuses=[meta_status("wamid.NOBODY", "delivered")]))
        self.assertEqual(response.status_code, 200)

    def test_wrong_or_missing_signature_writes_nothing(self):
        payload = meta_payload([meta_text("wamid.EVIL", "x")])
        self.assertEqual(self.post_meta(payload, secret="not-the-secret").status_code, 403)
        self.assertEqual(self.post_meta(payload, headers={"Content-Type": "application/json"}).status_code, 403)
        self.assertFalse(self.messages("wamid.EVIL"))
        self.assertFalse(self.env["contact.centre.contact"].search([("whatsapp_number", "=", "+32470999001")]))
        self.assertFalse(
            self.env["contact.centre.webhook.event"].search([("whatsapp_config_id", "=", self.whatsapp_config.id)])
        )

    def test_webhook_answers_once_queued_and_the_processor_ingests(self):
        Event = self.env["contact.centre.webhook.event"]
        cron = self.env.ref("contact_centre.ir_cron_contact_centre_webhook_events")
        self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]).unlink()
        for index in range(3):
            body, headers = meta_signed(meta_payload([meta_text(f"wamid.Q{index}", "queued")]))
            self.assertEqual(self.url_open(WHATSAPP_URL, data=body, headers=headers).status_code, 200)
        queued = Event.search([("state", "=", "pending")], order="id")
        self.assertEqual(len(queued), 3)
        self.assertEqual(queued[0].events[0]["provider_message_id"], "wamid.Q0")
        self.assertFalse(self.messages("wamid.Q0"))
        # One wake-up for the burst, not one per request.
        self.assertEqual(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), 1)
        self.process_webhooks()
        self.assertEqual(set(queued.mapped("state")), {"done"})
        self.assertEqual(
            len(self.Message.search([("external_message_id", "in", ["wamid.Q0", "wamid.Q1", "wamid.Q2"])])), 3
        )

    def test_an_event_that_fails_is_kept_alone_and_can_be_retried(self):
        Message = type(self.Message)
        original = Message._ingest_inbound_event

        def fail_on_poison(self_, config, event):
            if event.text == "poison":
                raise ValueError("cannot ingest this one")
            return original(self_, config, event)

        with (
            patch.object(Message, "_ingest_inbound_event", fail_on_poison),
            mute_logger("odoo.addons.contact_centre.models.contact_centre_message"),
        ):
            self.post_meta(meta_payload([meta_text("wamid.P1", "fine"), meta_text("wamid.P2", "poison")]))
            self.post_meta(meta_payload([meta_text("wamid.P3", "after")]))
        failed = self.env["contact.centre.webhook.event"].search([("state", "=", "failed")])
        self.assertEqual(len(failed), 1)
        self.assertIn("cannot ingest this one", failed.error)
        # Each event on its own: the good neighbour and the next request went through.
        self.assertTrue(self.messages("wamid.P1"))
        self.assertFalse(self.messages("wamid.P2"))
        self.assertTrue(self.messages("wamid.P3"))
        self.assertEqual([event["provider_message_id"] for event in failed.events], ["wamid.P2"])
        failed.action_retry()
        self.process_webhooks()
        self.assertEqual(failed.state, "done")
        self.assertEqual(len(self.messages("wamid.P1") | self.messages("wamid.P2")), 2)

    def test_malformed_body_is_a_400_without_traceback(self):
        # An odd message inside an authentic envelope is kept aside (200), never a refused request.
        odd = meta_payload([{"from": "32470999001", "type": "text"}, meta_text("wamid.GOOD", "beside it")])  # no id
        self.assertEqual(self.post_meta(odd).status_code, 200)
        self.assertTrue(self.messages("wamid.GOOD"))
        response = self.post_meta({"object": "whatsapp_business_account", "entry": "not a list"})
        self.assertEqual(response.status_code, 400)
        self.assertNotIn("Traceback", response.text)
        body, headers = meta_signed(meta_payload([]))
        response = self.url_open(WHATSAPP_URL, data=body[:-5], headers=headers)
        self.assertEqual(response.status_code, 400)
        self.assertNotIn("Traceback", response.text)

    def test_unknown_number_is_a_404(self):
        response = self.post_meta(meta_payload([meta_text("wamid.X", "x")], number_id="123"))
        self.assertEqual(response.status_code, 404)

    def test_template_status_update(self):
        template = self.env["contact.centre.template"].create(
            {
                "name": "Shipped",
                "channel": "whatsapp",
                "whatsapp_config_id": self.whatsapp_config.id,
                "meta_template_name": "order_shipped",
                "language": "en_US",
                "body_text": "Hi {{1}}",
                "approval_status": "pending",
            }
        )
        value = {
            "event": "REJECTED",
            "message_template_id": 77,
            "message_template_name": "order_shipped",
            "message_template_language": "en_US",
            "reason": "INVALID_FORMAT",
        }
        self.assertEqual(
            self.post_meta(meta_payload(field="message_template_status_update", value=value)).status_code, 200
        )
        self.assertEqual((template.approval_status, template.rejection_reason), ("rejected", "INVALID_FORMAT"))
        value["event"] = "APPROVED"
        self.post_meta(meta_payload(field="message_template_status_update", value=value))
        self.assertEqual(template.approval_status, "approved")


@tagged("post_install", "-at_install")
class TestSmsWebhooks(ContactCentreData, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.infobip_config = cls.env["contact.centre.sms.config"].create(
            {
                "name": "Infobip",
                "provider": "infobip",
                "api_base_url": "http://127.0.0.1:9",
                "infobip_api_key": "k",
                "webhook_token": "ib-secret",
            }
        )
        cls.custom_config = cls.env["contact.centre.sms.config"].create(
            {
                "name": "Gateway",
                "provider": "custom",
                "custom_url": "http://127.0.0.1:9/send",
                "webhook_token": "gw-secret",
            }
        )
        cls.Message = cls.env["contact.centre.message"]

    def post_twilio(self, form, token="test-auth-token", config=None):
        path = f"/contact_centre/webhook/twilio/{(config or self.twilio_config).id}"
        url = self.base_url() + path
        signature = RequestValidator(token).compute_signature(url, form)
        response = self.url_open(path, data=form, headers={"X-Twilio-Signature": signature})
        self.process_webhooks()
        return response

    def test_twilio_inbound_and_status(self):
        form = {
            "MessageSid": "SMIN1",
            "AccountSid": self.twilio_config.twilio_account_sid,
            "From": "+32470999003",
            "To": "+15005550006",
            "Body": "Hi by SMS",
            "NumMedia": "0",
            "SmsStatus": "received",
        }
        response = self.post_twilio(form)
        self.assertEqual(response.status_code, 200)
        self.assertIn("<Response", response.text)
        message = self.Message.search([("external_message_id", "=", "SMIN1")])
        self.assertEqual(
            (message.channel, message.provider, message.contact_id.sms_number), ("sms", "twilio", "+32470999003")
        )
        outbound = self.Message.create(
            {
                "contact_id": message.contact_id.id,
                "thread_id": message.thread_id.id,
                "channel": "sms",
                "direction": "outbound",
                "status": "sent",
                "provider": "twilio",
                "sms_config_id": self.twilio_config.id,
                "external_message_id": "SMOUT1",
            }
        )
        self.post_twilio(
            {
                "MessageSid": "SMOUT1",
                "AccountSid": self.twilio_config.twilio_account_sid,
                "MessageStatus": "undelivered",
                "ErrorCode": "30003",
                "To": "+32470999003",
                "From": "+15005550006",
            }
        )
        self.assertEqual((outbound.status, outbound.error_code), ("failed", "30003"))

    def test_twilio_wrong_signature_and_unknown_config(self):
        form = {"MessageSid": "SMEVIL", "From": "+32470999003", "To": "+1500", "Body": "x", "SmsStatus": "received"}
        self.assertEqual(self.post_twilio(form, token="wrong").status_code, 403)
        self.assertEqual(
            self.url_open(f"/contact_centre/webhook/twilio/{self.twilio_config.id}", data=form).status_code, 403
        )
        self.assertFalse(self.Message.search([("external_message_id", "=", "SMEVIL")]))
        self.assertEqual(self.url_open("/contact_centre/webhook/twilio/999999", data=form).status_code, 404)
        # An Infobip configuration is not a Twilio one.
        self.assertEqual(
            self.url_open(f"/contact_centre/webhook/twilio/{self.infobip_config.id}", data=form).status_code, 404
        )

    def post_infobip(self, payload, token="ib-secret"):
        response = self.url_open(
            f"/contact_centre/webhook/infobip/{self.infobip_config.id}/{token}",
            data=json.dumps(payload),
            headers={"Content-Type": "application/json"},
        )
        self.process_webhooks()
        return response

    def test_infobip_reports_batch_and_inbound(self):
        inbound = {
            "results": [
                {
                    "messageId": "ib-in-1",
                    "from": "32470999004",
                    "to": "ACME",
                    "text": "hello",
                    "cleanText": "hello",
                    "receivedAt": "2026-11-25T10:00:00.000+0000",
                }
            ]
        }
        self.assertEqual(self.post_infobip(inbound).status_code, 200)
        message = self.Message.search([("external_message_id", "=", "ib-in-1")])
        outbound = self.Message.create(
            [
                {
                    "contact_id": message.contact_id.id,
                    "thread_id": message.thread_id.id,
                    "channel": "sms",
                    "direction": "outbound",
                    "status": "sent",
                    "provider": "infobip",
                    "sms_config_id": self.infobip_config.id,
                    "external_message_id": f"ib-out-{i}",
                }
                for i in range(100)
            ]
        )
        reports = {
            "results": [
                {
                    "messageId": f"ib-out-{i}",
                    "to": "32470999004",
                    "doneAt": "2026-11-25T10:00:05.000+0000",
                    "status": {"groupName": "DELIVERED" if i % 2 else "UNDELIVERABLE", "id": 5, "name": "X"},
                    "error": {"groupName": "OK", "id": 0}
                    if i % 2
                    else {"groupName": "HANDSET_ERRORS", "id": 27, "name": "EC"},
                }
                for i in range(100)
            ]
        }
        self.assertEqual(self.post_infobip(reports).status_code, 200)
        self.assertEqual(sorted(set(outbound.mapped("status"))), ["delivered", "failed"])
        self.assertEqual(len(outbound.filtered(lambda m: m.status == "delivered")), 50)

    def test_infobip_wrong_token_and_malformed(self):
        self.assertEqual(self.post_infobip({"results": []}, token="nope").status_code, 403)
        response = self.post_infobip({"results": "nope"})
        self.assertEqual(response.status_code, 400)
        self.assertNotIn("Traceback", response.text)

    def test_custom_gateway_webhook(self):
        path = f"/contact_centre/webhook/custom/{self.custom_config.id}/gw-secret"
        payload = {"id": "gw-in-1", "from": "+32470999005", "to": "ACME", "text": "via gateway"}
        response = self.url_open(path, data=json.dumps(payload), headers={"Content-Type": "application/json"})
        self.assertEqual(response.status_code, 200)
        self.process_webhooks()
        self.assertEqual(self.Message.search([("external_message_id", "=", "gw-in-1")]).provider, "custom")
        wrong = self.url_open(
            path.replace("gw-secret", "x"), data=json.dumps(payload), headers={"Content-Type": "application/json"}
        )
        self.assertEqual(wrong.status_code, 403)
