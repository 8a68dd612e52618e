"""The leak benchmark's two halves: a detector stand-in that misses on purpose, and the score.

`replay` (a stage, registered when this module is imported) reports the ground-truth plates of
tests/support/leak_clip.py with a little jitter (3 % of the box size) and with the failures real
detectors have:

* a missed detection on `miss_rate` of the (plate, frame) pairs, at random;
* runs of 1 to `max_run` consecutive misses, started on `run_rate` of the pairs;
* no detection while less than `min_visible` of the plate is in view (plates entering the frame);
* a low score (below a tracker's high threshold) on `low_rate` of the detections.

Every random choice comes from (seed, plate id), so a run never depends on thread timing.

`leak_rates` reads the jsonl written after the anonymizer: a plate leaks on a frame when less
than 80 % of its visible area lies inside the union of the rectangles the anonymizer covered.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import Field

from vpipe.pipeline.api.element import Element, Params
from vpipe.pipeline.api.frame import Detections, Frame
from vpipe.pipeline.api.registry import ELEMENTS, register


class ReplayParams(Params):
    #: ground truth JSON from tests/support/leak_clip.py (relative to the config's folder).
    truth: str
    seed: int = 0
    #: standard deviation of the noise on each box coordinate, as a fraction of the box's width
    #: (x) or height (y): localization error scales with the object.
    jitter: float = Field(0.03, ge=0.0)
    miss_rate: float = Field(0.10, ge=0.0, le=1.0)
    run_rate: float = Field(0.02, ge=0.0, le=1.0)
    max_run: int = Field(5, ge=1)
    min_visible: float = Field(0.3, ge=0.0, le=1.0)
    low_rate: float = Field(0.10, ge=0.0, le=1.0)
    label: str = "plate"


class Replay(Element):
    """A detector that knows the answer but fails like a real one."""

    Params = ReplayParams
    provides = ("detections",)

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        path = Path(params.truth)
        self.truth = json.loads((path if path.is_absolute() else ctx.base_dir / path).read_text())
        self.detected = self._schedule()

    def _schedule(self) -> dict[int, list[tuple[np.ndarray, float]]]:
        """Frame index -> the (box, score) pairs reported on it, misses already taken out."""
        p = self.params
        tracks: dict[int, list[dict]] = {}
        for index, plates in enumerate(self.truth["frames"]):
            for item in plates:
                tracks.setdefault(item["track_id"], []).append({"index": index, **item})
        out: dict[int, list[tuple[np.ndarray, float]]] = {}
        for tid in sorted(tracks):
            seen = tracks[tid]
            rng = np.random.default_rng([p.seed, tid])
            n = len(seen)
            missed = rng.random(n) < p.miss_rate
            for s in np.flatnonzero(rng.random(n) < p.run_rate):
                missed[s:s + int(rng.integers(1, p.max_run + 1))] = True
            noise = rng.normal(0.0, p.jitter, (n, 4))
            low = rng.random(n) < p.low_rate
            scores = np.where(low, rng.uniform(0.2, 0.45, n), rng.uniform(0.6, 0.95, n))
            for k, item in enumerate(seen):
                if missed[k] or item["visible"] < p.min_visible:
                    continue
                box = np.array(item["box"], np.float64)
                size = np.tile(box[2:] - box[:2], 2)
                box = (box + noise[k] * size).astype(np.float32)
                out.setdefault(item["index"], []).append((box, float(scores[k])))
        return out

    def __call__(self, frame: Frame) -> Frame:
        found = self.detected.get(frame.index, [])
        if found:
            n = len(found)
            frame.detections = frame.detections + Detections(
                np.stack([b for b, _ in found]), np.array([s for _, s in found], np.float32),
                np.zeros(n, np.int64), (self.params.label,) * n).with_data(source=self.name)
        return frame


def covered_share(box, rects) -> float:
    """Share of the xyxy `box` under the union of the xyxy `rects`, counted on the pixel grid
    (1.0 for a box without pixels: nothing there can leak)."""
    x0, y0, x1, y1 = int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3]))
    if x1 <= x0 or y1 <= y0:
        return 1.0
    mask = np.zeros((y1 - y0, x1 - x0), bool)
    for rx0, ry0, rx1, ry1 in rects:
        mask[max(int(np.floor(ry0)) - y0, 0):max(int(np.ceil(ry1)) - y0, 0),
             max(int(np.floor(rx0)) - x0, 0):max(int(np.ceil(rx1)) - x0, 0)] = True
    return float(mask.mean())


def leak_rates(truth: dict, jsonl: Path, anonymizer: str, min_cover: float = 0.8) -> dict:
    """Frame- and track-level leak rates of one run, from the anonymizer's audit in `jsonl`."""
    width, height = truth["width"], truth["height"]
    records = {}
    for line in jsonl.read_text().splitlines():
        r = json.loads(line)
        records[r["index"]] = r
    leaked_frames, leaked_plates, plate_frames, leaks = 0, set(), 0, 0
    plates = {item["track_id"] for f in truth["frames"] for item in f}
    for index, items in enumerate(truth["frames"]):
        if not items or index not in records:
            continue  # a frame that was never written cannot leak
        audit = records[index].get("audit", {}).get(anonymizer, {})
        rects = [(0, 0, width, height)] if audit.get("covered") == "whole_frame" else audit.get("boxes", [])
        frame_leaks = False
        for item in items:
            plate_frames += 1
            if covered_share(item["box"], rects) < min_cover:
                frame_leaks = True
                leaks += 1
                leaked_plates.add(item["track_id"])
        leaked_frames += frame_leaks
    frames_with_plates = sum(1 for i, f in enumerate(truth["frames"]) if f and i in records)
    return {
        "frames": len(truth["frames"]),
        "frames_written": len(records),
        "frames_with_plates": frames_with_plates,
        "leaked_frames": leaked_frames,
        "frame_leak_rate": leaked_frames / max(frames_with_plates, 1),
        "plates": len(plates),
        "leaked_plates": len(leaked_plates),
        "track_leak_rate": len(leaked_plates) / max(len(plates), 1),
        "plate_frames": plate_frames,
        "leaked_plate_frames": leaks,
    }


