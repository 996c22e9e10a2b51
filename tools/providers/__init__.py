"""Provider clients: one interface (``base.Provider``), one implementation per provider."""

from .base import (
    CONFIG,
    RECIPIENT,
    RETRY,
    UNKNOWN,
    WINDOW,
    InboundMessage,
    Media,
    OutboundMessage,
    Provider,
    ProviderError,
    SendResult,
    StatusUpdate,
    TemplateMessage,
    TemplateStatusUpdate,
    WebhookAuthError,
    WebhookParseError,
    WebhookRequest,
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
