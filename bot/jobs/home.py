"""Home tab jobs: publish one person's view (`views.publish`), and queue every recent viewer's."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from bot import home, home_tab
from bot.jobs.errors import raise_for, slack_error
from bot.outbox import PermanentFailure
from bot.services import Services


def publish_home(services: Services, payload: dict) -> None:
    """Build the view from the database as it is now and publish it (harmless to repeat)."""
    user_id = payload["user_id"]
    now = services.now()
    with services.db.read() as session:
        data = home_tab.gather(session, services, user_id, now)
    if data is None:
        return  # never opened the Home tab
    try:
        services.background.views_publish(user_id=user_id, view=home.home_view(data))
    except SlackApiError as exc:
        if slack_error(exc) == "not_enabled":
            raise PermanentFailure("views.publish: not_enabled (turn the Home tab on in the app's manifest)") from exc
        raise_for(exc, "views.publish")


def refresh_homes(services: Services, payload: dict) -> None:
    with services.db.write() as session:
        home_tab.queue_everyone(session, services.now())
