"""An audit with a reviewer's edits (docs/review.md), read for `vpipe apply` and `vpipe review`.

Each line is a run's audit line (`vpipe run`'s jsonl sink), which may also carry:

    "manual": [{"box": [x0, y0, x1, y1], "class": "face" | "licence_plate" | "region", "track": 7}]
    "remove": [[x0, y0, x1, y1], ...]

A manual box is covered as drawn (no padding). A removal drops every cover whose IoU with it is
at least 0.5. A manual box given with the same `track` on two frames is interpolated on the
frames between them, as the look-ahead fills a track's gaps. Every problem is one line naming
the file and the line.
"""

from __future__ import annotations

import json
from pathlib import Path

from vpipe.pipeline.api.errors import VpipeError

MANUAL_CLASSES = ("face", "licence_plate", "region")
#: a removal drops a cover it overlaps by this IoU or more.
REMOVE_IOU = 0.5


def read_edits(path: Path) -> list[dict]:
    """The audit's lines of its first source, edits checked, each with its `line` number, and
    track boxes interpolated (marked `"interpolated": true`)."""
    if not path.is_file():
        raise VpipeError(f"{path}: audit not found")
    records = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise VpipeError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
            problem = line_problem(record)
            if problem:
                raise VpipeError(f"{path}:{number}: {problem}")
            record["line"] = number
            records.append(record)
    if not records:
        raise VpipeError(f"{path}: the audit lists no frame")
    source = records[0]["source"]  # one stream, as `vpipe verify` reads it
    records = [r for r in records if r["source"] == source]
    _interpolate_tracks(records)
    return records


def line_problem(record) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    if not isinstance(record.get("index"), int) or "source" not in record:
        return "no frame \"index\" (an integer) and \"source\""
    if not isinstance(record.get("audit", {}), dict) or not all(isinstance(e, dict) for e in record.get("audit", {}).values()):
        return "\"audit\" must map stage names to their covers"
    for i, item in enumerate(_list(record, "manual")):
        if not isinstance(item, dict) or not _box(item.get("box")):
            return f"manual[{i}].box must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1"
        if item.get("class") not in MANUAL_CLASSES:
            return f"manual[{i}].class must be one of {', '.join(MANUAL_CLASSES)}, got {item.get('class')!r}"
        if "track" in item and not isinstance(item["track"], int):
            return f"manual[{i}].track must be an integer"
    for i, box in enumerate(_list(record, "remove")):
        if not _box(box):
            return f"remove[{i}] must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1"
    if "manual" in record and not isinstance(record["manual"], list):
        return "\"manual\" must be a list"
    if "remove" in record and not isinstance(record["remove"], list):
        return "\"remove\" must be a list"
    return None


def _list(record: dict, key: str) -> list:
    value = record.get(key, [])
    return value if isinstance(value, list) else []


def _box(box) -> bool:
    return (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)
            and box[0] < box[2] and box[1] < box[3])


def _interpolate_tracks(records: list[dict]) -> None:
    """Fill the frames between two manual boxes of one track with the box interpolated linearly."""
    tracks: dict[int, list[tuple[int, dict]]] = {}
    for position, record in enumerate(records):
        for item in record.get("manual", []):
            if "track" in item and not item.get("interpolated"):
                tracks.setdefault(item["track"], []).append((position, item))
    for track, items in tracks.items():
        for (p0, a), (p1, b) in zip(items, items[1:]):
            for p in range(p0 + 1, p1):
                if any(m.get("track") == track for m in records[p].get("manual", [])):
                    continue
                t = (p - p0) / (p1 - p0)
                box = [round(u + (v - u) * t, 1) for u, v in zip(a["box"], b["box"])]
                records[p].setdefault("manual", []).append(
                    {"box": box, "class": a["class"], "track": track, "interpolated": True})


def iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def removed(box, removals: list) -> bool:
    return any(iou(box, r) >= REMOVE_IOU for r in removals)
