"""A local stand-in for the providers' HTTP APIs: Meta Graph API, Twilio, Infobip and a custom gateway."""
