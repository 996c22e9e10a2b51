import time
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, HttpCase, tagged

from ..tools.simulator.control import configure, sent_messages
from .common import ContactCentreData, SimulatorMixin


@tagged("post_install", "-at_install")
class TestSending(SimulatorMixin, ContactCentreData, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.Thread = cls.env["contact.centre.thread"]
        cls.Message = cls.env["contact.centre.message"]
        cls.contact = cls.env["contact.centre.contact"].create(
            {"name": "Olga", "whatsapp_number": "+32470555001", "sms_number": "+32470555001"}
        )
        cls.template = cls.env["contact.centre.template"].create(
            {
                "name": "Shipped",
                "channel": "whatsapp",
                "whatsapp_config_id": cls.whatsapp_config.id,
                "meta_template_name": "order_shipped",
                "language": "en_US",
                "approval_status": "approved",
                "body_text": "Hello {{1}}, order {{2}} shipped",
                "variable_ids": [
                    fields.Command.create({"placeholder": "1", "source": "field", "field_name": "name"}),
                    fields.Command.create({"placeholder": "2", "source": "fixed", "fixed_value": "#42"}),
                ],
            }
        )

    def whatsapp_thread(self, window_open=True):
        thread = self.Thread._get_or_create(self.contact, "whatsapp")
        last = fields.Datetime.now() - timedelta(hours=1 if window_open else 30)
        thread.write({"last_inbound_date": last, "whatsapp_config_id": self.whatsapp_config.id})
        return thread

    def test_free_text_inside_the_window_goes_out(self):
        message = self.whatsapp_thread()._send_message(text="Your parcel left", author=self.agent)
        self.assertEqual((message.status, message.author_id), ("queued", self.agent))
        self.Message._send_queued()
        self.assertEqual(message.status, "sent")
        self.assertTrue(message.external_message_id.startswith("wamid."))
        [sent] = sent_messages(self.simulator_url)
        self.assertEqual((sent["to"], sent["body"]["text"]["body"]), ("32470555001", "Your parcel left"))

    def test_free_text_outside_the_window_is_refused_template_is_not(self):
        thread = self.whatsapp_thread(window_open=False)
        with self.assertRaisesRegex(UserError, "window is closed"):
            thread._send_message(text="Hello?")
        message = thread._send_message(template=self.template)
        self.assertEqual(message.body_text, "Hello Olga, order #42 shipped")
        self.Message._send_queued()
        body = sent_messages(self.simulator_url)[0]["body"]
        self.assertEqual(body["template"]["name"], "order_shipped")
        self.assertEqual([p["text"] for p in body["template"]["components"][0]["parameters"]], ["Olga", "#42"])

    def test_unapproved_template_and_opted_out_contact_are_refused(self):
        thread = self.whatsapp_thread(window_open=False)
        self.template.approval_status = "pending"
        with self.assertRaisesRegex(UserError, "not approved"):
            thread._send_message(template=self.template)
        self.contact._set_opt_in("whatsapp", False, "agent")
        with self.assertRaisesRegex(UserError, "opted out"):
            self.whatsapp_thread()._send_message(text="hi")

    def test_failure_shows_its_reason_and_can_be_retried(self):
        configure(self.simulator_url, fail_next=[131026])
        message = self.whatsapp_thread()._send_message(text="hello")
        self.Message._send_queued()
        self.assertEqual((message.status, message.error_code), ("failed", "131026"))
        self.assertIn("131026", message.error_message)
        message.action_retry()
        self.assertEqual(message.status, "queued")
        self.Message._send_queued()
        self.assertEqual(message.status, "sent")

    def test_a_claimed_message_is_never_resent_but_awaits_the_provider(self):
        """A message handed over by a process that died stays out of the queue: unconfirmed, then
        flagged for a person when the number's wait ends without a word from the provider."""
        message = self.whatsapp_thread()._send_message(text="in flight")
        message.write({"send_claimed_at": fields.Datetime.now() - timedelta(hours=1), "send_claim_token": 4242})
        self.Message._send_queued()
        self.assertEqual(sent_messages(self.simulator_url), [])
        self.assertEqual((message.status, message.needs_review), ("queued", False))
        self.assertTrue(message.unconfirmed_since)
        message.unconfirmed_since = fields.Datetime.now() - timedelta(minutes=16)
        self.Message._settle_unconfirmed()
        self.assertEqual((message.status, message.needs_review), ("queued", True))
        self.assertEqual(sent_messages(self.simulator_url), [])

    def test_sms_through_twilio_with_its_status_callback(self):
        thread = self.Thread._get_or_create(self.contact, "sms")
        thread.sms_config_id = self.twilio_config
        message = thread._send_message(text="SMS hello")
        self.Message._send_queued()
        self.assertTrue(message.external_message_id.startswith("SM"))
        [sent] = sent_messages(self.simulator_url)
        self.assertEqual(sent["body"]["Body"], "SMS hello")
        reference = f"cc-{self.Message._reference_namespace()}-{message.id}"
        self.assertTrue(
            sent["body"]["StatusCallback"].endswith(
                f"/contact_centre/webhook/twilio/{self.twilio_config.id}?ref={reference}"
            ),
            "Twilio posts the message's statuses to a URL that names it: our reference settles a lost answer",
        )

    def test_statuses_come_back_through_the_webhooks(self):
        self.post_statuses_back(200)
        self.whatsapp_config.phone_number_id = "900000000000001"
        message = self.whatsapp_thread()._send_message(text="tick tick")
        self.Message._send_queued()
        self.env.flush_all()  # what a commit would do: the webhook requests read the database
        for _attempt in range(5):
            # The simulator posts sent, delivered and read 200 ms apart to this server's webhook.
            with self.allow_requests(all_requests=True):
                time.sleep(1)
            self.process_webhooks()
            message.invalidate_recordset()
            if message.status == "read":
                break
        self.assertEqual(message.status, "read")
        self.assertTrue(message.delivered_date and message.read_date)

    def test_cron_sends_the_queue(self):
        message = self.whatsapp_thread()._send_message(text="by cron")
        self.env.ref("contact_centre.ir_cron_contact_centre_send_queue").method_direct_trigger()
        self.assertEqual(message.status, "sent")

    def test_a_queue_left_when_the_cron_time_is_up_wakes_the_cron(self):
        """The send queue shares the campaigns' pipeline: stopped by its cron job's time with
        messages claimed, it wakes the cron for the next job (Odoo would leave it to the workers'
        minute poll)."""
        message = self.whatsapp_thread()._send_message(text="late in the job")
        cron = self.env.ref("contact_centre.ir_cron_contact_centre_send_queue")
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])

        def time_up_once_handed_over(_self, handed_over, remaining=None, keep=None):
            return not handed_over

        with patch.object(type(self.Message), "_commit_sending", autospec=True, side_effect=time_up_once_handed_over):
            self.Message.with_context(cron_id=cron.id)._send_queued()
        self.assertEqual(message.status, "sent")  # claimed before the time was up: it still left
        self.assertEqual(len(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]) - triggers), 1)


