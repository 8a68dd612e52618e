"""The events stage on tracks whose story is known: starts, zone entries, ends, in order."""

from __future__ import annotations

import numpy as np
import pytest

from vpipe.pipeline.api.element import Context
from vpipe.pipeline.api.frame import Detections, Frame
from vpipe.stages.events import Events, EventsParams


def frame(index: int, boxes: dict[int, list[float]], clip: int = 0, source: str = "cam") -> Frame:
    f = Frame(np.zeros((100, 200, 3), np.uint8), source, index, index / 25, 0.0, 1000.0 + index, clip=clip)
    if boxes:
        f.detections = Detections(np.array(list(boxes.values()), np.float32), np.ones(len(boxes), np.float32),
                                  np.zeros(len(boxes), np.int64), ("car",) * len(boxes), track_ids=np.array(list(boxes), np.int64))
    return f


def run(stage: Events, frames: list[Frame]) -> list[tuple]:
    return [(e["type"], e["track"], e["index"], e.get("zone")) for f in frames for e in stage(f).events]


def test_start_enter_end_in_order(tmp_path):
    stage = Events(Context("events", tmp_path), EventsParams(zones={"right": [[100, 0], [200, 0], [200, 100], [100, 100]]}))
    # Track 1 walks from the left half into the right one and leaves; track 2 appears later.
    frames = [frame(0, {1: [10, 10, 30, 50]}), frame(1, {1: [60, 10, 80, 50]}),
              frame(2, {1: [110, 10, 130, 50], 2: [0, 0, 5, 5]}), frame(3, {1: [150, 10, 170, 50], 2: [0, 0, 5, 5]}),
              frame(4, {2: [0, 0, 5, 5]}), frame(5, {})]
    assert run(stage, frames) == [("start", 1, 0, None), ("enter", 1, 2, "right"), ("start", 2, 2, None),
                                  ("end", 1, 4, None), ("end", 2, 5, None)]


def test_a_new_clip_ends_its_tracks_and_cameras_are_apart(tmp_path):
    stage = Events(Context("events", tmp_path), EventsParams())
    frames = [frame(0, {1: [0, 0, 5, 5]}), frame(0, {1: [0, 0, 5, 5]}, source="b"),
              frame(1, {1: [0, 0, 5, 5]}, clip=1)]
    assert [(e["type"], e["camera"], e["index"]) for f in frames for e in stage(f).events] == [
        ("start", "cam", 0), ("start", "b", 0), ("end", "cam", 1), ("start", "cam", 1)]


def test_snapshot_is_the_frame_it_saw(tmp_path):
    import cv2

    stage = Events(Context("events", tmp_path), EventsParams(snapshots=str(tmp_path / "snaps")))
    f = frame(0, {7: [20, 20, 60, 60]})
    f.image[:] = 200
    event = stage(f).events[0]
    snap = cv2.imread(event["snapshot"])
    assert snap.shape == f.image.shape and abs(int(snap[90, 190, 0]) - 200) < 3


def test_zone_needs_three_points():
    with pytest.raises(ValueError, match="at least 3 points"):
        EventsParams(zones={"z": [[0, 0], [1, 1]]})


def _graph(tmp_path, snaps):
    import elements  # noqa: F401  (registers test_box)
    from conftest import SAMPLE, write_config

    return write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages:
  - {{type: test_box}}
  - {{type: track}}
  - {{type: anonymize}}
  - {{type: events, params: {{snapshots: {snaps}}}}}
sinks: [{{type: "null"}}]
""")


def test_snapshots_are_outputs_like_a_sinks(tmp_path):
    from vpipe.pipeline.api.errors import ConfigError
    from vpipe.pipeline.runtime.config import load_config
    from vpipe.pipeline.runtime.graph import build_graph
    from vpipe.pipeline.runtime.overrides import Overrides, apply_overrides

    snaps = tmp_path / "snaps"
    snaps.mkdir()
    (snaps / "source-1_start.jpg").write_bytes(b"an earlier run's")
    config = load_config(_graph(tmp_path, snaps))
    with pytest.raises(ConfigError, match=r"stages\[3\]\.params\.snapshots: .*exists: --overwrite replaces it"):
        build_graph(apply_overrides(config, Overrides(overwrite=False)))
    # `vpipe bench` writes nothing of the user's: the snapshots go to its scratch folder.
    graph = build_graph(apply_overrides(config, Overrides(output_dir=tmp_path / "scratch")))
    assert graph.nodes["events"].element.folder == tmp_path / "scratch" / "events" / "snaps"
    graph.close()
