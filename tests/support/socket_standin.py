"""A local stand-in for Slack's Socket Mode WebSocket: sends envelopes, reads the app's acks."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid

from websockets.sync.server import serve


class SocketModeStandIn:
    def __init__(self):
        self.acks: queue.Queue = queue.Queue()
        self.opened = threading.Event()  # the WebSocket handshake is done
        self.connected = threading.Event()  # and `hello` was sent: Slack accepted the connection
        self.release_hello = threading.Event()  # clear it to hold `hello` back
        self.release_hello.set()
        self.closed_with: Exception | None = None  # why the client's connection ended, if it did
        self._ws = None
        self._server = None

    def start(self) -> SocketModeStandIn:
        self._server = serve(self._handle, "127.0.0.1", 0)
        threading.Thread(target=self._server.serve_forever, name="socket-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()

    @property
    def url(self) -> str:
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={uuid.uuid4()}&app_id=A0001"

    def _handle(self, ws) -> None:
        self._ws = ws
        self.opened.set()
        if not self.release_hello.wait(30):
            return
        ws.send(json.dumps({"type": "hello", "num_connections": 1,
                            "debug_info": {"host": "applink-standin"}, "connection_info": {"app_id": "A0001"}}))
        self.connected.set()
        try:
            for message in ws:
                self.acks.put(json.loads(message))
        except Exception as exc:  # noqa: BLE001 - the client went away
            self.closed_with = exc

    def send(self, envelope_type: str, payload: dict, *, retry_attempt: int = 0,
             accepts_response_payload: bool = False) -> str:
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "type": envelope_type, "payload": payload,
                    "accepts_response_payload": accepts_response_payload}
        if envelope_type == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason="timeout" if retry_attempt else "")
        self._ws.send(json.dumps(envelope))
        return envelope_id

    def ack(self, envelope_id: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        pending = []
        try:
            while time.monotonic() < deadline:
                try:
                    message = self.acks.get(timeout=0.1)
                except queue.Empty:
                    continue
                if message.get("envelope_id") == envelope_id:
                    return message
                pending.append(message)
        finally:
            for message in pending:
                self.acks.put(message)
        raise AssertionError(f"no ack for envelope {envelope_id}")
