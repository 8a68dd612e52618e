"""Events people can act on, from the tracks: a track starts, a track ends, a track enters a zone.

Sits after the anonymizer: it reads the track ids the tracker (and look-ahead) put on the boxes,
and, with `snapshots`, writes the frame it sees (anonymized, so a picture sink) as one JPEG per
event. Events go on `Frame.events` for the sinks after it (mqtt, clips, web, jsonl).

A track ends on the first frame where none of its boxes is left (the tracker has stopped
coasting it), or when the clip changes. Tracks still alive when the stream ends get no end event.
A zone is a polygon in frame pixels; a track is in it when its box's bottom centre (where an
object stands) is, and it enters when it is in it and was not on its previous frame.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import Field, field_validator

from vpipe.pipeline.api.element import Element, Params
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.outputs import make_parent, partial, publish
from vpipe.pipeline.api.registry import register
from vpipe.stages.base import PerSource, output_folder

EVENT_TYPES = ("start", "end", "enter")


def known_event_types(types: list[str]) -> list[str]:
    """`types` if every one is an event type, else a ValueError listing the known ones (for the
    `types` parameter of the sinks that take events)."""
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event type(s) {', '.join(unknown)} (known: {', '.join(EVENT_TYPES)})")
    return types


class EventsParams(Params):
    zones: dict[str, list[tuple[float, float]]] = Field(default_factory=dict, description="zone name -> polygon [[x, y], ...] in frame pixels (at least 3 points).")
    classes: list[str] | None = Field(None, description="only tracks of these classes make events; None: every class.")
    snapshots: str | None = Field(None, description="folder for one JPEG per event (the anonymized frame, the event's box drawn); None: none.")
    quality: int = Field(85, ge=1, le=100)

    @field_validator("zones")
    @classmethod
    def _polygons(cls, zones: dict[str, list[tuple[float, float]]]) -> dict:
        for name, points in zones.items():
            if len(points) < 3:
                raise ValueError(f"zone {name!r} needs at least 3 points, not {len(points)}")
        return zones


@dataclass
class _Track:
    cls: str
    box: list[float]
    zones: set[str] = field(default_factory=set)


@dataclass
class _Camera:
    tracks: dict[int, _Track] = field(default_factory=dict)


@register("events")
class Events(Element[EventsParams]):
    """Track start/end and zone-enter events on `Frame.events`, with optional snapshots."""

    Params = EventsParams
    requires = ("tracks",)  # events come from track ids
    output_params = ("snapshots",)
    writes_folder = True

    def __init__(self, ctx, params: EventsParams):
        super().__init__(ctx, params)
        self.zones = {name: np.array(points, np.float32) for name, points in params.zones.items()}
        self.folder = output_folder(ctx, params.snapshots, "params.snapshots") if params.snapshots else None
        # An instance attribute: only with snapshots does this stage write pictures.
        self.writes_pixels = self.folder is not None
        self.cameras = PerSource(_Camera)
        self._ids = itertools.count(1)

    def outputs(self) -> list[Path]:
        return [self.folder] if self.folder else []

    def __call__(self, frame: Frame) -> Frame:
        camera, ended = self.cameras.at(frame)
        events: list[dict[str, Any]] = []
        if ended is not None:  # the last clip's tracks end with it
            events += [self._event("end", frame, tid, t) for tid, t in ended.tracks.items()]
        seen = self._tracks(frame)
        for tid, gone in list(camera.tracks.items()):
            if tid not in seen:
                events.append(self._event("end", frame, tid, gone))
                del camera.tracks[tid]
        for tid, (cls, box) in seen.items():
            track = camera.tracks.get(tid)
            if track is None:
                track = camera.tracks[tid] = _Track(cls, box)
                events.append(self._event("start", frame, tid, track))
            track.box = box
            inside = {name for name, polygon in self.zones.items() if _inside(polygon, box)}
            for zone in sorted(inside - track.zones):
                events.append(self._event("enter", frame, tid, track, zone))
            track.zones = inside
        if events and self.folder:
            self._snapshot(frame, events, self.folder)
        frame.events += events
        return frame

    def _tracks(self, frame: Frame) -> dict[int, tuple[str, list[float]]]:
        """Track id -> (class, box) on this frame; the first box of a track wins."""
        dets = frame.detections
        out: dict[int, tuple[str, list[float]]] = {}
        if dets.track_ids is None:
            return out
        for i, tid in enumerate(int(t) for t in dets.track_ids):
            cls = dets.class_names[i]
            if tid < 0 or tid in out or (self.params.classes is not None and cls not in self.params.classes):
                continue
            out[tid] = (cls, [round(float(v), 1) for v in dets.boxes[i]])
        return out

    def _event(self, kind: str, frame: Frame, tid: int, track: _Track, zone: str | None = None) -> dict:
        event = {"id": f"{frame.source_id}-{next(self._ids)}", "type": kind, "camera": frame.source_id,
                 "class": track.cls, "track": tid, "time": round(frame.wall_time, 6),
                 "pts": None if frame.pts is None else round(frame.pts, 6), "index": frame.index,
                 "box": track.box, "snapshot": None}
        if zone is not None:
            event["zone"] = zone
        return event

    def _snapshot(self, frame: Frame, events: list[dict], folder: Path) -> None:
        """One JPEG per event: this (anonymized) frame with the event's box drawn on a copy."""
        for event in events:
            image = frame.image.copy()
            x1, y1, x2, y2 = (int(v) for v in event["box"])
            cv2.rectangle(image, (x1, y1), (x2, y2), (0, 255, 255), 2)
            path = folder / f"{event['id']}_{event['type']}.jpg"
            make_parent(path)
            if not cv2.imwrite(str(partial(path)), image, [cv2.IMWRITE_JPEG_QUALITY, self.params.quality]):
                raise VpipeError(f"{path}: cannot write snapshot")
            publish(path)
            event["snapshot"] = str(path)


def _inside(polygon: np.ndarray, box: list[float]) -> bool:
    foot = ((box[0] + box[2]) / 2, box[3])
    return cv2.pointPolygonTest(polygon, foot, False) >= 0
