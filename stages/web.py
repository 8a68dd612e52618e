"""A live web view: each camera's anonymized picture with boxes, its FPS, latency and drops, and
the latest events with their snapshots. One small page, no front-end build step.

Served by the standard library's ThreadingHTTPServer: a handful of viewers on a local port need
no framework, each request gets a thread (as the graph's workers do), and it adds no dependency.
It binds to 127.0.0.1 unless `host` says otherwise. Routes:

  /                      the page (rendered with the current state, then refreshed by script)
  /api/status            cameras' FPS, latency and drops, and the latest events, as JSON
  /frame/CAMERA.jpg      the latest picture
  /stream/CAMERA.mjpg    the pictures as MJPEG (for players: VLC, ffplay, an <img>)
  /snapshot/EVENT.jpg    an event's snapshot (only files the events stage wrote)

The sink encodes each camera's picture at most `fps` times a second, so viewers cost nothing on
the graph. With `user`, every request needs basic auth; the password may come from the
environment (`password: ${WEB_PASS}`) and is never printed or logged.
"""

from __future__ import annotations

import html
import ipaddress
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import cv2
from pydantic import Field, field_validator, model_validator

from vpipe.pipeline.api.element import LiveView, Params
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.http import PageHandler, QuietServer, basic_auth_ok
from vpipe.pipeline.api.registry import register
from vpipe.pipeline.api.secrets import expand_env

BOUNDARY = "vpipeframe"


class WebParams(Params):
    port: int = Field(8080, ge=0, le=65535)
    host: str = Field("127.0.0.1", description="address to listen on; 0.0.0.0 shows the page to the network.")
    user: str | None = Field(None, description="basic auth: both or neither; `${VAR}`s in the password come from the environment.")
    password: str | None = None
    fps: float = Field(10.0, gt=0, le=60, description="pictures per second and camera, at most (encoding costs CPU; viewers see no more).")
    max_side: int = Field(960, ge=64, description="longest side of the pictures served.")
    quality: int = Field(75, ge=1, le=100)
    boxes: bool = Field(True, description="draw the boxes (with their track ids) on the picture.")
    events: int = Field(20, ge=1, le=1000, description="latest events kept for the page.")
    linger: bool = Field(False, description="keep serving the last picture and the figures after the stream ends, until the process stops (`vpipe serve`).")
    timeout: float = Field(10.0, gt=0, le=300, description="seconds a viewer's connection may stay silent (a request not sent, a picture not taken) before it is closed: idle connections hold a thread each.")

    @field_validator("host")
    @classmethod
    def _host(cls, host: str) -> str:
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        label = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        if re.fullmatch(r"[0-9.]*", host) or not re.fullmatch(rf"{label}(\.{label})*", host):
            raise ValueError(f"{host!r} is not an IP address or host name")
        return host

    @model_validator(mode="after")
    def _auth(self) -> "WebParams":
        if (self.user is None) != (self.password is None):
            raise ValueError("basic auth needs both user and password")
        if self.user is None and not is_loopback(self.host):
            raise ValueError(f"host {self.host} serves the view beyond this machine: set user and password "
                             "(basic auth), or keep host 127.0.0.1")
        return self


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any interface


