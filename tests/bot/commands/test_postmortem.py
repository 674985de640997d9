"""`/postmortem` and the participant prompts, through signed requests into the real app (docs/postmortem.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.postmortem import PROMPT_PACE
from tests.bot.commands.test_incident import open_incident
from tests.support import rows
from tests.support import slack_requests as sr
from tests.support.process import REPO

ALICE, BOB, CAROL = "U0USER1", "U0BOB", "U0CAROL"


view_values = sr.view_state


def submit(bot, callback_id: str, incident: int, user: str, view_id: str = "V0VIEW01", **fields):
    payload = sr.view_submission(callback_id, view_values(**fields), user_id=user,
                                 private_metadata=str(incident), view_id=view_id)
    response = bot.interact(payload)
    assert response.status == 200, response.body
    return response.json()


def press(bot, action_id: str, incident: int, user: str, channel: str | None = None):
    response = bot.interact(sr.block_actions(action_id, str(incident), user_id=user, channel_id=channel))
    assert response.status == 200, response.body
    return response


def uploaded_markdown(standin) -> str:
    [complete] = standin.calls_to("files.completeUploadExternal")[-1:]
    files = complete["files"]
    files = json.loads(files) if isinstance(files, str) else files
    return standin.uploads[files[0]["id"]].decode("utf-8")


def settle(bot) -> None:
    """Drain the outbox, including jobs paced for later that have not been tried yet."""

    for _ in range(20):
        bot.drain()
        with bot.db.write() as session:
            paced = [j for j in rows.pending_jobs(session) if j.attempts == 0]
            for job in paced:
                job.next_attempt_at = bot.services.now()
                session.add(job)
        if not paced:
            return


def dms(standin) -> list:
    return [c for c in standin.calls_to("chat.postMessage") if str(c["channel"]).startswith("D")]


@pytest.fixture
def incident(bot):
    """INC-1 with three people taking part: alice opens and logs, bob and carol talk, carol's is pinned."""
    bot.standin.add_user(ALICE, name="alice")
    bot.standin.add_user(BOB, name="bob")
    bot.standin.add_user(CAROL, name="carol")
    channel = open_incident(bot, "Checkout errors sev2")
    bot.command("started 2026-11-01 10:00 UTC", channel_id=channel)
    bot.command("log 2026-11-01 10:20 UTC rolled back deploy 4211 | for real", channel_id=channel)
    bot.event(sr.message("is it the cache?", user=BOB, channel=channel))
    found = sr.message("found it: the new flag <!channel>", user=CAROL, channel=channel)
    bot.event(found)
    bot.event(sr.reaction("pushpin", found, user=ALICE))
    bot.drain()
    bot.standin.reset()
    return channel


def test_resolving_asks_everyone_who_took_part_once(bot, standin, incident):
    bot.command("resolved 2026-11-01 11:06 UTC all clear", channel_id=incident)
    settle(bot)
    asked = {c["users"] for c in standin.calls_to("conversations.open")}
    assert asked == {ALICE, BOB, CAROL}
    assert len(dms(standin)) == 3
    [channel_prompt] = [c for c in standin.calls_to("chat.postMessage")
                        if c["channel"] == incident and "add their part" in json.dumps(c.get("blocks"))]
    buttons = channel_prompt["blocks"][-1]["elements"]
    assert [b["action_id"] for b in buttons] == ["prompt_root_cause", "prompt_went", "prompt_action"]

    standin.reset()
    bot.command("resolved 2026-11-01 11:07 UTC", channel_id=incident)  # moved, not a second resolution
    settle(bot)
    assert not standin.calls_to("conversations.open") and not dms(standin)


