"""WhatsApp message templates at Meta (Graph API ``/<waba-id>/message_templates``), Odoo-free.

- ``validate``: Meta's rules for a template before it is submitted (lengths, variables and their
  examples, buttons and their grouping), as a list of ``Issue`` (a code, its parameters and an English
  text; ``MESSAGES`` holds the texts, marked for Odoo's translation extractor).
- ``create_payload`` / ``edit_payload``: the body of ``POST /<waba-id>/message_templates`` and of
  ``POST /<template-id>``.
- ``parse_template`` / ``parse_page`` / ``next_cursor``: a page of ``GET /<waba-id>/message_templates``
  read into ``RemoteTemplate``, and the cursor of the next page (``paging.cursors.after``, followed
  only while Meta gives ``paging.next``).
- ``template_keys`` / ``send_components`` / ``preview_text``: what fills a template when it is sent
  (header, body, URL button suffixes, coupon code), the ``components`` of the send request, and the
  whole message as text for previews.
- A FLOW button opens a WhatsApp Flow (``flow_id``) at its first screen (``navigate_screen``); each
  message sent of such a template carries a flow token of its own in the button's ``action``
  parameter (``send_components(..., flow_token=...)``), which the customer's answers bring back.

Values of a template's variables are keyed: the body's placeholders as written (``"1"``, ``"2"``...),
``"header_1"`` for the header text's variable, ``"url_1"``/``"url_2"`` for the suffix of the first and
second URL button with a variable, ``"code"`` for the coupon code of a copy-code button.

Pages followed: "Message templates" and "Template management" (WhatsApp Business Management API),
"Components" (headers, body, footer, buttons), "Resumable Upload API" (header samples).
"""

import re
from dataclasses import dataclass, field

from .rendering import PLACEHOLDER, meta_components, placeholders


def _(text):
    """Marks ``text`` for Odoo's translation extractor; the model translates it (``env._``)."""
    return text


CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")
HEADER_FORMATS = ("NONE", "TEXT", *MEDIA_FORMATS)
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "FLOW")

NAME_MAX = 512
BODY_MAX = 1024
HEADER_TEXT_MAX = 60
FOOTER_MAX = 60
BUTTON_TEXT_MAX = 25
BUTTONS_MAX = 10
URL_BUTTONS_MAX = 2
PHONE_BUTTONS_MAX = 1
COPY_CODE_BUTTONS_MAX = 1
FLOW_BUTTONS_MAX = 1
# Meta's status of a flow that a template may open (a throttled flow is a published one, slowed down)
FLOW_SENDABLE_STATUSES = ("PUBLISHED", "THROTTLED")
URL_MAX = 2000
PHONE_MAX = 20
COPY_CODE_MAX = 15

HEADER_KEY = "header_1"
CODE_KEY = "code"
NAME = re.compile(r"[a-z0-9_]+")
PHONE = re.compile(r"\+?[0-9]{4,19}")
VARIABLE_AT_START = re.compile(r"^\{\{\s*[A-Za-z0-9_]+\s*\}\}")
VARIABLE_AT_END = re.compile(r"\{\{\s*[A-Za-z0-9_]+\s*\}\}$")
# Meta refuses a parameter holding a new line, a tab or more than four spaces in a row (132018).
PARAMETER_SPACES = re.compile(r"[\t\r\n]+| {5,}")

# Meta's status of a template (GET field ``status``, webhook ``event``) -> ours; None: no change.
STATUSES = {
    "APPROVED": "approved",
    "PENDING": "pending",
    "REJECTED": "rejected",
    "PAUSED": "paused",
    "DISABLED": "disabled",
    "IN_APPEAL": "in_appeal",
    "REINSTATED": "approved",
    "PENDING_DELETION": "deleted",
    "DELETED": "deleted",
    "ARCHIVED": "archived",
    "LIMIT_EXCEEDED": "limit_exceeded",
    "FLAGGED": None,  # low quality, at risk of being paused: a quality matter, the status stays
}
QUALITY = {"GREEN": "green", "YELLOW": "yellow", "RED": "red", "UNKNOWN": "unknown"}
# Fields asked of ``GET /<waba-id>/message_templates`` (quality and rejection are not default fields).
LIST_FIELDS = "id,name,language,status,category,parameter_format,components,quality_score,rejected_reason"

