"""Memory figures from inside `incident-bot run`, for bench/soak.py. Not imported by the bot.

The soak puts a generated `sitecustomize.py` on the bot's PYTHONPATH that calls `install()`, so the
probe works whatever serves HTTP (a forking server like gunicorn, or a threaded one in a single
process) and the bot's code has no hook for it. `install()` starts tracemalloc if asked and, in the
process and in every child forked from it, a daemon thread that waits for a request file
`<directory>/<pid>.<label>.request`. It answers with `<pid>.<label>.json`: resident memory by kind
of mapping, what malloc holds in use and free (glibc's mallinfo2, all arenas; Python's small
objects live in its own arenas, not there), SQLite's own allocations (page caches included),
statements in SQLAlchemy's compiled caches, threads, gc objects, pymalloc blocks in use and, under
tracemalloc, the traced bytes, with `<pid>.<label>.snapshot` beside it.
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


HEAP_MAX_SIZE = 64 << 20  # glibc's per-thread arena heaps are mapped at multiples of this (64-bit)


def rss_figures() -> dict:
    """This process's resident memory by kind of mapping (Linux): malloc's main heap, its per-thread
    arena heaps, other anonymous memory (Python's object arenas, thread stacks, large blocks), files."""
    figures = dict.fromkeys(("rss_main_heap", "rss_thread_arenas", "rss_other_anon", "rss_file"), 0)
    kind = None
    try:
        lines = Path("/proc/self/smaps").read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:  # a mapping's header: range perms offset dev inode [path]
            start = int(fields[0].split("-")[0], 16)
            path = fields[5] if len(fields) > 5 else ""
            if path == "[heap]":
                kind = "rss_main_heap"
            elif path.startswith("/"):
                kind = "rss_file"
            elif fields[4] == "0" and start % HEAP_MAX_SIZE == 0:
                kind = "rss_thread_arenas"
            else:
                kind = "rss_other_anon"
        elif fields[0] == "Rss:" and kind is not None:
            figures[kind] += int(fields[1]) * 1024
    return figures


def sqlite_memory() -> int | None:
    try:
        import _sqlite3

        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (ImportError, OSError, AttributeError):
        return None
    used.restype = ctypes.c_int64
    return used()


def sqlalchemy_compiled(objects: list) -> int | None:
    """Statements held in the SQLAlchemy engines' compiled caches (each an LRU of 500 by default)."""
    engine_class = getattr(sys.modules.get("sqlalchemy.engine.base"), "Engine", None)
    if engine_class is None:
        return None
    caches = {id(o._compiled_cache): o._compiled_cache for o in objects
              if isinstance(o, engine_class) and o._compiled_cache is not None}
    return sum(len(cache) for cache in caches.values())


def _answer(directory: Path, pid: int, label: str) -> None:
    gc.collect()
    base = directory / f"{pid}.{label}"
    stats = {**rss_figures(), **malloc_figures(), "sqlite_memory": sqlite_memory(), "at": time.time(),
             "threads": threading.active_count(), "python_blocks": sys.getallocatedblocks()}
    objects = gc.get_objects()  # once, after the figures above: the list alone is about a megabyte
    stats.update(gc_objects=len(objects), sqlalchemy_compiled=sqlalchemy_compiled(objects))
    del objects
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)])
        stats["traced"], stats["traced_peak"] = tracemalloc.get_traced_memory()
        snapshot.dump(f"{base}.snapshot.part")
        os.replace(f"{base}.snapshot.part", f"{base}.snapshot")
    Path(f"{base}.json.part").write_text(json.dumps(stats))
    os.replace(f"{base}.json.part", f"{base}.json")