def test_prompts_are_paced_and_capped(make_bot, standin):
    bot = make_bot(prompt_max_people=2)
    channel = open_incident(bot)
    for user in (BOB, CAROL, "U0DAVE"):
        bot.event(sr.message("here", user=user, channel=channel))
    resolved_at = bot.services.now()
    bot.command("resolved", channel_id=channel)
    bot.drain()

    with bot.db.read() as session:
        paced = sorted(j.next_attempt_at for j in rows.pending_jobs(session, "prompt_dm"))
    # measured from the command, not from after the drain: a slow machine must not fail it
    assert len(paced) == 1 and paced[0] - resolved_at >= PROMPT_PACE, "the second DM waits its turn"
    settle(bot)
    asked = [c["users"] for c in standin.calls_to("conversations.open")]
    assert asked == [ALICE, BOB], "the first two to take part, in order"



def test_a_button_opens_the_modal_and_the_answer_is_stored(bot, standin, incident):
    press(bot, "prompt_root_cause", 1, BOB, channel=None)
    [opened] = standin.calls_to("views.open")
    view = json.loads(opened["view"]) if isinstance(opened["view"], str) else opened["view"]
    assert view["callback_id"] == "postmortem_root_cause" and view["private_metadata"] == "1"
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["root_cause", "contributing_factors"]

    assert submit(bot, "postmortem_root_cause", 1, BOB, root_cause="A flag turned on the cache <!channel>",
                  contributing_factors="No canary") == {}
    press(bot, "prompt_root_cause", 1, BOB)
    reopened = standin.calls_to("views.open")[-1]
    reopened = json.loads(reopened["view"]) if isinstance(reopened["view"], str) else reopened["view"]
    assert reopened["blocks"][1]["element"]["initial_value"] == "A flag turned on the cache <!channel>"


def test_a_modal_refuses_empty_answers_and_says_how_to_fix_it(bot, incident):
    reply = submit(bot, "postmortem_root_cause", 1, BOB, root_cause="   ", contributing_factors="")
    assert reply["response_action"] == "errors" and "root_cause" in reply["errors"]
    reply = submit(bot, "postmortem_went", 1, BOB, went_well="", went_wrong="")
    assert reply["response_action"] == "errors"
    reply = submit(bot, "postmortem_action", 1, BOB, text="", owner=None, due=None)
    assert reply["response_action"] == "errors" and "text" in reply["errors"]
    md = bot.command("draft", command="/postmortem", channel_id=incident)
    assert "saved" in md["text"]
    bot.drain()
    assert "Not answered yet: the root cause" in uploaded_markdown(bot.standin)


def test_an_action_item_is_created_once_per_modal(bot, incident):
    for _ in range(2):  # a double click submits the same view twice
        reply = submit(bot, "postmortem_action", 1, ALICE, view_id="V0ACTION1", text="Alert on error rate",
                       owner=CAROL, due="2026-12-01")
        assert reply["response_action"] == "update"
        assert "Alert on error rate" in json.dumps(reply["view"])
    submit(bot, "postmortem_action", 1, ALICE, view_id="V0ACTION2", text="Canary the flag service", owner=None, due=None)
    from storage import action_items

    with bot.db.read() as session:
        items = action_items.action_items(session, 1)
    assert [(i.text, i.owner_id, str(i.due)) for i in items] == [
        ("Alert on error rate", CAROL, "2026-12-01"), ("Canary the flag service", None, "None")]


def test_a_past_due_date_is_accepted_with_a_warning(bot, incident):
    reply = submit(bot, "postmortem_action", 1, ALICE, view_id="V0PAST", text="Backfill orders", owner=BOB,
                   due="2020-01-01")
    assert reply["response_action"] == "update" and "already passed" in json.dumps(reply["view"])


