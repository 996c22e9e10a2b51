"""WhatsApp interactive messages (Meta Cloud API): reply buttons and lists, built and checked
against Meta's limits before they are queued, so that an agent learns what is wrong at once
rather than from a provider error later.

``build_buttons``, ``build_list`` and ``build_flow`` (a WhatsApp Flow) return the ``interactive``
object of Meta's send request; ``validate`` checks one (whatever built it); ``parse_options`` reads
the composer's "one option per line" text; ``preview`` draws a payload as plain text;
``flow_answers_text`` draws a Flow's answers (``nfm_reply``). Errors are ``InteractiveError``.
"""

import re
import secrets

MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_BUTTON_BODY = 1024
MAX_LIST_BODY = 4096
MAX_HEADER = 60
MAX_FOOTER = 60
MAX_LIST_BUTTON = 20
MAX_SECTIONS = 10
MAX_ROWS = 10
MAX_SECTION_TITLE = 24
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_ROW_ID = 200

SECTION_LINE = re.compile(r"^\s*\[(.*)\]\s*$")


class InteractiveError(ValueError):
    """An interactive message WhatsApp would refuse; the message says why."""


def _text(value):
    """``value`` as stripped text; empty for None and False (an empty Odoo field)."""
    if value is None or value is False:
        return ""
    return value.strip() if isinstance(value, str) else str(value).strip()


def _check_length(what, value, limit):
    if len(value) > limit:
        raise InteractiveError(f"{what} is {len(value)} characters long: at most {limit} are allowed ({value!r}).")


def _frame(kind, body, header, footer):
    """The body, header and footer shared by both kinds, checked."""
    body, header, footer = _text(body), _text(header), _text(footer)
    if not body:
        raise InteractiveError("An interactive message needs a body text.")
    _check_length("The body", body, MAX_BUTTON_BODY if kind == "button" else MAX_LIST_BODY)
    payload = {"type": kind}
    if header:
        _check_length("The header", header, MAX_HEADER)
        payload["header"] = {"type": "text", "text": header}
    payload["body"] = {"text": body}
    if footer:
        _check_length("The footer", footer, MAX_FOOTER)
        payload["footer"] = {"text": footer}
    return payload


def _option(option, index, id_limit):
    """``(id, title, description)`` of an option given as a title or a dict; ids default to ``option-N``."""
    if isinstance(option, dict):
        option_id = _text(option.get("id")) or f"option-{index}"
        title, description = _text(option.get("title")), _text(option.get("description"))
    else:
        option_id, title, description = f"option-{index}", _text(option), ""
    _check_length("An option id", option_id, id_limit)
    return option_id, title, description


def _check_unique(values, what, attribute="id"):
    seen = set()
    for value in values:
        if value in seen:
            raise InteractiveError(f"Two {what} have the same {attribute} {value!r}: each needs its own.")
        seen.add(value)


def build_buttons(body, options, header=None, footer=None):
    """Reply buttons: 1 to 3 ``options`` (titles, or dicts with ``id`` and ``title``)."""
    payload = _frame("button", body, header, footer)
    options = list(options or ())
    if not options:
        raise InteractiveError("Reply buttons need at least one option.")
    if len(options) > MAX_BUTTONS:
        raise InteractiveError(
            f"WhatsApp allows at most {MAX_BUTTONS} reply buttons, not {len(options)}: use a list instead."
        )
    buttons = []
    for index, option in enumerate(options, start=1):
        option_id, title, _description = _option(option, index, MAX_BUTTON_ID)
        if not title:
            raise InteractiveError(f"Button {index} has no title.")
        _check_length(f"Button {index}'s title", title, MAX_BUTTON_TITLE)
        buttons.append({"type": "reply", "reply": {"id": option_id, "title": title}})
    _check_unique([b["reply"]["id"] for b in buttons], "buttons")
    _check_unique([b["reply"]["title"].casefold() for b in buttons], "buttons", "title")
    payload["action"] = {"buttons": buttons}
    return payload


