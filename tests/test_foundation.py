import psycopg2
from lxml import etree

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import ContactCentreCase

SECRETS = {
    "contact.centre.whatsapp.config": ("access_token", "app_secret", "verify_token"),
    "contact.centre.sms.config": (
        "twilio_auth_token",
        "infobip_api_key",
        "webhook_token",
        "custom_auth_header",
        "twilio_account_sid",
    ),
}


@tagged("post_install", "-at_install")
class TestDataModel(ContactCentreCase):
    def test_models_and_fields_exist(self):
        expected = {
            "contact.centre.contact": [
                "partner_id",
                "whatsapp_number",
                "sms_number",
                "preferred_channel",
                "assigned_agent_id",
                "opt_in_whatsapp",
                "opt_in_whatsapp_date",
                "opt_in_whatsapp_source",
                "opt_in_sms",
                "opt_in_sms_date",
                "opt_in_sms_source",
                "cc_message_ids",
                "campaign_ids",
                "last_inbound_date",
                "last_outbound_date",
                "whatsapp_window_end",
                "unread_count",
                "message_ids",
            ],
            "contact.centre.message": [
                "contact_id",
                "channel",
                "direction",
                "message_type",
                "body_text",
                "body_html",
                "status",
                "external_message_id",
                "campaign_id",
                "template_id",
                "assigned_agent_id",
                "parent_message_id",
                "thread_id",
                "message_timestamp",
                "error_code",
                "error_message",
                "attachment_ids",
                "whatsapp_config_id",
                "sms_config_id",
            ],
            "contact.centre.campaign": [
                "campaign_type",
                "channel",
                "contact_ids",
                "template_id",
                "state",
                "scheduled_date",
                "recipient_count",
                "sent_count",
                "delivered_count",
                "read_count",
                "failed_count",
                "replied_count",
                "opted_out_count",
                "cc_message_ids",
            ],
            "contact.centre.script": ["script_type", "content_html", "content_text", "trigger_keywords", "category_id"],
            "contact.centre.script.category": ["name"],
            "contact.centre.automation": [
                "channel",
                "automation_type",
                "chatbot_id",
                "trigger_type",
                "trigger_keywords",
                "response_message",
                "sequence",
                "active",
            ],
            "whatsapp.chatbot": ["step_ids"],
            "whatsapp.chatbot.step": ["step_type", "message", "option_ids", "capture_field"],
            "contact.centre.whatsapp.config": [
                "account_id",
                "phone_number_id",
                "access_token",
                "app_secret",
                "verify_token",
                "api_version",
                "api_base_url",
                "template_ids",
                "flow_ids",
                "company_id",
            ],
            "contact.centre.sms.config": [
                "provider",
                "api_base_url",
                "sender",
                "webhook_token",
                "twilio_account_sid",
                "twilio_auth_token",
                "twilio_messaging_service_sid",
                "infobip_api_key",
                "custom_url",
                "custom_method",
                "custom_auth_header",
                "custom_body_template",
                "company_id",
            ],
            "contact.centre.template": [
                "name",
                "channel",
                "body_text",
                "body_html",
                "variable_ids",
                "meta_template_name",
                "language",
                "category",
                "approval_status",
                "header_type",
                "footer_text",
                "button_ids",
                "whatsapp_config_id",
            ],
            "contact.centre.template.variable": ["placeholder", "source", "field_name", "fixed_value", "sample_value"],
        }
        for model, fields in expected.items():
            self.assertIn(model, self.env)
            missing = [name for name in fields if name not in self.env[model]._fields]
            self.assertFalse(missing, f"{model} lacks {missing}")
        self.assertEqual(self.env["contact.centre.contact"]._table, "contact_centre_contact")
        self.assertEqual(self.env["contact.centre.contact"]._inherits, {"res.partner": "partner_id"})

    def _index_columns(self, table):
        self.env.cr.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return [row[0].split(" USING btree ")[-1] for row in self.env.cr.fetchall()]

    def test_design_indexes_exist(self):
        message_indexes = self._index_columns("contact_centre_message")
        for leading in (
            "(contact_id, channel, direction)",
            "(status, message_timestamp)",
            "(thread_id",
            "(external_message_id",
            "(campaign_id)",
        ):
            self.assertTrue(
                any(definition.startswith(leading) for definition in message_indexes),
                f"no index on contact_centre_message {leading}...: {message_indexes}",
            )
        contact_indexes = self._index_columns("contact_centre_contact")
        for leading in ("(whatsapp_number)", "(sms_number)", "(assigned_agent_id)"):
            self.assertTrue(
                any(definition.startswith(leading) for definition in contact_indexes),
                f"no index on contact_centre_contact {leading}: {contact_indexes}",
            )

    def test_numbers_are_normalised_to_e164(self):
        self.env.company.country_id = self.env.ref("base.be")
        contact = self.env["contact.centre.contact"].create(
            {"name": "Local", "whatsapp_number": "0470 98 76 54", "sms_number": "+32 (0)470 98.76.55"}
        )
        self.assertEqual(contact.whatsapp_number, "+32470987654")
        self.assertEqual(contact.sms_number, "+32470987655")
        contact.sms_number = "00 33 6 12 34 56 79"
        self.assertEqual(contact.sms_number, "+33612345679")

    def test_invalid_numbers_are_refused(self):
        Contact = self.env["contact.centre.contact"]
        for number in ("12", "not a number", "+32 12"):
            with self.subTest(number=number), self.assertRaises(ValidationError):
                Contact.create({"name": "Bad", "whatsapp_number": number})
        with self.assertRaises(ValidationError):
            self.contact_free.sms_number = "+999 1234"

    def test_opt_in_change_records_when_and_how(self):
        self.contact_free._set_opt_in("sms", False, "keyword")
        self.assertFalse(self.contact_free.opt_in_sms)
        self.assertEqual(self.contact_free.opt_in_sms_source, "keyword")
        self.assertTrue(self.contact_free.opt_in_sms_date)
        self.assertIn("Opted out of SMS", self.contact_free.message_ids[0].body)

    def test_a_changed_rate_limit_is_written_in_the_chatter(self):
        """A running campaign follows a configuration's new limit within a second: who changed it,
        when, from what to what, is in the number's and the provider's chatter."""
        # The configurations made as in an earlier transaction: Odoo tracks no change of a record
        # in the transaction that creates it.
        self.env.cr.flush()
        for config, new in ((self.whatsapp_config, 5), (self.twilio_config, 3)):
            old = config.rate_limit
            config.with_user(self.admin).rate_limit = new
            self.env.cr.flush()  # tracking values are written as the transaction commits
            config.invalidate_recordset(["message_ids"])
            tracked = config.message_ids.tracking_value_ids.filtered(lambda value: value.field_id.name == "rate_limit")
            self.assertEqual(len(tracked), 1, config.name)
            self.assertEqual((tracked.old_value_integer, tracked.new_value_integer), (old, new))
            self.assertEqual(tracked.mail_message_id.author_id, self.admin.partner_id)

    def test_duplicate_provider_message_id_is_refused(self):
        thread = self.env["contact.centre.thread"]._get_or_create(self.contact_free, "whatsapp")
        values = {
            "contact_id": self.contact_free.id,
            "thread_id": thread.id,
            "channel": "whatsapp",
            "direction": "inbound",
            "status": "received",
            "provider": "meta",
            "external_message_id": "wamid.SAME",
        }
        self.env["contact.centre.message"].create(values)
        with mute_logger("odoo.sql_db"), self.assertRaises(psycopg2.IntegrityError), self.env.cr.savepoint():
            self.env["contact.centre.message"].create(values)
        # The same id from another provider is another message.
        self.env["contact.centre.message"].create({**values, "provider": "twilio", "channel": "sms"})

    def test_whatsapp_template_placeholders_without_gaps(self):
        with self.assertRaises(ValidationError):
            self.env["contact.centre.template"].create(
                {
                    "name": "Gap",
                    "channel": "whatsapp",
                    "whatsapp_config_id": self.whatsapp_config.id,
                    "meta_template_name": "gap",
                    "body_text": "Hello {{1}} {{3}}",
                }
            )


