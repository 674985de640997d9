"""Slack's published Block Kit and message limits, and a checker that finds every breach in a
message, a view, a command reply or a Web API call's parameters (blocks given as JSON or as lists).

The limits are in characters, as Slack counts them in the JSON it receives (mrkdwn after escaping).
"""

from __future__ import annotations

import json

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TEXT = 4000  # Slack's advice for `text`; it truncates past 40,000
# chat.postMessage and chat.update have refused messages whose blocks held 11,000 to 13,000 characters
# of text in all (`msg_blocks_too_long`), below every published limit: posted messages stay under this
POSTED_BLOCKS_TEXT = 10000

TEXT_IN = {  # (block or element type, key) -> the most characters of the text object there
    ("section", "text"): 3000,
    ("header", "text"): 150,
    ("input", "label"): 2000,
    ("input", "hint"): 2000,
    ("button", "text"): 75,
    ("plain_text_input", "placeholder"): 150,
    ("users_select", "placeholder"): 150,
    ("datepicker", "placeholder"): 150,
    ("modal", "title"): 24,
    ("modal", "submit"): 24,
    ("modal", "close"): 24,
    ("confirm", "title"): 100,
    ("confirm", "text"): 300,
    ("confirm", "confirm"): 30,
    ("confirm", "deny"): 30,
}
STRINGS = {"block_id": 255, "action_id": 255, "callback_id": 255, "private_metadata": 3000, "value": 2000,
           "url": 3000}


def _loaded(value):
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def _text_length(obj) -> int:
    return len(obj.get("text") or "") if isinstance(obj, dict) else 0


def _all_text(node) -> int:
    if isinstance(node, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else _all_text(v) for k, v in node.items())
    if isinstance(node, list):
        return sum(_all_text(v) for v in node)
    return 0


def breaches(message: dict, *, surface: str = "message", posted: bool = False) -> list[str]:
    """Every limit `message` exceeds (a message, a command reply, a Web API call's parameters, or a view
    when `surface` is "view"), as readable strings; [] when it is within all of them. `posted`: sent with
    chat.postMessage or chat.update, which also limit the text of all blocks together."""
    found: list[str] = []
    message = {k: _loaded(v) for k, v in message.items()}
    if surface == "message":
        view = _loaded(message.get("view"))
        if isinstance(view, dict):  # views.open / views.update / a view_submission's "update"
            return breaches(view, surface="view")
        text = message.get("text")
        if isinstance(text, str) and len(text) > MESSAGE_TEXT:
            found.append(f"text has {len(text)} characters (> {MESSAGE_TEXT})")
    blocks = message.get("blocks") or []
    limit = VIEW_BLOCKS if surface == "view" else MESSAGE_BLOCKS
    if len(blocks) > limit:
        found.append(f"{len(blocks)} blocks (> {limit})")
    total = _all_text(blocks)
    if posted and total > POSTED_BLOCKS_TEXT:
        found.append(f"blocks hold {total} characters of text (> {POSTED_BLOCKS_TEXT})")
    if surface == "view":
        for key in ("title", "submit", "close"):
            if _text_length(message.get(key)) > TEXT_IN[("modal", key)]:
                found.append(f"modal {key} longer than {TEXT_IN[('modal', key)]}")
        for key in ("callback_id", "private_metadata"):
            if len(str(message.get(key) or "")) > STRINGS[key]:
                found.append(f"{key} longer than {STRINGS[key]}")
    for block in blocks:
        _walk(block, found)
    return found


def _walk(node, found: list[str]) -> None:
    if isinstance(node, list):
        for value in node:
            _walk(value, found)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    for (owner, key), most in TEXT_IN.items():
        if (owner == kind or (owner == "confirm" and "confirm" in node and "deny" in node and kind is None)) \
                and _text_length(node.get(key)) > most:
            found.append(f"{owner}.{key} has {_text_length(node.get(key))} characters (> {most})")
    if kind == "section":
        fields = node.get("fields") or []
        if len(fields) > 10:
            found.append(f"section with {len(fields)} fields (> 10)")
        for field in fields:
            if _text_length(field) > 2000:
                found.append(f"section field has {_text_length(field)} characters (> 2000)")
    if kind == "context":
        elements = node.get("elements") or []
        if len(elements) > 10:
            found.append(f"context with {len(elements)} elements (> 10)")
        for element in elements:
            if _text_length(element) > 3000:
                found.append(f"context element has {_text_length(element)} characters (> 3000)")
    if kind == "actions" and len(node.get("elements") or []) > 25:
        found.append("actions block with more than 25 elements")
    if kind == "plain_text_input":
        most = node.get("max_length", 3000)
        if most > 3000 or len(node.get("initial_value") or "") > most:
            found.append("plain_text_input longer than its max_length (at most 3000)")
    if kind in ("plain_text", "mrkdwn") and not (node.get("text") or "").strip():
        found.append(f"empty {kind} text")  # Slack refuses an empty text object
    for key, most in STRINGS.items():
        if isinstance(node.get(key), str) and len(node[key]) > most and key not in ("callback_id", "private_metadata"):
            found.append(f"{key} has {len(node[key])} characters (> {most})")
    for key, value in node.items():
        if isinstance(value, (dict, list)):
            _walk(value, found)