def build_list(body, button, sections, header=None, footer=None):
    """A list: ``button`` opens it; ``sections`` are dicts with ``title`` and ``rows`` (titles, or
    dicts with ``id``, ``title`` and ``description``); 1 to 10 sections, 10 rows in all."""
    payload = _frame("list", body, header, footer)
    button = _text(button)
    if not button:
        raise InteractiveError("A list needs the label of the button that opens it.")
    _check_length("The list button's label", button, MAX_LIST_BUTTON)
    sections = list(sections or ())
    if not sections:
        raise InteractiveError("A list needs at least one option.")
    if len(sections) > MAX_SECTIONS:
        raise InteractiveError(f"WhatsApp allows at most {MAX_SECTIONS} sections in a list, not {len(sections)}.")
    built, index = [], 0
    for number, section in enumerate(sections, start=1):
        title = _text(section.get("title"))
        if not title and len(sections) > 1:
            raise InteractiveError(f"Section {number} needs a title: a list with several sections titles each.")
        if title:
            _check_length(f"Section {number}'s title", title, MAX_SECTION_TITLE)
        rows = []
        for row in section.get("rows") or ():
            index += 1
            row_id, row_title, description = _option(row, index, MAX_ROW_ID)
            if not row_title:
                raise InteractiveError(f"Option {index} has no title.")
            _check_length(f"Option {index}'s title", row_title, MAX_ROW_TITLE)
            built_row = {"id": row_id, "title": row_title}
            if description:
                _check_length(f"Option {index}'s description", description, MAX_ROW_DESCRIPTION)
                built_row["description"] = description
            rows.append(built_row)
        if not rows:
            raise InteractiveError(f"Section {number} has no options.")
        built.append({**({"title": title} if title else {}), "rows": rows})
    if index > MAX_ROWS:
        raise InteractiveError(f"WhatsApp allows at most {MAX_ROWS} options in a list, not {index}.")
    _check_unique([row["id"] for section in built for row in section["rows"]], "options")
    payload["action"] = {"button": button, "sections": built}
    return payload


def validate(payload):
    """``payload`` if WhatsApp would take it (rebuilt through the builders, so every limit is
    checked), else ``InteractiveError``. Kinds other than ``button``, ``list`` and ``flow`` pass
    unchecked; a flow's status is not in its payload (``build_flow`` checks it)."""
    if not isinstance(payload, dict):
        raise InteractiveError("An interactive message must be an object.")
    kind = payload.get("type")
    body = (payload.get("body") or {}).get("text")
    header = (payload.get("header") or {}).get("text")
    footer = (payload.get("footer") or {}).get("text")
    action = payload.get("action") or {}
    if kind == "button":
        options = [b.get("reply") or {} for b in action.get("buttons") or ()]
        build_buttons(body, [{"id": o.get("id") or "", "title": o.get("title")} for o in options], header, footer)
        if any(not _text(o.get("id")) for o in options):
            raise InteractiveError("Every button needs an id.")
    elif kind == "list":
        build_list(body, action.get("button"), action.get("sections") or (), header, footer)
        rows = [row for section in action.get("sections") or () for row in section.get("rows") or ()]
        if any(not isinstance(row, dict) or not _text(row.get("id")) for row in rows):
            raise InteractiveError("Every list option needs an id.")
    elif kind == "flow":
        parameters = flow_parameters(payload)
        if action.get("name") != "flow" or parameters.get("flow_action", "navigate") != "navigate":
            raise InteractiveError('A flow message\'s action is named "flow" and navigates to a screen.')
        if parameters.get("flow_message_version") != FLOW_MESSAGE_VERSION:
            raise InteractiveError(f'A flow message is of version "{FLOW_MESSAGE_VERSION}".')
        screen_payload = parameters.get("flow_action_payload") or {}
        build_flow(
            body,
            parameters.get("flow_id"),
            parameters.get("flow_cta"),
            screen_payload.get("screen"),
            parameters.get("flow_token"),
            header,
            footer,
            data=screen_payload.get("data"),
        )
    return payload


def parse_options(text):
    """The composer's options, one per line: ``Title`` or ``Title | description``; a line
    ``[Section title]`` starts a section (lists only). Returns sections:
    ``[{"title", "rows": [{"title", "description"}]}]``, empty lines skipped."""
    sections = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        match = SECTION_LINE.match(line)
        if match:
            sections.append({"title": match.group(1).strip(), "rows": []})
            continue
        if not sections:
            sections.append({"title": "", "rows": []})
        title, _sep, description = line.partition("|")
        sections[-1]["rows"].append({"title": title.strip(), "description": description.strip()})
    return sections


