import functools

from odoo import api, fields, models, tools

from ..tools.providers import PROVIDERS, ProviderError

MAX_IN_FLIGHT = 100


class ContactCentreProviderMixin(models.AbstractModel):
    """What every provider configuration does the same way around its Odoo-free client."""

    _name = "contact.centre.provider.mixin"
    _description = "Contact Centre Provider Configuration"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()
        return super().create(vals_list)

    def write(self, vals):
        self.env.registry.clear_cache()
        return super().write(vals)

    def unlink(self):
        self.env.registry.clear_cache()
        return super().unlink()

    def _get_provider(self):
        """The Odoo-free client of this configuration, with its secrets."""
        self.ensure_one()
        name, settings = self._cached_provider_settings()
        return PROVIDERS[name](**settings)

    @tools.ormcache("self._name", "self.id")
    def _cached_provider_settings(self):
        """(provider name, client settings), read once per process and kept until a configuration
        changes: every webhook builds a client to verify its signature, and this spares it a query."""
        config = self.sudo()
        return config._provider_name(), config._provider_settings()

    def _provider_settings(self):
        """Keyword arguments of the provider client class (secrets included)."""
        raise NotImplementedError

    def _provider_name(self):
        raise NotImplementedError

    def _message_config_field(self):
        """The field of ``contact.centre.message`` that points at this kind of configuration."""
        raise NotImplementedError

    def _status_callback_url(self):
        """Where the provider posts delivery reports of a message, when it is told per message."""
        return

    def _send_throttled(self, outbound_messages):
        """Send at most ``rate_limit`` messages per second, with many requests in flight.

        Returns one ``SendResult`` or ``ProviderError`` per message, in order.
        """
        return self._sender()(outbound_messages)

    def _sender(self):
        """An Odoo-free callable that sends a list of outbound messages as ``_send_throttled`` does:
        made here, it can run in another thread, which must never touch the ORM."""
        self.ensure_one()
        return functools.partial(self._get_provider().send_throttled, rate=self.rate_limit, max_in_flight=MAX_IN_FLIGHT)

    def _download_media(self, media, max_bytes):
        """(content, mime type, file name) of an inbound media reference."""
        self.ensure_one()
        provider = self._get_provider()
        if not hasattr(provider, "download_media"):
            raise ProviderError("config", self.env._("This provider does not give access to media."))
        return provider.download_media(media.ref, max_bytes=max_bytes)
