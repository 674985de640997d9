"""Show what a button press did, in the message that had the button (bot/actions.py queues it)."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot import action_blocks
from bot.jobs.errors import raise_for
from bot.services import Services
from storage import action_items


def rewrite_message(services: Services, payload: dict) -> None:
    blocks = payload["blocks"]
    if "digest" in payload:  # a reminder DM: every item's row as the item is now
        pressed = [i for i in payload["digest"] if isinstance(i, int)]
        wanted = list(dict.fromkeys(action_blocks.digest_item_ids(blocks) + pressed))
        with services.db.read() as session:
            items = action_items.action_items_by_id(session, wanted)
        blocks = action_blocks.rewrite_digest(blocks, items, services.now(), pressed)
    if payload.get("channel") and payload.get("ts"):
        try:
            services.background.chat_update(channel=payload["channel"], ts=payload["ts"], text=payload["text"],
                                            blocks=blocks)
        except SlackApiError as exc:
            raise_for(exc, "rewrite")
        return
    response = WebhookClient(payload["response_url"], timeout=10).send(
        text=payload["text"], blocks=blocks, replace_original=True)
    if response.status_code != 200:
        raise RuntimeError(f"response_url answered {response.status_code}: {response.body}")