def build_from_text(kind, body, options_text, button=None, header=None, footer=None):
    """A ``button`` or ``list`` payload from the composer's fields (``parse_options``)."""
    sections = parse_options(options_text)
    if kind == "button":
        if any(section["title"] for section in sections):
            raise InteractiveError("Reply buttons have no sections: remove the [Section] lines or send a list.")
        if any(row["description"] for section in sections for row in section["rows"]):
            raise InteractiveError("Reply buttons have no descriptions: remove the '| ...' parts or send a list.")
        titles = [row["title"] for section in sections for row in section["rows"]]
        return build_buttons(body, titles, header, footer)
    sections = [section for section in sections if section["rows"] or section["title"]]
    return build_list(body, button, sections, header, footer)


def options_of(payload):
    """The titles a ``button`` or ``list`` payload offers, in order."""
    action = (payload or {}).get("action") or {}
    if payload and payload.get("type") == "button":
        return [(b.get("reply") or {}).get("title") or "" for b in action.get("buttons") or ()]
    return [row.get("title") or "" for section in action.get("sections") or () for row in section.get("rows") or ()]


def preview(payload):
    """The message as plain text: header, body, footer, then its options."""
    if not payload:
        return ""
    lines = [
        part for part in ((payload.get("header") or {}).get("text"), (payload.get("body") or {}).get("text")) if part
    ]
    footer = (payload.get("footer") or {}).get("text")
    if footer:
        lines.append(footer)
    action = payload.get("action") or {}
    if payload.get("type") == "button":
        lines.extend(f"[ {title} ]" for title in options_of(payload))
    elif payload.get("type") == "list":
        lines.append(f"☰ {action.get('button') or ''}")
        for section in action.get("sections") or ():
            if section.get("title"):
                lines.append(f"{section['title']}:")
            for row in section.get("rows") or ():
                description = f" ({row['description']})" if row.get("description") else ""
                lines.append(f"  • {row.get('title') or ''}{description}")
    elif payload.get("type") == "flow":
        lines.append(f"[ ▸ {flow_parameters(payload).get('flow_cta') or ''} ]")
    return "\n".join(lines)


# WhatsApp Flows (Meta: "Sending a Flow", interactive.type "flow")

MAX_FLOW_BODY = 1024
MAX_FLOW_CTA = 20
MAX_FLOW_TOKEN = 200
FLOW_MESSAGE_VERSION = "3"
# Flow statuses as Meta's flow list gives them; those it lets a business send (a throttled flow is
# a published one Meta slows down)
FLOW_STATUSES = ("DRAFT", "PUBLISHED", "THROTTLED", "DEPRECATED", "BLOCKED")
SENDABLE_FLOW_STATUSES = ("PUBLISHED", "THROTTLED")
FLOW_ANSWER_KEY = re.compile(r"^screen_(?P<screen>\d+)_(?P<name>.+?)(?:_(?P<index>\d+))?$")
# Emoji and pictographs, which Meta refuses on the flow's button (flow_cta)
EMOJI = re.compile("[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff\U00002b00-\U00002bff\ufe0f\u200d]")


def new_flow_token():
    """A token for one flow message: unique and unguessable, the only link from the customer's answer
    (``nfm_reply``, which names no flow) back to the message that asked."""
    return secrets.token_urlsafe(24)