MESSAGES = {
    "name": _(
        "The Meta template name may only hold lower-case letters, digits and underscores "
        "(at most %(max)s characters), e.g. order_shipped."
    ),
    "language": _("Choose the template's language (a Meta language code such as en_US)."),
    "category": _("Choose the template's category: marketing, utility or authentication."),
    "body_missing": _("Write the template's body."),
    "body_too_long": _("The body has %(length)s characters: Meta allows %(max)s."),
    "body_named": _("Number the body's variables {{1}}, {{2}}...: named variables (%(names)s) cannot be submitted."),
    "body_gap": _("Number the body's variables {{1}} to {{%(count)s}} without gaps (found %(found)s)."),
    "body_edge": _("The body cannot start or end with a variable: put some text before and after it."),
    "example_missing": _("Give a sample value for %(label)s: Meta reviews the template with it."),
    "header_text_missing": _("Write the header's text, or choose no header."),
    "header_too_long": _("The header has %(length)s characters: Meta allows %(max)s."),
    "header_variables": _("The header's text may hold one variable only, written {{1}}."),
    "header_newline": _("The header's text must fit on one line."),
    "header_sample_missing": _("Upload a sample %(format)s for the header: Meta reviews the template with it."),
    "footer_too_long": _("The footer has %(length)s characters: Meta allows %(max)s."),
    "footer_variables": _("The footer cannot hold variables."),
    "too_many_buttons": _("A template has at most %(max)s buttons (%(count)s given)."),
    "button_text_missing": _("Button %(index)s needs its text."),
    "button_text_too_long": _("The text of button %(index)s has %(length)s characters: Meta allows %(max)s."),
    "too_many_of_type": _("A template has at most %(max)s %(type)s button(s)."),
    "url_missing": _("Button %(index)s needs its URL."),
    "url_invalid": _("The URL of button %(index)s must start with https:// or http://."),
    "url_too_long": _("The URL of button %(index)s has %(length)s characters: Meta allows %(max)s."),
    "url_variable": _("The URL of button %(index)s may hold one variable only, {{1}}, at its very end."),
    "phone_invalid": _(
        "Button %(index)s needs a phone number with its country code, digits only (at most %(max)s characters)."
    ),
    "code_example_missing": _("Give the copy-code button a sample code (at most %(max)s characters)."),
    "code_example_too_long": _("The sample code has %(length)s characters: Meta allows %(max)s."),
    "code_not_marketing": _("Only marketing templates can have a copy-code button."),
    "buttons_not_grouped": _(
        "Put the quick reply buttons together, before or after the other buttons: Meta refuses them mixed."
    ),
    "auth_header": _("An authentication template has no header or footer: Meta writes its text."),
    "auth_buttons": _("An authentication template has exactly one button: a copy-code button for the code."),
    "flow_missing": _("Button %(index)s opens a WhatsApp Flow: choose the flow."),
    "flow_screen_missing": _(
        "Button %(index)s needs the id of the screen its flow opens on, as written in the Flow JSON (e.g. WELCOME)."
    ),
    "flow_screen_reserved": _("Button %(index)s cannot open on SUCCESS: it is Meta's end screen, not a first screen."),
    "flow_not_published": _("The flow of button %(index)s is %(status)s: Meta takes only a published flow."),
}


@dataclass(frozen=True)
class Issue:
    """One rule of Meta's the template breaks: ``code`` (a key of ``MESSAGES``) and its parameters."""

    code: str
    params: dict = field(default_factory=dict)

    def __str__(self):
        return MESSAGES[self.code] % self.params if self.params else MESSAGES[self.code]


@dataclass(frozen=True)
class Button:
    """A template button. ``example``: a URL button's sample value of ``{{1}}``, or the sample code
    of a copy-code button. A FLOW button: the Meta id of the flow it opens (``flow_id``), the screen
    it opens on (``navigate_screen``) and, when known, Meta's status of that flow (``flow_status``)."""

    type: str  # QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, FLOW
    text: str = ""
    url: str = ""
    phone_number: str = ""
    example: str = ""
    flow_id: str = ""
    navigate_screen: str = ""
    flow_status: str = ""


