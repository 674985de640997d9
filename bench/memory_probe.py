"""Memory figures from inside `incident-bot run`, for bench/soak.py. Not imported by the bot.

The soak puts a generated `sitecustomize.py` on the bot's PYTHONPATH that calls `install()`, so the
probe works whatever serves HTTP (a forking server like gunicorn, or a threaded one in a single
process) and the bot's code has no hook for it. `install()` starts tracemalloc if asked and, in the
process and in every child forked from it, a daemon thread that waits for a request file
`<directory>/<pid>.<label>.request`. It answers with `<pid>.<label>.json`: what malloc holds in use
and free (glibc's mallinfo2, all arenas; Python's small objects live in its own arenas, not there),
SQLite's own allocations (page caches included), threads, gc objects, pymalloc blocks in use and,
under tracemalloc, the traced bytes, with `<pid>.<label>.snapshot` beside it.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

POLL_S = 0.2


def install(directory: str, frames: int = 0) -> None:
    if frames:
        tracemalloc.start(frames)
    os.register_at_fork(after_in_child=lambda: _watch(Path(directory)))
    _watch(Path(directory))


def _watch(directory: Path) -> None:
    threading.Thread(target=_serve, args=(directory, os.getpid()), name="memory-probe", daemon=True).start()


def _serve(directory: Path, pid: int) -> None:
    while os.getpid() == pid:
        for request in directory.glob(f"{pid}.*.request"):
            label = request.name[len(f"{pid}."):-len(".request")]
            _answer(directory, pid, label)
            request.unlink(missing_ok=True)
        time.sleep(POLL_S)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]


def malloc_figures() -> dict:
    """Bytes malloc has handed out and not had back (in use), and holds free in its heaps."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):  # not glibc, or older than 2.33
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {"malloc_in_use": info.uordblks + info.hblkhd, "malloc_free": info.fordblks,
            "malloc_mmapped": info.hblkhd}


def sqlite_memory() -> int | None:
    try:
        import _sqlite3

        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (ImportError, OSError, AttributeError):
        return None
    used.restype = ctypes.c_int64
    return used()


def _answer(directory: Path, pid: int, label: str) -> None:
    gc.collect()
    base = directory / f"{pid}.{label}"
    stats = {"threads": threading.active_count(), "gc_objects": len(gc.get_objects()),
             "python_blocks": sys.getallocatedblocks(),
             "sqlite_memory": sqlite_memory(), **malloc_figures(), "at": time.time()}
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)])
        stats["traced"], stats["traced_peak"] = tracemalloc.get_traced_memory()
        snapshot.dump(f"{base}.snapshot.part")
        os.replace(f"{base}.snapshot.part", f"{base}.snapshot")
    Path(f"{base}.json.part").write_text(json.dumps(stats))
    os.replace(f"{base}.json.part", f"{base}.json")
