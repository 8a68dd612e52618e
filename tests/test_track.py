"""Tracker and look-ahead: covered before, during and after detector misses; the leak benchmark."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from vpipe.pipeline.api.element import Context
from vpipe.pipeline.api.frame import Detections, Frame
from vpipe.stages.base import PerSource
from vpipe.stages.lookahead import Lookahead, LookaheadParams
from vpipe.stages.track import Tracker, TrackParams

H, W = 240, 480
IMAGE = np.zeros((H, W, 3), np.uint8)


def frame(index: int, boxes=(), scores=None, names=None, source: str = "cam", ids=None,
          coasted: bool = False) -> Frame:
    n = len(boxes)
    dets = Detections(
        np.array(boxes, np.float32).reshape(-1, 4),
        np.array(scores if scores is not None else [0.9] * n, np.float32),
        np.zeros(n, np.int64),
        tuple(names or ["plate"] * n),
        track_ids=None if ids is None else np.array(ids, np.int64),
    ).with_data(source="track" if coasted else "det", coasted=coasted)
    return Frame(IMAGE, source, index, index / 25, 0.0, 0.0, seq=index, detections=dets)


def tracker(**params) -> Tracker:
    return Tracker(Context("track", Path(".")), TrackParams(**params))


def lookahead(**params) -> Lookahead:
    return Lookahead(Context("look", Path(".")), LookaheadParams(**params))


def coverage(truth, boxes) -> float:
    """Share of the `truth` box inside the union of `boxes` (pixel grid)."""
    mask = np.zeros((H, W), bool)
    for x1, y1, x2, y2 in boxes:
        mask[int(np.floor(y1)):int(np.ceil(y2)), int(np.floor(x1)):int(np.ceil(x2))] = True
    x1, y1, x2, y2 = (round(v) for v in truth)
    return float(mask[y1:y2, x1:x2].mean())


def moving(index: int, x0: float = 20, vx: float = 4, y: float = 100, w: float = 60, h: float = 20):
    return [x0 + vx * index, y, x0 + vx * index + w, y + h]


# -- tracker ----------------------------------------------------------------------------------


@pytest.mark.parametrize("missed", [1, 3, 8])
def test_coasting_covers_misses_up_to_max_age(missed):
    track = tracker(max_age=8, coast_grow=0.0)
    ids = set()
    for i in range(10):
        out = track(frame(i, [moving(i)])).detections
        ids.add(int(out.track_ids[0]))
    for i in range(10, 10 + missed):
        out = track(frame(i)).detections
        assert len(out) == 1 and out.coasted.tolist() == [True] and out.source.tolist() == ["track"]
        assert out.to_json()[0]["stage"] == "track:coast"  # the audit's format is unchanged
        assert int(out.track_ids[0]) in ids
        assert coverage(moving(i), out.boxes) > 0.9  # the prediction follows the motion
    out = track(frame(10 + missed, [moving(10 + missed)])).detections
    assert out.track_ids.tolist() == list(ids) and not out.coasted.any()  # found again: same id, no coasting box
    assert len(ids) == 1


def test_coasting_stops_after_max_age():
    track = tracker(max_age=3)
    for i in range(5):
        track(frame(i, [moving(i)]))
    counts = [len(track(frame(i)).detections) for i in range(5, 10)]
    assert counts == [1, 1, 1, 0, 0]


def test_unmatched_detections_are_never_dropped():
    track = tracker(high_threshold=0.5, low_threshold=0.2)
    boxes = [[10, 10, 50, 30], [200, 10, 240, 30], [300, 100, 340, 120]]
    out = track(frame(0, boxes, scores=[0.9, 0.3, 0.05])).detections
    assert out.boxes.tolist() == boxes
    assert out.scores.tolist() == pytest.approx([0.9, 0.3, 0.05])
    # Only the confident one starts a track; the weak ones pass through untracked.
    assert out.track_ids[0] > 0 and out.track_ids[1:].tolist() == [-1, -1]


def test_any_reported_box_starts_a_track_by_default():
    # A plate the detector reports only weakly (0.31-0.42 over a 0.3 threshold, as on real
    # footage) must still start a track: otherwise nothing coasts or back-fills and it flickers.
    track = tracker()
    first = track(frame(0, [moving(0)], scores=[0.31])).detections
    assert first.track_ids.tolist() != [-1]
    coasting = track(frame(1)).detections
    assert len(coasting) == 1 and coasting.coasted.tolist() == [True]


def test_validate_warns_when_tracks_cannot_start_from_what_detectors_report(monkeypatch, capsys, tmp_path):
    from test_config_errors import run_cli

    from conftest import write_config

    def graph(track_params: str) -> str:
        return str(write_config(tmp_path, f"""
