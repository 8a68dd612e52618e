"""Small sinks: JSON lines (metadata and audit), image files, nothing (benchmarks), a window."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
from pydantic import Field

from vpipe.pipeline.api.element import Params, Sink
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.outputs import check_writable, make_parent, partial, publish, temporary
from vpipe.pipeline.api.paths import resolve_path
from vpipe.pipeline.api.registry import register
from vpipe.stages.base import output_folder


class JsonlParams(Params):
    path: str


@register("jsonl")
class JsonlSink(Sink[JsonlParams]):
    """One line per frame: where it came from, what was detected, what anonymization did.
    Each line is flushed as written, so an interrupted run keeps every finished frame."""

    Params = JsonlParams
    suffixes = (".jsonl",)
    audit = True

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.path = resolve_path(ctx.base_dir, params.path)
        try:
            check_writable(self.path)
        except VpipeError as exc:
            raise VpipeError(f"params.path: {exc}") from None
        self.file = None

    def outputs(self) -> list[Path]:
        return [self.path]

    def open(self) -> None:
        make_parent(self.path)
        self.file = open(partial(self.path), "w", encoding="utf-8", buffering=1)

    def __call__(self, frame: Frame) -> None:
        record = {
            "source": frame.source_id,
            "index": frame.index,
            "pts": None if frame.pts is None else round(frame.pts, 6),
            "time": round(frame.wall_time, 6),
            "detections": frame.detections.to_json(),
        }
        if frame.name:
            record["name"] = frame.name
        if frame.faults:
            record["faults"] = frame.faults
        if frame.audit:
            record["audit"] = frame.audit
        if frame.events:
            record["events"] = frame.events
        self.file.write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self) -> None:
        if self.file:
            self.file.close()
            self.file = None
            publish(self.path)


class ImagesParams(Params):
    path: str
    ext: str = Field("jpg", pattern=r"^(jpg|jpeg|png|bmp|webp)$", description="file type for frames that have no name of their own (video sources).")
    quality: int = Field(95, ge=1, le=100)


@register("images")
class ImagesSink(Sink[ImagesParams]):
    """Frames as image files; frames from an image folder keep their names (a mirrored tree)."""

    Params = ImagesParams
    writes_pixels = True
    writes_folder = True
    swappable = True  # `-o out.mp4` makes it a video sink

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.folder = output_folder(ctx, params.path, "params.path")

    def outputs(self) -> list[Path]:
        return [self.folder]

    def __call__(self, frame: Frame) -> None:
        name = frame.name or f"{frame.source_id}_{frame.index:06d}.{self.params.ext}"
        if frame.name and len(self.ctx.streams) > 1:
            name = f"{frame.source_id}/{name}"
        path = self.folder / name
        make_parent(path)
        flags = [cv2.IMWRITE_JPEG_QUALITY, self.params.quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
        temp = temporary(path)  # not partial(path): that may be another image's own name
        try:
            if not cv2.imwrite(str(temp), frame.image, flags):
                raise VpipeError(f"{path}: cannot write image")
            publish(path, temp)  # a reader of the folder never sees half an image
        finally:
            temp.unlink(missing_ok=True)


@register("null")
class NullSink(Sink):
    """Discards frames: measures everything upstream (`vpipe bench`)."""

    def __call__(self, frame: Frame) -> None:
        return None


class DisplayParams(Params):
    title: str = "vpipe"


@register("display")
class DisplaySink(Sink[DisplayParams]):
    """Shows frames in a window (needs a display). A screen shows pictures as a file does, so
    it takes only anonymized frames, or `raw_output: true` said on purpose."""

    writes_pixels = True

    Params = DisplayParams

    def open(self) -> None:
        try:
            cv2.namedWindow(self.params.title, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise VpipeError(f"no display available: {str(exc).strip().splitlines()[-1]}") from None

    def __call__(self, frame: Frame) -> None:
        cv2.imshow(self.params.title, frame.image)
        cv2.waitKey(1)

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.params.title)
        except cv2.error:
            pass
