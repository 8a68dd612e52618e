"""Does roadview leave a plate or a face readable on real footage? Coverage against cost, per design
of resolution-aware detection (docs/plates.md, "Small and far objects").

    python benchmarks/real_footage.py --annotations DIR [--composites] [--edges] [--designs roadview,full,tiles]
        [--synth-plates vn2,kr2,moto,jp] [--composite-sizes 1920x1080,1280x720] [--soften SIGMA] [--speed K]
        [--frames N] [--plate-model OTHER.onnx] [--json out.json]

Clips:
* each `DIR/NAME.json` names a video of ../shared/data/video (NAME.mp4) and holds its tracks with a
  box per frame, drawn by eye (never by the detector under test; they stay outside the repository):
  {"tracks": [{"id": 1, "class": "licence_plate" | "face" | ..., "boxes": {"FRAME": [x0, y0, x1, y1]}}]}
  Only the classes "licence_plate" and "face" are scored.
* `--composites`: real plate photos (../shared/data/alpr/us, a measurement set), each with the car
  around it, pasted at dashcam scales into 1920x1080 and 1280x720 frames (`--composite-sizes`) of the
  real highway clip and moved across them; with scikit-image, the astronaut's face (public domain)
  at 10-30 px too. Made in a temporary folder, boxes known exactly; an object is not scored on the
  frames where a sprite pasted after it overlaps it.
* `--synth-plates STYLES`: the same composites with plates drawn by tools/data/plate_synth in
  these styles in place of the real ones, on a dark margin: `vn2,kr2,moto,jp` for two-line and
  near-square plates (Vietnamese, Korean, motorcycle, Japanese), `eu` for long, flat ones. The
  plate model trained on that generator: a best case, not a real set of those plates.
* `--edges`: the same plates (and face) driving into a 1280x720 frame across its left and right
  edges, cut by the edge until all of it is inside; scored from the frame where 40 % of the plate's
  width is in view (`make_edge_composite`).

For each design (overrides of roadview's `faces` and `plates` stages) the graph runs in this
process, and the original and the output are decoded side by side. A box **shows** its object when
the output keeps half or more of the original's fine detail inside it (`kept_detail`).
Printed: per track, the frames where it shows; per design and class, the share of boxes covered and
the cost per frame (CPU seconds of the whole process, and wall seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import yaml

from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.pipeline.runtime.runner import Runner

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SCORED = ("licence_plate", "face")
#: a box shows its object when the output keeps this share of the original's fine detail.
SHOWS = 0.5

PLATE_TILES = {"size": 512, "overlap": 0.25}
ZOOM = {"classes": ["licence_plate", "vehicle"], "threshold": 0.1, "min_side": 128, "max_crops": 4}
#: each design: params of roadview's stages, by stage name; None removes a parameter.
DESIGNS: dict[str, dict[str, dict]] = {
    "roadview": {},  # configs/roadview.yaml as shipped
    "full": {"plates": {"tiles": None, "cascade": None}, "faces": {"tiles": None}},
    "tiles": {"plates": {"tiles": PLATE_TILES, "cascade": None}, "faces": {"tiles": None}},
    "rotate1": {"plates": {"tiles": {**PLATE_TILES, "per_frame": 1}, "cascade": None}, "faces": {"tiles": None}},
    "rotate2": {"plates": {"tiles": {**PLATE_TILES, "per_frame": 2}, "cascade": None}, "faces": {"tiles": None}},
    "cascade": {"plates": {"tiles": None, "cascade": {"classes": ["vehicle"]}}, "faces": {"tiles": None}},
    "rotate2+cascade": {"plates": {"tiles": {**PLATE_TILES, "per_frame": 2}, "cascade": {"classes": ["vehicle"]}},
                        "faces": {"tiles": None}},
    # A second look, enlarged, around every weak plate (score 0.1 or more) and vehicle: the model
    # scores a 25-px plate 0.2 at its own size and 0.9 seen 4x bigger.
    "rotate2+zoom": {"plates": {"tiles": {**PLATE_TILES, "per_frame": 2}, "cascade": ZOOM}, "faces": {"tiles": None}},
    # 256-px tiles enlarged to the 512 input: plates seen twice as big (and four times the tiles).
    "zoom2": {"plates": {"tiles": {"size": 256, "overlap": 0.25, "per_frame": 2}, "cascade": None},
              "faces": {"tiles": None}},
    "faces2x": {"plates": {"tiles": None, "cascade": None},
                "faces": {"tiles": {"size": 320, "overlap": 0.25, "scale": 2.0, "per_frame": 2}}},
    "faces_t03": {"plates": {"tiles": None, "cascade": None}, "faces": {"tiles": None, "threshold": 0.3}},
    # Cheaper roadviews: CenterFace's whole-frame look at half size (faces from ~36 px; the 2x
    # tiles find the smaller), and/or both detectors on every other frame (the tracker coasts and
    # the look-ahead interpolates the frames between).
    "faces_half": {"faces": {"full_frame_scale": 0.5}},
    "every2": {"faces": {"every": 2}, "plates": {"every": 2}},
    "every2+faces_half": {"faces": {"every": 2, "full_frame_scale": 0.5}, "plates": {"every": 2}},
    "plates_every2": {"plates": {"every": 2}},
    # roadview before `revisit` (2026-12-04): two tiles a look at any size, so at 1920x1080 a face
    # tile came round once in 40 frames.
    # roadview before the plate model also saw the whole frame shrunk onto a grey canvas (close-ups
    # that fill the frame; docs/plates.md, "Zoom-out", 2026-12-05).
    "no_zoom_out": {"plates": {"zoom_out": None}},
    # Soft footage (--soften): lower thresholds; and roadview with the enlarged look around weak
    # plates and vehicles.
    "plates_t02": {"plates": {"threshold": 0.2}},
    "plates_t02+faces_t03": {"plates": {"threshold": 0.2}, "faces": {"threshold": 0.3}},
    "roadview+zoom": {"plates": {"cascade": ZOOM}},
    # Plate tiles by `revisit` alone: one a look where that comes round within 16 frames (720p's 6
    # tiles, 768x576's 4), more on larger frames (1080p: 2 of 15); roadview's floor is two a look.
    "plates_revisit": {"plates": {"tiles": {**PLATE_TILES, "revisit": 16}}},
    "no_revisit": {"faces": {"tiles": {"size": 320, "overlap": 0.25, "scale": 2.0, "per_frame": 2}},
                   "plates": {"tiles": {**PLATE_TILES, "per_frame": 2}}},
}


# -- clips ------------------------------------------------------------------------------------


def load_annotated(folder: Path) -> list[tuple[str, Path, list[dict]]]:
    clips = []
    for path in sorted(folder.glob("*.json")):
        truth = json.loads(path.read_text())
        video = SHARED / "video" / truth.get("video", path.stem + ".mp4")
        if not video.exists():
            sys.exit(f"real_footage: {path}: its video {video} is absent")
        clips.append((path.stem, video, truth["tracks"]))
    return clips


def _frames(path: Path, limit: int | None = None):
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if limit is not None and i >= limit:
                return
            yield frame.to_ndarray(format="bgr24")


def _write(path: Path, images: list[np.ndarray], fps: int = 25, soften: float = 0.0) -> None:
    """H.264 at crf 16, or, with `soften` (a Gaussian blur's sigma, in pixels), blurred first and
    at crf 28: the soft, compressed look of real dashcam footage that the sharp alpr photos lack."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "28" if soften else "16", "preset": "veryfast"})
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in images:
            if soften:
                image = cv2.GaussianBlur(image, (0, 0), soften)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        out.mux(stream.encode())


def _plate_sprites(count: int, rng: np.random.Generator) -> list[tuple[np.ndarray, list[float]]]:
    """Real plates with the car around them: (crop, the plate's box in the crop)."""
    coco = json.loads((SHARED / "alpr" / "us.json").read_text())
    names = {im["id"]: im["file_name"] for im in coco["images"]}
    sprites = []
    for k in rng.choice(len(coco["annotations"]), count, replace=False):
        a = coco["annotations"][int(k)]
        image = cv2.imread(str(SHARED / "alpr" / "us" / names[a["image_id"]]))
        x, y, w, h = a["bbox"]
        x0, y0 = max(0, int(x - 1.2 * w)), max(0, int(y - 1.5 * h))
        x1, y1 = min(image.shape[1], int(x + 2.2 * w)), min(image.shape[0], int(y + 2.0 * h))
        sprites.append((image[y0:y1, x0:x1], [x - x0, y - y0, x + w - x0, y + h - y0]))
    return sprites


def _synth_sprites(count: int, styles: list[str], rng: np.random.Generator) -> list[tuple[np.ndarray, list[float]]]:
    """Plates drawn by tools/data/plate_synth in `styles`, in turn (no real set of two-line plates
    is at hand), each on a dark bumper-grey margin: (crop, the plate's box in the crop). The plate
    model trained on this generator's plates, so these figures are its best case."""
    from vpipe.tools.data import plate_synth

    try:
        fonts = plate_synth.find_fonts()
    except plate_synth.FontsMissing as e:
        sys.exit(f"real_footage: --synth-plates: {e}")
    sprites = []
    for k in range(count):
        plate = plate_synth.render_plate(rng, styles[k % len(styles)], fonts)
        h, w = plate.rgb.shape[:2]
        mx, my = int(0.4 * w), int(0.5 * h)
        crop = np.full((h + 2 * my, w + 2 * mx, 3), rng.integers(30, 90), np.uint8)
        crop[my:my + h, mx:mx + w] = cv2.cvtColor(plate.rgb, cv2.COLOR_RGB2BGR)
        sprites.append((crop, [mx, my, mx + w, my + h]))
    return sprites


def _face_sprite() -> tuple[np.ndarray, list[float]] | None:
    try:
        from skimage import data
    except ImportError:
        return None
    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return image[10:290, 110:330], [175 - 110, 65 - 10, 260 - 110, 178 - 10]


def _highway(size: tuple[int, int], frames: int) -> list[np.ndarray]:
    """The first frames of the real highway clip, resized to `size`: the composites' background."""
    return [cv2.resize(f, size, interpolation=cv2.INTER_LINEAR)
            for f in _frames(SHARED / "video" / "us_highway_dashcam.mp4", frames)]


def _paste(image: np.ndarray, sprite: np.ndarray, px: int, py: int) -> None:
    """Pastes `sprite` with its top-left corner at (px, py), cut by the frame's edges."""
    h, w = sprite.shape[:2]
    x0, y0 = max(px, 0), max(py, 0)
    x1, y1 = min(px + w, image.shape[1]), min(py + h, image.shape[0])
    if x0 < x1 and y0 < y1:
        image[y0:y1, x0:x1] = sprite[y0 - py:y1 - py, x0 - px:x1 - px]


def make_composite(folder: Path, size: tuple[int, int], frames: int, seed: int,
                   soften: float = 0.0, speed: float = 1.0, synth: list[str] | None = None) -> tuple[str, Path, list[dict]]:
    """Real plates (and a face) moving across real highway frames enlarged to `size`, at up to 2 px
    a frame across (scaled to 1920 px) times `speed`: a passing car's plate moves faster.
    `synth`: plates drawn in these plate_synth styles in place of the real ones."""
    width, height = size
    rng = np.random.default_rng(seed)
    backgrounds = _highway(size, frames)
    scale = width / 1920
    # Readability is a matter of the object's own pixels, not the frame's: the same sizes at
    # every resolution, from the smallest plate with readable characters (about 20 px wide) and
    # the smallest recognizable face (12 px tall) up.
    sprites = _synth_sprites(8, synth, rng) if synth else _plate_sprites(8, rng)
    objects = [("licence_plate", sprite, w) for sprite, w in zip(sprites, (20, 24, 30, 36, 44, 54, 66, 90))]
    face = _face_sprite()
    if face:
        objects += [("face", face, h * 0.75) for h in (12, 14, 16, 20, 24, 32)]  # the width of a face that tall
    cells = [(c % 4, c // 4) for c in range(16)]
    rng.shuffle(cells)
    tracks = []
    images = [b.copy() for b in backgrounds]
    pasted: dict[int, list[tuple[int, list[float]]]] = {}  # frame -> (track, sprite's rectangle), in paste order
    for t, ((cls, (sprite, box), target_w), (cx, cy)) in enumerate(zip(objects, cells)):
        s0 = target_w / (box[2] - box[0])
        x, y = (cx + 0.2) * width / 4, (cy * 0.24 + 0.1) * height
        vx, vy, grow = (rng.uniform(-2, 2) * scale * speed, rng.uniform(-0.5, 0.5) * scale * speed,
                        rng.uniform(0.0, 0.004))
        boxes = {}
        for i, image in enumerate(images):
            s = s0 * (1 + grow * i)
            small = cv2.resize(sprite, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            px, py = int(round(x + vx * i)), int(round(y + vy * i))
            h, w = small.shape[:2]
            if px < 0 or py < 0 or px + w > width or py + h > height:
                continue  # only whole sprites here; make_edge_composite's are cut by the edge
            _paste(image, small, px, py)
            boxes[str(i)] = [px + box[0] * s, py + box[1] * s, px + box[2] * s, py + box[3] * s]
            pasted.setdefault(i, []).append((t + 1, [px, py, px + w, py + h]))
        tracks.append({"id": t + 1, "class": cls, "note": f"{cls} {target_w:.0f} px wide", "boxes": boxes})
    _drop_hidden(tracks, pasted)
    name = f"composite{'_' + '+'.join(synth) if synth else ''}_{width}x{height}"
    path = folder / f"{name}.mp4"
    _write(path, images, soften=soften)
    return name, path, tracks


def _drop_hidden(tracks: list[dict], pasted: dict[int, list[tuple[int, list[float]]]]) -> None:
    """Unscore an object on the frames where a sprite pasted after it overlaps its box: on a small
    frame a near car's crop can hide a far plate, and the box would then score the car."""
    for track in tracks:
        for index in list(track["boxes"]):
            x0, y0, x1, y1 = track["boxes"][index]
            if any(later > track["id"] and r[0] < x1 and x0 < r[2] and r[1] < y1 and y0 < r[3]
                   for later, r in pasted.get(int(index), [])):
                del track["boxes"][index]


#: a plate cut by the frame's edge is scored once this share of its width is inside (3 of 7 characters).
MIN_INSIDE = 0.4


def _inside(box: list[float], width: int, height: int) -> list[float] | None:
    """The part of `box` inside the frame, or None while less than MIN_INSIDE of its width is."""
    x0, x1 = max(box[0], 0.0), min(box[2], float(width))
    if x1 - x0 < MIN_INSIDE * (box[2] - box[0]) or box[1] < 0 or box[3] > height:
        return None
    return [x0, box[1], x1, box[3]]


def make_edge_composite(folder: Path, size: tuple[int, int], frames: int, seed: int,
                        soften: float = 0.0) -> tuple[str, Path, list[dict]]:
    """Real plates (and a face) driving in across the frame's left and right edges, cut by the edge
    until all of it is inside: a plate that stayed readable "until all of it is inside" on real
    720p footage. Scored from the frame where MIN_INSIDE of the plate's width is in view."""
    width, height = size
    rng = np.random.default_rng(seed)
    backgrounds = _highway(size, frames)
    scale = width / 1280
    objects = [("licence_plate", sprite, w) for sprite, w in zip(_plate_sprites(4, rng), (30, 41, 54, 72))]
    face = _face_sprite()
    if face:
        objects.append(("face", face, 24 * 0.75))
    tracks = []
    images = [b.copy() for b in backgrounds]
    pasted: dict[int, list[tuple[int, list[float]]]] = {}
    for t, (cls, (sprite, box), target_w) in enumerate(objects):
        s = target_w / (box[2] - box[0])
        small = cv2.resize(sprite, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        b = [v * s for v in box]
        # Alternate edges; start with the object just outside, driving in at 3-5 px a frame.
        from_right = t % 2 == 0
        speed = rng.uniform(3, 5) * scale
        x, vx = (width - b[0], -speed) if from_right else (-b[2], speed)
        py = int((0.1 + 0.75 * t / len(objects)) * height)
        boxes = {}
        for i, image in enumerate(images):
            px = int(round(x + vx * i))
            _paste(image, small, px, py)
            pasted.setdefault(i, []).append((t + 1, [px, py, px + small.shape[1], py + small.shape[0]]))
            inside = _inside([px + b[0], py + b[1], px + b[2], py + b[3]], width, height)
            if inside:
                boxes[str(i)] = inside
        side = "right" if from_right else "left"
        tracks.append({"id": t + 1, "class": cls, "boxes": boxes,
                       "note": f"{cls} {target_w:.0f} px wide, in from the {side} edge"})
    _drop_hidden(tracks, pasted)
    name = f"edges_{width}x{height}"
    path = folder / f"{name}.mp4"
    _write(path, images, soften=soften)
    return name, path, tracks


# -- running and scoring ----------------------------------------------------------------------


def design_config(design: dict[str, dict], clip: Path, work: Path, plate_model: Path | None = None) -> Path:
    spec = yaml.safe_load((ROOT / "configs" / "roadview.yaml").read_text())
    spec["sources"] = [{"name": "camera", "uri": str(clip)}]
    for stage in spec["stages"]:
        if "engine" in stage:
            stage["engine"] = str((ROOT / "configs" / stage["engine"]).resolve())
        if plate_model and stage["name"] == "plates":
            stage["engine"] = str(plate_model.resolve())
        params = stage.setdefault("params", {})
        for key, value in design.get(stage["name"], {}).items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
    for sink in spec["sinks"]:
        sink["params"]["path"] = str(work / ("out.mp4" if sink["type"] == "video" else "out.jsonl"))
    path = work / "graph.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run(config: Path, max_frames: int | None) -> tuple[float, float]:
    """Runs the graph; its (CPU seconds, wall seconds)."""
    graph = build_graph(load_config(config))
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        runner = Runner(graph, max_frames=max_frames)
        runner.run()
    finally:
        graph.close()
    if runner.error:
        sys.exit(f"real_footage: {runner.error}")
    return time.process_time() - cpu, time.perf_counter() - wall


def kept_detail(before: np.ndarray, after: np.ndarray, box: list[float]) -> float | None:
    """The share of the original's fine detail inside `box` that the output still holds: the
    output's Laplacian projected on the original's. An untouched region keeps about 1, a blurred
    one about 0; the hard edges a cover draws are detail of its own, not the original's, and do not
    count (a plain ratio of Laplacian variances counted them, and called covered plates readable).
    None where the original has no detail there. Not verify's `kept_detail`: that one looks
    inside the box's ellipse eroded by 7 px, which leaves nothing of a 12-px face or a 20-px plate."""
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(before.shape[1], int(np.ceil(box[2]))), min(before.shape[0], int(np.ceil(box[3])))
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    lb, la = (cv2.Laplacian(cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY), cv2.CV_64F)
              for image in (before, after))
    energy = float((lb * lb).sum())
    return float((lb * la).sum()) / energy if energy > 0 else None


def score(original: Path, output: Path, tracks: list[dict], limit: int | None) -> dict[int, list[int]]:
    """Per track id, the frames where the output still shows the object."""
    by_frame: dict[int, list[tuple[int, list[float]]]] = {}
    for track in tracks:
        if track["class"] in SCORED:
            for index, box in track["boxes"].items():
                by_frame.setdefault(int(index), []).append((track["id"], box))
    shows: dict[int, list[int]] = {t["id"]: [] for t in tracks if t["class"] in SCORED}
    for i, (before, after) in enumerate(zip(_frames(original, limit), _frames(output, limit))):
        for tid, box in by_frame.get(i, []):
            kept = kept_detail(before, after, box)
            if kept is not None and kept >= SHOWS:
                shows[tid].append(i)
    return shows


def ranges(frames: list[int]) -> str:
    out, start = [], None
    for k, f in enumerate(frames):
        if start is None:
            start = f
        if k + 1 == len(frames) or frames[k + 1] != f + 1:
            out.append(str(start) if start == f else f"{start}-{f}")
            start = None
    return ", ".join(out)


def _sizes(text: str) -> list[tuple[int, int]]:
    """"1920x1080,640x360" -> [(1920, 1080), (640, 360)], each once (a clip is named by its size)."""
    try:
        sizes = [(int(w), int(h)) for w, h in (size.split("x") for size in text.split(","))]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WxH[,WxH...], e.g. 1920x1080,640x360") from None
    return list(dict.fromkeys(sizes))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=Path, help="folder of NAME.json boxes drawn by eye")
    parser.add_argument("--composites", action="store_true", help="also HD composites of real plates")
    parser.add_argument("--edges", action="store_true",
                        help="also a 1280x720 composite of plates and a face driving in across the frame's edges")
    parser.add_argument("--composite-sizes", type=_sizes, default=_sizes("1920x1080,1280x720"),
                        help="frame sizes of the composites, WxH, comma-separated (each its own clip and seed)")
    parser.add_argument("--synth-plates", type=lambda text: text.split(","), metavar="STYLES",
                        help="also composites of plates drawn by tools/data/plate_synth in these styles, one per "
                             "--composite-sizes: vn2,kr2,moto,jp (two-line, near-square), eu (long, flat)")
    parser.add_argument("--composite-frames", type=int, default=60)
    parser.add_argument("--soften", type=float, default=0.0,
                        help="blur the composites by this sigma (px) and encode them at crf 28, as real dashcam "
                             "footage looks (default 0: sharp, crf 16)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="the composites' objects move this many times faster (default 1: up to 2 px a frame "
                             "across at 1920 px; plates a tile finds only at its visits must still be tracked)")
    parser.add_argument("--designs", default="roadview,full,tiles,rotate1,rotate2,cascade,faces2x,faces_t03")
    parser.add_argument("--frames", type=int, help="at most this many frames of each clip")
    parser.add_argument("--plate-model", type=Path, action="append", default=[],
                        help="another plate model in place of roadview's (repeatable: each runs every "
                             "design, side by side with the shipped one)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not SHARED.exists():
        sys.exit(f"real_footage: {SHARED} is absent (the clips live in ../shared/data)")
    if args.synth_plates:
        from vpipe.tools.data.plate_synth import check_styles

        try:
            check_styles(args.synth_plates, "--synth-plates")
        except VpipeError as e:
            sys.exit(f"real_footage: {e}")
    designs = args.designs.split(",")
    unknown = [d for d in designs if d not in DESIGNS]
    if unknown:
        sys.exit(f"real_footage: unknown design {', '.join(unknown)} (known: {', '.join(DESIGNS)})")
    report: dict = {"designs": {}, "tracks": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips = load_annotated(args.annotations) if args.annotations else []
        if args.composites:
            clips += [make_composite(work, size, args.composite_frames, seed, args.soften, args.speed)
                      for seed, size in enumerate(args.composite_sizes)]
        if args.synth_plates:
            clips += [make_composite(work, size, args.composite_frames, 10 + seed, args.soften, args.speed,
                                     args.synth_plates)
                      for seed, size in enumerate(args.composite_sizes)]
        if args.edges:
            clips.append(make_edge_composite(work, (1280, 720), args.composite_frames, 2, args.soften))
        if not clips:
            sys.exit("real_footage: nothing to measure: give --annotations DIR, --composites, --synth-plates or --edges")
        runs = [(d, None) for d in designs] + [(d, m) for m in args.plate_model for d in designs]
        lengths = {name: sum(1 for _ in _frames(video, args.frames)) for name, video, _ in clips}  # once, not per design
        for design, model in runs:
            label = design if model is None else f"{design}[{model.stem}]"
            totals: dict[str, list[int]] = {c: [0, 0] for c in SCORED}  # boxes shown, boxes
            cost = {"cpu_s": 0.0, "wall_s": 0.0, "frames": 0}
            for name, video, tracks in clips:
                folder = work / label / name
                folder.mkdir(parents=True)
                cpu, wall = run(design_config(DESIGNS[design], video, folder, model), args.frames)
                cost["cpu_s"] += cpu
                cost["wall_s"] += wall
                cost["frames"] += lengths[name]
                shows = score(video, folder / "out.mp4", tracks, args.frames)
                for track in tracks:
                    if track["class"] not in SCORED:
                        continue
                    boxes = [int(i) for i in track["boxes"] if args.frames is None or int(i) < args.frames]
                    totals[track["class"]][0] += len(shows[track["id"]])
                    totals[track["class"]][1] += len(boxes)
                    key = f"{name}#{track['id']} {track['class']} ({track.get('note', '')})"
                    report["tracks"].setdefault(key, {})[label] = ranges(shows[track["id"]])
                    print(f"{label:9s} {key}: {len(shows[track['id']])} of {len(boxes)} frames show it"
                          + (f" [{ranges(shows[track['id']])}]" if shows[track["id"]] else ""), flush=True)
            row = {c: round(1 - s / n, 4) if n else None for c, (s, n) in totals.items()}
            row.update(boxes={c: n for c, (_, n) in totals.items()},
                       cpu_s_per_frame=round(cost["cpu_s"] / max(cost["frames"], 1), 4),
                       wall_s_per_frame=round(cost["wall_s"] / max(cost["frames"], 1), 4))
            report["designs"][label] = row
            print(f"== {label}: covered plates {row['licence_plate']}, faces {row['face']}; "
                  f"CPU {row['cpu_s_per_frame']} s/frame, wall {row['wall_s_per_frame']} s/frame", flush=True)
    print(json.dumps(report["designs"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