sources: [{{uri: "{{ROOT}}/samples/roadview.mp4"}}]
stages:
  - {{name: plates, type: detect, engine: "{{ROOT}}/models/plates_ssdlite_mnv2.onnx", params: {{threshold: 0.3, classes: [licence_plate]}}}}
  - {{name: track, type: track, params: {track_params}}}
  - {{name: blur, type: anonymize}}
sinks: [{{type: jsonl, params: {{path: "{tmp_path}/a.jsonl"}}}}]
""", name=f"g{len(track_params)}.yaml"))

    code, _, err = run_cli(monkeypatch, capsys, "validate", graph("{high_threshold: 0.5}"))
    assert code in (0, None)
    assert "warning: track: high_threshold 0.5" in err and "plates reports from 0.3" in err
    code, _, err = run_cli(monkeypatch, capsys, "validate", graph("{}"))
    assert code in (0, None) and "warning" not in err


def test_low_score_detection_extends_a_track():
    track = tracker(high_threshold=0.5, low_threshold=0.1)
    first = track(frame(0, [moving(0)])).detections.track_ids[0]
    track(frame(1, [moving(1)]))
    out = track(frame(2, [moving(2)], scores=[0.2])).detections
    assert len(out) == 1 and out.track_ids[0] == first  # matched, so no coasting box either


def test_crossing_objects_keep_their_ids():
    track = tracker()
    ids_a, ids_b = set(), set()
    for i in range(40):
        a = moving(i, x0=20, vx=8, y=100)
        b = moving(i, x0=400, vx=-8, y=108)
        out = track(frame(i, [a, b])).detections
        ids_a.add(int(out.track_ids[0]))
        ids_b.add(int(out.track_ids[1]))
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_per_class_matching_keeps_classes_apart():
    track = tracker(per_class=True)
    for i in range(3):
        track(frame(i, [moving(i)], names=["plate"]))
    out = track(frame(3, [moving(3)], names=["face"])).detections
    # The face starts its own track; the plate's track coasts beside it.
    assert len(out) == 2 and out.class_names == ("face", "plate")
    assert out.track_ids[0] != out.track_ids[1]
    mixed = tracker(per_class=False)
    for i in range(3):
        mixed(frame(i, [moving(i)], names=["plate"]))
    assert len(mixed(frame(3, [moving(3)], names=["face"])).detections) == 1


def test_an_unnamed_box_keeps_its_track_when_a_named_box_joins_it():
    # Its class key is its class id whether or not other boxes of the frame have names.
    track = tracker(per_class=True)
    first = track(frame(0, [moving(0)], names=[""])).detections.track_ids[0]
    out = track(frame(1, [moving(1), [300, 20, 340, 60]], names=["", "face"])).detections
    assert out.track_ids[0] == first and len(out) == 2  # no second track, no coasting copy


def test_state_is_kept_per_source():
    track = tracker()
    a0 = track(frame(0, [moving(0)], source="a")).detections
    b0 = track(frame(0, [moving(0)], source="b")).detections
    assert a0.track_ids[0] == b0.track_ids[0] == 1  # ids are per source
    track(frame(1, [moving(1)], source="b"))
    assert len(track(frame(1, source="a")).detections) == 1  # a coasts
    assert track(frame(2, [moving(2)], source="b")).detections.source.tolist() == ["det"]  # b unaffected


# -- look-ahead -------------------------------------------------------------------------------


def run_lookahead(stage: Lookahead, frames: list[Frame]) -> list[Frame]:
    out = [f for f in (stage(fr) for fr in frames) if f is not None]
    return out + stage.flush()


def test_new_track_is_back_filled_n_frames():
    n = 5
    box = [100, 100, 160, 120]
    frames = [frame(i, [box], ids=[7]) if i >= 10 else frame(i) for i in range(20)]
    out = run_lookahead(lookahead(frames=n), frames)
    assert [f.index for f in out] == list(range(20))
    for f in out:
        covered = f.index >= 10 - n
        assert (7 in f.detections.track_ids.tolist() if len(f.detections) else False) == covered
        if 10 - n <= f.index < 10:
            assert f.detections.source.tolist() == ["look:backfill"]
            assert coverage(box, f.detections.boxes) == 1.0


def test_back_fill_follows_a_fast_object():
    """Detected late at frame 10, moving 20 px/frame: the first box alone misses it earlier."""
    n = 5

    def truth(i):
        return moving(i, x0=0, vx=20)

    frames = [frame(i, [truth(i)], ids=[3]) if i >= 10 else frame(i) for i in range(20)]
    hull = run_lookahead(lookahead(frames=n, backfill="hull"), [f.branch() for f in frames])
    first = run_lookahead(lookahead(frames=n, backfill="first"), [f.branch() for f in frames])
    # Frame 5 leaves before a second detection (velocity unknown); 6..9 know it.
    assert all(coverage(truth(i), hull[i].detections.boxes) > 0.95 for i in range(6, 10))
    assert min(coverage(truth(i), first[i].detections.boxes) for i in range(6, 10)) < 0.5


def test_gap_is_interpolated_from_both_sides():
    # The tracker coasted frames 5..8 somewhere wrong; the detections at 4 and 9 say where it was.
    frames = []
    for i in range(15):
        if 5 <= i <= 8:
            frames.append(frame(i, [moving(i, vx=0)], ids=[2], coasted=True))
        else:
            frames.append(frame(i, [moving(i, vx=10)], ids=[2]))
    out = run_lookahead(lookahead(frames=6), frames)
    for i in range(5, 9):
        assert "look:interpolate" in out[i].detections.source
        assert coverage(moving(i, vx=10), out[i].detections.boxes) > 0.95


def test_lookahead_never_removes_and_keeps_order_per_source():
    rng = np.random.default_rng(0)
    frames = []
    for i in range(30):
        for src in ("a", "b"):
            boxes = [moving(i, x0=float(rng.uniform(0, 100)))] if rng.random() < 0.5 else []
            f = frame(i, boxes, ids=[int(rng.integers(1, 4))] * len(boxes), source=src)
            f.seq = 2 * i + (src == "b")
            frames.append(f)
    before = {(f.source_id, f.index): f.detections.boxes.copy() for f in frames}
    out = run_lookahead(lookahead(frames=4), frames)
    assert len(out) == len(frames)
    for src in ("a", "b"):
        assert [f.index for f in out if f.source_id == src] == list(range(30))
    for f in out:
        kept = before[(f.source_id, f.index)]
        assert np.array_equal(f.detections.boxes[:len(kept)], kept)


def test_lookahead_zero_frames_passes_through():
    stage = lookahead(frames=0)
    f = frame(0, [moving(0)], ids=[1])
    assert stage(f) is f and stage.flush() == []


# -- the leak benchmark, small ----------------------------------------------------------------


def test_leak_benchmark_small_clip(tmp_path):
    from support.leak import run_leak
    from support.leak_clip import make

    started = time.perf_counter()
    clip = tmp_path / "leak.mp4"
    make(clip, frames=60, size=(320, 180), seed=1)
    truth = clip.with_suffix(".json")
    off = run_leak(clip, truth, tmp_path / "off", seed=0)
    on = run_leak(clip, truth, tmp_path / "on", seed=0, track={})
    ahead = run_leak(clip, truth, tmp_path / "ahead", seed=0, track={}, lookahead={})
    assert off["frames_written"] == on["frames_written"] == ahead["frames_written"] == 60
    assert off["leaked_frames"] > 0
    assert off["leaked_frames"] >= on["leaked_frames"] >= ahead["leaked_frames"]
    assert ahead["leaked_frames"] == 0 and ahead["leaked_plates"] == 0
    assert time.perf_counter() - started < 30


def test_thresholds_are_validated():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="low_threshold"):
        TrackParams(low_threshold=0.6, high_threshold=0.5)
    with pytest.raises(ValidationError):
        LookaheadParams(backfill="nearest")


@pytest.mark.parametrize("boxed", ["a.png", "b.png"])
def test_photos_of_a_folder_share_no_tracks(tmp_path, boxed):
    # Two unrelated photos with a plate in one only: the tracker must not coast it into the
    # other photo, nor the look-ahead back-fill it there; the other photo is written untouched.
    import json

    import cv2

    import elements  # noqa: F401  (registers the test elements)
    from conftest import write_config
    from vpipe.pipeline.runtime.config import load_config
    from vpipe.pipeline.runtime.graph import build_graph
    from vpipe.pipeline.runtime.runner import Runner

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(photos / name), rng.integers(0, 256, (120, 160, 3), np.uint8))
    config = write_config(tmp_path, f"""