@dataclass
class _Camera:
    jpeg: bytes = b""
    frames: int = 0
    drops: int = 0
    last_index: int = -1
    latency_ms: float = 0.0
    #: perf_counter() of recent frames, for the FPS over the last seconds.
    times: deque = field(default_factory=lambda: deque(maxlen=256))
    encoded_at: float = 0.0

    def fps(self, now: float) -> float:
        recent = [t for t in self.times.copy() if t > now - 2.0]  # copy: the sink appends meanwhile
        return (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0


@register("web")
class WebSink(LiveView[WebParams]):
    """Serves a live page of the anonymized cameras and their events over HTTP."""

    Params = WebParams
    writes_pixels = True

    def __init__(self, ctx, params: WebParams):
        super().__init__(ctx, params)
        self.password = None
        if params.password is not None:
            self.password, _ = expand_env(params.password, lambda name: VpipeError(
                f"params.password: environment variable {name} is not set"))
        if self.password == "":
            raise VpipeError("params.password: empty (an unset or empty variable?): anyone could log in")
        self.cameras: dict[str, _Camera] = {name: _Camera() for name in ctx.streams}
        self.events: deque[dict] = deque(maxlen=params.events)
        self.snapshots: dict[str, Path] = {}
        self.changed = threading.Condition()
        self.closed = False
        self.ended = False
        self.server: ThreadingHTTPServer | None = None

    def open(self) -> None:
        # A socket timeout per connection: a client that connects and sends nothing is let go.
        handler = type("Handler", (_Handler,), {"sink": self, "timeout": self.params.timeout})
        try:
            self.server = QuietServer((self.params.host, self.params.port), handler)
        except OSError as exc:
            raise VpipeError(f"params.port: cannot listen on {self.params.host}:{self.params.port}: "
                             f"{exc.strerror or exc}") from None
        threading.Thread(target=self.server.serve_forever, name=f"{self.name}-http", daemon=True).start()

    @property
    def port(self) -> int:
        """The port it listens on (the one chosen by the system with `port: 0`)."""
        return self.server.server_address[1] if self.server else self.params.port

    def __call__(self, frame: Frame) -> None:
        camera = self.cameras.setdefault(frame.source_id, _Camera())
        now = time.perf_counter()
        if camera.last_index >= 0 and frame.index > camera.last_index + 1:
            camera.drops += frame.index - camera.last_index - 1  # lost upstream (queues, decode)
        camera.last_index = frame.index
        camera.frames += 1
        camera.times.append(now)
        camera.latency_ms = (now - frame.captured_at) * 1000
        for event in frame.events:
            if event.get("snapshot"):
                self.snapshots[event["id"]] = Path(event["snapshot"])
            self.events.appendleft(event)
        while len(self.snapshots) > self.params.events:  # only the events still listed
            self.snapshots.pop(next(iter(self.snapshots)))
        if now - camera.encoded_at >= 1.0 / self.params.fps:
            camera.encoded_at = now
            camera.jpeg = self._picture(frame)
            with self.changed:
                self.changed.notify_all()

    def _picture(self, frame: Frame) -> bytes:
        image = frame.image
        scale = min(1.0, self.params.max_side / max(image.shape[:2]))
        if scale < 1.0:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        else:
            image = image.copy()  # never draw on pixels other branches share
        if self.params.boxes:
            dets = frame.detections
            for i, box in enumerate(dets.boxes):
                x1, y1, x2, y2 = (int(v * scale) for v in box)
                cv2.rectangle(image, (x1, y1), (x2, y2), (0, 255, 0), 2)
                if dets.track_ids is not None and dets.track_ids[i] >= 0:
                    cv2.putText(image, f"#{int(dets.track_ids[i])}", (x1, max(12, y1 - 4)),
                                cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0), 1)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.params.quality])
        return jpeg.tobytes() if ok else b""

    def status(self) -> dict:
        now = time.perf_counter()
        cameras = {name: {"fps": round(c.fps(now), 2), "latency_ms": round(c.latency_ms, 1), "drops": c.drops,
                          "frames": c.frames} for name, c in list(self.cameras.items())}
        # Copies, taken at once: the sink's thread changes both while a request reads them.
        events = [{**e, "snapshot": f"/snapshot/{e['id']}.jpg" if e["id"] in self.snapshots else None}
                  for e in self.events.copy()]
        return {"cameras": cameras, "events": events, "ended": self.ended}

    def authorized(self, header: str | None) -> bool:
        return basic_auth_ok(header, self.params.user, self.password)

    def close(self) -> None:
        self.ended = True
        if self.params.linger:  # the page stays up on its daemon thread; `shutdown` ends it
            return
        self.shutdown()

    def shutdown(self) -> None:
        self.closed = True
        with self.changed:
            self.changed.notify_all()
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class _Handler(PageHandler):
    sink: WebSink

    def do_GET(self) -> None:
        sink = self.sink
        if not sink.authorized(self.headers.get("Authorization")):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="vpipe"')
            self.end_headers()
            return
        path = unquote(self.path.split("?", 1)[0])
        if path == "/":
            return self._send(200, "text/html; charset=utf-8", _page(sink.status()).encode())
        if path == "/api/status":
            return self._send(200, "application/json", json.dumps(sink.status()).encode())
        match = re.fullmatch(r"/(frame|stream|snapshot)/([^/]+)\.(jpg|mjpg)", path)
        camera = sink.cameras.get(match[2]) if match else None
        if match and match[1] == "frame" and camera and camera.jpeg:
            return self._send(200, "image/jpeg", camera.jpeg)
        if match and match[1] == "stream" and camera:
            return self._stream(camera)
        snapshot = sink.snapshots.get(match[2]) if match and match[1] == "snapshot" else None
        if snapshot is not None:
            try:
                return self._send(200, "image/jpeg", snapshot.read_bytes())
            except OSError:
                pass
        self._send(404, "text/plain", b"not found")

    def _stream(self, camera: _Camera) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        sent = b""
        try:
            while not self.sink.closed:
                with self.sink.changed:
                    if camera.jpeg is sent:
                        self.sink.changed.wait(timeout=1.0)
                jpeg = camera.jpeg
                if jpeg and jpeg is not sent:
                    self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}"
                                     "\r\n\r\n".encode() + jpeg + b"\r\n")
                    sent = jpeg
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the viewer went away, or stopped reading


