"""Video sink: H.264 in MP4 (or any container FFmpeg knows) through PyAV.

Dashcam-faithful: frames keep their source timestamps (variable frame rate too), the source's
audio is copied packet for packet, and container metadata (creation time, GPS location) is
stripped unless asked for, because a location track is personal data too. `close` flushes the
encoder and writes the index, so an interrupted run still leaves a playable file.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import cv2
from av.video.stream import VideoStream
from pydantic import Field, field_validator

from vpipe.pipeline.api.element import Params, Sink, StreamInfo
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.media import VIDEO_SUFFIXES
from vpipe.pipeline.api.outputs import check_writable, make_parent, partial, publish
from vpipe.pipeline.api.paths import resolve_path
from vpipe.pipeline.api.registry import register

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                "veryslow", "placebo")
#: output sides in pixels: H.264 levels stop at 8K, and a typo must not allocate gigabytes.
MIN_SIDE, MAX_SIDE = 16, 8192


class VideoParams(Params):
    path: str = Field(description="output file; with several sources, put `{source}` in it for one file per source.")
    codec: str = "libx264"
    crf: int = Field(23, ge=0, le=51, description="x264 quality (lower is better; 18 is visually lossless, 23 the default).")
    preset: str = "veryfast"
    fps: float | None = Field(None, gt=0, description="output frame rate when the source has none (image folders); else the source's.")
    size: str | None = Field(None, pattern=r"^\d+x\d+$", description="output size \"WxH\"; default: the input's.")

    @field_validator("size")
    @classmethod
    def _sides(cls, size: str | None) -> str | None:
        if size and not all(MIN_SIDE <= int(side) <= MAX_SIDE for side in size.split("x")):
            raise ValueError(f"each side must be {MIN_SIDE} to {MAX_SIDE} pixels")
        return size
    threads: int = Field(0, ge=0, description="encoder threads; 0 lets the encoder choose.")
    fragmented: bool = Field(False, description="fragmented MP4 stays playable even if the process is killed outright (kill -9, power loss), losing at most its last second (plus the encoder's look-ahead).")
    audio: Literal["copy", "drop"] = Field("copy", description="copy the source file's audio stream (dashcams record the cabin), or drop it.")
    metadata: Literal["strip", "keep"] = Field("strip", description="container metadata (creation time, GPS location): stripped unless kept explicitly.")


#: fragmented MP4: a fragment (moof + mdat) at least every second, not only at keyframes (x264
#: puts one every 250 frames), and the file flushed after each write, so a process killed
#: outright leaves every fragment but the one in progress on disk.
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof",
              "frag_duration": "1000000", "flush_packets": "1"}


@register("video")
class VideoSink(Sink[VideoParams]):
    """H.264 (or any FFmpeg encoder) in MP4/MKV/MOV, with the source's timestamps and audio."""

    Params = VideoParams
    writes_pixels = True
    suffixes = VIDEO_SUFFIXES
    swappable = True  # `-o folder/` makes it an images sink

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        if len(ctx.streams) > 1 and "{source}" not in params.path:
            raise VpipeError(f"params.path: {len(ctx.streams)} sources reach this sink "
                             f"({', '.join(ctx.streams)}): put {{source}} in the path for one file each")
        self.path = resolve_path(ctx.base_dir, params.path)
        if self.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise VpipeError(f"params.path: {self.path.name} is not a video file "
                             f"({', '.join(sorted(VIDEO_SUFFIXES))})")
        codec_error = encoder_error(params.codec)
        if codec_error:
            raise VpipeError(codec_error)
        if params.codec.startswith("libx26") and params.preset not in X264_PRESETS:
            raise VpipeError(f"params.preset: {params.preset!r} is not an x264 preset ({', '.join(X264_PRESETS)})")
        for path in self.outputs():
            try:
                check_writable(path)
            except VpipeError as exc:
                raise VpipeError(f"params.path: {exc}") from None
        self.writers: dict[str, VideoWriter] = {}

    def outputs(self) -> list[Path]:
        return [self._path_for(s) for s in self.ctx.streams] or [self.path]

    def destination(self) -> str:
        return str(self.path)  # with {source} when it writes one file per source

    def _path_for(self, source_id: str) -> Path:
        return Path(str(self.path).replace("{source}", source_id))

    def __call__(self, frame: Frame) -> None:
        writer = self.writers.get(frame.source_id)
        if writer is None:
            path = self._path_for(frame.source_id)
            info = self.ctx.streams.get(frame.source_id, StreamInfo(frame.source_id))
            writer = self.writers[frame.source_id] = VideoWriter(path, self.params, info, frame)
        writer.write(frame)

    def close(self) -> None:
        errors = []
        for writer in self.writers.values():
            try:
                writer.close()
            except Exception as exc:  # close every file even if one fails
                errors.append(exc)
        self.writers.clear()
        if errors:
            raise errors[0]


