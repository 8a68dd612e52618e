"""Resolution-aware detection (stages/views.py, detect's tiles and cascade): a small plate in an
HD frame that the squeezed full-frame pass misses is found, seams neither drop nor double a box,
and tiles in rotation keep a track covered between their visits."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from conftest import ROOT, SAMPLE
from vpipe.pipeline.api.boxes import box_iou
from vpipe.pipeline.api.element import Context
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Frame
from vpipe.stages.detect import Detect, DetectParams
from vpipe.stages.lookahead import Lookahead, LookaheadParams
from vpipe.stages.track import Tracker, TrackParams
from vpipe.stages.views import (
    CANVAS_GREY,
    View,
    crops_around,
    in_rotation,
    merge,
    tile_grid,
    tiles_per_look,
    zoomed_out,
)
from vpipe.tools.data.make_sample import CAR, PLATE, car_origin, plate_box

PLATES = ROOT / "models" / "plates_ssdlite_mnv2.onnx"
HD = (1920, 1080)


# -- geometry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("width, height, size, overlap", [(1920, 1080, 512, 0.25), (1280, 720, 512, 0.2),
                                                          (640, 360, 512, 0.25), (300, 200, 512, 0.5)])
def test_tiles_cover_the_frame_and_hold_every_small_object_whole(width, height, size, overlap):
    grid = tile_grid(width, height, size, overlap)
    covered = np.zeros((height, width), bool)
    for v in grid:
        assert 0 <= v.x0 < v.x1 <= width and 0 <= v.y0 < v.y1 <= height
        covered[v.y0:v.y1, v.x0:v.x1] = True
    assert covered.all()
    # Any box up to overlap x size lies whole inside at least one tile.
    rng = np.random.default_rng(0)
    side = int(overlap * min(size, width, height))
    for _ in range(200):
        x, y = rng.integers(0, width - side + 1), rng.integers(0, height - side + 1)
        assert any(v.x0 <= x and x + side <= v.x1 and v.y0 <= y and y + side <= v.y1 for v in grid)


def test_rotation_visits_every_tile_once_per_cycle():
    grid = tile_grid(*HD, 512, 0.25)
    assert len(grid) == 15
    seen = [v for i in range(8) for v in in_rotation(grid, i, 2)]
    assert set(seen) == set(grid)  # 8 frames of 2 tiles reach all 15
    assert in_rotation(grid, 5, None) == grid


def test_tiles_per_look_keeps_the_revisit_bound():
    assert tiles_per_look(15, None, None) is None and tiles_per_look(15, 2, None) == 2
    assert tiles_per_look(6, 2, 16, every=2) == 2   # 720p plates: 3 looks, 6 frames, within 16
    assert tiles_per_look(15, 2, 16, every=2) == 2  # 1080p plates: 8 looks, 16 frames
    assert tiles_per_look(40, 2, 16, every=2) == 5  # 1080p faces: 20 looks (40 frames) -> 8 looks
    assert tiles_per_look(40, None, 16, every=2) == 5
    assert tiles_per_look(40, 2, 1, every=2) == 40  # a bound under `every`: every tile each look


def _longest_gap(stage: Detect, width: int, height: int, frames: int) -> tuple[set[View], int]:
    """The tiles `stage` visits in `frames` video frames of width x height, and the most frames
    any of them waits between two visits."""
    image, last, gap = np.zeros((height, width, 3), np.uint8), {}, 0
    for i in range(frames):
        if stage.looks_at(Frame(image, "cam", i, i / 25, 0.0, 0.0)):
            for view in stage.views(Frame(image, "cam", i, i / 25, 0.0, 0.0))[1:]:
                gap = max(gap, i - last.get(view, i))
                last[view] = i
    return set(last), gap


def test_revisit_takes_more_tiles_a_look_on_a_larger_frame():
    rotating = detector(tiles={"size": 512, "per_frame": 2}, every=2)
    bounded = detector(tiles={"size": 512, "per_frame": 2, "revisit": 8}, every=2)
    for width, height in ((1280, 720), (1920, 1080)):
        tiles, gap = _longest_gap(bounded, width, height, 64)
        assert tiles == set(tile_grid(width, height, 512, 0.25)) and gap <= 8
    assert _longest_gap(rotating, 1920, 1080, 64)[1] == 16  # 15 tiles, two a look, a look every 2 frames
    assert len(bounded.views(Frame(np.zeros((720, 1280, 3), np.uint8), "cam", 0, 0.0, 0.0, 0.0))) == 1 + 2


def test_crops_around_stay_inside_the_frame_and_reach_min_side():
    views = crops_around(np.array([[0, 0, 20, 10], [600, 340, 640, 360]], np.float32), 640, 360, 0.1, 128)
    for v in views:
        assert v.width == 128 and v.height == 128
        assert 0 <= v.x0 and v.x1 <= 640 and 0 <= v.y0 and v.y1 <= 360


def test_merge_joins_a_seam_cut_box_with_the_whole_one_and_keeps_others():
    boxes = np.array([[500, 100, 560, 120],   # the plate, whole, from one tile
                      [500, 100, 512, 120],   # the part the next tile's edge cut off
                      [800, 100, 860, 120],   # another plate
                      [500, 100, 560, 120]],  # a vehicle there: another class, never merged
                     np.float32)
    scores = np.array([0.6, 0.9, 0.5, 0.7], np.float32)
    ids = np.array([1, 1, 1, 2])
    out, best, cls = merge(boxes, scores, ids, 0.45)
    assert len(out) == 3
    plate = out[(cls == 1) & (out[:, 0] < 600)]
    assert plate.tolist() == [[500, 100, 560, 120]]  # the union: what either view saw
    assert best[(cls == 1) & (out[:, 0] < 600)].tolist() == pytest.approx([0.9])


# -- the detect stage on a composite HD frame ---------------------------------------------------


def _sample_frame(index: int) -> np.ndarray:
    with av.open(str(SAMPLE)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="bgr24")
    raise AssertionError("sample too short")


@pytest.fixture(scope="module")
def composite():
    """The bundled clip's car (its plate 80x22 px) shrunk to a dashcam's far car (plate ~40 px
    wide) in a 1920x1080 street frame: squeezed into the plate model's 512x512 the plate is 11 px."""
    x, y = car_origin(100, 200, (640, 360))
    car = _sample_frame(100)[y:y + CAR[0], x:x + CAR[1]]
    background = cv2.resize(_sample_frame(0), HD, interpolation=cv2.INTER_LINEAR)
    scale = 0.5
    small = cv2.resize(car, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)

    tx1, ty1, tx2, ty2 = plate_box(100, text=True)  # its characters, on the sprite

    def at(x0: int, y0: int) -> tuple[np.ndarray, list[float], list[float]]:
        """The frame with the car at (x0, y0); the plate's box and its characters' box there."""
        image = background.copy()
        image[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
        plate = [x0 + PLATE[0] * scale, y0 + PLATE[1] * scale, x0 + PLATE[2] * scale, y0 + PLATE[3] * scale]
        text = [x0 + (tx1 - x) * scale, y0 + (ty1 - y) * scale, x0 + (tx2 - x) * scale, y0 + (ty2 - y) * scale]
        return image, plate, text

    return at


def detector(**params) -> Detect:
    ctx = Context("plates", Path("."), engine_path=PLATES, threads=2)
    return Detect(ctx, DetectParams(threshold=0.3, classes=["licence_plate"], **params))


def covered(box: list[float], boxes: np.ndarray) -> float:
    """Share of `box` inside the union of `boxes`."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    mask = np.zeros((y2, x2), bool)
    for b in boxes:
        bx1, by1, bx2, by2 = (int(v) for v in np.floor(b[:2]).tolist() + np.ceil(b[2:]).tolist())
        mask[max(by1, 0):by2, max(bx1, 0):bx2] = True
    return float(mask[y1:y2, x1:x2].mean())


def found(plate: list[float], boxes: np.ndarray) -> bool:
    """A detection of the plate: IoU 0.5 or more, as recall@0.5 counts it."""
    return bool(len(boxes)) and float(box_iou(np.array([plate]), boxes).max()) >= 0.5


def plates_on(image: np.ndarray, stage: Detect, index: int = 0, video: bool = False) -> np.ndarray:
    frame = stage(Frame(image, "cam", index, index / 25 if video else None, 0.0, 0.0))
    return frame.detections.boxes


@pytest.mark.slow  # the plate model on 1920x1080 frames
def test_tiles_find_a_small_plate_the_full_frame_pass_misses(composite):
    image, plate, _ = composite(700, 600)
    assert not found(plate, plates_on(image, detector()))
    assert found(plate, plates_on(image, detector(tiles={"size": 512})))


@pytest.mark.slow  # the plate model on 1920x1080 frames
def test_a_plate_across_a_seam_is_one_box_that_covers_it(composite):
    grid = tile_grid(*HD, 512, 0.25)
    seam = grid[1].x0 + 20  # the plate's middle sits where tile 1 begins: tile 0 holds all of it
    image, plate, _ = composite(int(seam - (PLATE[0] + PLATE[2]) / 4), 600)
    boxes = plates_on(image, detector(tiles={"size": 512}, full_frame=False))
    near = [b for b in boxes if covered(plate, b[None]) > 0]
    assert len(near) == 1 and found(plate, np.array(near))


@pytest.mark.slow  # the plate model on 1920x1080 frames
def test_rotation_keeps_a_plate_covered_between_a_tiles_visits(composite):
    image, plate, text = composite(700, 600)
    stage = detector(tiles={"size": 512, "per_frame": 2})
    track = Tracker(Context("track", Path(".")), TrackParams(max_age=10))
    ahead = Lookahead(Context("ahead", Path(".")), LookaheadParams(frames=15))
    seen, out = [], []
    for i in range(24):
        frame = stage(Frame(image, "cam", i, i / 25, 0.0, 0.0))
        seen.append(found(plate, frame.detections.boxes))
        released = ahead(track(frame))
        out += [released] if released else []
    out += ahead.flush()
    assert 0 < sum(seen) < 24  # the detector alone sees it only when its tiles come round
    assert len(out) == 24 and all(covered(text, f.detections.boxes) >= 0.95 for f in out)


@pytest.mark.slow  # the plate model on 1920x1080 frames
def test_photos_get_every_tile_whatever_per_frame_says(composite):
    image, plate, _ = composite(700, 600)
    stage = detector(tiles={"size": 512, "per_frame": 1})
    assert len(stage.views(Frame(image, "cam", 3, None, 0.0, 0.0))) == 16  # whole frame + 15 tiles
    assert len(stage.views(Frame(image, "cam", 3, 0.12, 0.0, 0.0))) == 2
    assert found(plate, plates_on(image, stage))


def test_a_frame_no_bigger_than_a_tile_is_looked_at_once():
    stage = detector(tiles={"size": 512})
    assert stage.views(Frame(np.zeros((360, 480, 3), np.uint8), "cam", 0, 0.0, 0.0, 0.0)) == [View(0, 0, 480, 360)]


def test_tile_settings_are_checked():
    with pytest.raises(ValidationError, match="full_frame"):
        DetectParams(full_frame=False)
    with pytest.raises(VpipeError, match="tiles.scale"):
        detector(tiles={"size": 256, "scale": 2.0})  # the plate model's input is fixed
    with pytest.raises(VpipeError, match="cascade.classes"):
        detector(cascade={"classes": ["bicycle"]})


# -- every N-th frame, and a smaller whole-frame look ----------------------------------------------


def test_every_looks_at_every_nth_video_frame_and_at_every_photo():
    image = _sample_frame(100)  # the sample's car, its plate 80x22 px: found at full size
    stage = detector(every=3)
    looked = [len(plates_on(image, stage, i, video=True)) > 0 for i in range(7)]
    assert looked == [True, False, False, True, False, False, True]
    assert all(len(plates_on(image, stage, i)) > 0 for i in range(3))  # photos: no neighbours


def test_every_counts_the_rotation_in_looks_so_that_no_tile_is_skipped(composite):
    image, _, _ = composite(700, 600)
    stage = detector(tiles={"size": 512, "per_frame": 1}, every=3)
    grid = tile_grid(*HD, 512, 0.25)
    seen = {stage.views(Frame(image, "cam", i, i / 25, 0.0, 0.0))[1] for i in range(0, 3 * len(grid), 3)}
    assert seen == set(grid)  # frame index x per_frame would visit 5 of the 15 tiles


def test_full_frame_scale_shrinks_only_the_whole_frame_look():
    ctx = Context("faces", Path("."), engine_path=ROOT / "models" / "centerface.onnx", threads=2)
    stage = Detect(ctx, DetectParams(threshold=0.4, full_frame_scale=0.5, tiles={"size": 320, "scale": 2.0}))
    shapes = []
    run = stage.engine.run
    stage.engine.run = lambda feeds: shapes.append(next(iter(feeds.values())).shape[2:]) or run(feeds)
    stage(Frame(_sample_frame(0), "cam", 0, None, 0.0, 0.0))
    assert shapes[0] == (192, 320)  # 640x360 halved, rounded up to CenterFace's stride of 32
    assert set(shapes[1:]) == {(640, 640)}  # its 320-px tiles, enlarged 2x
    with pytest.raises(VpipeError, match="full_frame_scale"):
        detector(full_frame_scale=0.5)  # the plate model's input is fixed


# -- zoom-out: close-ups that fill the frame ----------------------------------------------------


def test_a_zoomed_out_view_is_the_frame_in_the_middle_of_a_grey_canvas():
    image = np.full((360, 640, 3), 200, np.uint8)
    view = zoomed_out(640, 360, 1.5)
    canvas = view.crop(image)
    assert canvas.shape == (540, 960, 3) and (view.width, view.height) == (960, 540)
    assert (canvas[90:450, 160:800] == 200).all()  # the frame, whole, in the middle
    assert (canvas[:90] == CANVAS_GREY).all() and (canvas[:, :160] == CANVAS_GREY).all()
    assert View(100, 50, 300, 150).crop(image).shape == (100, 200, 3)  # a tile: a plain crop


def _close_up(share: float) -> tuple[np.ndarray, list[float]]:
    """The sample's plate enlarged until it is `share` of a 1280x720 frame's width."""
    x, y = car_origin(100, 200, (640, 360))
    px1, py1, px2, py2 = x + PLATE[0], y + PLATE[1], x + PLATE[2], y + PLATE[3]
    cw = (px2 - px1) / share
    x0, y0 = round((px1 + px2) / 2 - cw / 2), round((py1 + py2) / 2 - cw * 9 / 32)
    crop = _sample_frame(100)[y0:y0 + round(cw * 9 / 16), x0:x0 + round(cw)]
    sx, sy = 1280 / crop.shape[1], 720 / crop.shape[0]
    return (cv2.resize(crop, (1280, 720), interpolation=cv2.INTER_CUBIC),
            [(px1 - x0) * sx, (py1 - y0) * sy, (px2 - x0) * sx, (py2 - y0) * sy])


def test_zoom_out_finds_a_close_up_that_the_whole_frame_look_misses():
    image, plate = _close_up(0.65)  # the whole-frame look finds nothing there
    assert not found(plate, plates_on(image, detector()))
    assert found(plate, plates_on(image, detector(zoom_out={"ratio": 1.5})))


def test_zoom_out_keeps_only_its_large_boxes():
    """Small objects the whole-frame look sees at a size it knows; from the zoomed-out view they
    were false boxes on the valid split (docs/plates.md)."""
    image, stage = _sample_frame(100), detector()  # its plate: 80x22 px, 12 % of the frame's width
    plate = stage._run_view(image, zoomed_out(640, 360, 1.5), 0.3)[0]
    assert len(plate) == 1 and plate[0, 2] - plate[0, 0] < 0.15 * 640  # seen, zoomed out ...
    assert len(stage._run_view(image, zoomed_out(640, 360, 1.5, min_share=0.15), 0.3)[0]) == 0  # ... not kept
    with pytest.raises(VpipeError, match="zoom_out"):
        Detect(Context("faces", Path("."), engine_path=ROOT / "models" / "centerface.onnx", threads=2),
               DetectParams(zoom_out={}))  # any input size: a zoomed-out frame is only a larger input


def test_zoom_out_keeps_boxes_by_their_width_not_their_height(vtest):
    """A plate that fills the frame fills it across. On vtest.avi (768x576, real) the zoomed-out look
    scores a signpost 0.66, a box a tenth of the width and a quarter of the height: kept by
    height, it was a false cover in 297 of the clip's first 300 frames."""
    with av.open(str(vtest)) as container:
        image = next(f for i, f in enumerate(container.decode(video=0)) if i == 200).to_ndarray(format="bgr24")
    stage = detector()
    h, w = image.shape[:2]
    boxes = stage._run_view(image, zoomed_out(w, h, 1.5), 0.3)[0]
    tall = [b for b in boxes if b[2] - b[0] < 0.15 * w and b[3] - b[1] >= 0.15 * h]
    assert tall  # seen, zoomed out ...
    kept = stage._run_view(image, zoomed_out(w, h, 1.5, min_share=0.15), 0.3)[0]
    assert all(b[2] - b[0] >= 0.15 * w for b in kept) and len(kept) < len(boxes)  # ... not kept


def test_an_anonymizer_after_a_detector_that_skips_frames_needs_a_tracker(monkeypatch, capsys, tmp_path):
    from test_config_errors import run_cli

    from conftest import write_config

    def graph(between: str) -> str:
        return str(write_config(tmp_path, f"""
sources: [{{uri: "{{ROOT}}/samples/roadview.mp4"}}]
stages:
  - {{name: plates, type: detect, engine: "{{ROOT}}/models/plates_ssdlite_mnv2.onnx", params: {{every: 2}}}}
{between}
  - {{name: blur, type: anonymize}}
sinks: [{{type: jsonl, params: {{path: "{tmp_path}/a.jsonl"}}}}]
""", name=f"g{len(between)}.yaml"))

    code, _, err = run_cli(monkeypatch, capsys, "validate", graph(""))
    assert code == 2 and "'blur' would leave the frames plates skips" in err and "Traceback" not in err
    code, _, err = run_cli(monkeypatch, capsys, "validate", graph("  - {name: track, type: track}"))
    assert code in (0, None), err


def test_validate_warns_when_tiles_come_round_slower_than_tracking_bridges(monkeypatch, capsys, tmp_path):
    """A tile visited once in R frames leaves R - 1 frames that the tracker's coasting (max_age) and
    the look-ahead's back-fill (frames) must bridge; validate says so when they cannot."""
    from test_config_errors import run_cli

    from conftest import write_config

    def graph(tiles: str, between: str) -> str:
        return str(write_config(tmp_path, f"""
sources: [{{uri: "{{ROOT}}/samples/roadview.mp4"}}]
stages:
  - {{name: plates, type: detect, engine: "{{ROOT}}/models/plates_ssdlite_mnv2.onnx", params: {{tiles: {tiles}}}}}
{between}
  - {{name: blur, type: anonymize}}
sinks: [{{type: jsonl, params: {{path: "{tmp_path}/a.jsonl"}}}}]
""", name=f"g{len(tiles)}_{len(between)}.yaml"))

    track = "  - {name: track, type: track, params: {max_age: 10}}"
    both = track + "\n  - {name: lookahead, type: lookahead, params: {frames: 15}}"
    warned = "warning: plates: looks at a part of the frame only once in 30 frames"
    code, _, err = run_cli(monkeypatch, capsys, "validate", graph("{size: 256, per_frame: 1, revisit: 30}", track))
    assert code in (0, None) and warned in err and "bridge 10" in err and "at most 11" in err
    code, _, err = run_cli(monkeypatch, capsys, "validate", graph("{size: 256, per_frame: 1, revisit: 26}", both))
    assert code in (0, None) and "warning" not in err, err  # 25 frames between looks: 10 + 15 bridge them
    code, _, err = run_cli(monkeypatch, capsys, "validate", graph("{size: 256, per_frame: 1}", both))
    assert code in (0, None) and err.count("plates: tiles rotate with no `revisit` bound") == 1
    code, _, err = run_cli(monkeypatch, capsys, "validate", graph("{size: 256}", ""))
    assert code in (0, None) and "warning" not in err, err  # every tile on every frame