def build_flow(body, flow_id, cta, screen, token, header=None, footer=None, status="PUBLISHED", data=None):
    """A flow message: a button (``cta``) that opens the flow ``flow_id`` at ``screen``; ``token``
    comes back with the customer's answers. ``status`` is Meta's status of the flow: only a published
    (or throttled) flow can be sent. ``data``: optional input of the first screen (a non-empty dict)."""
    payload = _frame("flow", body, header, footer)
    _check_length("The body", payload["body"]["text"], MAX_FLOW_BODY)
    flow_id, cta, screen, token = _text(flow_id), _text(cta), _text(screen), _text(token)
    if not flow_id:
        raise InteractiveError("Choose the flow to send.")
    if (_text(status) or "").upper() not in SENDABLE_FLOW_STATUSES:
        raise InteractiveError(
            f"The flow {flow_id} is {(_text(status) or 'unknown').lower()}: only a published flow can be sent."
        )
    if not cta:
        raise InteractiveError("A flow message needs the label of the button that opens the flow.")
    _check_length("The flow button's label", cta, MAX_FLOW_CTA)
    if EMOJI.search(cta):
        raise InteractiveError(f"The flow button's label cannot contain emoji ({cta!r}).")
    if not screen:
        raise InteractiveError(
            f"The flow {flow_id} has no first screen: enter the id of the screen it opens on (in its Flow JSON)."
        )
    if screen == "SUCCESS":
        raise InteractiveError("SUCCESS is Meta's reserved end screen, not a first screen.")
    if not token:
        raise InteractiveError("A flow message needs a flow token.")
    _check_length("The flow token", token, MAX_FLOW_TOKEN)
    action_payload = {"screen": screen}
    if data is not None:
        if not isinstance(data, dict) or not data:
            raise InteractiveError("The first screen's data must be a non-empty object.")
        action_payload["data"] = data
    payload["action"] = {
        "name": "flow",
        "parameters": {
            "flow_message_version": FLOW_MESSAGE_VERSION,
            "flow_token": token,
            "flow_id": flow_id,
            "flow_cta": cta,
            "flow_action": "navigate",
            "flow_action_payload": action_payload,
        },
    }
    return payload


def flow_parameters(payload):
    """The ``action.parameters`` of a flow message, else an empty dict."""
    if not isinstance(payload, dict) or payload.get("type") != "flow":
        return {}
    parameters = (payload.get("action") or {}).get("parameters")
    return parameters if isinstance(parameters, dict) else {}


def flow_token_of(payload):
    """The flow token a message carries: the one sent in a flow message (``action.parameters``),
    or the one a customer's answer (``{"flow_token", "flow_response"}``) brought back; else None."""
    if not isinstance(payload, dict):
        return None
    token = flow_parameters(payload).get("flow_token") or payload.get("flow_token")
    return token if isinstance(token, str) and token else None


def flow_answers(response):
    """The answers of a flow reply's ``response_json`` (decoded), without the flow token, in order."""
    if not isinstance(response, dict):
        return {}
    return {key: value for key, value in response.items() if key != "flow_token"}


def flow_answer_label(key):
    """A readable label for an answer key: Meta's generated names (``screen_0_First_name_0``) lose
    their screen and index, underscores become spaces (``First name``)."""
    match = FLOW_ANSWER_KEY.match(key)
    name = (match.group("name") if match else key).replace("_", " ").strip() or key
    return name[:1].upper() + name[1:]


def _answer_text(value):
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(_answer_text(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{flow_answer_label(str(k))}: {_answer_text(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def _answer_order(key):
    """Meta's generated names in the order of the flow (screen, then component); named ones after,
    by label. The order Meta sent does not survive storage (PostgreSQL's jsonb orders keys its own way)."""
    match = FLOW_ANSWER_KEY.match(key)
    if match:
        return (0, int(match.group("screen")), int(match.group("index") or 0), key)
    return (1, 0, 0, flow_answer_label(key).casefold())


def flow_answers_text(response):
    """A flow reply as the customer's answers, one ``Label: value`` line each (``_answer_order``);
    the raw text when the response was not a JSON object; empty when it carried no answer."""
    if isinstance(response, dict) and set(response) == {"response_json"}:
        return str(response["response_json"] or "")
    answers = flow_answers(response)
    return "\n".join(
        f"{flow_answer_label(key)}: {_answer_text(answers[key])}" for key in sorted(answers, key=_answer_order)
    )


def flow_from_meta(item):
    """What Meta's flow list (``GET /<waba-id>/flows``, one ``item``) says of a flow: its Meta
    ``flow_id`` (text), ``name``, ``status`` (lower case; None for a status this version does not
    know) and ``categories`` as readable text ("" for an empty list, None when Meta gives none)."""
    status = str(item.get("status") or "").upper()
    categories = item.get("categories")
    return {
        "flow_id": str(item["id"]),
        "name": str(item.get("name") or item["id"]),
        "status": status.lower() if status in FLOW_STATUSES else None,
        "categories": (
            ", ".join(str(category).replace("_", " ").capitalize() for category in categories)
            if isinstance(categories, list)
            else None
        ),
    }
