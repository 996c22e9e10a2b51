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
    event_from_json,
    event_to_json,
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
