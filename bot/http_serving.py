"""The HTTP server: waitress, one process, a pool of `WEB_THREADS` request threads.

Why waitress (docs/serving.md has the measurements): its event loop reads each request whole,
headers and body, before a request thread sees it. A client that sends its headers slowly holds a
socket, not a thread, so a few hundred slow connections cannot keep Slack's requests waiting.

Stopping (SIGTERM or SIGINT): the listening socket closes at once, idle connections are closed,
requests already received are answered (for up to `GRACE_SECONDS`), then the process exits.
"""

from __future__ import annotations

import logging
import resource
import signal
import threading
import time
from collections.abc import Callable

from waitress import wasyncore
from waitress.server import create_server

log = logging.getLogger(__name__)

GRACE_SECONDS = 20
# Idle keep-alive connections are closed after this long: longer than the idle timeout of the usual
# load balancers (60 s), so it is the balancer that closes them, never in the middle of its request.
IDLE_SECONDS = 75
LOOP_TICK_SECONDS = 0.25  # how soon a stop request is noticed
MAX_CONNECTIONS = 2000


def connection_limit() -> int:
    """Open connections served at once (more wait in the listen backlog): each costs a file
    descriptor, so stay well under the process's limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(100, min(MAX_CONNECTIONS, soft - 200))


class HttpServer:
    """A waitress server bound at construction (so a port in use fails before anything starts)."""

    def __init__(self, application: Callable, *, port: int, threads: int, host: str = "0.0.0.0",
                 max_body: int = 1 << 20):
        self._map: dict = {}
        self._stop = threading.Event()
        self.server = create_server(
            application, map=self._map, host=host, port=port, threads=threads,
            connection_limit=connection_limit(), channel_timeout=IDLE_SECONDS, cleanup_interval=5,
            max_request_body_size=max_body, asyncore_use_poll=True, ident="incident-bot",
        )

    @property
    def port(self) -> int:
        return int(self.server.effective_port)

    def stop(self) -> None:
        """Ask the loop to stop (safe from a signal handler or another thread)."""
        self._stop.set()

    def stop_on_signals(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())

    def serve(self) -> None:
        """Serve until `stop()`; then finish the requests already received and close everything."""
        while not self._stop.is_set():
            wasyncore.loop(timeout=LOOP_TICK_SECONDS, map=self._map, use_poll=True, count=1)
        self._drain()

    def _drain(self) -> None:
        wasyncore.dispatcher.close(self.server)  # the listening socket only; the wake-up pipe stays
        deadline = time.monotonic() + GRACE_SECONDS
        while self._close_idle_channels() and time.monotonic() < deadline:
            wasyncore.loop(timeout=0.05, map=self._map, use_poll=True, count=1)
        busy = self._close_idle_channels()
        if busy:
            log.warning("stopping with %s request(s) still unanswered after %s s", busy, GRACE_SECONDS)
        self.server.task_dispatcher.shutdown(timeout=1)
        wasyncore.close_all(self._map)

    def _close_idle_channels(self) -> int:
        """Close connections that have no request in progress; returns how many still have one."""
        busy = 0
        for channel in list(self._map.values()):
            if not hasattr(channel, "requests"):
                continue  # the wake-up pipe
            if channel.requests or channel.total_outbufs_len:
                busy += 1
            elif not channel.will_close:
                channel.will_close = True
        return busy