@dataclass(frozen=True)
class TemplateDraft:
    """What an administrator wrote, to be checked and submitted."""

    name: str
    language: str
    category: str
    body: str
    examples: dict = field(default_factory=dict)  # key (see the module's docstring) -> sample value
    header_format: str = "NONE"
    header_text: str = ""
    has_header_sample: bool = False  # a media header's sample file is at hand, to be uploaded
    footer: str = ""
    buttons: tuple = ()


@dataclass(frozen=True)
class RemoteTemplate:
    """One template of ``GET /<waba-id>/message_templates``, read."""

    id: str
    name: str
    language: str
    meta_status: str  # Meta's, upper case
    status: str | None  # ours (``STATUSES``), None for a status we do not track
    category: str | None
    quality: str | None  # green, yellow, red, unknown
    rejected_reason: str | None
    parameter_format: str  # POSITIONAL or NAMED
    header_format: str
    header_text: str
    body: str
    footer: str
    buttons: tuple
    examples: dict
    raw: dict = field(default_factory=dict, compare=False, repr=False)


# Keys and labels of a template's variables
def button_keys(buttons):
    """[(index, key)] of the buttons that take a value when sent: URL buttons with a variable
    (``url_1``, ``url_2``) and the copy-code button (``code``)."""
    keys, urls = [], 0
    for index, button in enumerate(buttons):
        if button.type == "URL" and placeholders(button.url):
            urls += 1
            keys.append((index, f"url_{urls}"))
        elif button.type == "COPY_CODE":
            keys.append((index, CODE_KEY))
    return keys


def flow_button_indexes(buttons):
    """The indexes of the FLOW buttons of a template (Meta allows one): each takes a flow token when sent."""
    return [index for index, button in enumerate(buttons or ()) if button.type == "FLOW"]


def template_keys(header_format, header_text, body, buttons=()):
    """The keys of every value a template takes, in the order they appear in the message."""
    keys = [HEADER_KEY] if header_format == "TEXT" and placeholders(header_text) else []
    keys += placeholders(body)
    keys += [key for _index, key in button_keys(buttons)]
    return keys


def key_label(key):
    """How a key is shown to people: ``{{1}}``, ``Header {{1}}``, ``URL 1 {{1}}``, ``Coupon code``."""
    if key == HEADER_KEY:
        return "Header {{1}}"
    if key.startswith("url_"):
        return f"URL {key[4:]} {{{{1}}}}"
    if key == CODE_KEY:
        return "Coupon code"
    return "{{%s}}" % key


# Meta's rules
def validate(draft):
    """The ``Issue`` list of ``draft`` against Meta's rules; empty when it may be submitted."""
    issues = []

    def add(code, **params):
        issues.append(Issue(code, params))

    if not NAME.fullmatch(draft.name or "") or len(draft.name) > NAME_MAX:
        add("name", max=NAME_MAX)
    if not (draft.language or "").strip():
        add("language")
    if draft.category not in CATEGORIES:
        add("category")
    if draft.category == "AUTHENTICATION":
        _validate_authentication(draft, add)
        return issues
    _validate_body(draft, add)
    _validate_header(draft, add)
    footer = draft.footer or ""
    if len(footer) > FOOTER_MAX:
        add("footer_too_long", length=len(footer), max=FOOTER_MAX)
    if placeholders(footer):
        add("footer_variables")
    _validate_buttons(draft, add)
    return issues


def _validate_body(draft, add):
    body = draft.body or ""
    if not body.strip():
        add("body_missing")
        return
    if len(body) > BODY_MAX:
        add("body_too_long", length=len(body), max=BODY_MAX)
    names = placeholders(body)
    named = [name for name in names if not name.isdigit()]
    if named:
        add("body_named", names=", ".join("{{%s}}" % name for name in named))
    numbered = sorted(int(name) for name in names if name.isdigit())
    if numbered != list(range(1, len(numbered) + 1)):
        add("body_gap", count=len(numbered), found=", ".join("{{%d}}" % n for n in numbered))
    if VARIABLE_AT_START.search(body.strip()) or VARIABLE_AT_END.search(body.strip()):
        add("body_edge")
    for name in names:
        if not str(draft.examples.get(name) or "").strip():
            add("example_missing", label=key_label(name))


