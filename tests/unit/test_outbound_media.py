"""Media agents send on WhatsApp: checked against the Cloud API's types and sizes before any upload."""

import pytest

from tools.providers import MetaCloudProvider, OutboundMessage
from tools.providers.media import (
    CAPTION,
    EMPTY,
    SIZE,
    TYPE,
    MediaRefused,
    check_outbound_media,
    media_kind,
    normalize_mime_type,
)
from tools.simulator.control import sent_messages

MB = 1 << 20


@pytest.mark.parametrize(
    ("mime_type", "kind"),
    [
        ("image/jpeg", "image"),
        ("image/png", "image"),
        ("image/jpg", "image"),
        ("video/mp4", "video"),
        ("video/3gp", "video"),
        ("audio/mpeg", "audio"),
        ("audio/ogg; codecs=opus", "audio"),
        ("audio/x-m4a", "audio"),
        ("application/pdf", "document"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
        ("text/plain", "document"),
        ("image/gif", None),
        ("image/webp", None),  # stickers only
        ("application/zip", None),
        ("", None),
    ],
)
def test_kinds(mime_type, kind):
    assert media_kind(mime_type) == kind


def test_sizes_and_captions():
    assert check_outbound_media("image/png", 5 * MB, "a caption") == "image"
    assert check_outbound_media("application/pdf", 100 * MB) == "document"
    assert check_outbound_media("audio/aac", 16 * MB) == "audio"
    refusals = [
        (("image/png", 5 * MB + 1), SIZE),
        (("video/mp4", 16 * MB + 1), SIZE),
        (("application/pdf", 100 * MB + 1), SIZE),
        (("image/gif", 10), TYPE),
        (("image/png", 0), EMPTY),
        (("audio/mpeg", 10, "text"), CAPTION),  # audio carries no caption
        (("image/png", 10, "x" * 1025), CAPTION),
    ]
    for args, reason in refusals:
        with pytest.raises(MediaRefused) as refused:
            check_outbound_media(*args)
        assert refused.value.reason == reason, args
    with pytest.raises(MediaRefused) as refused:
        check_outbound_media("image/jpeg", 6 * MB)
    assert (refused.value.kind, refused.value.limit) == ("image", 5 * MB)


def test_normalized_names():
    assert normalize_mime_type(" Image/JPG ") == "image/jpeg"
    assert normalize_mime_type("audio/mp3") == "audio/mpeg"


def test_uploaded_media_is_sent_by_id_with_its_caption(simulator):
    provider = MetaCloudProvider("100000000000001", "token", base_url=simulator)
    media_id = provider.upload_media(b"%PDF-1.4 test", "application/pdf", "invoice.pdf")
    message = OutboundMessage(
        to="+32470000001", text="Your invoice", media_type="document", media_id=media_id, filename="invoice.pdf"
    )
    provider.send(message)
    [sent] = sent_messages(simulator)
    assert sent["body"]["type"] == "document"
    assert sent["body"]["document"] == {"id": media_id, "caption": "Your invoice", "filename": "invoice.pdf"}