def _page(status: dict) -> str:
    """The page, filled in with the state now (it reads without script), refreshed by script."""
    e = html.escape
    cameras = "".join(
        f'<figure><img class="live" data-camera="{e(n)}" src="/frame/{e(n)}.jpg" alt="{e(n)}">'
        f'<figcaption><b>{e(n)}</b> <span id="stats-{e(n)}">{_stats(s)}</span></figcaption></figure>'
        for n, s in status["cameras"].items())
    return PAGE.replace("{cameras}", cameras).replace("{events}", "".join(_event(ev) for ev in status["events"]))


def _stats(s: dict) -> str:
    return f"{s['fps']:.1f} FPS, {s['latency_ms']:.0f} ms, {s['drops']} dropped"


def _event(ev: dict) -> str:
    e = html.escape
    snap = f'<img src="{e(ev["snapshot"])}" alt="">' if ev.get("snapshot") else ""
    zone = f" {e(ev['zone'])}" if ev.get("zone") else ""
    when = time.strftime("%H:%M:%S", time.localtime(ev["time"]))
    return (f'<li>{snap}<span>{when} {e(ev["camera"])}: {e(ev["class"])} #{ev["track"]} '
            f'{e(ev["type"])}{zone}</span></li>')


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vpipe</title>
<style>
body{margin:0;font:14px sans-serif;background:#111;color:#eee}
header{height:32px;line-height:32px;padding:0 8px;background:#222}#error{color:#f66}
#cameras{display:flex;flex-wrap:wrap;gap:8px;padding:8px}
figure{margin:0}img.live{display:block;width:640px;background:#000}
#events{list-style:none;padding:0 8px}#events li{display:flex;gap:8px;align-items:center;margin:4px 0}
#events img{height:48px}
</style></head><body>
<header>vpipe: anonymized cameras <span id="ended"></span> <span id="error"></span></header>
<div id="cameras">{cameras}</div>
<h3 style="padding:0 8px">Events</h3>
<ul id="events">{events}</ul>
<script>
"use strict";
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})[c]);
function render(status) {
  for (const [name, s] of Object.entries(status.cameras)) {
    const el = document.getElementById("stats-" + name);
    if (el) el.textContent = `${s.fps.toFixed(1)} FPS, ${s.latency_ms.toFixed(0)} ms, ${s.drops} dropped`;
  }
  document.getElementById("events").innerHTML = status.events.map((e) => {
    const snap = e.snapshot ? `<img src="${esc(e.snapshot)}" alt="">` : "";
    const when = new Date(e.time * 1000).toTimeString().slice(0, 8);
    return `<li>${snap}<span>${when} ${esc(e.camera)}: ${esc(e.class)} #${e.track} ${esc(e.type)}${e.zone ? " " + esc(e.zone) : ""}</span></li>`;
  }).join("");
  document.body.dataset.updated = String(Date.now());
  document.getElementById("ended").textContent = status.ended ? "(the stream has ended: its last picture)" : "";
}
async function refresh() {
  try {
    // From the origin: a page opened as http://user:pass@host/ may not fetch URLs that carry them.
    const response = await fetch(new URL("/api/status", location.origin), {cache: "no-store"});
    if (!response.ok) throw new Error(`/api/status: HTTP ${response.status}`);
    render(await response.json());
  } catch (err) {
    // Say so on the page (and in the console): a view that silently stops updating misleads.
    document.getElementById("error").textContent = `not updating: ${err.message}`;
    console.error(err);
  }
  // Load the next picture off-screen and swap it in, so the live image never flickers empty.
  for (const img of document.querySelectorAll("img.live")) {
    const next = new Image();
    next.onload = () => { img.src = next.src; };
    next.src = `${location.origin}/frame/${encodeURIComponent(img.dataset.camera)}.jpg?t=${Date.now()}`;
  }
}
setInterval(refresh, 200);
</script></body></html>
"""