def _validate_header(draft, add):
    header_format = draft.header_format or "NONE"
    if header_format == "TEXT":
        text = draft.header_text or ""
        if not text.strip():
            add("header_text_missing")
        if len(text) > HEADER_TEXT_MAX:
            add("header_too_long", length=len(text), max=HEADER_TEXT_MAX)
        if "\n" in text:
            add("header_newline")
        names = PLACEHOLDER.findall(text)
        if names and (len(names) > 1 or names[0] != "1"):
            add("header_variables")
        elif names and not str(draft.examples.get(HEADER_KEY) or "").strip():
            add("example_missing", label=key_label(HEADER_KEY))
    elif header_format in MEDIA_FORMATS and not draft.has_header_sample:
        add("header_sample_missing", format=header_format.lower())


def _validate_buttons(draft, add):
    buttons = list(draft.buttons or ())
    if len(buttons) > BUTTONS_MAX:
        add("too_many_buttons", max=BUTTONS_MAX, count=len(buttons))
    limits = {
        "URL": URL_BUTTONS_MAX,
        "PHONE_NUMBER": PHONE_BUTTONS_MAX,
        "COPY_CODE": COPY_CODE_BUTTONS_MAX,
        "FLOW": FLOW_BUTTONS_MAX,
    }
    labels = {"URL": "URL", "PHONE_NUMBER": "phone number", "COPY_CODE": "copy-code", "FLOW": "flow"}
    for kind, limit in limits.items():
        if sum(button.type == kind for button in buttons) > limit:
            add("too_many_of_type", max=limit, type=labels[kind])
    keys = dict(button_keys(buttons))
    for position, button in enumerate(buttons):
        index = position + 1
        if button.type != "COPY_CODE":
            text = button.text or ""
            if not text.strip():
                add("button_text_missing", index=index)
            elif len(text) > BUTTON_TEXT_MAX:
                add("button_text_too_long", index=index, length=len(text), max=BUTTON_TEXT_MAX)
        if button.type == "URL":
            _validate_url_button(draft, button, index, keys.get(position), add)
        elif button.type == "PHONE_NUMBER" and not PHONE.fullmatch((button.phone_number or "").replace(" ", "")):
            add("phone_invalid", index=index, max=PHONE_MAX)
        elif button.type == "COPY_CODE":
            _validate_code(button, add)
            if draft.category != "MARKETING":
                add("code_not_marketing")
        elif button.type == "FLOW":
            _validate_flow_button(button, index, add)
    quick = [button.type == "QUICK_REPLY" for button in buttons]
    if sum(a != b for a, b in zip(quick, quick[1:], strict=False)) > 1:
        add("buttons_not_grouped")


def _validate_url_button(draft, button, index, key, add):
    url = button.url or ""
    if not url.strip():
        add("url_missing", index=index)
        return
    if not url.startswith(("https://", "http://")):
        add("url_invalid", index=index)
    if len(url) > URL_MAX:
        add("url_too_long", index=index, length=len(url), max=URL_MAX)
    names = PLACEHOLDER.findall(url)
    if names and (names != ["1"] or not VARIABLE_AT_END.search(url)):
        add("url_variable", index=index)
    elif names and not str(draft.examples.get(key) or "").strip():
        add("example_missing", label=key_label(key))


def _validate_code(button, add):
    code = (button.example or "").strip()
    if not code:
        add("code_example_missing", max=COPY_CODE_MAX)
    elif len(code) > COPY_CODE_MAX:
        add("code_example_too_long", length=len(code), max=COPY_CODE_MAX)


def _validate_flow_button(button, index, add):
    if not (button.flow_id or "").strip():
        add("flow_missing", index=index)
    elif button.flow_status and button.flow_status.upper() not in FLOW_SENDABLE_STATUSES:
        add("flow_not_published", index=index, status=button.flow_status.lower())
    screen = (button.navigate_screen or "").strip()
    if not screen:
        add("flow_screen_missing", index=index)
    elif screen == "SUCCESS":
        add("flow_screen_reserved", index=index)


