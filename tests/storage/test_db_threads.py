"""storage/db.py under threads that come and go, as a server that gives a request (or a connection)
a thread of its own runs the hot paths: nothing a finished thread opened stays open."""

from __future__ import annotations

import gc
import os
import threading
from pathlib import Path

import pytest

from tests.storage.test_capture_sql import capture
from tests.storage.test_storage import make_incident

PROC_FD = Path("/proc/self/fd")


def open_files() -> int:
    return len(os.listdir(PROC_FD))


def count_messages(db, channel_id: str) -> int:
    with db.reading() as c:
        placeholder = "%s" if c.dialect == "postgresql" else "?"
        c.cursor.execute(f"SELECT count(*) FROM entry WHERE channel_id = {placeholder}", (channel_id,))
        return c.cursor.fetchone()[0]


@pytest.mark.skipif(not PROC_FD.is_dir(), reason="counts open files through /proc")
def test_threads_that_come_and_go_leave_no_connections_open(db):
    make_incident(db, channel_id="C1")
    assert count_messages(db, "C1") == 0  # this (living) thread's connection is open from here on

    def request(i: int) -> None:  # what a captured message and a status read do on the hot paths
        assert capture(db, "C1", f"1700000000.{i:06d}")
        assert count_messages(db, "C1") >= 1

    def on_a_thread_of_its_own(i: int) -> None:
        thread = threading.Thread(target=request, args=(i,))
        thread.start()
        thread.join()

    on_a_thread_of_its_own(0)
    gc.collect()
    before = open_files()
    for i in range(1, 100):
        on_a_thread_of_its_own(i)
    gc.collect()

    assert open_files() <= before + 2
    assert count_messages(db, "C1") == 100  # what they wrote is committed; this thread still reads