def test_someone_who_answered_is_not_asked_again(bot, standin, incident):
    submit(bot, "postmortem_root_cause", 1, BOB, root_cause="cache flag", contributing_factors="")
    submit(bot, "postmortem_went", 1, BOB, went_well="fast rollback", went_wrong="")
    submit(bot, "postmortem_root_cause", 1, CAROL, root_cause="flag", contributing_factors="")
    reply = bot.text("prompt", command="/postmortem", channel_id=incident)
    assert "Asking 2 people" in reply, "bob answered everything: he is not counted"
    settle(bot)
    asked = {c["users"] for c in standin.calls_to("conversations.open")}
    assert asked == {ALICE, CAROL}, "bob answered everything"
    carol_dm = next(c for c in dms(standin) if c["channel"] == "D" + CAROL[:10])
    assert [b["action_id"] for b in carol_dm["blocks"][-1]["elements"]] == ["prompt_went", "prompt_action"]


def test_the_full_flow_ends_in_a_draft_with_everyones_words(bot, standin, incident):
    bot.command("mitigated 2026-11-01 10:40 UTC rolled back", channel_id=incident)
    bot.command("summary Checkout returned errors for 12% of orders", channel_id=incident)
    bot.command("resolved 2026-11-01 11:06 UTC", channel_id=incident)
    settle(bot)
    press(bot, "prompt_root_cause", 1, BOB)
    submit(bot, "postmortem_root_cause", 1, BOB, root_cause="The new cache flag was on for everyone",
           contributing_factors="No canary for flags")
    press(bot, "prompt_went", 1, CAROL)
    submit(bot, "postmortem_went", 1, CAROL, went_well="Rollback took two minutes", went_wrong="Alerts were late")
    submit(bot, "postmortem_action", 1, ALICE, view_id="V0A1", text="Canary flag changes", owner=CAROL, due="2026-12-01")
    bot.drain()

    reply = bot.command("draft", command="/postmortem", channel_id=incident)
    assert reply["response_type"] == "ephemeral" and "Postmortem draft v1 of INC-1 is saved" in reply["text"]
    bot.drain()
    [complete] = standin.calls_to("files.completeUploadExternal")
    assert complete["channel_id"] == incident
    md = uploaded_markdown(standin)
    assert md.startswith("# INC-1 postmortem: Checkout errors")
    assert "All times in UTC" in md
    assert "| 2026-11-01 10:00 | **Impact started** | @alice |" in md, "spans days (the chat is today): dates shown"
    assert "rolled back deploy 4211 \\| for real" in md
    assert "found it: the new flag @channel ([message](https://acme.slack.com/archives/" in md
    assert "is it the cache?" in md.split("## Appendix", 1)[1]
    assert "The new cache flag was on for everyone" in md and "— @bob" in md
    assert "Rollback took two minutes" in md and "Alerts were late" in md and "— @carol" in md
    assert "| 1 | Canary flag changes | @carol | 2026-12-01 | open |" in md
    assert "| Time to resolve | 1 h 6 min |" in md and "| Time to mitigate | 40 min |" in md
    summary = [c for c in standin.calls_to("chat.postMessage") if "postmortem draft v1" in c["text"]]
    assert len(summary) == 1 and summary[0]["channel"] == incident
    assert "1 h 6 min" in json.dumps(summary[0]["blocks"])

    bot.command("draft detailed", command="/postmortem", channel_id=incident)
    bot.drain()
    assert uploaded_markdown(standin).startswith("# INC-1 postmortem (detailed)")

    with bot.db.read() as session:
        assert rows.draft_count(session, 1) == 2


def test_an_upload_that_fails_is_retried_and_the_draft_is_kept(bot, standin, incident):
    standin.fail("files.completeUploadExternal", "internal_error", status=500, times=10)
    reply = bot.text("draft", command="/postmortem", channel_id=incident)
    assert "v1" in reply
    bot.drain()
    assert not [c for c in standin.calls_to("chat.postMessage") if "postmortem draft" in c["text"]]
    standin.clear_faults()

    with bot.db.write() as session:  # the retry is due later: bring it forward
        for job in rows.pending_jobs(session, "upload_draft"):
            job.next_attempt_at = bot.services.now()
            session.add(job)
    bot.drain()
    assert "INC-1 postmortem" in uploaded_markdown(standin)
    with bot.db.read() as session:
        assert rows.draft_count(session, 1) == 1