def _validate_authentication(draft, add):
    if (draft.header_format or "NONE") != "NONE" or (draft.footer or "").strip():
        add("auth_header")
    if len(draft.buttons or ()) != 1 or draft.buttons[0].type != "COPY_CODE":
        add("auth_buttons")


# The create and edit requests
def _components(draft, header_handle=None):
    if draft.category == "AUTHENTICATION":
        # Meta writes an authentication template's text: "<code> is your verification code."
        text = (draft.buttons[0].text if draft.buttons else "") or "Copy code"
        return [
            {"type": "BODY", "add_security_recommendation": True},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": text}]},
        ]
    components = []
    header_format = draft.header_format or "NONE"
    if header_format == "TEXT":
        header = {"type": "HEADER", "format": "TEXT", "text": draft.header_text}
        if placeholders(draft.header_text):
            header["example"] = {"header_text": [str(draft.examples[HEADER_KEY])]}
        components.append(header)
    elif header_format in MEDIA_FORMATS:
        if not header_handle:
            raise ValueError("A media header needs the handle of its uploaded sample")
        components.append({"type": "HEADER", "format": header_format, "example": {"header_handle": [header_handle]}})
    body = {"type": "BODY", "text": draft.body}
    names = placeholders(draft.body)
    if names:
        body["example"] = {"body_text": [[str(draft.examples[name]) for name in names]]}
    components.append(body)
    if (draft.footer or "").strip():
        components.append({"type": "FOOTER", "text": draft.footer})
    if draft.buttons:
        keys = dict(button_keys(draft.buttons))
        components.append(
            {
                "type": "BUTTONS",
                "buttons": [_button_definition(draft, button, keys.get(i)) for i, button in enumerate(draft.buttons)],
            }
        )
    return components


def _button_definition(draft, button, key):
    if button.type == "QUICK_REPLY":
        return {"type": "QUICK_REPLY", "text": button.text}
    if button.type == "PHONE_NUMBER":
        return {"type": "PHONE_NUMBER", "text": button.text, "phone_number": button.phone_number.replace(" ", "")}
    if button.type == "COPY_CODE":
        return {"type": "COPY_CODE", "example": button.example.strip()}
    if button.type == "FLOW":
        return {
            "type": "FLOW",
            "text": button.text,
            "flow_id": button.flow_id.strip(),
            "flow_action": "navigate",
            "navigate_screen": button.navigate_screen.strip(),
        }
    definition = {"type": "URL", "text": button.text, "url": button.url}
    if key:
        # Meta's example of a dynamic URL is the whole URL, its variable filled.
        definition["example"] = [PLACEHOLDER.sub(str(draft.examples[key]), button.url)]
    return definition


def create_payload(draft, header_handle=None):
    """The body of ``POST /<waba-id>/message_templates`` (checked first: see ``validate``)."""
    return {
        "name": draft.name,
        "language": draft.language,
        "category": draft.category,
        "components": _components(draft, header_handle),
    }


def edit_payload(draft, header_handle=None):
    """The body of ``POST /<template-id>`` (a rejected or paused template edited: name and language stay)."""
    return {"category": draft.category, "components": _components(draft, header_handle)}


# Sync
def _text(value):
    return value if isinstance(value, str) else ""


