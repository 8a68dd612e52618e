"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: fd 3 in,
fd 4 out, messages ended by NUL), so tests can click, drag and type like a person, with no
WebSocket client or browser driver to install. Every response the page receives is recorded."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,900", "--hide-scrollbars"]


class Browser:
    def __init__(self, chromium: str, profile: Path):
        to_chrome, self._out = os.pipe()
        self._in, from_chrome = os.pipe()

        def pipes() -> None:  # in the child: the protocol's two descriptors at 3 and 4
            os.dup2(to_chrome, 3)
            os.dup2(from_chrome, 4)

        self.proc = subprocess.Popen([chromium, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}",
                                      "about:blank"], preexec_fn=pipes, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer = b""
        self._id = 0
        self.session: str | None = None
        self.events: list[dict] = []
        target = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]

    def call(self, method: str, timeout: float = 60, **params) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(method)

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, limit: float = 120):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except RuntimeError:  # a page still loading: no document.body yet
                value = None
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(expression)

    def mouse(self, kind: str, x: float, y: float) -> None:
        self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                  buttons=0 if kind == "mouseReleased" else 1, clickCount=1)

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        self.mouse("mousePressed", *start)
        for t in (0.25, 0.5, 0.75, 1.0):
            self.mouse("mouseMoved", start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)
        self.mouse("mouseReleased", *end)

    def key(self, key: str) -> None:
        code = {"ArrowRight": 39, "ArrowLeft": 37}.get(key) or ord(key.upper())
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, windowsVirtualKeyCode=code,
                      **({"text": key} if kind == "keyDown" and len(key) == 1 else {}))

    def bodies(self) -> list[bytes]:
        """The body of every response the page got (Network.enable must have been called first)."""
        out = []
        for event in list(self.events):
            if event.get("method") == "Network.loadingFinished":
                try:
                    body = self.call("Network.getResponseBody", requestId=event["params"]["requestId"])
                except RuntimeError:  # a response with no body kept (a 401, a redirect)
                    continue
                out.append(base64.b64decode(body["body"]) if body["base64Encoded"] else body["body"].encode())
        return out

    def close(self) -> None:
        try:
            self.session = None
            self.call("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._out)
        os.close(self._in)
