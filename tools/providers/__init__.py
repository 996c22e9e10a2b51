"""Provider clients: one interface (``base.Provider``), one implementation per provider."""

from .base import (
    CONFIG,
    RECIPIENT,
    RETRY,
    UNKNOWN,
    WINDOW,
    DIRECTIONS,
    INBOUND_MESSAGE_TYPES,
    AccountUpdate,
    ConsentUpdate,
    ContactSync,
    IdentityChange,
    IgnoredEvent,
    InboundMessage,
    Media,
    MessageDeleted,
    OutboundEcho,
    OutboundMessage,
    Provider,
    ProviderError,
    Reaction,
    SendResult,
    StatusUpdate,
    TemplateMessage,
    TemplateStatusUpdate,
    WebhookAuthError,
    WebhookParseError,
    WebhookRequest,
    EVENT_TYPES,
    answer_from_wire,
    answer_to_wire,
    event_from_json,
    event_to_json,
    outbound_from_wire,
    outbound_to_wire,
)
from .custom import CustomHttpProvider
from .infobip import InfobipProvider
from .meta import MetaCloudProvider
from .twilio import TwilioProvider

PROVIDERS = {
    "meta": MetaCloudProvider,
    "twilio": TwilioProvider,
    "infobip": InfobipProvider,
    "custom": CustomHttpProvider,
}


def make_provider(name, settings):
    """The client of provider ``name`` with ``settings`` (its constructor's keyword arguments),
    which remembers them (``spec``): a sender process builds the same client from them."""
    provider = PROVIDERS[name](**settings)
    provider.spec = (name, dict(settings))
    return provider