def parse_template(item):
    """``RemoteTemplate`` of one item of Meta's list, or None when it names no template."""
    if not isinstance(item, dict) or not _text(item.get("name")) or not _text(item.get("language")):
        return None
    header_format, header_text, body, footer, buttons, examples = "NONE", "", "", "", [], {}
    for component in item.get("components") or ():
        if not isinstance(component, dict):
            continue
        kind = _text(component.get("type")).upper()
        example = component.get("example") if isinstance(component.get("example"), dict) else {}
        if kind == "HEADER":
            header_format = _text(component.get("format")).upper() or "TEXT"
            header_text = _text(component.get("text"))
            samples = example.get("header_text") or []
            if header_format == "TEXT" and samples and isinstance(samples[0], str):
                examples[HEADER_KEY] = samples[0]
        elif kind == "BODY":
            body = _text(component.get("text"))
            examples.update(_body_examples(body, example))
        elif kind == "FOOTER":
            footer = _text(component.get("text"))
        elif kind == "BUTTONS":
            buttons = [_read_button(button) for button in component.get("buttons") or () if isinstance(button, dict)]
    buttons = tuple(button for button in buttons if button)
    for index, key in button_keys(buttons):
        if buttons[index].example:
            examples[key] = buttons[index].example
    quality = item.get("quality_score") if isinstance(item.get("quality_score"), dict) else {}
    meta_status = _text(item.get("status")).upper()
    reason = _text(item.get("rejected_reason"))
    return RemoteTemplate(
        id=str(item.get("id") or ""),
        name=item["name"],
        language=item["language"],
        meta_status=meta_status,
        status=STATUSES.get(meta_status),
        category=_text(item.get("category")).upper() or None,
        quality=QUALITY.get(_text(quality.get("score")).upper()),
        rejected_reason=reason if reason and reason != "NONE" else None,
        parameter_format=_text(item.get("parameter_format")).upper() or "POSITIONAL",
        header_format=header_format if header_format in HEADER_FORMATS else "NONE",
        header_text=header_text,
        body=body,
        footer=footer,
        buttons=buttons,
        examples=examples,
        raw=item,
    )


def _body_examples(body, example):
    samples = example.get("body_text")
    if isinstance(samples, list) and samples and isinstance(samples[0], list):
        return {name: str(value) for name, value in zip(placeholders(body), samples[0], strict=False)}
    named = example.get("body_text_named_params")
    if isinstance(named, list):
        return {
            str(param["param_name"]): str(param.get("example") or "")
            for param in named
            if isinstance(param, dict) and param.get("param_name")
        }
    return {}


def _read_button(button):
    kind = _text(button.get("type")).upper()
    if kind == "OTP":
        kind = "COPY_CODE"
    if kind not in BUTTON_TYPES:
        return None
    example = button.get("example")
    if isinstance(example, list):
        example = example[0] if example else ""
    example = _text(example)
    url = _text(button.get("url"))
    if kind == "URL" and example and placeholders(url):
        # Meta's example is the whole URL: keep the value of {{1}}, what follows the URL's fixed part.
        prefix = PLACEHOLDER.split(url)[0]
        example = example[len(prefix) :] if example.startswith(prefix) else example
    return Button(
        type=kind,
        text=_text(button.get("text")),
        url=url,
        phone_number=_text(button.get("phone_number")),
        example=example,
        # Meta gives a flow's id as a number or a string
        flow_id=str(button.get("flow_id") or "") if kind == "FLOW" else "",
        navigate_screen=_text(button.get("navigate_screen")) if kind == "FLOW" else "",
    )


def next_cursor(answer):
    """The ``after`` cursor of the next page, while Meta says there is one (``paging.next``)."""
    paging = answer.get("paging") if isinstance(answer, dict) else None
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
    return _text(cursors.get("after")) or None


def parse_page(answer):
    """(templates read from one page, cursor of the next page or None)."""
    data = answer.get("data") if isinstance(answer, dict) else None
    templates = [template for template in map(parse_template, data or ()) if template]
    return templates, next_cursor(answer)


# Sending and previews
def clean_parameter(value):
    """``value`` as Meta accepts a parameter: no new line or tab, never five spaces in a row."""
    return PARAMETER_SPACES.sub(" ", str(value)).strip()