@tagged("post_install", "-at_install")
class TestSecurity(ContactCentreCase):
    def test_agent_cannot_read_secrets(self):
        for model, fields in SECRETS.items():
            record = self.whatsapp_config if model == "contact.centre.whatsapp.config" else self.twilio_config
            for field in fields:
                with self.subTest(model=model, field=field), self.assertRaises(AccessError):
                    record.with_user(self.agent).read([field])
            with self.assertRaises(AccessError):
                record.with_user(self.supervisor).read([fields[0]])
            self.assertTrue(record.with_user(self.admin).read([fields[0]]))
        # Non-secret fields stay readable for agents: they pick the number they write from.
        self.assertEqual(self.whatsapp_config.with_user(self.agent).name, "Test WhatsApp")

    def test_agent_cannot_write_configuration(self):
        with self.assertRaises(AccessError):
            self.whatsapp_config.with_user(self.supervisor).write({"name": "Hijacked"})

    def test_agent_sees_own_and_unassigned_contacts_only(self):
        Contact = self.env["contact.centre.contact"].with_user(self.agent)
        visible = Contact.search([("id", "in", (self.contact_agent | self.contact_agent2 | self.contact_free).ids)])
        self.assertEqual(visible, (self.contact_agent | self.contact_free).with_user(self.agent))
        with self.assertRaises(AccessError):
            self.contact_agent2.with_user(self.agent).read(["name"])
        everything = (
            self.env["contact.centre.contact"]
            .with_user(self.supervisor)
            .search([("id", "in", (self.contact_agent | self.contact_agent2 | self.contact_free).ids)])
        )
        self.assertEqual(len(everything), 3)

    def test_agent_sees_own_and_unassigned_messages_only(self):
        Thread = self.env["contact.centre.thread"]
        messages = self.env["contact.centre.message"]
        for contact in (self.contact_agent, self.contact_agent2, self.contact_free):
            thread = Thread._get_or_create(contact, "whatsapp")
            messages |= messages.create(
                {
                    "contact_id": contact.id,
                    "thread_id": thread.id,
                    "channel": "whatsapp",
                    "direction": "inbound",
                    "status": "received",
                    "body_text": f"hi from {contact.name}",
                }
            )
        seen = self.env["contact.centre.message"].with_user(self.agent).search([("id", "in", messages.ids)])
        self.assertEqual(seen.mapped("contact_id"), (self.contact_agent | self.contact_free).with_user(self.agent))
        with self.assertRaises(AccessError):
            messages.filtered(lambda m: m.contact_id == self.contact_agent2).with_user(self.agent).read(["body_text"])
        self.assertEqual(
            len(self.env["contact.centre.message"].with_user(self.supervisor).search([("id", "in", messages.ids)])), 3
        )


@tagged("post_install", "-at_install")
class TestScreens(ContactCentreCase):
    def _window_actions(self):
        root = self.env.ref("contact_centre.contact_centre_menu_root")
        menus = self.env["ir.ui.menu"].search([("id", "child_of", root.id)])
        return [menu.action for menu in menus if menu.action and menu.action._name == "ir.actions.act_window"]

    def test_every_menu_opens_for_admin_and_agent(self):
        actions = self._window_actions()
        self.assertGreaterEqual(len(actions), 10)
        for user in (self.admin, self.agent):
            visible_menus = self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()
            for action in actions:
                menu = self.env["ir.ui.menu"].search([("action", "=", f"{action._name},{action.id}")], limit=1)
                if menu.id not in visible_menus:
                    continue
                model = self.env[action.res_model].with_user(user)
                modes = action.view_mode.split(",")
                with self.subTest(user=user.login, action=action.name):
                    views = model.get_views([(False, mode) for mode in modes] + [(False, "search")])
                    self.assertTrue(views["views"])
                    first = views["views"][modes[0]]["arch"]
                    shown = {node.get("name") for node in etree.fromstring(first).iter("field")} & set(model._fields)
                    model.web_search_read([], {name: {} for name in shown}, limit=5)
