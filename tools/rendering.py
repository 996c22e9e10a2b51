"""Template rendering: ``{{1}}`` and ``{{name}}`` placeholders into text and into Meta components."""

import re

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


class TemplateError(ValueError):
    """A template whose placeholders cannot be filled as written."""


class MissingTemplateValues(TemplateError):
    def __init__(self, missing):
        self.missing = list(missing)
        super().__init__("Missing values for " + ", ".join("{{%s}}" % name for name in self.missing))


def placeholders(text):
    """Placeholder names in order of first appearance, each once."""
    seen = []
    for name in PLACEHOLDER.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def validate_positional(text):
    """Meta's rule for body text: numbered placeholders 1..n without gaps, no named ones mixed in."""
    names = placeholders(text)
    numbered = sorted(int(name) for name in names if name.isdigit())
    if numbered and len(numbered) != len(names):
        raise TemplateError("Numbered and named placeholders cannot be mixed in a WhatsApp template.")
    if numbered != list(range(1, len(numbered) + 1)):
        raise TemplateError(
            "Placeholders must be numbered {{1}} to {{%d}} without gaps (found %s)."
            % (len(numbered), ", ".join("{{%d}}" % n for n in numbered))
        )


def render(text, values):
    """``text`` with every placeholder replaced by ``values[name]`` (keys as strings)."""
    values = {str(key): value for key, value in (values or {}).items()}
    missing = [name for name in placeholders(text) if values.get(name) in (None, "")]
    if missing:
        raise MissingTemplateValues(missing)
    return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), text or "")


def count_check(text, values):
    """Names of ``values`` that ``text`` does not use (extra values), after checking none is missing."""
    names = placeholders(text)
    missing = [name for name in names if (values or {}).get(name) in (None, "")]
    if missing:
        raise MissingTemplateValues(missing)
    return [str(key) for key in (values or {}) if str(key) not in names]


def meta_components(body_values, header=None, buttons=None, names=None):
    """``template.components`` of a Cloud API send request.

    ``header``: ``{"type": "text", "values": [...]}`` or ``{"type": "image"|"video"|"document",
    "link": url}`` (or ``"id"``: an uploaded media's id; ``"filename"`` for a document);
    ``buttons``: ``[{"index": 0, "sub_type": "url"|"quick_reply"|"copy_code", "value": str}]``;
    ``names``: the body's named placeholders, in the order of ``body_values`` (named templates).
    """
    components = []
    if header and header.get("type") == "text" and header.get("values"):
        components.append(
            {"type": "header", "parameters": [{"type": "text", "text": str(v)} for v in header["values"]]}
        )
    elif header and header.get("type") in ("image", "video", "document") and (header.get("link") or header.get("id")):
        media = header["type"]
        reference = {"id": header["id"]} if header.get("id") else {"link": header["link"]}
        if media == "document" and header.get("filename"):
            reference["filename"] = header["filename"]
        components.append({"type": "header", "parameters": [{"type": media, media: reference}]})
    if body_values:
        parameters = [{"type": "text", "text": str(v)} for v in body_values]
        if names:
            for parameter, name in zip(parameters, names, strict=False):
                parameter["parameter_name"] = name
        components.append({"type": "body", "parameters": parameters})
    for button in buttons or ():
        sub_type = button.get("sub_type", "url")
        if sub_type == "quick_reply":
            parameter = {"type": "payload", "payload": str(button["value"])}
        elif sub_type == "copy_code":
            parameter = {"type": "coupon_code", "coupon_code": str(button["value"])}
        else:
            parameter = {"type": "text", "text": str(button["value"])}
        components.append(
            {"type": "button", "sub_type": sub_type, "index": str(button.get("index", 0)), "parameters": [parameter]}
        )
    return components
