"""The live web view, seen by a real browser (headless Chromium) during a run of the bundled clip."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import ROOT, SAMPLE, write_config

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,900", "--hide-scrollbars"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, auth: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": auth} if auth else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def wait_for(check, what: str, proc: subprocess.Popen, limit: float = 240):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vpipe ended before {what}: {proc.stdout.read()}")
        try:
            value = check()
            if value:
                return value
        except urllib.error.HTTPError:
            raise
        except OSError:  # not listening yet
            pass
        time.sleep(0.2)
    pytest.fail(f"no {what}")


def browser(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium missing (apt-get install chromium)")
def test_the_page_shows_a_moving_picture_and_the_events(tmp_path):
    port = free_port()
    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}, params: {{max_side: 640, loop: true}}}}]
stages:
  - {{type: detect, engine: {ROOT}/models/centerface.onnx, params: {{threshold: 0.4}}}}
  - {{type: track}}
  - {{type: anonymize}}
  - {{type: events, params: {{snapshots: {tmp_path}/snaps}}}}
sinks:
  - {{type: web, params: {{port: {port}, user: viewer, password: "${{WEB_PASS}}"}}}}
""")
    secret = "pa55-w0rd-xyz"
    proc = subprocess.Popen([sys.executable, "-m", "vpipe.pipeline.apps.cli", "run", str(config), "--max-frames", "2000"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env={**os.environ, "WEB_PASS": secret})
    base = f"http://127.0.0.1:{port}"
    import base64

    auth = "Basic " + base64.b64encode(f"viewer:{secret}".encode()).decode()
    try:
        with pytest.raises(urllib.error.HTTPError, match="401"):
            wait_for(lambda: get(f"{base}/api/status"), "a page without auth refused", proc)
        status = wait_for(lambda: (s := json.loads(get(f"{base}/api/status", auth))) and s["events"] and s,
                          "event on the page", proc)
        assert status["cameras"]["source"]["frames"] > 0
        # Chromium sends the credentials in the URL as basic auth.
        url = f"http://viewer:{secret}@127.0.0.1:{port}/"
        shots = []
        for k in range(2):
            path = tmp_path / f"shot{k}.png"
            result = browser(tmp_path, f"--screenshot={path}", url)
            assert path.is_file(), result.stderr[-2000:]
            shots.append(cv2.imread(str(path)))
        dom = browser(tmp_path, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000", "--dump-dom", url)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    # The camera's picture (top left, under the header) moved between the two screenshots.
    a, b = (s[40:400, 8:648].astype(int) for s in shots)
    assert a.std() > 10, "the picture is blank"
    assert np.abs(a - b).mean() > 2, "the picture did not move"
    # The page ran without an error and its script filled in the events and the camera's figures.
    errors = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not errors, errors
    assert "data-updated=" in dom.stdout and '<span id="error"></span>' in dom.stdout
    assert 'src="/snapshot/source-1.jpg"' in dom.stdout and "face #1 start" in dom.stdout
    assert " FPS, " in dom.stdout and "dropped" in dom.stdout
    assert secret not in out


def test_vpipe_serve_adds_the_view_to_a_config(tmp_path):
    port = free_port()
    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}, params: {{max_side: 320, loop: true}}}}]
stages:
  - {{type: detect, engine: {ROOT}/models/centerface.onnx, params: {{threshold: 0.4}}}}
  - {{type: anonymize}}
sinks: [{{type: jsonl, params: {{path: {tmp_path}/audit.jsonl}}}}]
""")
    cli = [sys.executable, "-m", "vpipe.pipeline.apps.cli", "serve", str(config), "--port", str(port), "-q"]
    refused = subprocess.run([*cli, "--user", "admin"], capture_output=True, text=True, cwd=ROOT, timeout=120,
                             env={k: v for k, v in os.environ.items() if k != "VPIPE_WEB_PASSWORD"})
    assert refused.returncode != 0 and refused.stderr.count("\n") == 1 and "VPIPE_WEB_PASSWORD" in refused.stderr
    proc = subprocess.Popen([*cli, "--max-frames", "100000"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=ROOT)
    try:
        status = wait_for(lambda: (s := json.loads(get(f"http://127.0.0.1:{port}/api/status")))
                          ["cameras"]["source"]["frames"] and s, "frames on the page", proc)
        picture = cv2.imdecode(np.frombuffer(get(f"http://127.0.0.1:{port}/frame/source.jpg"), np.uint8),
                               cv2.IMREAD_COLOR)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert status["cameras"]["source"]["fps"] >= 0 and picture.shape == (180, 320, 3)


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_vpipe_serve_needs_no_overwrite_and_stays_up_after_the_stream_ends(tmp_path, sigint):
    """`ignored`: started by a parent that ignores SIGINT (a script's background job, a test
    runner's worker), Ctrl-C must still close the page once the stream has ended."""
    port = free_port()
    inherit = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint == "ignored" else None
    audit = tmp_path / "audit.jsonl"
    audit.write_text("an earlier run's audit\n")
    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}, params: {{max_side: 320}}}}]
