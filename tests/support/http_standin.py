"""What the HTTP stand-ins (Slack: standin.py, GitHub: github_standin.py, Jira: jira_standin.py) share:
a threaded server on 127.0.0.1 that hands every request to the stand-in's `_handle(request)`, its
start and stop, and writing one answer. What each answers, records and fails is its own."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class HTTPCall:
    """One request a stand-in received (the path without its query; header names in lower case)."""

    method: str
    path: str
    query: dict
    body: object
    headers: dict


class HTTPStandIn:
    name = "http"  # the server thread is "<name>-standin"
    methods: tuple[str, ...] = ("GET", "POST")  # the HTTP methods handed to `_handle`
    server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer
    _server: ThreadingHTTPServer | None = None
    _port = 0  # 0: any free port; after the first start, the same port again

    def __init__(self):
        self.calls: list = []  # what was received, in order (each stand-in's own record of a call)
        self.faults: list = []  # the errors still to answer (each stand-in's own Fault)
        self._lock = threading.Lock()

    def _add_fault(self, fault):
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:  # the method is `request.command`
        raise NotImplementedError

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

        def dispatch(handler):
            standin._handle(handler)

        for method in self.methods:
            setattr(Handler, f"do_{method}", dispatch)
        return Handler

    def start(self):
        self._server = self.server_class(("127.0.0.1", self._port), self._handler_class())
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name=f"{self.name}-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server
        return self._server.server_address[1]

    @staticmethod
    def _write(request: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict) -> None:
        """Answer with `status`, these headers and Content-Length, and `payload` as the body."""
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)
