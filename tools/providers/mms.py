"""Media an agent sends by SMS, as an MMS: which files the providers that offer MMS take.

Twilio ("Accepted content types for media", MediaUrl): JPEG, PNG and GIF are formatted for the
handset, other types are passed through; a message is at most 5 MB with all its media. Infobip
(``POST /mms/2/messages``, "MMS over API"): JPEG, PNG and GIF images, MP4/3GP video, audio and
vCards, fetched from a URL we give. Carriers reliably deliver far less (Infobip: 300 KB as a
standard, larger content is transcoded), so the limit here is the providers' own hard one. The
provider downloads the file from a public URL: nothing is uploaded beforehand.
"""

from .media import EMPTY, SIZE, TYPE, MediaRefused, normalize_mime_type

MB = 1 << 20
MMS_MAX_BYTES = 5 * MB
MMS_TYPES = {
    "image": ("image/jpeg", "image/png", "image/gif"),
    "video": ("video/mp4", "video/3gpp"),
    "audio": ("audio/mpeg", "audio/mp4", "audio/amr", "audio/aac", "audio/ogg"),
    "document": ("application/pdf", "text/vcard", "text/x-vcard"),
}


def mms_kind(mime_type):
    """The kind (image, video, audio, document) of a MIME type an MMS carries, or None."""
    mime_type = normalize_mime_type(mime_type)
    return next((kind for kind, types in MMS_TYPES.items() if mime_type in types), None)


def check_mms_media(mime_type, size):
    """The kind of a file an MMS carries as ``mime_type`` of ``size`` bytes; ``MediaRefused``
    otherwise (a type MMS does not carry, an empty file, more than the providers take)."""
    kind = mms_kind(mime_type)
    if kind is None:
        raise MediaRefused(TYPE, f"An MMS does not carry {mime_type or 'this kind of file'}")
    if not size:
        raise MediaRefused(EMPTY, "The file is empty", kind)
    if size > MMS_MAX_BYTES:
        raise MediaRefused(SIZE, f"An MMS is at most {MMS_MAX_BYTES} bytes, this file is {size}", kind, MMS_MAX_BYTES)
    return kind


def accepted_types():
    """Every MIME type an MMS carries, with the most any of them may weigh: ``{type: bytes}``."""
    return {mime_type: MMS_MAX_BYTES for types in MMS_TYPES.values() for mime_type in types}