stages:
  - {{type: detect, engine: {ROOT}/models/centerface.onnx, params: {{threshold: 0.4}}}}
  - {{type: anonymize}}
sinks: [{{type: jsonl, params: {{path: {audit}}}}}]
""")
    proc = subprocess.Popen([sys.executable, "-m", "vpipe.pipeline.apps.cli", "serve", str(config), "--port", str(port),
                             "-q", "--max-frames", "5"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=ROOT, preexec_fn=inherit)
    try:
        status = wait_for(lambda: (s := json.loads(get(f"http://127.0.0.1:{port}/api/status")))["ended"] and s,
                          "the stream's end on the page", proc)
        time.sleep(1.0)
        assert proc.poll() is None  # still up, on the last picture
        picture = get(f"http://127.0.0.1:{port}/frame/source.jpg")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert status["cameras"]["source"]["frames"] == 5 and picture[:2] == b"\xff\xd8"
    assert proc.returncode == 0, out
    assert "the stream has ended" in out and "exists" not in out
    assert audit.read_text() == "an earlier run's audit\n"  # neither a refusal nor replaced
# -- exposure (issue 22 M8): in process, no run ----------------------------------------------------

@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.7", "::", "cam-box.local"])
def test_a_view_beyond_loopback_needs_a_user(host):
    from pydantic import ValidationError

    from vpipe.stages.web import WebParams

    with pytest.raises(ValidationError, match="set user and password"):
        WebParams(host=host)
    WebParams(host=host, user="admin", password="x")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_user(host):
    from vpipe.stages.web import WebParams

    WebParams(host=host)


def test_an_empty_password_is_refused(tmp_path, monkeypatch, capsys):
    from test_config_errors import run_cli

    from vpipe.pipeline.api.element import Context
    from vpipe.pipeline.api.errors import VpipeError
    from vpipe.stages.web import WebParams, WebSink

    monkeypatch.setenv("VPIPE_WEB_PASSWORD", "")
    with pytest.raises(VpipeError, match="params.password: .*empty"):
        WebSink(Context(name="web", base_dir=tmp_path), WebParams(user="admin", password="${VPIPE_WEB_PASSWORD}"))
    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages: [{{type: detect, engine: {ROOT}/models/centerface.onnx}}, {{type: anonymize}}]
sinks: [{{type: "null"}}]
""")
    code, _, err = run_cli(monkeypatch, capsys, "serve", str(config), "--user", "admin", "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "VPIPE_WEB_PASSWORD is empty" in err, err


def test_a_connection_that_sends_nothing_is_closed(tmp_path):
    """400 half-open connections held 400 threads for ever: a request has a time limit."""
    from vpipe.pipeline.api.element import Context
    from vpipe.stages import web

    assert web.WebParams().timeout == 10
    sink = web.WebSink(Context(name="web", base_dir=tmp_path), web.WebParams(port=0, timeout=0.5))
    sink.open()
    try:
        with socket.create_connection(("127.0.0.1", sink.port)) as idle:
            idle.settimeout(30)  # far beyond the limit: only a server that never closes reaches it
            assert idle.recv(1) == b""  # closed by the server
    finally:
        sink.close()


@pytest.mark.parametrize("host", ["999.1.1.1", "cam box", "", "-x.local", "1.2.3"])
def test_a_host_that_cannot_be_bound_fails_at_validate(host):
    """A host nobody can listen on failed only when the run opened the view (issue 22)."""
    from pydantic import ValidationError

    from vpipe.stages.web import WebParams

    with pytest.raises(ValidationError, match="not an IP address or host name"):
        WebParams(host=host, user="admin", password="x")