def send_components(header_format, header_text, body, buttons, values, header_media=None, named=False, flow_token=None):
    """``template.components`` of the send request: header (its text variable, or its media:
    ``header_media`` = ``{"link": url}`` or ``{"id": media id}``, with ``"filename"`` for a document),
    body variables in order, URL button suffixes and the coupon code, each from ``values``; a FLOW
    button's ``flow_token`` (the message's own: a template with a flow button needs one)."""
    header = None
    if header_format == "TEXT" and placeholders(header_text):
        header = {"type": "text", "values": [clean_parameter(values.get(HEADER_KEY, ""))]}
    elif header_format in MEDIA_FORMATS and header_media:
        header = {"type": header_format.lower(), **header_media}
    names = placeholders(body)
    body_values = [clean_parameter(values.get(name, "")) for name in names]
    parameters = [
        {"index": index, "sub_type": "copy_code" if key == CODE_KEY else "url", "value": str(values.get(key, ""))}
        for index, key in button_keys(buttons)
    ]
    components = meta_components(body_values, header=header, buttons=parameters, names=names if named else None)
    flows = flow_button_indexes(buttons)
    if not flows:
        return components
    if not flow_token:
        raise ValueError("A template with a flow button is sent with a flow token of its own")
    components += [flow_button_component(index, flow_token) for index in flows]
    others = [component for component in components if component["type"] != "button"]
    return others + sorted(
        (component for component in components if component["type"] == "button"), key=lambda c: int(c["index"])
    )


def flow_button_component(index, flow_token):
    """The send request's component of the FLOW button at ``index``: the message's flow token, which
    comes back with the customer's answers (Meta: "Sending a Flow", template messages)."""
    return {
        "type": "button",
        "sub_type": "flow",
        "index": str(index),
        "parameters": [{"type": "action", "action": {"flow_token": flow_token}}],
    }


def authentication_components(code):
    """``template.components`` of an authentication template sent: the code in Meta's text and in
    its copy-code button (Meta: "Authentication templates", sending)."""
    code = clean_parameter(code)
    return [
        {"type": "body", "parameters": [{"type": "text", "text": code}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": code}]},
    ]


def missing_values(header_format, header_text, body, buttons, values):
    """The keys of a template's values that are empty: Meta refuses the message without them."""
    keys = template_keys(header_format, header_text, body, buttons)
    return [key for key in keys if not str((values or {}).get(key) or "").strip()]


BUTTON_MARKS = {"QUICK_REPLY": "↩", "URL": "↗", "PHONE_NUMBER": "☎", "COPY_CODE": "⧉", "FLOW": "▸"}
MEDIA_MARKS = {"IMAGE": "[Image]", "VIDEO": "[Video]", "DOCUMENT": "[Document]"}


def _fill(text, values, key_of=lambda name: name):
    """``text`` with the placeholders that have a value filled in; the others as written."""
    return PLACEHOLDER.sub(lambda m: str(values.get(key_of(m.group(1))) or m.group(0)), text or "")


def button_label(button, values):
    """A button as previews show it: its mark and text (an offer code's button: the code)."""
    if button.type == "COPY_CODE":
        code = values.get(CODE_KEY) or button.example
        return f"{BUTTON_MARKS['COPY_CODE']} Copy code{f' {code}' if code else ''}"
    return f"{BUTTON_MARKS.get(button.type, '•')} {button.text}"


def template_parts(header_format, header_text, footer, buttons, values):
    """What surrounds a template's text when shown (the inbox's bubble): ``header`` (its text
    filled), ``media`` (image, video, document or None), ``footer`` and ``buttons`` (labels)."""
    values = values or {}
    return {
        "header": _fill(header_text, values, lambda _name: HEADER_KEY) if header_format == "TEXT" else None,
        "media": header_format.lower() if header_format in MEDIA_FORMATS else None,
        "footer": footer or None,
        "buttons": [button_label(button, values) for button in buttons or ()],
    }


def preview_text(header_format, header_text, body, footer, buttons, values):
    """The whole message as text, in WhatsApp's formatting: the header in bold (or a mark for its
    media), the body, the footer in italics, then one line per button. A value not given yet
    leaves its placeholder as written."""

    lines = []
    if header_format == "TEXT" and (header_text or "").strip():
        lines.append(f"*{_fill(header_text, values, lambda _name: HEADER_KEY)}*")
    elif header_format in MEDIA_MARKS:
        lines.append(MEDIA_MARKS[header_format])
    lines.append(_fill(body, values))
    if (footer or "").strip():
        lines.append(f"_{footer}_")
    if buttons:
        lines.append("")
    lines += [button_label(button, values) for button in buttons or ()]
    return "\n".join(lines)
