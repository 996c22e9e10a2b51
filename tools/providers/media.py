"""Media an agent sends on WhatsApp: which files the Cloud API takes, checked before the upload.

WhatsApp Cloud API, "Supported media types": each kind of media accepts a few MIME types up to a
size (image 5 MB, audio and video 16 MB, document 100 MB); images, videos and documents carry a
caption (up to 1,024 characters), audio does not. A file that does not fit is refused here, before
anything is uploaded, with the reason in ``MediaRefused.reason``.
"""

from ..fetch import WHATSAPP_MEDIA_LIMITS

OUTBOUND_MEDIA_TYPES = {
    "image": ("image/jpeg", "image/png"),
    "video": ("video/mp4", "video/3gpp"),
    "audio": ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"),
    "document": (
        "application/pdf",
        "text/plain",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
}
# Other names of the same types (libmagic's, browsers')
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "video/3gp": "video/3gpp",
    "audio/mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/x-aac": "audio/aac",
    "audio/aacp": "audio/aac",
    "audio/opus": "audio/ogg",
}
CAPTION_KINDS = ("image", "video", "document")
MAX_CAPTION = 1024

# MediaRefused.reason
EMPTY = "empty"
TYPE = "type"
SIZE = "size"
CAPTION = "caption"


class MediaRefused(ValueError):
    def __init__(self, reason, message, kind=None, limit=None):
        super().__init__(message)
        self.reason = reason
        self.kind = kind
        self.limit = limit


def normalize_mime_type(mime_type):
    """``mime_type`` without parameters, lower case, under the name WhatsApp knows it by."""
    mime_type = (mime_type or "").split(";")[0].strip().lower()
    return ALIASES.get(mime_type, mime_type)


def media_kind(mime_type):
    """WhatsApp's kind (image, video, audio, document) of a MIME type, or None when it takes none."""
    mime_type = normalize_mime_type(mime_type)
    return next((kind for kind, types in OUTBOUND_MEDIA_TYPES.items() if mime_type in types), None)


def check_outbound_media(mime_type, size, caption=None):
    """The kind of a file WhatsApp accepts as ``mime_type`` of ``size`` bytes with ``caption``;
    ``MediaRefused`` otherwise (unsupported type, too large, empty, a caption on audio or too long)."""
    kind = media_kind(mime_type)
    if kind is None:
        raise MediaRefused(TYPE, f"WhatsApp does not take {mime_type or 'this kind of file'}")
    if not size:
        raise MediaRefused(EMPTY, "The file is empty", kind)
    limit = WHATSAPP_MEDIA_LIMITS[kind]
    if size > limit:
        raise MediaRefused(SIZE, f"A WhatsApp {kind} is at most {limit} bytes, this one is {size}", kind, limit)
    if caption and kind not in CAPTION_KINDS:
        raise MediaRefused(CAPTION, f"A WhatsApp {kind} has no caption", kind)
    if caption and len(caption) > MAX_CAPTION:
        raise MediaRefused(CAPTION, f"A caption is at most {MAX_CAPTION} characters", kind, MAX_CAPTION)
    return kind
