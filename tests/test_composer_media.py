import base64
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, HttpCase, tagged

from ..tools.providers import MetaCloudProvider
from ..tools.simulator.control import configure, sent_messages
from .common import ContactCentreData, SimulatorMixin

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@tagged("post_install", "-at_install")
class TestComposerMedia(SimulatorMixin, ContactCentreData, HttpCase):
    """Agents attach images, documents, audio and video in the composer: checked against
    WhatsApp's limits, uploaded to Meta's media endpoint, sent by id."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.contact = cls.env["contact.centre.contact"].create({"name": "Mia", "whatsapp_number": "+32470555003"})
        cls.thread = cls.env["contact.centre.thread"]._get_or_create(cls.contact, "whatsapp")
        cls.thread.write(
            {
                "last_inbound_date": fields.Datetime.now() - timedelta(hours=1),
                "whatsapp_config_id": cls.whatsapp_config.id,
                "assigned_agent_id": cls.agent.id,
            }
        )

    def send(self, content, filename, body=None):
        action = self.contact.with_user(self.agent).action_open_composer(channel="whatsapp")
        form = Form(self.env["contact.centre.composer"].with_user(self.agent).with_context(**action["context"]))
        form.body = body or ""
        form.attachment = base64.b64encode(content)
        composer = form.save()
        composer.attachment_name = filename  # the file widget sets it in the browser
        composer.action_send()
        return self.env["contact.centre.message"].search([("contact_id", "=", self.contact.id)], limit=1)

    def test_image_with_caption_goes_out_by_media_id(self):
        message = self.send(PNG, "parcel.png", "Your parcel")
        self.assertEqual((message.message_type, message.status, message.body_text), ("image", "queued", "Your parcel"))
        media = message.details["media"]
        self.assertTrue(media["id"].startswith("media-"))
        self.assertEqual((media["type"], media["mime_type"], media["filename"]), ("image", "image/png", "parcel.png"))
        self.assertEqual((message.attachment_ids.name, message.attachment_ids.raw), ("parcel.png", PNG))
        self.env["contact.centre.message"]._send_queued()
        self.assertEqual(message.status, "sent")
        [sent] = sent_messages(self.simulator_url)
        self.assertEqual(sent["body"]["type"], "image")
        self.assertEqual(sent["body"]["image"], {"id": media["id"], "caption": "Your parcel"})

    def test_document_keeps_its_file_name(self):
        message = self.send(PDF, "invoice.pdf")
        self.assertEqual(message.message_type, "document")
        self.env["contact.centre.message"]._send_queued()
        [sent] = sent_messages(self.simulator_url)
        self.assertEqual(sent["body"]["document"]["filename"], "invoice.pdf")

    def test_files_whatsapp_refuses_are_never_uploaded(self):
        cases = [
            (b"GIF89a" + b"\0" * 20, "anim.gif", None, "does not take anim.gif"),
            (PNG + b"\0" * (5 << 20), "huge.png", None, "too large for WhatsApp: a image is at most 5 MB"),
            (b"ID3" + b"\0" * 100, "note.mp3", "listen", "without text"),
        ]
        for content, filename, body, error in cases:
            with (
                patch.object(MetaCloudProvider, "upload_media", side_effect=AssertionError("uploaded")),
                self.assertRaisesRegex(UserError, error),
            ):
                self.send(content, filename, body)
        self.assertFalse(self.env["contact.centre.message"].search([("contact_id", "=", self.contact.id)]))

    def test_no_upload_when_the_window_is_closed(self):
        self.thread.last_inbound_date = fields.Datetime.now() - timedelta(hours=30)
        composer = (
            self.env["contact.centre.composer"]
            .with_user(self.agent)
            .create(
                {
                    "contact_id": self.contact.id,
                    "channel": "whatsapp",
                    "attachment": base64.b64encode(PNG),
                    "attachment_name": "late.png",
                }
            )
        )  # the form makes the file read-only then: a forged call is refused all the same
        with (
            patch.object(MetaCloudProvider, "upload_media", side_effect=AssertionError("uploaded")),
            self.assertRaisesRegex(UserError, "window is closed"),
        ):
            composer.action_send()
        self.assertEqual(sent_messages(self.simulator_url), [])

    def test_a_refused_upload_says_so(self):
        configure(self.simulator_url, meta_access_token="another-token")
        with self.assertRaisesRegex(UserError, "WhatsApp did not take the file parcel.png: Invalid OAuth access token"):
            self.send(PNG, "parcel.png")
        self.assertFalse(self.env["contact.centre.message"].search([("contact_id", "=", self.contact.id)]))