if "replay" not in ELEMENTS:
    register("replay")(Replay)


def graph_yaml(clip: Path, truth: Path, out: Path, seed: int = 0, track: dict | None = None,
               lookahead: dict | None = None) -> str:
    """The benchmark graph: capture -> replay [-> track [-> lookahead]] -> anonymize -> jsonl."""
    stages = [{"name": "det", "type": "replay", "params": {"truth": str(truth), "seed": seed}}]
    if track is not None:
        stages.append({"name": "track", "type": "track", "params": track})
    if lookahead is not None:
        stages.append({"name": "lookahead", "type": "lookahead", "params": lookahead})
    stages.append({"name": "blur", "type": "anonymize", "params": {"method": "pixelate"}})
    spec = {"sources": [{"name": "clip", "uri": str(clip)}], "stages": stages,
            "sinks": [{"type": "jsonl", "params": {"path": str(out)}}]}
    return json.dumps(spec, indent=1)  # JSON is YAML


def run_leak(clip: Path, truth: Path, workdir: Path, seed: int = 0, track: dict | None = None,
             lookahead: dict | None = None) -> dict:
    """Run one benchmark graph through the real runner and score its jsonl."""
    from vpipe.pipeline.runtime.config import load_config
    from vpipe.pipeline.runtime.graph import build_graph
    from vpipe.pipeline.runtime.runner import Runner

    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "out.jsonl"
    config = workdir / "graph.yaml"
    config.write_text(graph_yaml(clip, truth, out, seed, track, lookahead))
    graph = build_graph(load_config(config))
    try:
        Runner(graph).run()
    finally:
        graph.close()
    return leak_rates(json.loads(truth.read_text()), out, "blur")