def test_template_problems_are_told_and_nothing_is_stored(make_bot, tmp_path):
    (tmp_path / "typo.md.j2").write_text("# {{ ref }}\n{{ nope }}\n")
    bot = make_bot(templates_dir=tmp_path)
    channel = open_incident(bot)
    reply = bot.text("draft typo", command="/postmortem", channel_id=channel)
    assert "No draft was made" in reply and "typo.md.j2" in reply and "line 2" in reply
    reply = bot.text("draft fancy", command="/postmortem", channel_id=channel)
    assert "no template `fancy`" in reply and "`default`" in reply
    listing = bot.text("templates", command="/postmortem", channel_id=channel)
    assert all(f"`{n}`" in listing for n in ("brief", "default", "detailed", "typo"))

    with bot.db.read() as session:
        assert rows.draft_count(session, 1) == 0


def test_postmortem_outside_an_incident_channel_and_help(bot):
    assert "No incident in this channel" in bot.text("draft", command="/postmortem", channel_id="C0RANDOM")
    assert "/postmortem draft" in bot.text("", command="/postmortem")
    assert "is not a `/postmortem` subcommand" in bot.text("drafts <!here>", command="/postmortem")
    assert "<!here>" not in bot.text("drafts <!here>", command="/postmortem")


def test_export_writes_the_same_markdown_from_any_folder(bot, incident, database_url, tmp_path):
    bot.text("draft", command="/postmortem", channel_id=incident)
    from storage import drafts

    with bot.db.read() as session:
        stored = drafts.draft(session, 1).markdown
    out = tmp_path / "pm.md"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DATABASE_URL": database_url}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "postmortem", "export", "INC-1", "--output", str(out)],
                            env={**env, "PYTHONPATH": str(REPO)}, cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    exported = out.read_text()

    def without_generated(md: str) -> str:
        return "\n".join(line for line in md.splitlines() if "generated" not in line)

    assert without_generated(exported) == without_generated(stored)
    bad = subprocess.run([sys.executable, "-m", "bot.cli", "postmortem", "export", "9"], env={**env, "PYTHONPATH": str(REPO)},
                         cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 1 and "no INC-9" in bad.stderr


@pytest.mark.parametrize("metadata", ["99999999999999999999", "-1", "0", "9" * 5000])
def test_a_modal_for_an_incident_number_the_database_cannot_hold_is_refused(bot, incident, metadata):
    payload = sr.view_submission("postmortem_root_cause", view_values(root_cause="cache", contributing_factors=""),
                                 user_id=BOB, private_metadata=metadata)
    response = bot.interact(payload)
    assert response.status == 200, response.body
    assert response.json()["response_action"] == "errors"


@pytest.mark.parametrize("owner", ["U" + "X" * 40, "<!channel>", "bob", "u0bob"])
def test_an_action_owner_that_is_not_a_user_id_is_refused_and_nothing_is_stored(bot, incident, owner):
    reply = submit(bot, "postmortem_action", 1, ALICE, view_id="V0OWNER", text="Canary flags", owner=owner, due=None)
    assert reply["response_action"] == "errors" and "owner" in reply["errors"]
    from storage import action_items

    with bot.db.read() as session:
        assert action_items.action_items(session, 1) == []


def test_two_drafts_at_once_get_consecutive_versions(bot, incident):
    import threading

    replies = []
    barrier = threading.Barrier(3)

    def draft():
        barrier.wait()
        replies.append(bot.text("draft brief", command="/postmortem", channel_id=incident))

    threads = [threading.Thread(target=draft) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all("is saved" in r for r in replies), replies
    from storage import drafts

    with bot.db.read() as session:
        assert drafts.latest_draft_version(session, 1) == 3
        assert rows.draft_count(session, 1) == 3, "three versions, none lost to the race"
