"""Clips around events: the pre-roll and post-roll frames, their timestamps, a bounded buffer."""

from __future__ import annotations

import av
import numpy as np

from conftest import ROOT, SAMPLE, write_config
from vpipe.pipeline.api.element import Context, StreamInfo
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.pipeline.runtime.runner import Runner
from vpipe.stages.clips import ClipsParams, ClipsSink


def decode(path, n=None):
    with av.open(str(path)) as c:
        out = []
        for f in c.decode(video=0):
            out.append((float(f.pts * f.time_base), f.to_ndarray(format="bgr24")))
            if n and len(out) == n:
                break
        return out


def test_a_clip_holds_its_pre_roll_and_post_roll(tmp_path):
    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}, params: {{max_side: 640}}}}]
stages:
  - {{type: detect, engine: {ROOT}/models/centerface.onnx, params: {{threshold: 0.4}}}}
  - {{type: track}}
  - {{type: anonymize}}
  - {{type: events, params: {{zones: {{left: [[0, 0], [320, 0], [320, 360], [0, 360]]}}}}}}
sinks:
  - {{type: clips, params: {{path: {tmp_path}/clips, before: 1.0, after: 1.0, types: [enter]}}}}
  - {{type: video, inputs: [events], params: {{path: {tmp_path}/all.mp4, crf: 12}}}}
  - {{type: jsonl, inputs: [events], params: {{path: {tmp_path}/audit.jsonl}}}}
""")
    graph = build_graph(load_config(config))
    Runner(graph, max_frames=110).run()
    graph.close()
    import json

    events = [e for line in (tmp_path / "audit.jsonl").read_text().splitlines()
              for e in json.loads(line).get("events", []) if e["type"] == "enter"]
    assert len(events) == 1
    at = events[0]["index"]
    clip = decode(tmp_path / "clips" / f"{events[0]['id']}_enter.mp4")
    # 25 frames before the event, the event's, 25 after; timestamps from 0 at 25 FPS.
    assert len(clip) == 51
    assert np.allclose([t for t, _ in clip], np.arange(51) * 0.04, atol=1e-3)
    # They are the frames at-25..at+25 of the run: each is closest to its own frame of the full output.
    full = [image for _, image in decode(tmp_path / "all.mp4", at + 27)]
    for k in (0, 25, 50):
        diffs = [np.abs(clip[k][1].astype(int) - full[i].astype(int)).mean() for i in range(at - 25 + k - 1, at - 25 + k + 2)]
        assert int(np.argmin(diffs)) == 1, (k, diffs)


def test_pre_roll_memory_is_shared_among_cameras():
    streams = {f"cam{i}": StreamInfo(f"cam{i}", fps=25.0) for i in range(8)}
    sink = ClipsSink(Context("clips", ROOT, streams=streams), ClipsParams(path="/tmp/unused", before=10, memory_mb=2))
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (120, 160, 3), np.uint8)  # noise: JPEG cannot shrink it much
    for i in range(100):
        for cam in streams:
            sink(Frame(image, cam, i, i / 25, 0.0, 0.0))
    held = sum(c.nbytes for c in sink.cameras.values())
    assert held <= 2e6 and all(c.nbytes > 0.8 * 2e6 / 8 for c in sink.cameras.values())
    # A camera under its share keeps exactly `before` seconds.
    small = ClipsSink(Context("clips", ROOT, streams=streams), ClipsParams(path="/tmp/unused", before=1, memory_mb=100))
    for i in range(100):
        small(Frame(image, "cam0", i, i / 25, 0.0, 0.0))
    assert [h.index for h in small.cameras["cam0"].preroll] == list(range(74, 100))
