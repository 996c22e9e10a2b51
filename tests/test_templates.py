import base64

import requests

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, HttpCase, tagged

from ..tools.simulator.control import sent_messages
from .common import ContactCentreData, SimulatorMixin, meta_payload, meta_signed

WHATSAPP_URL = "/contact_centre/webhook/whatsapp"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@tagged("post_install", "-at_install")
class TestTemplateLifecycle(SimulatorMixin, ContactCentreData, HttpCase):
    """WhatsApp templates with Meta, against the simulator: submitted (header sample through the
    resumable upload), reviewed (Meta's webhooks), synchronised, and sent with every component."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.whatsapp_config.app_id = "777000111"
        # The demo number's account: unreachable (nothing listens on the discard port).
        others = cls.env["contact.centre.whatsapp.config"].search([("id", "!=", cls.whatsapp_config.id)])
        others.api_base_url = "http://127.0.0.1:9"
        cls.Template = cls.env["contact.centre.template"]
        cls.contact = cls.env["contact.centre.contact"].create({"name": "Tina", "whatsapp_number": "+32470777001"})

    # Helpers
    def simulator_templates(self):
        return requests.get(f"{self.simulator_url}/_sim/templates", timeout=10).json()["templates"]

    def seed(self, *templates):
        answer = requests.post(
            f"{self.simulator_url}/_sim/templates",
            json={"waba_id": "waba-test", "templates": list(templates)},
            timeout=10,
        )
        return answer.json()["ids"]

    def review(self, name, **change):
        """Meta's review through the simulator, posted to this server's webhook, then ingested."""
        change.setdefault("url", self.base_url() + WHATSAPP_URL)
        change.setdefault("app_secret", "test-app-secret")
        self.env.flush_all()  # what a commit would do: the webhook request reads the database
        with self.allow_requests(all_requests=True):  # the simulator's request carries no test cookie
            answer = requests.post(f"{self.simulator_url}/_sim/templates/{name}/status", json=change, timeout=30)
        self.assertEqual(answer.status_code, 200, answer.text)
        answer = answer.json()
        self.process_webhooks()
        return answer

    def post_meta(self, field, value):
        body, headers = meta_signed(meta_payload(field=field, value=value))
        response = self.url_open(WHATSAPP_URL, data=body, headers=headers)
        self.process_webhooks()
        return response

    def image_template(self, **values):
        """A template with an image header, a variable and a URL button whose end is a variable."""
        return self.Template.create(
            {
                "name": "Delivery",
                "channel": "whatsapp",
                "whatsapp_config_id": self.whatsapp_config.id,
                "meta_template_name": "delivery_update",
                "language": "en_US",
                "category": "UTILITY",
                "header_type": "image",
                "header_sample": base64.b64encode(PNG),
                "header_sample_filename": "parcel.png",
                "body_text": "Hello {{1}}, your parcel is on its way.",
                "footer_text": "Reply STOP to opt out",
                "button_ids": [
                    fields.Command.create(
                        {"button_type": "URL", "text": "Track", "url": "https://shop.example/track/{{1}}"}
                    ),
                    fields.Command.create({"button_type": "QUICK_REPLY", "text": "Thanks"}),
                ],
                "variable_ids": [
                    fields.Command.create({"placeholder": "1", "field_name": "name", "sample_value": "Ann"}),
                    fields.Command.create(
                        {"placeholder": "url_1", "source": "fixed", "fixed_value": "T-42", "sample_value": "T-1"}
                    ),
                ],
                **values,
            }
        )

    # Submission
    def test_meta_rules_are_checked_before_submitting(self):
        template = self.Template.create(
            {
                "name": "Bad",
                "channel": "whatsapp",
                "whatsapp_config_id": self.whatsapp_config.id,
                "meta_template_name": "Bad Name",
                "body_text": "{{1}} is late",
                "footer_text": "x" * 61,
                "button_ids": [fields.Command.create({"button_type": "URL", "text": "Go", "url": "shop/{{1}}"})],
                "variable_ids": [fields.Command.create({"placeholder": "1", "sample_value": ""})],
            }
        )
        self.assertIn("cannot start or end with a variable", template.submit_issues)
        with self.assertRaises(UserError) as caught:
            template.action_submit_to_meta()
        text = str(caught.exception)
        for expected in (
            "lower-case letters",
            "cannot start or end with a variable",
            "Give a sample value for {{1}}",
            "The footer has 61 characters: Meta allows 60.",
            "must start with https://",
        ):
            self.assertIn(expected, text)
        self.assertEqual(template.approval_status, "draft")
        self.assertFalse(self.simulator_templates())

    def test_submit_uploads_the_sample_and_meta_review_comes_back(self):
        template = self.image_template()
        self.assertFalse(template.submit_issues)
        template.action_submit_to_meta()
        self.assertEqual(template.approval_status, "pending")
        [stored] = self.simulator_templates()
        self.assertEqual(template.meta_template_id, stored["id"])
        header, body, footer, buttons = stored["components"]
        self.assertEqual(header["format"], "IMAGE")
        self.assertTrue(header["example"]["header_handle"][0].startswith("4::"))
        self.assertEqual(body["example"], {"body_text": [["Ann"]]})
        self.assertEqual(footer, {"type": "FOOTER", "text": "Reply STOP to opt out"})
        self.assertEqual(
            buttons["buttons"],
            [
                {
                    "type": "URL",
                    "text": "Track",
                    "url": "https://shop.example/track/{{1}}",
                    "example": ["https://shop.example/track/T-1"],
                },
                {"type": "QUICK_REPLY", "text": "Thanks"},
            ],
        )
        with self.assertRaisesRegex(UserError, "still reviewing"):
            template.action_submit_to_meta()
        # Meta rejects it: the reason shows; edited and submitted again, Meta approves it.
        self.assertEqual(self.review("delivery_update", status="REJECTED", reason="INVALID_FORMAT")["webhooks"], [200])
        self.assertEqual((template.approval_status, template.rejection_reason), ("rejected", "INVALID_FORMAT"))
        template.body_text = "Hello {{1}}, your parcel left our warehouse."
        template.action_submit_to_meta()
        self.assertEqual((template.approval_status, len(self.simulator_templates())), ("pending", 1))
        self.review("delivery_update", status="APPROVED")
        self.assertEqual((template.approval_status, template.rejection_reason), ("approved", False))
        self.assertTrue(template.is_sendable)

    def test_a_media_header_needs_the_app_id(self):
        self.whatsapp_config.app_id = False
        with self.assertRaisesRegex(UserError, "Meta App ID"):
            self.image_template().action_submit_to_meta()

    def test_meta_refusal_is_explained(self):
        self.seed({"name": "delivery_update", "language": "en_US", "category": "UTILITY", "components": []})
        with self.assertRaisesRegex(UserError, "Meta refused the template: .*already exists"):
            self.image_template().action_submit_to_meta()

    # Sync
    def test_sync_creates_unknown_matches_ours_and_marks_deleted(self):
        ours = self.image_template()
        gone = self.Template.create(
            {
                "name": "Old",
                "channel": "whatsapp",
                "whatsapp_config_id": self.whatsapp_config.id,
                "meta_template_name": "old_promo",
                "meta_template_id": "111",
                "approval_status": "approved",
                "body_text": "Old offer",
            }
        )
        manager_made = {
            "name": "welcome_offer",
            "language": "fr",
            "category": "MARKETING",
            "quality": "GREEN",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Bienvenue {{1}}", "example": {"header_text": ["Ann"]}},
                {
                    "type": "BODY",
                    "text": "Votre code {{1}} expire {{2}}.",
                    "example": {"body_text": [["X1", "demain"]]},
                },
                {"type": "FOOTER", "text": "Merci"},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "COPY_CODE", "example": "WELCOME10"},
                        {"type": "PHONE_NUMBER", "text": "Appeler", "phone_number": "+32470000000"},
                    ],
                },
            ],
        }
        ours_at_meta = {
            "name": "delivery_update",
            "language": "en_US",
            "category": "MARKETING",
            "status": "REJECTED",
            "rejected_reason": "TAG_CONTENT_MISMATCH",
            "components": [{"type": "BODY", "text": "Hello {{1}}"}],
        }
        extra = [
            {
                "name": f"bulk_{i:03d}",
                "language": "en_US",
                "category": "UTILITY",
                "components": [{"type": "BODY", "text": "Hi"}],
            }
            for i in range(30)
        ]
        ids = self.seed(manager_made, ours_at_meta, *extra)
        action = self.whatsapp_config.action_sync_templates()
        self.assertIn("32 templates at Meta: 31 new, 2 updated", action["params"]["message"])
        self.assertEqual(
            (ours.approval_status, ours.rejection_reason, ours.category, ours.meta_template_id),
            ("rejected", "TAG_CONTENT_MISMATCH", "MARKETING", ids[1]),
        )
        self.assertEqual(gone.approval_status, "deleted")
        new = self.Template.search([("meta_template_name", "=", "welcome_offer")])
        self.assertEqual(
            (new.language, new.approval_status, new.quality_score, new.category, new.whatsapp_config_id),
            ("fr", "approved", "green", "MARKETING", self.whatsapp_config),
        )
        self.assertEqual((new.header_type, new.header_text, new.footer_text), ("text", "Bienvenue {{1}}", "Merci"))
        self.assertEqual(new.button_ids.mapped("button_type"), ["COPY_CODE", "PHONE_NUMBER"])
        self.assertEqual(
            [(v.placeholder, v.sample_value) for v in new.variable_ids],
            [("header_1", "Ann"), ("1", "X1"), ("2", "demain"), ("code", "WELCOME10")],
        )
        self.assertIn("*Bienvenue Ann*\nVotre code X1 expire demain.\n_Merci_", new.full_preview)
        # Again, for every number: nothing new, nothing changed; the demo number's account cannot be
        # reached (no simulator on its port), which is said without stopping the others.
        params = self.Template.action_sync_meta()["params"]
        self.assertIn(": 0 new, 0 updated", params["message"])
        self.assertIn("Not synchronised: Customer Service (demo)", params["message"])
        self.assertEqual(params["type"], "warning")
        # Meta's status moves on and the next sync (the cron's) follows it.
        self.review("welcome_offer", status="PAUSED", url=None)  # no webhook: the cron's sync catches it
        self.env.ref("contact_centre.ir_cron_contact_centre_template_sync").method_direct_trigger()
        self.assertEqual(new.approval_status, "paused")
        self.assertEqual(self.Template.search_count([("meta_template_name", "=like", "bulk_%")]), 30)

    def test_sync_is_refused_to_agents(self):
        with self.assertRaises(Exception):  # noqa: B017 - AccessError or UserError: agents do not write templates
            self.Template.with_user(self.agent).action_sync_meta()

    # Webhooks
    def test_status_quality_and_category_webhooks_update_the_template(self):
        template = self.image_template(approval_status="pending", meta_template_id="5550001")
        common = {
            "message_template_id": 5550001,
            "message_template_name": "delivery_update",
            "message_template_language": "en_US",
        }
        self.post_meta(
            "message_template_status_update",
            {
                "event": "PAUSED",
                **common,
                "reason": None,
                "other_info": {"title": "FIRST_PAUSE", "description": "Paused for 3 hours: low quality."},
            },
        )
        self.assertEqual(template.approval_status, "paused")
        self.assertEqual(template.rejection_reason, "FIRST_PAUSE: Paused for 3 hours: low quality.")
        self.post_meta("message_template_status_update", {"event": "REINSTATED", **common, "reason": "NONE"})
        self.assertEqual((template.approval_status, template.rejection_reason), ("approved", False))
        self.post_meta(
            "message_template_quality_update",
            {"previous_quality_score": "GREEN", "new_quality_score": "RED", **common},
        )
        self.assertEqual(template.quality_score, "red")
        self.post_meta(
            "template_category_update", {**common, "previous_category": "UTILITY", "new_category": "MARKETING"}
        )
        self.assertEqual(template.category, "MARKETING")
        # Another business account's update never reaches this one's templates.
        body, headers = meta_signed(
            {
                "object": "whatsapp_business_account",
                "entry": [
                    {
                        "id": "other-waba",
                        "changes": [
                            {
                                "field": "message_template_status_update",
                                "value": {"event": "DISABLED", **common},
                            }
                        ],
                    }
                ],
            }
        )
        self.url_open(WHATSAPP_URL, data=body, headers=headers)
        self.process_webhooks()
        self.assertEqual(template.approval_status, "approved")

    # Sending
    def whatsapp_thread(self):
        thread = self.env["contact.centre.thread"]._get_or_create(self.contact, "whatsapp")
        thread.write({"whatsapp_config_id": self.whatsapp_config.id})
        return thread

    def approved_at_meta(self, template):
        template.action_submit_to_meta()
        self.review(template.meta_template_name, status="APPROVED")
        self.assertEqual(template.approval_status, "approved")

    def test_sending_carries_header_image_body_and_url_button(self):
        template = self.image_template(header_media_url="https://cdn.shop.example/parcel.png")
        self.approved_at_meta(template)
        message = self.whatsapp_thread()._send_message(template=template)
        self.env["contact.centre.message"]._send_queued()
        self.assertEqual(message.status, "sent", message.error_message)
        self.assertEqual(
            message.with_user(self.admin)._inbox_rows()[0]["template_parts"],
            {
                "header": None,
                "media": "image",
                "image_url": "https://cdn.shop.example/parcel.png",
                "footer": "Reply STOP to opt out",
                "buttons": ["↗ Track", "↩ Thanks"],
            },
        )
        [sent] = sent_messages(self.simulator_url)
        self.assertEqual(
            sent["body"]["template"],
            {
                "name": "delivery_update",
                "language": {"code": "en_US"},
                "components": [
                    {
                        "type": "header",
                        "parameters": [{"type": "image", "image": {"link": "https://cdn.shop.example/parcel.png"}}],
                    },
                    {"type": "body", "parameters": [{"type": "text", "text": "Tina"}]},
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": "0",
                        "parameters": [{"type": "text", "text": "T-42"}],
                    },
                ],
            },
        )

    def test_sending_uploads_the_sample_once_when_no_link(self):
        template = self.image_template()
        self.approved_at_meta(template)
        thread = self.whatsapp_thread()
        first = thread._send_message(template=template)
        second = thread._send_message(template=template)
        self.env["contact.centre.message"]._send_queued()
        self.assertEqual((first.status, second.status), ("sent", "sent"), first.error_message)
        headers = [
            sent["body"]["template"]["components"][0]["parameters"][0] for sent in sent_messages(self.simulator_url)
        ]
        self.assertTrue(headers[0]["image"]["id"].startswith("media-"))
        self.assertEqual(headers[0], headers[1])

    def test_a_missing_button_value_is_refused_with_its_name(self):
        template = self.image_template(header_media_url="https://cdn.shop.example/parcel.png")
        template.variable_ids.filtered(lambda v: v.placeholder == "url_1").write({"source": "free"})
        self.approved_at_meta(template)
        thread = self.whatsapp_thread()
        with self.assertRaisesRegex(UserError, r"missing values for URL 1 \{\{1\}\}"):
            thread._send_message(template=template)
        message = thread._send_message(template=template, template_values={"url_1": "T-7"})
        self.env["contact.centre.message"]._send_queued()
        self.assertEqual(message.status, "sent")
        [sent] = sent_messages(self.simulator_url)
        self.assertEqual(sent["body"]["template"]["components"][2]["parameters"], [{"type": "text", "text": "T-7"}])

    # Previews
    def test_composer_shows_the_whole_message(self):
        template = self.image_template(approval_status="approved")
        self.assertEqual(
            template.full_preview,
            "[Image]\nHello Ann, your parcel is on its way.\n_Reply STOP to opt out_\n\n↗ Track\n↩ Thanks",
        )
        composer = Form(
            self.env["contact.centre.composer"].with_context(
                default_contact_id=self.contact.id, default_mode="template"
            )
        )
        composer.template_id = template
        record = composer.save()
        self.assertEqual(
            [(line.label, line.value) for line in record.value_ids], [("{{1}}", "Tina"), ("URL 1 {{1}}", "T-42")]
        )
        self.assertIn("[Image]\nHello Tina, your parcel is on its way.\n_Reply STOP", record.preview)
        self.assertIn("↗ Track", record.preview)
        thread = self.whatsapp_thread()
        info = thread.inbox_compose_info(template_id=template.id, values={"1": "Typed"})
        self.assertIn("Hello Typed", info["preview"])
        self.assertIn("_Reply STOP to opt out_", info["preview"])
        [listed] = [t for t in thread._inbox_templates() if t["id"] == template.id]
        self.assertEqual(
            [(v["name"], v["label"]) for v in listed["variables"]], [("1", "{{1}}"), ("url_1", "URL 1 {{1}}")]
        )

    def test_form_adds_variable_lines_for_header_url_and_code(self):
        form = Form(self.Template.with_context(default_channel="whatsapp"))
        form.name = "Promo"
        form.whatsapp_config_id = self.whatsapp_config
        form.meta_template_name = "promo"
        form.category = "MARKETING"
        form.header_type = "text"
        form.header_text = "Hi {{1}}"
        form.body_text = "Save {{1}} today with the code below."
        with form.button_ids.new() as button:
            button.button_type = "URL"
            button.text = "Shop"
            button.url = "https://shop.example/{{1}}"
        with form.button_ids.new() as button:
            button.button_type = "COPY_CODE"
            button.example = "SAVE20"
        template = form.save()
        self.assertEqual(template.variable_ids.mapped("placeholder"), ["header_1", "1", "url_1", "code"])
        code = template.variable_ids.filtered(lambda v: v.placeholder == "code")
        self.assertEqual((code.source, code.fixed_value), ("fixed", "SAVE20"))


@tagged("post_install", "-at_install")
class TestTemplateTour(SimulatorMixin, ContactCentreData, HttpCase):
    """An administrator, in Chromium, writes a template with an image header, a variable and a link
    button, submits it; the simulator (Meta) approves it; after a sync the list shows it approved."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.whatsapp_config.app_id = "777000111"
        others = cls.env["contact.centre.whatsapp.config"].search([("id", "!=", cls.whatsapp_config.id)])
        others.active = False  # the demo number's account, which nothing serves here

    def test_submit_approve_sync(self):
        self.start_tour(
            "/odoo/action-contact_centre.contact_centre_template_action/new",
            "contact_centre_template_lifecycle",
            login="cc_admin",
            timeout=120,
        )
        template = self.env["contact.centre.template"].search([("meta_template_name", "=", "tour_delivery")])
        self.assertEqual((template.approval_status, template.header_type), ("approved", "image"))
        [stored] = requests.get(f"{self.simulator_url}/_sim/templates", timeout=10).json()["templates"]
        header, body, footer, buttons = stored["components"]
        self.assertTrue(header["example"]["header_handle"][0].startswith("4::"))
        self.assertEqual(body["text"], "Hello {{1}}, your parcel is on its way.")
        self.assertEqual(footer["text"], "Reply STOP to opt out")
        self.assertEqual(
            buttons["buttons"],
            [
                {
                    "type": "URL",
                    "text": "Track",
                    "url": "https://shop.example/track/{{1}}",
                    "example": ["https://shop.example/track/T-1"],
                }
            ],
        )
        self.send_it_from_the_inbox(template)

    def send_it_from_the_inbox(self, template):
        """An agent sends the approved template to a customer outside the 24 h window; the thread
        shows its header image, body and button, and Meta receives every component."""
        self.agent.cc_available = False
        contact = self.env["contact.centre.contact"].create(
            {"name": "Noor", "whatsapp_number": "+32470555301", "assigned_agent_id": self.agent.id}
        )
        thread = self.env["contact.centre.thread"]._get_or_create(contact, "whatsapp")
        three_days_ago = fields.Datetime.subtract(fields.Datetime.now(), days=3)
        thread.write(
            {
                "last_inbound_date": three_days_ago,
                "last_message_date": three_days_ago,
                "whatsapp_config_id": self.whatsapp_config.id,
            }
        )
        self.start_tour("/odoo/contact-centre-inbox", "contact_centre_template_send", login="cc_agent", timeout=90)
        sent = thread.message_ids.filtered(lambda message: message.direction == "outbound")
        self.assertEqual((sent.template_id, sent.author_id), (template, self.agent))
        self.assertEqual(sent.body_text, "Hello Noor, your parcel is on its way.")
        self.env["contact.centre.message"]._send_queued()
        self.assertEqual(sent.status, "sent")
        [out] = [item["body"] for item in sent_messages(self.simulator_url) if item["body"].get("type") == "template"]
        header, body, button = out["template"]["components"]
        self.assertEqual(header["type"], "header")
        self.assertTrue(header["parameters"][0]["image"]["id"], "the header image goes by its uploaded id")
        self.assertEqual(body["parameters"], [{"type": "text", "text": "Noor"}])
        self.assertEqual((button["sub_type"], button["parameters"]), ("url", [{"type": "text", "text": "T-42"}]))
