import contextlib
import mimetypes
import secrets
from datetime import UTC, timedelta

import phonenumbers

from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL
from odoo.tools.mimetypes import guess_mimetype

from ..tools.phone import InvalidPhoneNumber, to_e164
from ..tools.providers import ProviderError, health
from ..tools.providers import media as outbound_media

ADMIN_GROUP = "contact_centre.group_contact_centre_admin"
QUALITY_RATINGS = [
    ("GREEN", "High (green)"),
    ("YELLOW", "Medium (yellow)"),
    ("RED", "Low (red)"),
    ("UNKNOWN", "Unknown"),
]
MESSAGING_LIMIT_TIERS = [
    ("TIER_50", "50 customers / 24 h"),
    ("TIER_250", "250 customers / 24 h"),
    ("TIER_1K", "1,000 customers / 24 h"),
    ("TIER_2K", "2,000 customers / 24 h"),
    ("TIER_10K", "10,000 customers / 24 h"),
    ("TIER_100K", "100,000 customers / 24 h"),
    ("TIER_UNLIMITED", "Unlimited"),
    ("TIER_NOT_SET", "Not set yet"),
]
MESSAGING_WINDOW = timedelta(hours=24)


class ContactCentreWhatsappConfig(models.Model):
    """A WhatsApp Business phone number on Meta's Cloud API."""

    _name = "contact.centre.whatsapp.config"
    _description = "WhatsApp Business Number"
    _inherit = ["mail.thread", "contact.centre.provider.mixin", "contact.centre.health.mixin"]
    _order = "sequence, id"

    account_id = fields.Char(
        "WhatsApp Business Account ID", required=True, tracking=True, help="The WABA id, in Meta's Business Manager."
    )
    phone_number_id = fields.Char(
        "Phone Number ID", required=True, tracking=True, help="Meta's id of the number, not the number itself."
    )
    display_phone_number = fields.Char(
        "Phone Number", tracking=True, help="The number customers write to, with its country code; stored in E.164."
    )
    access_token = fields.Char(
        groups=ADMIN_GROUP, copy=False, help="A permanent system-user token with whatsapp_business_messaging."
    )
    app_secret = fields.Char(groups=ADMIN_GROUP, copy=False, help="The Meta app's secret, which signs the webhooks.")
    app_id = fields.Char(
        "Meta App ID",
        help="The id of the Meta app (App settings > Basic): template header samples (images, videos, "
        "documents) are uploaded to Meta through it when a template is submitted.",
    )
    verify_token = fields.Char(
        groups=ADMIN_GROUP,
        copy=False,
        default=lambda self: secrets.token_urlsafe(24),
        help="A secret string Meta sends back when it checks the callback URL: copy it into the Verify token "
        "box of your Meta app's webhook set-up (WhatsApp > Configuration). One is generated; you may replace it.",
    )
    api_version = fields.Char("Graph API Version", required=True, default="v21.0")
    api_base_url = fields.Char("API Base URL", required=True, default="https://graph.facebook.com")
    rate_limit = fields.Integer(
        "Messages per Second",
        default=80,
        tracking=True,
        help="Meta's default throughput for one number; raised by Meta up to 1,000. A total over every Odoo "
        "worker and host sending through this number, kept with 2% to spare so that no second goes over.",
    )
    template_ids = fields.One2many("contact.centre.template", "whatsapp_config_id", "Templates")
    flow_ids = fields.One2many("contact.centre.whatsapp.flow", "config_id", "Flows")
    webhook_url = fields.Char("Webhook URL", compute="_compute_webhook_url")
    template_count = fields.Integer(compute="_compute_template_count")
    # Account health: the last connection test, kept up to date by Meta's quality and account webhooks
    verified_name = fields.Char("Verified Name", readonly=True, copy=False, help="The display name Meta approved.")
    name_status = fields.Char("Name Status", readonly=True, copy=False, help="Meta's review of the display name.")
    quality_rating = fields.Selection(
        QUALITY_RATINGS,
        readonly=True,
        copy=False,
        help="Meta's rating of the messages customers received from this number lately (blocks, reports). "
        "Campaigns pause while it is low (red).",
    )
    messaging_limit_tier = fields.Selection(
        MESSAGING_LIMIT_TIERS,
        "Messaging Limit",
        readonly=True,
        copy=False,
        help="How many different customers business-initiated conversations (templates) may reach per rolling "
        "24 hours. A campaign that would go over it pauses.",
    )
    quality_updated_at = fields.Datetime(
        "Quality Known Since", readonly=True, copy=False, help="When the quality or the limit was last read or told."
    )
    account_restriction = fields.Char(
        "Meta Restriction",
        readonly=True,
        copy=False,
        help="What Meta restricts on the WhatsApp Business Account (account_update webhook), e.g. "
        "RESTRICTED_BIZ_INITIATED_MESSAGING, or DISABLED.",
    )
    restricted_until = fields.Datetime("Restricted Until", readonly=True, copy=False)

    _phone_number_id_uniq = models.Constraint(
        "UNIQUE(phone_number_id)", "This WhatsApp phone number id is already configured."
    )

    def _compute_webhook_url(self):
        for config in self:
            config.webhook_url = f"{config.get_base_url()}/contact_centre/webhook/whatsapp"

    @api.depends("template_ids")
    def _compute_template_count(self):
        for config in self:
            config.template_count = len(config.template_ids)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._normalize_phone_vals(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._normalize_phone_vals(vals)
        return super().write(vals)

    def _provider_settings(self):
        return {
            "base_url": self.api_base_url,
            "api_version": self.api_version,
            "phone_number_id": self.phone_number_id,
            "access_token": self.access_token or "",
            "app_secret": self.app_secret or "",
            "waba_id": self.account_id,
        }

    def _provider_name(self):
        return "meta"

    def _message_config_field(self):
        return "whatsapp_config_id"

    @api.model
    def _find_for_webhook(self, phone_number_ids, account_ids=()):
        """Active numbers a Meta webhook names, by phone number id or by business account
        (template updates name no number), secrets readable."""
        by_number, by_account = self._webhook_routing()
        ids = {by_number[number] for number in phone_number_ids if number in by_number}
        ids.update(config_id for account in account_ids for config_id in by_account.get(account, ()))
        return self.sudo().browse(sorted(ids))

    @api.model
    @tools.ormcache()
    def _webhook_routing(self):
        """({phone number id: config id}, {business account id: (config ids)}) of the active numbers,
        read once per process and kept until a configuration changes: every Meta webhook is routed
        with it, and an unsigned request naming many ids costs no query per id."""
        by_number, by_account = {}, {}
        for config in self.sudo().search_fetch([("active", "=", True)], ["phone_number_id", "account_id"]):
            by_number[config.phone_number_id] = config.id
            by_account.setdefault(config.account_id, []).append(config.id)
        return by_number, {account: tuple(ids) for account, ids in by_account.items()}

    # Account health

    def _health_values(self, result):
        info = result.info
        values = {"verified_name": info.get("verified_name") or False, "name_status": info.get("name_status") or False}
        if not result.ok:
            return {}
        if info.get("quality_rating") or info.get("messaging_limit_tier"):
            values["quality_updated_at"] = fields.Datetime.now()
            values.update(self._quality_values(info.get("quality_rating"), info.get("messaging_limit_tier")))
        if info.get("display_phone_number") and not self.display_phone_number:
            with contextlib.suppress(ValidationError):  # Meta's own number: kept empty rather than refused
                values["display_phone_number"] = self._normalize_display_phone_number(info["display_phone_number"])
        return values

    @api.model
    def _quality_values(self, quality, tier):
        """Field values of Meta's quality rating and limit tier; values this version does not know are left out."""
        values = {}
        if quality:
            quality = str(quality).upper()
            values["quality_rating"] = quality if quality in dict(QUALITY_RATINGS) else "UNKNOWN"
        if tier and str(tier).upper() in dict(MESSAGING_LIMIT_TIERS):
            values["messaging_limit_tier"] = str(tier).upper()
        return values

    def _health_ok_text(self, info):
        _ = self.env._
        quality = dict(self._fields["quality_rating"]._description_selection(self.env)).get(
            (info.get("quality_rating") or "").upper(), info.get("quality_rating") or _("unknown")
        )
        tier = dict(self._fields["messaging_limit_tier"]._description_selection(self.env)).get(
            (info.get("messaging_limit_tier") or "").upper(), info.get("messaging_limit_tier") or _("unknown")
        )
        return _(
            "Connected to %(number)s (%(name)s). Quality: %(quality)s. Messaging limit: %(tier)s.",
            number=info.get("display_phone_number") or self.phone_number_id,
            name=info.get("verified_name") or _("no verified name"),
            quality=quality,
            tier=tier,
        )

    def _health_problem_text(self, result):
        _ = self.env._
        texts = {
            health.CREDENTIALS: _(
                "The access token is invalid or has expired (Meta error 190). Generate a permanent system-user "
                "token in Meta Business Manager (Business settings > System users) and paste it here."
            ),
            health.NOT_FOUND: _(
                "Meta does not know this phone number id, or the token cannot see it (Meta error 100 or 803). "
                "Copy the phone number id (not the phone number) from WhatsApp > API Setup of your Meta app."
            ),
            health.PERMISSION: _(
                "The token is valid but may not use this number (Meta error 10 or 200): give its system user the "
                "whatsapp_business_management and whatsapp_business_messaging permissions on this WhatsApp "
                "Business Account."
            ),
            health.QUALITY: _(
                "Connected, but Meta rates this number's quality low (red): campaigns are paused until it "
                "recovers. Send fewer marketing messages, and only to customers who asked for them. %(info)s",
                info=self._health_ok_text(result.info),
            ),
            health.NOT_CONFIGURED: _("Enter the phone number id and the access token first."),
        }
        return texts.get(result.problem)

    def _apply_account_update(self, event):
        """Meta's phone_number_quality_update and account_update webhooks (an ``AccountUpdate``):
        the number's quality rating, messaging limit and the account's restrictions. A quality
        update older than what is already known changes nothing (webhooks arrive out of order)."""
        self.ensure_one()
        changes = health.account_update_changes(event.kind, event.event, event.details)
        if not changes:
            return
        values = {}
        if "restriction" in changes:
            until = changes["restricted_until"]
            values["account_restriction"] = changes["restriction"] or False
            values["restricted_until"] = until.astimezone(UTC).replace(tzinfo=None) if until else False
        if event.kind == "phone_number_quality" and self._is_event_number(event.phone_number):
            moment = event.timestamp.astimezone(UTC).replace(tzinfo=None) if event.timestamp else fields.Datetime.now()
            if not self.quality_updated_at or moment >= self.quality_updated_at:
                values.update(self._quality_values(changes.get("quality_rating"), changes.get("messaging_limit_tier")))
                values["quality_updated_at"] = moment
                values.update(self._quality_health_values(values.get("quality_rating")))
        if values:
            self.sudo().write(values)

    def _quality_health_values(self, quality):
        """The health a quality change implies: low quality is a warning, its recovery ends that warning."""
        if quality == "RED" and self.health_state != "error":
            return {
                "health_state": "warning",
                "health_problem": health.QUALITY,
                "health_message": self.env._(
                    "Meta rates this number's quality low (red): campaigns are paused until it recovers."
                ),
            }
        if quality and quality != "RED" and self.health_problem == health.QUALITY:
            return {
                "health_state": "ok",
                "health_problem": False,
                "health_message": self.env._("Meta no longer rates this number's quality low."),
            }
        return {}

    def _is_event_number(self, number):
        """Whether a business-account-wide event naming the display ``number`` concerns this number
        (a number without a display number: when it is the only active one of its account)."""
        if not number or self.display_phone_number == number:
            return True
        if self.display_phone_number:
            return False
        return not self.search_count([("account_id", "=", self.account_id), ("id", "!=", self.id)])

    def _campaign_block_reason(self, recipients=0):
        """Why a campaign must not send through this number now, in words (translated), or False:
        Meta rates its quality low (red), Meta restricts business-initiated messages on its account,
        or the messaging limit would be exceeded by ``recipients`` more customers (0: whether any room
        is left at all) on top of those reached in the last 24 hours (see ``_unique_customers_today``)."""
        self.ensure_one()
        config = self.sudo()
        _ = self.env._
        if config.quality_rating == "RED":
            return _(
                "Meta rates the quality of WhatsApp number %(number)s low (red): the campaign is paused until it "
                "recovers, so that the number is not restricted.",
                number=config.display_phone_number or config.name,
            )
        restrictions = set((config.account_restriction or "").split(","))
        if restrictions & set(health.CAMPAIGN_RESTRICTIONS) and (
            not config.restricted_until or config.restricted_until > fields.Datetime.now()
        ):
            if config.restricted_until:
                return _(
                    "Meta restricts business-initiated messages on this WhatsApp Business Account until %(until)s.",
                    until=fields.Datetime.to_string(config.restricted_until) + " UTC",
                )
            return _("Meta has disabled or restricted this WhatsApp Business Account: no campaign can be sent.")
        limit = health.tier_limit(config.messaging_limit_tier)
        if limit is not None:
            reached = config._unique_customers_today()
            if reached + max(recipients, 0) > limit or reached >= limit:
                return _(
                    "The messaging limit of WhatsApp number %(number)s (%(limit)s customers per 24 hours) would be "
                    "exceeded: %(reached)s customers were already reached by templates in the last 24 hours and "
                    "%(more)s more are planned. Resume the campaign later, or when Meta raises the limit.",
                    number=config.display_phone_number or config.name,
                    limit=limit,
                    reached=reached,
                    more=recipients,
                )
        return False

    def _messaging_room(self):
        """How many more customers templates may reach through this number in the coming 24 hours
        (its messaging limit minus ``_unique_customers_today``); None when the limit is unknown or unlimited."""
        self.ensure_one()
        limit = health.tier_limit(self.sudo().messaging_limit_tier)
        return None if limit is None else max(limit - self._unique_customers_today(), 0)

    def _unique_customers_today(self):
        """Different contacts who received a template (a business-initiated conversation) that did not
        fail, in the last 24 hours, through any number of this business account: Meta counts the
        limit per business portfolio, which this approximates."""
        self.ensure_one()
        self.env["contact.centre.message"].flush_model(
            ["whatsapp_config_id", "direction", "message_type", "status", "message_timestamp", "contact_id"]
        )
        numbers = self.sudo().with_context(active_test=False).search([("account_id", "=", self.sudo().account_id)])
        [(count,)] = self.env.execute_query(
            SQL(
                """SELECT COUNT(DISTINCT contact_id) FROM contact_centre_message
                    WHERE whatsapp_config_id IN %s AND direction = 'outbound' AND message_type = 'template'
                      AND status != 'failed' AND message_timestamp >= %s""",
                tuple(numbers.ids or [self.id]),
                fields.Datetime.now() - MESSAGING_WINDOW,
            )
        )
        return count

    # Media sent by agents

    def _upload_outbound_media(self, content, filename, caption=None):
        """Check a file an agent attaches against WhatsApp's limits (type, size, caption), then
        upload it to Meta (``POST /<phone number id>/media``). Returns the message's media:
        ``{"type", "id", "filename", "mime_type"}``; a ``UserError`` says why a file is refused."""
        self.ensure_one()
        mime_type = self._outbound_mime_type(content, filename)
        try:
            kind = outbound_media.check_outbound_media(mime_type, len(content or b""), caption)
        except outbound_media.MediaRefused as error:
            raise UserError(self._media_refusal_text(error, filename, mime_type)) from error
        try:
            media_id = self._get_provider().upload_media(content, mime_type, filename)
        except ProviderError as error:
            raise UserError(
                self.env._("WhatsApp did not take the file %(name)s: %(error)s", name=filename, error=error)
            ) from error
        return {"type": kind, "id": str(media_id), "filename": filename, "mime_type": mime_type}

    @api.model
    def _outbound_mime_type(self, content, filename):
        """The type of a file: read from its first bytes when they say it, else from its name."""
        sniffed = outbound_media.normalize_mime_type(guess_mimetype(content or b"", default=""))
        if sniffed and sniffed not in ("application/octet-stream", "application/zip", "text/plain"):
            return sniffed
        by_name = outbound_media.normalize_mime_type(mimetypes.guess_type(filename or "")[0] or "")
        return by_name or sniffed or "application/octet-stream"

    def _media_refusal_text(self, error, filename, mime_type):
        _ = self.env._
        if error.reason == outbound_media.SIZE:
            return _(
                "%(name)s is too large for WhatsApp: a %(kind)s is at most %(limit)s MB.",
                name=filename,
                kind=error.kind,
                limit=error.limit // (1 << 20),
            )
        if error.reason == outbound_media.EMPTY:
            return _("%(name)s is empty.", name=filename)
        if error.reason == outbound_media.CAPTION and error.kind not in outbound_media.CAPTION_KINDS:
            return _("WhatsApp sends %(kind)s without text: send the file alone, then the text.", kind=error.kind)
        if error.reason == outbound_media.CAPTION:
            return _("The text sent with a file is at most %(max)s characters.", max=outbound_media.MAX_CAPTION)
        return _(
            "WhatsApp does not take %(name)s (%(type)s). Send an image (JPEG, PNG), a video (MP4, 3GP), audio "
            "(AAC, AMR, MP3, M4A, OGG) or a document (PDF, TXT, Word, Excel, PowerPoint).",
            name=filename,
            type=mime_type,
        )

    def action_view_templates(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("contact_centre.contact_centre_template_action")
        action["domain"] = [("whatsapp_config_id", "=", self.id)]
        action["context"] = {"default_whatsapp_config_id": self.id, "default_channel": "whatsapp"}
        return action

    def action_sync_templates(self):
        """The Sync Templates button: every template of the number's WhatsApp Business Account."""
        return self.env["contact.centre.template"]._action_sync_meta(self)

    def action_sync_flows(self):
        """The Sync Flows button (administrators): the WhatsApp Flows of the number's business account."""
        return self.env["contact.centre.whatsapp.flow"]._action_sync(self)

    def _normalize_phone_vals(self, vals):
        if vals.get("display_phone_number"):
            vals["display_phone_number"] = self._normalize_display_phone_number(vals["display_phone_number"])

    @api.model
    def _normalize_display_phone_number(self, number):
        """``number`` in E.164, or a ValidationError. Meta's test numbers (+1 555 ...) are not
        assigned numbers, which phonenumbers calls invalid: a number of a possible length for its
        country code is accepted too."""
        try:
            return to_e164(number)
        except InvalidPhoneNumber:
            pass
        text = number.strip()
        try:
            parsed = phonenumbers.parse("+" + text[2:] if text.startswith("00") else text)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is not None and phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        raise ValidationError(
            self.env._(
                "“%(number)s” is not a phone number. Enter the WhatsApp number with its country code, "
                "e.g. +32 470 12 34 56.",
                number=number,
            )
        )
