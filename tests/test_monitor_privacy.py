"""Nothing raw leaves through the monitoring outputs: snapshots, clips and the web view show only
anonymized pixels, also when the detector fails (the anonymizer's fault injection: a marked frame
is covered whole), and a graph that would feed them raw pixels is refused before it runs."""

from __future__ import annotations

import time
import urllib.request

import av
import cv2
import numpy as np
import pytest

import elements  # noqa: F401  (registers the test elements)
from conftest import SAMPLE, write_config
from vpipe.pipeline.api.errors import ConfigError
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.pipeline.runtime.runner import Runner

BOX = [100, 50, 300, 200]
#: inside the box, clear of the lines drawn on its border; and a patch far from it.
INSIDE = (slice(60, 190), slice(110, 290))
OUTSIDE = (slice(230, 350), slice(380, 620))


def detail(image: np.ndarray, where) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[where], cv2.CV_64F).var())


def raw_frames(n: int) -> list[np.ndarray]:
    with av.open(str(SAMPLE)) as c:
        frames = [f.to_ndarray(format="bgr24") for _, f in zip(range(n), c.decode(video=0))]
    return [cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA) for f in frames]


def test_snapshots_clips_and_web_view_show_only_anonymized_pixels(tmp_path):
    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}, params: {{max_side: 640, loop: true}}}}]
stages:
  - {{name: det, type: test_box, params: {{box: {BOX}, label: plate}}}}
  # The detector "fails" on every other frame: those go on marked, and must be covered whole.
  - {{name: flaky, type: test_flaky, on_error: mark, params: {{every: 2}}}}
  - {{type: track}}
  - {{type: anonymize}}
  - {{type: events, params: {{snapshots: {tmp_path}/snaps}}}}
sinks:
  - {{type: clips, params: {{path: {tmp_path}/clips, before: 0, after: 0.4, types: [start]}}}}
  - {{name: web, type: web, inputs: [events], params: {{port: 0}}}}
""")
    graph = build_graph(load_config(config))
    runner = Runner(graph, max_frames=100_000)
    runner.start()
    web = graph.nodes["web"].element
    pictures = []
    try:
        deadline = time.monotonic() + 120
        while len(pictures) < 6 and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web.port}/frame/source.jpg", timeout=5) as r:
                    data = r.read()
                if not pictures or data != pictures[-1]:
                    pictures.append(data)
            except OSError:
                pass  # not listening yet, or no picture yet
            time.sleep(0.1)
    finally:
        runner.stop()
        runner.wait()
        graph.close()
    raw = raw_frames(11)
    assert all(detail(f, INSIDE) > 100 and detail(f, OUTSIDE) > 100 for f in raw), "the test needs detail there"
    floor = min(detail(f, INSIDE) for f in raw) * 0.1

    # The track starts on frame 0, which the detector failed on: its snapshot is covered whole.
    (snapshot,) = (tmp_path / "snaps").iterdir()
    image = cv2.imread(str(snapshot))
    assert detail(image, INSIDE) < floor and detail(image, OUTSIDE) < detail(raw[0], OUTSIDE) * 0.1

    # The clip: frames 0..10; the box is covered on each, and the failed (even) frames whole.
    (clip,) = (tmp_path / "clips").iterdir()
    with av.open(str(clip)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(frames) == 11
    for i, frame in enumerate(frames):
        assert detail(frame, INSIDE) < floor, i
        if i % 2 == 0:
            assert detail(frame, OUTSIDE) < detail(raw[i], OUTSIDE) * 0.1, i

    # The web view's pictures, taken during the run: the box is covered on each.
    assert len(pictures) >= 2
    for data in pictures:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (360, 640, 3) and detail(image, INSIDE) < floor


@pytest.mark.parametrize("element", [
    "{type: events, params: {snapshots: snaps}}",
    "{type: clips, params: {path: clips}}",
    "{type: web, params: {port: 0}}",
])
def test_raw_pixels_never_reach_them(tmp_path, element):
    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages:
  - {{type: test_box}}
  - {{type: track}}
  - {{type: events}}
sinks: [{element}]
""".replace("  - {type: events}\nsinks: [{type: events, params: {snapshots: snaps}}]",
            "  - {type: events, params: {snapshots: snaps}}\nsinks: [{type: jsonl, params: {path: a.jsonl}}]"))
    with pytest.raises(ConfigError, match="would write pixels no anonymize stage covered"):
        build_graph(load_config(config))
