"""`vpipe verify`: re-examine an anonymized output against its original and its audit.

First every picture is accounted for: the output holds the frames (or images) the audit lists and
no other, each of them the original's outside the covers (not another video, not a shifted one).
Then three checks, each of which turns up candidate leaks:

1. coverage: every rectangle the audit lists is obscured in the output's pixels (the detail left
   inside it, against the original's), and illegible at the object's own scale;
2. residual detections: the run's detectors, at a lower threshold and on upscaled tiles too, find
   nothing on the output that the audit does not cover;
3. temporal gaps: a track covered before and after a frame is covered on that frame too.

Only output pixels are kept for the report (thumbnails); the original is read for check 1 only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from vpipe.pipeline.api.boxes import box_iou
from vpipe.pipeline.api.boxes import ellipse_mask as _ellipse
from vpipe.pipeline.api.element import Element
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.media import IMAGE_SUFFIXES
from vpipe.pipeline.api.outputs import audit_path
from vpipe.pipeline.verify.confirm import MIN_CHARACTERS, PLATE_ALONE, confirmed
from vpipe.pipeline.verify.legible import LEGIBLE, SAME, SHIFTED, difference, legibility, outside, small

#: check 1: a region is obscured when the output reproduces less than this share of the
#: original's fine detail (its Laplacian, projected: see kept_detail). On the bundled clip's
#: roadview output (125 frames, 558 covered regions) the covers kept at most 15 %, and the same
#: regions re-encoded without an anonymizer at least 79 % (docs/verify.md).
DETAIL_RATIO = 0.3
#: regions whose original has less detail than this (Laplacian variance) hold nothing legible.
FLAT = 20.0
#: a detection or track box counts as covered when this share of it lies under covered rectangles.
MIN_COVER = 0.8
#: check 2 runs each detector at this fraction of the run's threshold.
SENSITIVITY = 0.6
#: a residual that stands on its score alone, found where the original scored under the run's
#: threshold, is the run's own decision (not a leak the output made) unless the output scores
#: this much above the threshold: re-encoding moves a score by a few hundredths.
NEAR = 0.1
#: a residual this share of its height or nearer to a cover is checked against the original (the
#: cover's edge may be what was found): frame 162 of the bundled clip's output ends 2 px above one.
EDGE_MARGIN = 0.25
#: a frame is shifted only when its own original differs by more than this outside the covers
#: (grey levels at 160 px): below it, neighbouring frames are alike and a shift shows nothing.
MOVING = 2.0
#: this many candidates of one kind on the same box (IoU 0.9) are one entry: a static overlay
#: (a camera's burnt-in timestamp) or one fault repeated, listed once with its frames.
REPEATS = 5
#: candidates are listed most likely first: the output is not the audited picture, then a
#: covered region left legible, then what the detectors found, then a track's gap.
RANK = {"frame_count": 0, "extra_frames": 0, "unaudited_image": 0, "not_the_original": 1, "shifted": 1,
        "uncovered_region": 2, "temporal_gap": 4}


@dataclass
class Candidate:
    kind: str  # frame_count | extra_frames | unaudited_image | not_the_original | shifted | uncovered_region | residual:<class> | temporal_gap
    position: int  # the frame's place in the output (0-based)
    index: int  # the source frame index the audit gives
    box: list[int]
    detail: str
    name: str | None = None
    time: float | None = None
    score: float | None = None
    thumbnail: bytes = b""  # JPEG, cropped from the output only
    frames: list[int] = field(default_factory=list)  # every frame of a grouped repeat

    def to_json(self) -> dict:
        item = {"kind": self.kind, "frame": self.index, "position": self.position, "time": self.time,
                "box": self.box, "detail": self.detail, "frames": self.frames or [self.index]}
        if self.name:
            item["name"] = self.name
        if self.score is not None:
            item["score"] = round(self.score, 4)
        return item


@dataclass
class Result:
    original: Path
    anonymized: Path
    audit: Path
    frames: int = 0
    regions: int = 0  # audited rectangles checked (check 1)
    flat: int = 0  # of which held nothing legible in the original
    whole_frames: int = 0
    near_threshold: int = 0  # residuals dropped as the run's own decision (NEAR)
    cover_edges: int = 0  # residuals on a cover's edge that the original does not hold
    detectors: list[str] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.candidates:
            out[c.kind] = out.get(c.kind, 0) + 1
        return out

    def to_json(self) -> dict:
        return {"original": str(self.original), "anonymized": str(self.anonymized), "audit": str(self.audit),
                "frames_checked": self.frames, "regions_verified": self.regions, "regions_flat": self.flat,
                "whole_frames": self.whole_frames, "residuals_near_threshold": self.near_threshold,
                "residuals_on_cover_edges": self.cover_edges,
                "detectors": self.detectors,
                "thresholds": {"detail_ratio": DETAIL_RATIO, "flat": FLAT, "legible": LEGIBLE, "same": SAME,
                               "shifted": SHIFTED, "near": NEAR, "edge_margin": EDGE_MARGIN, "min_cover": MIN_COVER,
                               "sensitivity": SENSITIVITY, "plate_alone": PLATE_ALONE,
                               "min_characters": MIN_CHARACTERS},
                "candidates_by_kind": self.counts(), "candidates": [c.to_json() for c in self.candidates]}


def read_audit(path: Path) -> list[dict]:
    if not path.is_file():
        raise VpipeError(f"{path}: audit not found (give one with --audit)")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise VpipeError(f"{path}:{number}: not a JSON line") from None
    if not records:
        raise VpipeError(f"{path}: the audit lists no frame")
    source = records[0]["source"]  # one stream: the output of `run -o` holds the first one
    return [r for r in records if r["source"] == source]


def covered_rects(record: dict, width: int, height: int) -> list[list[int]]:
    """Every rectangle the anonymize stages covered on this frame (the whole frame on a fault)."""
    rects = []
    for entry in record.get("audit", {}).values():
        if entry.get("covered") == "whole_frame":
            return [[0, 0, width, height]]
        rects += entry.get("boxes", [])
    return rects


def covered_share(box, rects) -> float:
    """Share of the xyxy `box` under the union of `rects`, on the pixel grid."""
    x0, y0, x1, y1 = (int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3])))
    if x1 <= x0 or y1 <= y0:
        return 1.0
    mask = np.zeros((y1 - y0, x1 - x0), bool)
    for rx0, ry0, rx1, ry1 in rects:
        mask[max(int(ry0) - y0, 0):max(int(ry1) - y0, 0), max(int(rx0) - x0, 0):max(int(rx1) - x0, 0)] = True
    return float(mask.mean())


def _grown(box, share: float) -> list[float]:
    """The xyxy `box` grown on every side by `share` of its height."""
    margin = share * (box[3] - box[1])
    return [box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin]


def _fine_detail(image: np.ndarray, box, width: int, height: int) -> np.ndarray | None:
    """The Laplacian (fine detail) inside the ellipse the box inscribes (what an `ellipse`
    anonymizer covers, a `rect` one too), eroded so the sharp edge between covered and uncovered
    pixels is left out; None for a region too small to hold anything legible."""
    x0, y0, x1, y1 = (int(v) for v in box)
    mask = cv2.erode(_ellipse((x0, y0, x1, y1), width, height).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    if mask.sum() < 16:
        return None
    gray = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)
    return cv2.Laplacian(gray, cv2.CV_32F)[mask]


def region_detail(image: np.ndarray, box, width: int, height: int) -> float | None:
    """How much fine detail the region holds (the variance of its Laplacian)."""
    detail = _fine_detail(image, box, width, height)
    return None if detail is None else float(detail.var())


def kept_detail(before: np.ndarray, after: np.ndarray, box, width: int, height: int) -> float:
    """The share of the original's fine detail the output reproduces in the region: the output's
    Laplacian projected on the original's (about 1 untouched, about 0 covered). A projection, not
    a ratio of variances: a blur keeps the soft outline of a bright blob (a helmet's highlight)
    whose Laplacian has energy but is not the original's detail, and noise or a mosaic's block
    edges add energy of their own. Call it where region_detail(before) is not None."""
    o, a = _fine_detail(before, box, width, height), _fine_detail(after, box, width, height)
    assert o is not None and a is not None  # one box, frames of one size: the same mask
    return _projection(o, a)


def _projection(original: np.ndarray, output: np.ndarray) -> float:
    """The output's detail projected on the original's, both less their mean."""
    o, a = original - original.mean(), output - output.mean()
    return float((o * a).mean() / (o * o).mean())


def thumbnail(image: np.ndarray, box) -> bytes:
    """A JPEG of the box with some context around it, from the output, outlined in red."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in box)
    m = max(16, (x1 - x0) // 2, (y1 - y0) // 2)
    cx0, cy0, cx1, cy1 = max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)
    crop = image[cy0:cy1, cx0:cx1].copy()
    cv2.rectangle(crop, (x0 - cx0, y0 - cy0), (x1 - cx0 - 1, y1 - cy0 - 1), (0, 0, 255), 1)
    # About 160x240 whatever the box: a distant plate is enlarged (up to 4x) so a person can read it.
    scale = min(4.0, 160 / max(1, crop.shape[0]), 240 / max(1, crop.shape[1]))
    crop = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def frame_pairs(original: Path, anonymized: Path, records: list[dict], account: dict | None = None
                ) -> Iterator[tuple[dict, np.ndarray, np.ndarray, list[np.ndarray]]]:
    """(record, original pixels, output pixels, the original's neighbouring frames, small) for each
    frame the audit lists, in output order. What does not pair up goes in `account`: `short`, the
    number of listed frames the output lacks; `extra`, the output's frames after the last listed
    one, and the first of them as `extra_image`."""
    account = {} if account is None else account
    if anonymized.is_dir():
        for record in records:
            name = record.get("name")
            if not name:
                raise VpipeError(f"{anonymized}: an image folder, but the audit names no image")
            before, after = cv2.imread(str(original / name)), cv2.imread(str(anonymized / name))
            if before is None or after is None:
                raise VpipeError(f"{(original if before is None else anonymized) / name}: cannot read image")
            yield record, _same_size(before, after, original / name, anonymized / name), after, []
        return
    import av

    for path in (original, anonymized):
        if not path.is_file():
            raise VpipeError(f"{path}: not found")
    try:
        with av.open(str(original)) as src, av.open(str(anonymized)) as out:
            # Each original frame with its small grey copy; one read ahead, one kept behind: a
            # shifted output matches a neighbour better than its own frame.
            source = ((i, f, small(f)) for i, f in enumerate(f.to_ndarray(format="bgr24") for f in src.decode(video=0)))
            output = (f.to_ndarray(format="bgr24") for f in out.decode(video=0))
            behind, ahead = None, next(source, None)
            for number, record in enumerate(records):
                while ahead is not None and ahead[0] < record["index"]:
                    behind, ahead = ahead, next(source, None)
                if ahead is None or ahead[0] != record["index"]:
                    raise VpipeError(f"{original}: ends before frame {record['index']} of the audit")
                current, ahead = ahead, next(source, None)
                after = next(output, None)
                if after is None:  # frame counts differ: the output is not what the audit lists
                    account["short"] = len(records) - number
                    return
                before = _same_size(current[1], after, original, anonymized)
                neighbours = [n[2] for n in (behind, ahead) if n is not None and abs(n[0] - current[0]) == 1]
                yield record, before, after, neighbours if before is current[1] else []
                behind = current
            extra = next(output, None)
            if extra is not None:
                account["extra"], account["extra_image"] = 1 + sum(1 for _ in output), extra
    except av.error.FFmpegError as exc:
        raise VpipeError(f"{exc.filename or anonymized}: cannot decode: {exc}") from None


def _same_size(before: np.ndarray, after: np.ndarray, original: Path, anonymized: Path) -> np.ndarray:
    """The original at the output's size (a sink `size` scales it); another shape is another picture."""
    if after.shape == before.shape:
        return before
    (bh, bw), (ah, aw) = before.shape[:2], after.shape[:2]
    if abs(bw / bh - aw / ah) > 0.02 * aw / ah:
        raise VpipeError(f"{anonymized}: frames of {aw}x{ah} against {bw}x{bh} in {original}: "
                         "not the same picture (a rotated input?)")
    return cv2.resize(before, (aw, ah), interpolation=cv2.INTER_AREA)


def _engine_name(element: Element) -> str:
    """The file name of a detector's model (the graph gives one to every element with engine_tasks)."""
    assert element.ctx.engine_path is not None, f"{element.name} runs no model"
    return element.ctx.engine_path.name


def unaudited_images(anonymized: Path, records: list[dict]) -> list[str]:
    """The images of an output folder that the audit does not list."""
    listed = {r.get("name") for r in records}
    return sorted(name for name in (p.relative_to(anonymized).as_posix() for p in anonymized.rglob("*")
                                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES) if name not in listed)


class Detectors:
    """The run's detect stages, made more sensitive: on the whole frame at a lower threshold, and
    on `tiles` x `tiles` overlapping tiles each upscaled `tiles` times, where small objects get
    big, at the run's threshold (the magnification is the extra sensitivity there; a lower
    threshold on top found only false alarms on the bundled clip)."""

    def __init__(self, elements: list[Element], tiles: int = 2):
        self.elements, self.tiles = elements, tiles
        self.thresholds = [e.score_floor() or 0.0 for e in elements]
        self.run_threshold = {e.name: t for e, t in zip(elements, self.thresholds)}  # by stage name
        #: classes read as text (plates): confirmed by a row of characters.
        self.text_classes = {name for e in elements for name in e.text_classes()}

    @property
    def names(self) -> list[str]:
        tiles = f", and {{:.2f}} on {self.tiles}x{self.tiles} tiles upscaled x{self.tiles}" if self.tiles > 1 else ""
        return [f"{e.name} ({_engine_name(e)}; threshold {t * SENSITIVITY:.2f}{tiles.format(t)})"
                for e, t in zip(self.elements, self.thresholds)] + [
            f"then confirmed: a plate scoring {PLATE_ALONE:.2f} or more, or holding {MIN_CHARACTERS} or more "
            "characters in a row; any other class at its stage's own threshold"]

    def __call__(self, image: np.ndarray, dedupe: bool = True, index: int | None = None
                 ) -> list[tuple[list[float], float, str, str, float]]:
        """(box, score, class, pass, the run's threshold) of each object found, `pass` being
        "frame" or "tiles"; with `dedupe` off, every view's boxes. `index`: the video frame's
        index, so detect stages that look at tiles in rotation take the next ones on each frame
        (verify looks at every frame, so it need not pick the run's tiles); None for a photo,
        which gets every tile."""
        found = []
        for x, y, s, view in self._views(image):
            frame = Frame(view, "verify", index or 0, None if index is None else 0.0, 0.0, 0.0)
            for element, t in zip(self.elements, self.thresholds):
                element.params = element.rechecking(t * (SENSITIVITY if s == 1.0 else 1.0)) or element.params
                out = element(frame)
                assert out is not None, f"{element.name} dropped a frame"  # detect stages pass every frame on
                frame = out
            d = frame.detections
            for i in range(len(d)):
                b, source = d.boxes[i], str(d.source[i])
                found.append(([x + b[0] / s, y + b[1] / s, x + b[2] / s, y + b[3] / s], float(d.scores[i]),
                              d.class_names[i], "frame" if s == 1.0 else "tiles", self.run_threshold.get(source, 0.0)))
        return _dedupe(found) if dedupe else found

    def score_at(self, found: list, box, name: str, where: str) -> float:
        """The best score of class `name` in pass `where` among `found` on `box`'s place (0: none)."""
        return max((f[1] for f in found if f[2] == name and f[3] == where and _matches(box, [f[0]])), default=0.0)

    def _views(self, image: np.ndarray):
        yield 0, 0, 1.0, image
        if self.tiles < 2:
            return
        h, w = image.shape[:2]
        n = self.tiles
        tw, th = int(w / n * 1.25), int(h / n * 1.25)  # a quarter of overlap: objects on a seam are whole once
        for ty in np.linspace(0, h - th, n).astype(int):
            for tx in np.linspace(0, w - tw, n).astype(int):
                tile = cv2.resize(image[ty:ty + th, tx:tx + tw], (tw * n, th * n), interpolation=cv2.INTER_CUBIC)
                yield int(tx), int(ty), float(n), tile


def _dedupe(found: list) -> list:
    """One box per object found in several views: the best-scoring one of each overlapping set of
    one class (a plate is confirmed differently from a face that overlaps it)."""
    found.sort(key=lambda f: -f[1])
    kept: list = []
    for item in found:
        same = [k[0] for k in kept if k[2] == item[2]]
        if not same or not (box_iou(np.array([item[0]]), np.array(same)) > 0.3).any():
            kept.append(item)
    return kept


def verify(original: Path, anonymized: Path, audit: Path | None = None, detectors: Detectors | None = None,
           progress=None) -> Result:
    """Account for every picture, then the three checks. `progress(done, total)` is called per frame."""
    audit = audit or audit_path(anonymized)
    records = read_audit(audit)
    result = Result(original, anonymized, audit, detectors=detectors.names if detectors else [])
    tracks: dict[tuple, dict[int, list[float]]] = {}
    covers: list[list[list[int]]] = []
    account: dict = {}
    for position, (record, before, after, neighbours) in enumerate(frame_pairs(original, anonymized, records, account)):
        h, w = after.shape[:2]
        rects = covered_rects(record, w, h)
        covers.append(rects)
        result.frames += 1
        result.whole_frames += rects == [[0, 0, w, h]]
        found = _not_the_original(before, after, neighbours, rects, position, record)
        found += _coverage(before, after, rects, position, record, result)
        if detectors:
            found += _residuals(detectors, before, after, rects, position, record, result)
        for c in found:
            c.name, c.time, c.thumbnail = record.get("name"), record.get("pts"), thumbnail(after, c.box)
        result.candidates += found
        # 3. temporal gaps: remembered here, decided when the tracks are known. Photos of a
        # folder are clips of their own: a track never spans two.
        for item in record.get("detections", []):
            if "track" in item and item["track"] >= 0:
                tracks.setdefault((record.get("name"), item["track"]), {})[position] = item["box"]
        if progress:
            progress(position + 1, len(records))
    result.candidates += _unaccounted(account, records, result.frames, anonymized, detectors, result)
    gaps = temporal_gaps(tracks, covers)
    if gaps:
        # A second pass over the output alone for the thumbnails: a gap is known only once its
        # track has ended, and holding every frame until then would hold the whole video.
        wanted = {p for p, _, _ in gaps}
        images = {p: after for p, (_, _, after, _) in enumerate(frame_pairs(original, anonymized, records[:max(wanted) + 1]))
                  if p in wanted}
        for position, box, track in gaps:
            record = records[position]
            c = Candidate("temporal_gap", position, record["index"], [int(v) for v in box],
                          f"track {track} is covered before and after this frame, not on it",
                          name=record.get("name"), time=record.get("pts"))
            c.thumbnail = thumbnail(images[position], c.box)
            result.candidates.append(c)
    result.candidates = ranked(group_repeats(result.candidates))
    return result


def _not_the_original(before, after, neighbours, rects, position: int, record: dict) -> list[Candidate]:
    """Outside the covers the output must be the original's frame: not another picture, not a
    neighbouring frame (a shift moves every cover off its object)."""
    o, a = small(before), small(after)
    mask = outside(rects, a.shape, after.shape[1])
    own = difference(o, a, mask)
    near = min((difference(n, a, mask) for n in neighbours if n.shape == a.shape), default=own)
    whole = [0, 0, after.shape[1], after.shape[0]]
    if own > MOVING and near < SHIFTED * own:
        return [Candidate("shifted", position, record["index"], whole,
                          f"a neighbouring frame of the original matches it better ({near:.1f} against {own:.1f} "
                          "grey levels outside the covers): the covers are on the wrong frame", score=own)]
    if own > SAME:
        return [Candidate("not_the_original", position, record["index"], whole,
                          f"outside the covers it differs from the original by {own:.1f} grey levels on average",
                          score=own)]
    return []


def _coverage(before, after, rects, position: int, record: dict, result: Result) -> list[Candidate]:
    """1. Each covered rectangle holds neither the original's fine detail nor its detail at the
    object's own scale (what a reader needs)."""
    h, w = after.shape[:2]
    found = []
    for box in rects:
        result.regions += 1
        original = _fine_detail(before, box, w, h)  # once: its variance, then the projection
        if original is None or original.var() < FLAT:
            result.flat += 1
            continue
        output = _fine_detail(after, box, w, h)
        assert output is not None  # one box, frames of one size: the same mask
        ratio = _projection(original, output)
        legible = legibility(before, after, box)
        if ratio >= DETAIL_RATIO:
            why = f"listed as covered, but {ratio:.0%} of the original's detail remains"
        elif legible is not None and legible >= LEGIBLE:
            why = f"listed as covered, but legible: {legible:.0%} of the original's detail at the object's scale remains"
        else:
            continue
        found.append(Candidate("uncovered_region", position, record["index"], list(box), why,
                               score=max(ratio, legible or 0.0)))
    return found


def _residuals(detectors: Detectors, before, after, rects, position: int, record: dict, result: Result,
               covered: dict | None = None) -> list[Candidate]:
    """2. What the detectors find on the output that the audit does not cover, confirmed; a
    detection standing on its score is compared with the original's at the same place."""
    covered = _covered_detections(record, rects) if covered is None else covered
    found, on_original = [], None
    index = None if record.get("name") else record["index"]  # photos carry their file name
    for box, score, name, where, threshold in detectors(after, index=index):
        # A covered object found again (its blurred silhouette) is check 1's business.
        if covered_share(box, rects) >= MIN_COVER or _matches(box, covered.get(name)):
            continue
        why = confirmed(after, box, score, threshold, reads_as_text=name in detectors.text_classes)
        if not why:
            continue
        # On or against a cover's edge, the found object may be the edge itself (a blurred
        # rectangle's straight border across a lattice reads as a plate's border): the original
        # then holds nothing there. Against: within a quarter of the box's height.
        on_edge = covered_share(_grown(box, EDGE_MARGIN), rects) > 0
        if "characters" not in why and (score < threshold + NEAR or on_edge):
            if on_original is None:
                on_original = detectors(before, dedupe=False, index=index)
            if detectors.score_at(on_original, box, name, where) < threshold:
                if on_edge:
                    result.cover_edges += 1  # nothing of the original's, made by the cover
                else:
                    result.near_threshold += 1  # the run saw the same object under its threshold
                continue
        found.append(Candidate(f"residual:{name}", position, record["index"], [int(v) for v in box],
                               f"{name} found on the output ({score:.2f}, {where} pass; {why}), not covered",
                               score=score))
    return found


def _unaccounted(account: dict, records: list[dict], paired: int, anonymized: Path, detectors: Detectors | None,
                 result: Result) -> list[Candidate]:
    """The pictures that do not pair up with the audit: every one is a candidate."""
    found = []
    if account.get("short"):
        found.append(Candidate("frame_count", paired, records[paired]["index"], [0, 0, 0, 0],
                               f"the output ends {account['short']} frame(s) before the audit's {len(records)}"))
    if account.get("extra"):
        image = account["extra_image"]
        c = Candidate("extra_frames", paired, -1, [0, 0, image.shape[1], image.shape[0]],
                      f"{account['extra']} frame(s) after the {len(records)} the audit lists: nothing says they were anonymized")
        c.thumbnail = thumbnail(image, c.box)
        found.append(c)
    if anonymized.is_dir():
        for name in unaudited_images(anonymized, records):
            image = cv2.imread(str(anonymized / name))
            if image is None:
                continue
            # Checked as if nothing covered it: the audit says nothing of it.
            record = {"index": -1, "name": name}
            box = [0, 0, image.shape[1], image.shape[0]]
            here = [Candidate("unaudited_image", result.frames, -1, box, "an image the audit does not list")]
            if detectors:
                here += _residuals(detectors, image, image, [], result.frames, record, result, covered={})
            for c in here:
                c.name, c.thumbnail = name, thumbnail(image, c.box)
            found += here
    return found


def group_repeats(candidates: list[Candidate]) -> list[Candidate]:
    """REPEATS or more candidates of one kind on one box are one entry (the first, with all its
    frames): a static overlay found on every frame, or one fault repeated."""
    groups: list[list[Candidate]] = []
    for c in candidates:
        for g in groups:
            if g[0].kind == c.kind and (g[0].box == c.box or box_iou(np.array([g[0].box], float), np.array([c.box], float))[0, 0] >= 0.9):
                g.append(c)
                break
        else:
            groups.append([c])
    out = []
    for g in groups:
        if len(g) < REPEATS:
            out += g
            continue
        first = g[0]
        first.frames = [c.index for c in g]
        first.detail += f"; the same on {len(g)} frames ({g[0].index} to {g[-1].index}): one entry"
        out.append(first)
    return out


def ranked(candidates: list[Candidate]) -> list[Candidate]:
    """Most likely leaks first: by kind (RANK), then a single find before a repeat on one place
    (a static overlay), then by score, then in frame order."""
    return sorted(candidates, key=lambda c: (RANK.get(c.kind, 3), len(c.frames) >= REPEATS, -(c.score or 0.0),
                                            c.position))


def _covered_detections(record: dict, rects: list) -> dict[str, list]:
    """The run's detections on this frame that the audit covers, by class."""
    out: dict[str, list] = {}
    for d in record.get("detections", []):
        if covered_share(d["box"], rects) >= MIN_COVER:
            out.setdefault(d.get("class", ""), []).append(d["box"])
    return out


def _matches(box, boxes: list | None) -> bool:
    """Whether `box` overlaps one of `boxes` by 30 % of the smaller of the two: the detector
    re-finding a covered object, whose blurred outline it may box a little differently."""
    for other in boxes or []:
        w = min(box[2], other[2]) - max(box[0], other[0])
        h = min(box[3], other[3]) - max(box[1], other[1])
        smaller = min((box[2] - box[0]) * (box[3] - box[1]), (other[2] - other[0]) * (other[3] - other[1]))
        if w > 0 and h > 0 and w * h >= 0.3 * smaller:
            return True
    return False


def temporal_gaps(tracks: dict[tuple, dict[int, list[float]]], covers: list[list[list[int]]]) -> list[tuple[int, list[float], int]]:
    """(position, box, track) where a track's box, known or interpolated, is uncovered between
    two frames on which it was covered."""
    gaps = []
    for (_, track), boxes in sorted(tracks.items(), key=lambda item: (item[0][0] or "", item[0][1])):
        positions = sorted(boxes)
        covered = [p for p in positions if covered_share(boxes[p], covers[p]) >= MIN_COVER]
        if len(covered) < 2:
            continue
        for p in range(covered[0] + 1, covered[-1]):
            box = boxes.get(p) or _interpolate(boxes, positions, p)
            if covered_share(box, covers[p]) < MIN_COVER:
                gaps.append((p, box, track))
    return gaps


def _interpolate(boxes: dict[int, list[float]], positions: list[int], p: int) -> list[float]:
    before = max(q for q in positions if q < p)
    after = min(q for q in positions if q > p)
    t = (p - before) / (after - before)
    return [a + (b - a) * t for a, b in zip(boxes[before], boxes[after])]