@tagged("post_install", "-at_install")
class TestComposer(SimulatorMixin, ContactCentreData, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.contact = cls.env["contact.centre.contact"].create(
            {"name": "Zoe", "whatsapp_number": "+32470555002", "sms_number": "+32470555002"}
        )

    def composer(self, **values):
        action = self.contact.with_user(self.agent).action_open_composer(channel=values.pop("channel", "whatsapp"))
        form = Form(self.env["contact.centre.composer"].with_user(self.agent).with_context(**action["context"]))
        for name, value in values.items():
            setattr(form, name, value)
        return form

    def test_sms_composer_counts_segments_and_sends(self):
        form = self.composer(channel="sms", body="Ça va? " + "x" * 70)
        self.assertEqual((form.sms_encoding, form.sms_segments), ("GSM-7", 1))
        form.body = "Привет " * 12
        self.assertEqual((form.sms_encoding, form.sms_segments), ("UCS-2", 2))
        form.save().action_send()
        message = self.env["contact.centre.message"].search([("contact_id", "=", self.contact.id)])
        self.assertEqual((message.channel, message.status, message.author_id), ("sms", "queued", self.agent))

    def test_whatsapp_composer_outside_the_window_uses_a_template(self):
        template = self.env["contact.centre.template"].create(
            {
                "name": "Hello",
                "channel": "whatsapp",
                "whatsapp_config_id": self.whatsapp_config.id,
                "meta_template_name": "hello",
                "approval_status": "approved",
                "body_text": "Hi {{1}}, code {{2}}",
                "variable_ids": [
                    fields.Command.create({"placeholder": "1", "field_name": "name"}),
                    fields.Command.create({"placeholder": "2", "source": "free"}),
                ],
            }
        )
        form = self.composer()
        self.assertFalse(form.window_open)
        self.assertEqual(form.mode, "template")
        self.assertIn("window is closed", form.warning)
        form.template_id = template
        with form.value_ids.edit(1) as line:
            line.value = "1234"
        self.assertEqual(form.preview, "Hi Zoe, code 1234")
        form.save().action_send()
        message = self.env["contact.centre.message"].search([("contact_id", "=", self.contact.id)])
        self.assertEqual((message.template_id, message.body_text), (template, "Hi Zoe, code 1234"))
        self.assertEqual(message.template_values, {"1": "Zoe", "2": "1234"})