def encoder_error(codec: str) -> str | None:
    """Why FFmpeg cannot encode video with `codec` (params.codec), or None."""
    try:
        kind = av.Codec(codec, "w").type
    except ValueError:  # unknown, or a decoder only
        return f"params.codec: this FFmpeg build has no {codec!r} encoder"
    return None if kind == "video" else f"params.codec: {codec!r} encodes {kind}, not video"


class VideoWriter:
    """One output file: the encoder, the muxer and the audio copied from the source."""

    def __init__(self, path: Path, params: VideoParams, info: StreamInfo, first: Frame):
        self.path = path
        self.params = params
        h, w = first.image.shape[:2]
        if params.size:
            w, h = (int(v) for v in params.size.split("x"))
        fps = params.fps or info.fps or 25.0
        rate = Fraction(fps).limit_denominator(1001)
        self.time_base = info.time_base if (info.time_base and not params.fps) else 1 / rate
        self.frames = 0
        self._last_pts = -1
        make_parent(path)
        options = FRAGMENTED if params.fragmented else {}
        try:
            self.container = av.open(str(partial(path)), mode="w", options=options)
        except (av.error.FFmpegError, OSError) as exc:
            raise VpipeError(f"{path}: cannot write: {exc}") from None
        stream = self.container.add_stream(params.codec, rate=rate)
        assert isinstance(stream, VideoStream)  # the sink checked params.codec (encoder_error)
        # yuv420p needs even sizes; round down rather than fail on an odd camera mode.
        stream.width, stream.height = w - w % 2, h - h % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        if params.codec.startswith("libx26"):
            stream.options = {"crf": str(params.crf), "preset": params.preset}
        if params.threads:
            stream.codec_context.thread_count = params.threads
        if info.rotation and hasattr(stream, "set_display_rotation"):  # recent PyAV only
            stream.set_display_rotation(info.rotation)
        self.stream = stream
        self.audio = _AudioCopy.open(info.path, self.container) if params.audio == "copy" else None
        if params.metadata == "keep" and info.path and info.path.is_file():
            with av.open(str(info.path)) as source:
                self.container.metadata.update(source.metadata)

    def write(self, frame: Frame) -> None:
        image = frame.image
        if image.shape[1] != self.stream.width or image.shape[0] != self.stream.height:
            image = cv2.resize(image, (self.stream.width, self.stream.height), interpolation=cv2.INTER_AREA)
        video_frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        if frame.pts is not None and not self.params.fps:
            pts = round(frame.pts / self.time_base)
        else:
            assert self.stream.average_rate is not None  # add_stream(rate=...) set it
            pts = round(self.frames / self.stream.average_rate / self.time_base)
        video_frame.pts = max(pts, self._last_pts + 1)  # muxers need strictly increasing pts
        self._last_pts = video_frame.pts
        video_frame.time_base = self.time_base
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)
        if self.audio:
            self.audio.mux_until(float(video_frame.pts * self.time_base))
        self.frames += 1

    def close(self) -> None:
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            if self.audio:
                # Audio up to the end of the last frame written: an interrupted run's audio
                # stops with its video.
                end = (self._last_pts + 1) * self.time_base if self._last_pts >= 0 else 0
                self.audio.mux_until(float(end))
                self.audio.close()
        finally:
            self.container.close()
        publish(self.path)  # complete (interrupted runs too): under its own name now


class _AudioCopy:
    """Packets of the source file's first audio stream, muxed alongside the video as it goes."""

    def __init__(self, source, in_stream, out_stream, container):
        self.source, self.in_stream, self.out_stream, self.container = source, in_stream, out_stream, container
        self.packets = source.demux(in_stream)
        self.pending = None

    @classmethod
    def open(cls, path: Path | None, container) -> "_AudioCopy | None":
        if path is None or not path.is_file():
            return None
        source = av.open(str(path))
        if not source.streams.audio:
            source.close()
            return None
        in_stream = source.streams.audio[0]
        try:
            out_stream = container.add_stream_from_template(in_stream)
        except (av.error.FFmpegError, ValueError) as exc:
            source.close()
            raise VpipeError(f"{path}: cannot copy its {in_stream.codec_context.name} audio into "
                             f"this container ({exc}); set params.audio: drop") from None
        return cls(source, in_stream, out_stream, container)

    def mux_until(self, seconds: float) -> None:
        while True:
            packet = self.pending or next(self.packets, None)
            self.pending = None
            if packet is None:
                return
            if packet.dts is None:  # the demuxer's flush packet
                continue
            if packet.pts is not None and float(packet.pts * self.in_stream.time_base) > seconds:
                self.pending = packet
                return
            packet.stream = self.out_stream
            self.container.mux(packet)

    def close(self) -> None:
        self.source.close()


