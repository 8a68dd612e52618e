"""`vpipe review` in real headless Chromium: a person's clicks, drags and keys, then save and render."""

from __future__ import annotations

import base64
import hashlib
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

import av
import cv2
import numpy as np
import pytest

from conftest import ROOT, SAMPLE, write_config
from support.cdp import Browser
from vpipe.pipeline.apps.apply import build_apply
from vpipe.pipeline.apps.review import QUALITY
from vpipe.pipeline.runtime.runner import Runner
from vpipe.pipeline.verify.check import verify
from vpipe.pipeline.verify.report import report_paths, write_reports

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p), None)
BOX = [400, 300, 560, 380]  # a 'plate' on every frame, in the 1280x720 frames
GAP = 10  # the frame where the run left it uncovered


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


@pytest.fixture
def reviewed_run(tmp_path):
    """A 1280x720 clip, and an output where a tracked plate is covered on every frame but one
    (rendered by apply from a written audit: no detector needed), verified: that frame flagged."""
    original = tmp_path / "original.mp4"
    with av.open(str(SAMPLE)) as src, av.open(str(original), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for _, frame in zip(range(20), src.decode(video=0)):
            image = cv2.resize(frame.to_ndarray(format="bgr24"), (1280, 720), interpolation=cv2.INTER_CUBIC)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        out.mux(stream.encode())
    config = write_config(tmp_path, f"""
sources: [{{uri: {original}}}]
stages: [{{name: plate_blur, type: anonymize, params: {{method: blur}}}}]
sinks: [{{type: video, params: {{path: {tmp_path}/out.mp4}}}}]
""")
    audit = tmp_path / "written.jsonl"
    audit.write_text("".join(json.dumps({
        "source": "source", "index": k, "detections": [{"box": BOX, "class": "licence_plate", "track": 1}],
        "audit": {"plate_blur": {"covered": int(k != GAP), "boxes": [] if k == GAP else [BOX]}}}) + "\n"
        for k in range(20)))
    graph, frames = build_apply(original, audit, str(tmp_path / "out.mp4"), config)
    try:
        Runner(graph, max_frames=frames).run()
    finally:
        graph.close()
    output = tmp_path / "out.mp4"
    result = verify(original, output)
    assert [(c.kind, c.position) for c in result.candidates] == [("temporal_gap", GAP)]
    write_reports(result, *report_paths(output))
    return original, output, config


@pytest.mark.skipif(CHROMIUM is None, reason="chromium missing (apt-get install chromium)")
def test_draw_a_box_on_the_flagged_frame_save_and_render(reviewed_run, tmp_path):
    original, output, config = reviewed_run
    port, secret = free_port(), "s3cret-review"
    proc = subprocess.Popen([sys.executable, "-m", "vpipe.pipeline.apps.cli", "review", str(original), str(output),
                             "--config", str(config), "--port", str(port), "--user", "editor"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env={**os.environ, "VPIPE_WEB_PASSWORD": secret})
    base = f"http://127.0.0.1:{port}"
    auth = "Basic " + base64.b64encode(f"editor:{secret}".encode()).decode()
    browser = None
    try:
        deadline = time.monotonic() + 60
        while True:  # listening, and refusing a request without the password
            try:
                urllib.request.urlopen(f"{base}/api/info", timeout=5)
                pytest.fail("the page answered without auth")
            except urllib.error.HTTPError as exc:
                assert exc.code == 401
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        browser = Browser(CHROMIUM, tmp_path / "profile")
        browser.call("Network.enable", maxResourceBufferSize=50_000_000, maxTotalBufferSize=200_000_000)
        browser.call("Network.setExtraHTTPHeaders", headers={"Authorization": auth})
        browser.call("Page.navigate", url=f"{base}/")
        browser.wait("document.body.dataset.ready === '1'")
        assert "temporal_gap" in browser.evaluate("document.getElementById('flags').textContent")
        browser.key("n")  # next flagged
        browser.wait(f"document.body.dataset.position === '{GAP}'")
        assert "track 1" in browser.evaluate("document.getElementById('reasons').textContent")
        r = browser.evaluate("(() => { const r = document.getElementById('overlay').getBoundingClientRect();"
                             " return [r.left, r.top, r.width, r.height]; })()")
        sx, sy = r[2] / 1280, r[3] / 720
        grown = [BOX[0] - 6, BOX[1] - 6, BOX[2] + 6, BOX[3] + 6]
        browser.drag((r[0] + grown[0] * sx, r[1] + grown[1] * sy), (r[0] + grown[2] * sx, r[1] + grown[3] * sy))
        assert browser.evaluate("document.querySelectorAll('#overlay rect.manual').length") == 1
        browser.drag((r[0] + 40 * sx, r[1] + 40 * sy), (r[0] + 120 * sx, r[1] + 100 * sy))  # a slip...
        assert browser.evaluate("document.querySelectorAll('#overlay rect.manual').length") == 2
        browser.key("z")  # ...undone
        assert browser.evaluate("document.querySelectorAll('#overlay rect.manual').length") == 1
        browser.key("ArrowRight")
        browser.key("ArrowRight")
        browser.wait(f"document.body.dataset.position === '{GAP + 2}'")
        browser.key("e")  # the box drawn on GAP, extended to GAP + 2 on its track
        assert browser.evaluate("document.querySelectorAll('#overlay rect.manual').length") == 1
        for button, done in (("save", "saved"), ("render", "rendered")):
            b = browser.evaluate(f"(() => {{ const r = document.getElementById('{button}').getBoundingClientRect();"
                                 " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
            browser.mouse("mousePressed", *b)
            browser.mouse("mouseReleased", *b)
            browser.wait(f"document.body.dataset.{done}")
        assert browser.evaluate("document.getElementById('error').textContent") == ""
        # The page now shows the new output: on the flagged frame, the drawn box is a cover.
        browser.wait(f"document.body.dataset.position === '{GAP + 2}'")
        browser.key("ArrowLeft")
        browser.key("ArrowLeft")
        browser.wait(f"document.body.dataset.position === '{GAP}'")
        assert browser.evaluate("document.querySelectorAll('#overlay rect.cover').length") == 1
        for _ in range(3):
            browser.key("ArrowRight")
        browser.wait(f"document.body.dataset.position === '{GAP + 3}'")
        bodies = browser.bodies()
    finally:
        if browser:
            browser.close()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert secret not in out
    saved = [json.loads(line) for line in (output.parent / "out.review.jsonl").read_text().splitlines()]
    assert [bool(r.get("manual")) for r in saved] == [k in (GAP, GAP + 2) for k in range(20)]
    drawn, extended = saved[GAP]["manual"][0], saved[GAP + 2]["manual"][0]
    assert all(abs(a - b) <= 3 for a, b in zip(drawn["box"], grown))
    assert extended["box"] == drawn["box"] and extended["track"] == drawn["track"]
    records = [json.loads(line) for line in (output.parent / "out.reviewed.jsonl").read_text().splitlines()]
    assert [bool(r["audit"].get("review")) for r in records] == [k in (GAP, GAP + 1, GAP + 2) for k in range(20)]
    rendered = output.parent / "out.reviewed.mp4"
    assert not verify(original, rendered).candidates  # the edited audit (out.reviewed.jsonl) passes
    before, after = decode(output), decode(rendered)
    x0, y0, x1, y1 = BOX
    assert np.abs(before[GAP][y0:y1, x0:x1].astype(int) - after[GAP][y0:y1, x0:x1]).mean() > 5
    # No response ever carried the original's pixels: not its file, not one of its frames as the
    # page's frames are encoded.
    secret_hashes = {hashlib.sha256(original.read_bytes()).hexdigest()} | {
        hashlib.sha256(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])[1].tobytes()).hexdigest()
        for f in decode(original)}
    jpegs = [b for b in bodies if b[:2] == b"\xff\xd8"]
    assert len(jpegs) >= 5
    assert not {hashlib.sha256(b).hexdigest() for b in bodies} & secret_hashes
    # ...while what it showed is the output's: frame GAP of the first output, as served.
    served = {hashlib.sha256(b).hexdigest() for b in jpegs}
    assert hashlib.sha256(cv2.imencode(".jpg", before[GAP], [cv2.IMWRITE_JPEG_QUALITY, QUALITY])[1]
                          .tobytes()).hexdigest() in served