sources: [{{uri: {photos}}}]
stages:
  - {{type: test_box, params: {{frames: [{["a.png", "b.png"].index(boxed)}]}}}}
  - {{type: track}}
  - {{type: lookahead, params: {{frames: 5}}}}
  - {{name: blur, type: anonymize}}
sinks:
  - {{type: images, params: {{path: {tmp_path}/out}}}}
  - {{type: jsonl, inputs: [blur], params: {{path: {tmp_path}/audit.jsonl}}}}
""")
    graph = build_graph(load_config(config))
    Runner(graph).run()
    graph.close()
    covered = {r["name"]: r["audit"]["blur"]["covered"]
               for r in map(json.loads, (tmp_path / "audit.jsonl").read_text().splitlines())}
    other = "b.png" if boxed == "a.png" else "a.png"
    assert covered == {boxed: 1, other: 0}
    assert np.array_equal(cv2.imread(str(tmp_path / "out" / other)), cv2.imread(str(photos / other)))


def test_per_source_state_begins_anew_with_each_clip_and_sources_never_share_it():
    """The one rule of tracker, look-ahead, events and clips: what a clip learned stays with it."""
    states = PerSource(list)
    at = lambda source, clip: states.at(Frame(IMAGE, source, 0, 0.0, 0.0, 0.0, clip=clip))  # noqa: E731
    first, ended = at("cam", 0)
    first.append("seen")
    assert ended is None and at("cam", 0) == (["seen"], None) and at("other", 0) == ([], None)
    assert at("cam", 1) == ([], ["seen"]) and states["other"] == []


def test_a_small_fast_object_seen_every_other_frame_keeps_one_track():
    """A 30x12 plate moving 20 px a frame, detected every other frame (`detect: every: 2`): its
    boxes never overlap, so IoU alone starts a new track at each sighting and nothing is
    interpolated between them; matching nearby centres keeps one track, and the look-ahead then
    covers the frames between."""
    def plate(i: int) -> list[float]:
        return moving(i, x0=10, vx=20, w=30, h=12)

    for params, tracks in (({}, 1), ({"match_distance": 0.0}, 5)):
        track, ahead = tracker(**params), lookahead(frames=4)
        ids, out = set(), []
        for i in range(10):
            f = track(frame(i, [plate(i)] if i % 2 == 0 else []))
            ids |= {int(t) for t, c in zip(f.detections.track_ids, f.detections.coasted) if not c}
            out += [r for r in [ahead(f)] if r]
        out += ahead.flush()
        assert len(ids) == tracks
        if tracks == 1:  # every frame between two sightings is covered where the plate is
            assert all(coverage(plate(f.index), f.detections.boxes) >= 0.95 for f in out[:9])
