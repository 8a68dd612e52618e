"""Clips around events: `before` seconds of pre-roll, the event, `after` seconds, as H.264 mp4.

Each camera keeps its recent frames in a pre-roll buffer, JPEG-compressed (a raw 640x360 frame
is 691 kB, so ten seconds of four raw cameras would take 690 MB, and of four 1080p ones 6 GB),
and bounded twice: by `before` seconds and by an equal share of `memory_mb` across the cameras
that reach the sink, so the total stays under `memory_mb` whatever their number (a camera past
its share keeps fewer seconds).
On an event, the buffer is written out, then each frame until `after` seconds past the last
event (an event during a clip extends it), through the video sink's writer. A clip's timestamps
start at 0; it is named after the event that opened it, and published when complete.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from pydantic import Field, field_validator

from vpipe.pipeline.api.element import Params, Sink, StreamInfo
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.registry import register
from vpipe.stages.base import PerSource, output_folder
from vpipe.stages.events import known_event_types
from vpipe.stages.video_sink import X264_PRESETS, VideoParams, VideoWriter


class ClipsParams(Params):
    path: str = Field(description="folder of the clips: CAMERA-N_TYPE.mp4 (the event id and type that opened each).")
    before: float = Field(5.0, ge=0, le=300, description="seconds of pre-roll before the event, and of post-roll after the last one.")
    after: float = Field(5.0, ge=0, le=300)
    types: list[str] = Field(default_factory=lambda: ["start", "enter"], description="event types that open (or extend) a clip.")
    memory_mb: float = Field(512, gt=0, description="pre-roll memory of all cameras together (compressed frames), in MB.")
    quality: int = Field(80, ge=1, le=100, description="JPEG quality of the pre-roll frames (80: 37 kB for the sample's 640x360 frames, 691 kB raw).")
    crf: int = Field(23, ge=0, le=51)
    preset: str = "veryfast"

    @field_validator("preset")
    @classmethod
    def _preset(cls, preset: str) -> str:
        # Checked here, not when the first clip opens minutes into a run.
        if preset not in X264_PRESETS:
            raise ValueError(f"{preset!r} is not an x264 preset ({', '.join(X264_PRESETS)})")
        return preset

    @field_validator("types")
    @classmethod
    def _types(cls, types: list[str]) -> list[str]:
        return known_event_types(types)


@dataclass
class _Held:
    """One pre-roll frame: its JPEG and what a Frame needs back."""

    jpeg: np.ndarray
    source_id: str
    index: int
    pts: float
    captured_at: float
    wall_time: float


@dataclass
class _Camera:
    preroll: deque[_Held] = field(default_factory=deque)
    nbytes: int = 0
    writer: VideoWriter | None = None
    #: pts of the clip's first frame (its 0) and of its last frame to write.
    start: float = 0.0
    end: float = 0.0


@register("clips")
class ClipsSink(Sink[ClipsParams]):
    """An H.264 mp4 of each event with pre-roll and post-roll, from a bounded buffer per camera."""

    Params = ClipsParams
    writes_pixels = True
    writes_folder = True

    def __init__(self, ctx, params: ClipsParams):
        super().__init__(ctx, params)
        self.folder = output_folder(ctx, params.path, "params.path")
        self.budget = int(params.memory_mb * 1e6) // max(1, len(ctx.streams))
        self.cameras = PerSource(_Camera)

    def outputs(self) -> list[Path]:
        return [self.folder]

    def __call__(self, frame: Frame) -> None:
        camera, ended = self.cameras.at(frame)
        pts = self._pts(frame)
        if ended is not None:  # the stream restarted: its past is not this clip's pre-roll
            self._finish(ended)
        opening = [e for e in frame.events if e["type"] in self.params.types]
        if opening:
            if camera.writer is None:
                self._open(camera, frame, opening[0], pts)
            camera.end = max(camera.end, pts + self.params.after)
        if camera.writer is not None:
            camera.writer.write(replace(frame, pts=pts - camera.start))
            if pts >= camera.end - 1e-6:
                self._finish(camera)
        else:
            self._hold(camera, frame, pts)

    def _pts(self, frame: Frame) -> float:
        if frame.pts is not None:
            return frame.pts
        info = self.ctx.streams.get(frame.source_id)
        return frame.index / (info.fps if info and info.fps else 25.0)

    def _hold(self, camera: _Camera, frame: Frame, pts: float) -> None:
        ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.params.quality])
        if not ok:
            raise VpipeError("cannot compress a pre-roll frame")
        camera.preroll.append(_Held(jpeg, frame.source_id, frame.index, pts, frame.captured_at, frame.wall_time))
        camera.nbytes += jpeg.nbytes
        while camera.preroll and (camera.nbytes > self.budget or
                                  camera.preroll[0].pts < pts - self.params.before - 1e-6):
            camera.nbytes -= camera.preroll.popleft().jpeg.nbytes

    def _open(self, camera: _Camera, frame: Frame, event: dict, pts: float) -> None:
        path = self.folder / f"{event['id']}_{event['type']}.mp4"
        held = [h for h in camera.preroll if h.pts >= pts - self.params.before - 1e-6]
        camera.preroll.clear()
        camera.nbytes = 0
        camera.start = held[0].pts if held else pts
        camera.end = pts
        info = self.ctx.streams.get(frame.source_id, StreamInfo(frame.source_id))
        params = VideoParams(path=str(path), crf=self.params.crf, preset=self.params.preset, audio="drop")
        camera.writer = VideoWriter(path, params, info, frame)
        for h in held:
            image = cv2.imdecode(h.jpeg, cv2.IMREAD_COLOR)
            assert image is not None  # a JPEG encoded here, in _hold
            camera.writer.write(Frame(image, h.source_id, h.index, h.pts - camera.start, h.captured_at, h.wall_time))

    def _finish(self, camera: _Camera) -> None:
        writer, camera.writer = camera.writer, None
        if writer is not None:
            writer.close()

    def close(self) -> None:
        errors = []
        for camera in self.cameras.values():
            try:
                self._finish(camera)
            except Exception as exc:  # finish every clip even if one fails
                errors.append(exc)
        self.cameras.clear()
        if errors:
            raise errors[0]
