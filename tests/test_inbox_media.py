import base64
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged

from ..tools.providers import MetaCloudProvider
from ..tools.providers.receipts import send_read_receipts
from ..tools.simulator.control import read_receipts, sent_messages
from .common import ContactCentreData, SimulatorMixin

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
TYPING_LATER = "odoo.addons.contact_centre.models.contact_centre_thread.send_read_receipts_later"


def sent_at_once(receipts, typing=False):
    """The background sending of receipts, run in the caller's thread (deterministic tests)."""
    send_read_receipts(receipts, typing=typing)


def attachment(content, name):
    return {"name": name, "data": base64.b64encode(content).decode()}


@tagged("post_install", "-at_install")
class TestInboxMedia(SimulatorMixin, ContactCentreData, HttpCase):
    """Files from the inbox's own composer (WhatsApp by media id, SMS as an MMS where the provider
    sends them, through a public token link) and the WhatsApp typing indicator."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.env["contact.centre.automation"].search([]).active = False
        Contact = cls.env["contact.centre.contact"]
        cls.contact = Contact.create({"name": "Mia", "whatsapp_number": "+32470555101", "sms_number": "+15005550101"})
        cls.thread = cls.env["contact.centre.thread"]._get_or_create(cls.contact, "whatsapp")
        cls.thread.write(
            {
                "last_inbound_date": fields.Datetime.now() - timedelta(hours=1),
                "whatsapp_config_id": cls.whatsapp_config.id,
                "assigned_agent_id": cls.agent.id,
            }
        )
        cls.sms_thread = cls.env["contact.centre.thread"]._get_or_create(cls.contact, "sms")
        cls.sms_thread.write({"sms_config_id": cls.twilio_config.id, "assigned_agent_id": cls.agent.id})

    def setUp(self):
        super().setUp()
        # The link an SMS provider fetches is on this test server.
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", self.base_url())

    def messages(self, thread):
        return self.env["contact.centre.message"].search([("thread_id", "=", thread.id)])

    def message_attachments(self):
        return self.env["ir.attachment"].sudo().search_count([("res_model", "=", "contact.centre.message")])

    # WhatsApp

    def test_agent_attaches_an_image_on_whatsapp(self):
        rules = self.thread.with_user(self.agent).inbox_open()["attachment"]
        self.assertTrue(rules["allowed"])
        self.assertEqual(rules["limits"]["image/png"], 5 << 20)
        row = self.thread.with_user(self.agent).inbox_send(text="Your parcel", attachment=attachment(PNG, "parcel.png"))
        self.assertEqual([a["name"] for a in row["attachments"]], ["parcel.png"], "the thread shows the file")
        message = self.messages(self.thread)
        self.assertEqual((message.message_type, message.author_id), ("image", self.agent))
        media_id = message.details["media"]["id"]
        self.assertTrue(media_id.startswith("media-"), "uploaded to Meta's media endpoint first")
        self.env["contact.centre.message"]._send_queued()
        [sent] = sent_messages(self.simulator_url)
        self.assertEqual(sent["body"]["image"], {"id": media_id, "caption": "Your parcel"})
        self.assertEqual(message.status, "sent")

    def test_refused_files_leave_nothing_behind(self):
        before = self.message_attachments()
        cases = [
            (PNG + b"\0" * (5 << 20), "huge.png", "huge.png is too large for WhatsApp: a image is at most 5 MB"),
            (b"GIF89a" + b"\0" * 20, "anim.gif", "WhatsApp does not take anim.gif"),
            (b"", "empty.pdf", "empty.pdf is empty"),
        ]
        for content, name, error in cases:
            with (
                patch.object(MetaCloudProvider, "upload_media", side_effect=AssertionError("uploaded")),
                self.assertRaisesRegex(UserError, error),
            ):
                self.thread.with_user(self.agent).inbox_send(text="see", attachment=attachment(content, name))
        with self.assertRaisesRegex(UserError, "did not arrive whole"):
            self.thread.with_user(self.agent).inbox_send(attachment={"name": "x.png", "data": "not base64!"})
        with self.assertRaisesRegex(UserError, "A template cannot carry a file"):
            template = self.env["contact.centre.template"].create(
                {"name": "SMS hello", "channel": "sms", "body_text": "Hello"}
            )
            self.thread.with_user(self.agent).inbox_send(template_id=template.id, attachment=attachment(PNG, "a.png"))
        self.assertFalse(self.messages(self.thread), "nothing queued")
        self.assertEqual(self.message_attachments(), before, "nothing half-written")
        self.assertFalse(sent_messages(self.simulator_url))

    def test_an_agent_of_another_company_cannot_send_there(self):
        company_b = self.env["res.company"].create({"name": "Company B"})
        agent_b = new_test_user(
            self.env,
            "cc_agent_other",
            groups="contact_centre.group_contact_centre_agent",
            company_id=company_b.id,
            company_ids=[company_b.id],
        )
        before = self.message_attachments()
        with (
            patch.object(MetaCloudProvider, "upload_media", side_effect=AssertionError("uploaded")),
            self.assertRaises(AccessError),
        ):
            self.thread.with_user(agent_b).inbox_send(text="hi", attachment=attachment(PNG, "a.png"))
        with self.assertRaises(AccessError):
            self.thread.with_user(agent_b).inbox_typing()
        self.assertFalse(self.messages(self.thread))
        self.assertEqual(self.message_attachments(), before)

    def test_attachment_tour(self):
        """In Chromium: refused files explained before any upload, the chosen file removable, the image
        sent with its caption and shown; typing told WhatsApp; no MMS on a gateway without it."""
        self.env["ir.config_parameter"].sudo().set_param("contact_centre.whatsapp_read_receipts", True)
        self.inbound_from_meta("wamid.TOUR")
        self.agent.cc_available = False
        self.sms_thread.sms_config_id = self.env["contact.centre.sms.config"].create(
            {"name": "Plain Gateway", "provider": "custom", "custom_url": f"{self.simulator_url}/custom/send"}
        )
        with patch.object(
            MetaCloudProvider, "upload_media", autospec=True, side_effect=MetaCloudProvider.upload_media
        ) as upload:
            self.start_tour("/odoo/contact-centre-inbox", "contact_centre_inbox_media", login="cc_agent", timeout=90)
        self.assertEqual([call.args[3] for call in upload.call_args_list], ["parcel.png"], "refused files never left")
        message = self.messages(self.thread).filtered(lambda m: m.direction == "outbound")
        self.assertEqual((message.message_type, message.body_text), ("image", "Your parcel"))
        self.assertEqual(message.attachment_ids.raw, PNG)
        self.assertTrue(self.thread.typing_sent_at, "typing the caption told WhatsApp")
        self.assertFalse(self.messages(self.sms_thread))

    # SMS: MMS

    def test_sms_mms_on_twilio_sends_a_reachable_token_link(self):
        self.assertTrue(self.twilio_config.mms_enabled, "Twilio sends MMS")
        rules = self.sms_thread.with_user(self.agent).inbox_open()["attachment"]
        self.assertTrue(rules["allowed"])
        self.assertIn("image/gif", rules["limits"])
        row = self.sms_thread.with_user(self.agent).inbox_send(text="Here", attachment=attachment(PNG, "map.png"))
        self.assertEqual([a["name"] for a in row["attachments"]], ["map.png"])
        message = self.messages(self.sms_thread)
        url = message.details["media"]["url"]
        self.assertTrue(
            url.startswith(f"{self.base_url()}/web/content/{message.attachment_ids.id}/map.png?access_token=")
        )
        self.env["contact.centre.message"]._send_queued()
        self.assertTrue(message.external_message_id.startswith("SM"), "Twilio took it")
        [sent] = sent_messages(self.simulator_url)
        self.assertEqual((sent["body"]["Body"], sent["body"]["MediaUrl"]), ("Here", url))
        # The provider fetches it as anyone on the internet: no session, the token only.
        self.assertNotIn("session_id", self.opener.cookies)
        response = self.url_open(url, timeout=30)
        self.assertEqual((response.status_code, response.content), (200, PNG))
        self.assertEqual(response.headers["Content-Type"], "image/png")
        wrong = self.url_open(url.rsplit("=", 1)[0] + "=wrong", timeout=30)
        self.assertNotEqual(wrong.status_code, 200, "the token is what opens it")

    def test_mms_refused_where_the_provider_does_not_send_it(self):
        gateway = self.env["contact.centre.sms.config"].create(
            {"name": "Plain Gateway", "provider": "custom", "custom_url": f"{self.simulator_url}/custom/send"}
        )
        self.assertFalse(gateway.mms_enabled)
        with self.assertRaisesRegex(ValidationError, "put \\{\\{media_url\\}\\} in the gateway's body template"):
            gateway.mms_enabled = True
        self.sms_thread.sms_config_id = gateway
        rules = self.sms_thread.with_user(self.agent).inbox_open()["attachment"]
        self.assertEqual(
            (rules["allowed"], rules["reason"]),
            (
                False,
                "Plain Gateway does not send MMS: a file cannot go by SMS. Send the text alone, or write on WhatsApp.",
            ),
        )
        before = self.message_attachments()
        with self.assertRaisesRegex(UserError, "Plain Gateway does not send MMS"):
            self.sms_thread.with_user(self.agent).inbox_send(text="Here", attachment=attachment(PNG, "map.png"))
        self.assertFalse(self.messages(self.sms_thread))
        self.assertEqual(self.message_attachments(), before)
        # Twilio turned off for MMS says so too; a gateway told where the URL goes may send them.
        self.twilio_config.mms_enabled = False
        self.sms_thread.sms_config_id = self.twilio_config
        with self.assertRaisesRegex(UserError, "Test Twilio does not send MMS"):
            self.sms_thread.with_user(self.agent).inbox_send(attachment=attachment(PNG, "map.png"))
        gateway.custom_body_template = '{"to": "{{to}}", "text": "{{text}}", "media": "{{media_url}}"}'
        gateway.mms_enabled = True
        self.sms_thread.sms_config_id = gateway
        self.assertTrue(self.sms_thread.with_user(self.agent).inbox_open()["attachment"]["allowed"])

    def test_mms_refuses_what_an_mms_does_not_carry(self):
        for content, name, error in [
            (b"PK\x03\x04" + b"\0" * 30, "archive.zip", "An MMS does not carry archive.zip"),
            (PNG + b"\0" * (5 << 20), "big.png", "big.png is too large for an MMS: at most 5 MB"),
        ]:
            with self.assertRaisesRegex(UserError, error):
                self.sms_thread.with_user(self.agent).inbox_send(attachment=attachment(content, name))
        self.assertFalse(self.messages(self.sms_thread))

    # Typing indicator

    def inbound_from_meta(self, wamid):
        return self.env["contact.centre.message"].create(
            {
                "contact_id": self.contact.id,
                "thread_id": self.thread.id,
                "channel": "whatsapp",
                "direction": "inbound",
                "status": "received",
                "provider": "meta",
                "external_message_id": wamid,
                "whatsapp_config_id": self.whatsapp_config.id,
                "body_text": "Where is my parcel?",
                "message_timestamp": fields.Datetime.now() - timedelta(minutes=5),
            }
        )

    def test_typing_indicator_is_throttled(self):
        self.env["ir.config_parameter"].sudo().set_param("contact_centre.whatsapp_read_receipts", True)
        self.inbound_from_meta("wamid.TYPE1")
        self.assertTrue(self.thread.with_user(self.agent).inbox_open()["typing_indicator"])
        with patch(TYPING_LATER, sent_at_once):
            self.env.cr.postcommit.clear()
            self.assertTrue(self.thread.with_user(self.agent).inbox_typing())
            self.assertFalse(self.thread.with_user(self.agent).inbox_typing(), "again within 20 s: nothing")
            self.assertFalse(self.thread.with_user(self.supervisor).inbox_typing(), "per conversation, whoever types")
            self.env.cr.postcommit.run()
            self.assertEqual(
                [(r["message_id"], r["typing"]) for r in read_receipts(self.simulator_url)], [("wamid.TYPE1", True)]
            )
            self.thread.typing_sent_at = fields.Datetime.now() - timedelta(seconds=21)
            self.assertTrue(self.thread.with_user(self.agent).inbox_typing(), "20 s later: again")
            self.env.cr.postcommit.clear()

    def test_no_typing_indicator_without_read_receipts_or_outside_the_window(self):
        self.inbound_from_meta("wamid.TYPE2")
        self.env["ir.config_parameter"].sudo().set_param("contact_centre.whatsapp_read_receipts", False)
        self.assertFalse(self.thread.with_user(self.agent).inbox_open()["typing_indicator"])
        self.assertFalse(self.thread.with_user(self.agent).inbox_typing())
        self.env["ir.config_parameter"].sudo().set_param("contact_centre.whatsapp_read_receipts", True)
        self.assertFalse(self.sms_thread.with_user(self.agent).inbox_typing(), "WhatsApp only")
        self.thread.last_inbound_date = fields.Datetime.now() - timedelta(hours=25)
        self.assertFalse(self.thread.with_user(self.agent).inbox_typing(), "the window is closed")
        self.assertFalse(self.thread.typing_sent_at)
