"""Video sink: H.264 in MP4 (or any container FFmpeg knows) through PyAV.

Frames keep their source timestamps, so the output has the input's frame rate and timing.
`close` flushes the encoder and writes the index: an interrupted run still leaves a playable file.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
from pydantic import Field

from vpipe.pipeline.errors import VpipeError
from vpipe.pipeline.frame import Frame
from vpipe.pipeline.registry import register
from vpipe.stages.base import Params, Sink

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".m4v", ".ts"}


class VideoParams(Params):
    path: str
    codec: str = "libx264"
    #: x264 quality (lower is better; 18 is visually lossless, 23 the default).
    crf: int = Field(23, ge=0, le=51)
    preset: str = "veryfast"
    #: output frame rate when the source has none (image folders); else the source's.
    fps: float | None = Field(None, gt=0)
    #: output size "WxH"; default: the input's.
    size: str | None = Field(None, pattern=r"^\d+x\d+$")
    #: encoder threads; 0 lets the encoder choose.
    threads: int = Field(0, ge=0)
    #: fragmented MP4 stays playable even if the process is killed outright (kill -9, power loss).
    fragmented: bool = False


@register("video")
class VideoSink(Sink):
    """H.264 (or any FFmpeg encoder) in MP4/MKV/MOV, with the source's timestamps."""

    Params = VideoParams

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        if len(ctx.streams) > 1:
            raise VpipeError(f"a video sink writes one stream but {len(ctx.streams)} reach it "
                             f"({', '.join(ctx.streams)}): add one sink per source")
        self.path = _resolve(ctx.base_dir, params.path)
        if self.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise VpipeError(f"params.path: {self.path.name} is not a video file "
                             f"({', '.join(sorted(VIDEO_SUFFIXES))})")
        if params.codec not in av.codecs_available:
            raise VpipeError(f"params.codec: this FFmpeg build has no {params.codec!r} encoder")
        self.info = next(iter(ctx.streams.values()), None)
        self.container = None
        self.stream = None
        self._last_pts = -1
        self.frames = 0

    def _open(self, frame: Frame) -> None:
        h, w = frame.image.shape[:2]
        if self.params.size:
            w, h = (int(v) for v in self.params.size.split("x"))
        fps = self.params.fps or (self.info.fps if self.info else None) or 25.0
        rate = Fraction(fps).limit_denominator(1001)
        self.time_base = (self.info.time_base if self.info and self.info.time_base else None) or 1 / rate
        self.path.parent.mkdir(parents=True, exist_ok=True)
        options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if self.params.fragmented else {}
        try:
            self.container = av.open(str(self.path), mode="w", options=options)
        except (av.error.FFmpegError, OSError) as exc:
            raise VpipeError(f"{self.path}: cannot write: {exc}") from None
        stream = self.container.add_stream(self.params.codec, rate=rate)
        # yuv420p needs even sizes; round down rather than fail on an odd camera mode.
        stream.width, stream.height = w - w % 2, h - h % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        if self.params.codec.startswith("libx26"):
            stream.options = {"crf": str(self.params.crf), "preset": self.params.preset}
        if self.params.threads:
            stream.codec_context.thread_count = self.params.threads
        self.stream = stream

    def __call__(self, frame: Frame) -> None:
        if self.container is None:
            self._open(frame)
        image = frame.image
        if image.shape[1] != self.stream.width or image.shape[0] != self.stream.height:
            image = cv2.resize(image, (self.stream.width, self.stream.height), interpolation=cv2.INTER_AREA)
        video_frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        if frame.pts is not None and not self.params.fps:
            pts = round(frame.pts / self.time_base)
        else:
            pts = round(self.frames / (self.stream.average_rate or 25) / self.time_base)
        video_frame.pts = max(pts, self._last_pts + 1)  # muxers need strictly increasing pts
        self._last_pts = video_frame.pts
        video_frame.time_base = self.time_base
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self.container is None:
            return
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
        finally:
            self.container.close()
            self.container = None


def _resolve(base_dir: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base_dir / path))
