"""The mqtt sink against a real broker: Debian's mosquitto, started here on loopback.

`vpipe run` runs the bundled clip (faces, tracked, anonymized) as a subprocess; a paho
subscriber with a persistent session (so the broker keeps its messages while it reconnects)
checks what arrives against the events the same run writes to its JSON-lines audit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE, write_config

mqtt = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt missing (pip install 'vpipe[mqtt]')")
MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto missing (apt-get install mosquitto)")
VPIPE = [sys.executable, "-m", "vpipe.pipeline.apps.cli"]
SCHEMA = {"id": str, "type": str, "camera": str, "class": str, "track": int, "time": float, "index": int,
          "box": list, "snapshot": str}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One mosquitto on a fixed loopback port, persistent (it keeps queued messages across a restart)."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                             f"persistence_location {folder}/\nautosave_interval 1\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGTERM)  # it saves its queues on the way out
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Subscriber:
    """Collects what arrives under a prefix, with the arrival time; reconnects by itself."""

    def __init__(self, port: int, prefix: str):
        self.messages: list[tuple[str, dict | str, float]] = []
        self.first_event = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{port}",
                                  clean_session=False)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{prefix}/#", qos=1)
        self.client.on_message = self._message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _message(self, client, userdata, msg) -> None:
        body = msg.payload.decode()
        self.messages.append((msg.topic, json.loads(body) if body.startswith("{") else body, time.time()))
        if "/events/" in msg.topic:
            self.first_event.set()

    def events(self) -> list[dict]:
        """Events in arrival order, each once (QoS 1 may deliver one twice after a reconnect)."""
        seen, out = set(), []
        for topic, body, _ in self.messages:
            if "/events/" in topic and body["id"] not in seen:
                seen.add(body["id"])
                out.append(body)
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


def config(tmp_path: Path, port: int, frames_loop: bool = False, url: str | None = None) -> Path:
    url = url or f"mqtt://127.0.0.1:{port}"
    return write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}, params: {{max_side: 640, loop: {str(frames_loop).lower()}}}}}]
stages:
  - {{type: detect, engine: {ROOT}/models/centerface.onnx, params: {{threshold: 0.4}}}}
  - {{type: track, params: {{max_age: 10}}}}
  - {{type: lookahead, params: {{frames: 15}}}}
  - {{type: anonymize}}
  - {{type: events, params: {{snapshots: {tmp_path}/snaps, zones: {{left: [[0, 0], [320, 0], [320, 360], [0, 360]]}}}}}}
sinks:
  - {{type: mqtt, params: {{url: "{url}", prefix: test/vpipe, min_delay: 0.1, max_delay: 0.5, drain_timeout: 30}}}}
  - {{type: jsonl, inputs: [events], params: {{path: {tmp_path}/audit.jsonl}}}}
""")


def audit_events(path: Path) -> list[dict]:
    return [e for line in path.read_text().splitlines() for e in json.loads(line).get("events", [])]


def run_vpipe(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([*VPIPE, "run", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})}, cwd=ROOT)


def test_events_of_a_clip_arrive_in_order_with_their_schema(tmp_path, broker):
    sub = Subscriber(broker.port, "test/vpipe")
    proc = run_vpipe(str(config(tmp_path, broker.port)), "--max-frames", "200")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    time.sleep(0.5)  # the last acknowledged messages on their way to the subscriber
    sub.close()
    expected = audit_events(tmp_path / "audit.jsonl")
    got = sub.events()
    # The clip's one face: seen from the first frame, walks into the left half, lost at frame 113.
    assert [(e["type"], e["track"], e["index"]) for e in expected] == [
        ("start", 1, 0), ("enter", 1, 57), ("end", 1, 113)]
    assert got == expected
    for event in got:
        for key, kind in SCHEMA.items():
            assert isinstance(event[key], kind), (key, event)
        assert len(event["box"]) == 4 and Path(event["snapshot"]).is_file()
    topics = [t for t, _, _ in sub.messages]
    assert "test/vpipe/source/events/start" in topics and "test/vpipe/source/events/end" in topics
    availability = [body for t, body, _ in sub.messages if t == "test/vpipe/availability"]
    assert availability[0] == "online" and availability[-1] == "offline"


def test_no_event_is_lost_when_the_broker_restarts(tmp_path, broker):
    sub = Subscriber(broker.port, "test/vpipe")
    # Two passes over the clip: the face's track starts again after the first end.
    proc = run_vpipe(str(config(tmp_path, broker.port, frames_loop=True)), "--max-frames", "400")
    try:
        assert sub.first_event.wait(timeout=240), "no event arrived"
        broker.kill()
        killed_at = len(sub.events())
        broker.start()
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    time.sleep(1.0)
    sub.close()
    expected = audit_events(tmp_path / "audit.jsonl")
    assert len(expected) == 6 and killed_at < len(expected)
    assert sub.events() == expected


def test_broker_password_is_never_printed(tmp_path):
    port = free_port()  # nobody listens: the run ends with the events it could not deliver
    secret = "s3cr3t-pass"
    cfg = config(tmp_path, port, url=f"mqtt://cam:${{MQTT_PASS}}@127.0.0.1:{port}")
    text = cfg.read_text().replace("drain_timeout: 30", "drain_timeout: 1")
    cfg.write_text(text)
    proc = run_vpipe(str(cfg), "--max-frames", "30", env={"MQTT_PASS": secret})
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert secret not in out and "not acknowledged" in out and "Traceback" not in out, out


def test_the_last_will_says_offline_when_vpipe_dies(tmp_path, broker):
    sub = Subscriber(broker.port, "test/vpipe")
    proc = run_vpipe(str(config(tmp_path, broker.port, frames_loop=True)), "--max-frames", "100000")
    try:
        assert sub.first_event.wait(timeout=240), "no event arrived"
        proc.kill()  # no goodbye: only the broker can say it
        proc.wait(timeout=30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sub.messages[-1][:2] != ("test/vpipe/availability", "offline"):
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.close()
    availability = [body for t, body, _ in sub.messages if t == "test/vpipe/availability"]
    assert availability == ["online", "offline"]
