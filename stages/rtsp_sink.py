"""RTSP/RTMP out: publish the processed stream as low-latency H.264 through PyAV (FFmpeg).

A lost server never stops the graph: the sink drops frames (and counts them) while it is
disconnected and reconnects with exponential backoff, each connection starting on a key frame.
Connecting happens on the sink's own worker and is bounded by `timeout`, so it delays this
branch by at most that much; a live source's queue drops the stale frames meanwhile.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Literal

import av
import cv2
from av.video.stream import VideoStream
from pydantic import Field

from vpipe.pipeline.api.element import Delivery, Params, Sink, StreamInfo
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.registry import register
from vpipe.pipeline.api.secrets import redact
from vpipe.stages.video_sink import encoder_error


class RtspOutParams(Params):
    url: str = Field(description="rtsp://host:port/path (RECORD to a server such as MediaMTX) or rtmp://host/app/key.")
    transport: Literal["tcp", "udp"] = "tcp"
    codec: str = "libx264"
    bitrate: int = Field(2000, ge=50, description="encoder bit rate in kbit/s (constant-rate streaming suits networks better than crf).")
    keyint: int | None = Field(None, ge=1, description="frames per key frame; default: one per second at the stream's rate (fast join and recovery).")
    fps: float | None = Field(None, gt=0, description="output frame rate when the stream has none.")
    timeout: float = Field(5.0, gt=0, description="seconds a connection attempt or a write may take.")
    initial_delay: float = Field(0.5, gt=0)
    max_delay: float = Field(10.0, gt=0)


@register("rtsp")
class RtspSink(Sink[RtspOutParams]):
    """Publishes H.264 over RTSP (or RTMP/FLV); reconnects on server loss, dropping meanwhile."""

    Params = RtspOutParams
    writes_pixels = True

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        scheme = params.url.split("://", 1)[0].lower()
        if scheme not in ("rtsp", "rtsps", "rtmp", "rtmps"):
            raise VpipeError(f"params.url: {redact(params.url)} is not an rtsp:// or rtmp:// URL")
        codec_error = encoder_error(params.codec)
        if codec_error:
            raise VpipeError(codec_error)
        self.format = "rtsp" if scheme.startswith("rtsp") else "flv"
        self.safe_url = redact(params.url)
        self.container = None
        self.stream = None
        #: frames written, frames dropped while disconnected, and connections made.
        self.sent = 0
        self.dropped = 0
        self.connections = 0
        self.last_error = ""
        self._failures = 0
        self._retry_at = 0.0
        self._first_pts: float | None = None
        self._last_pts = -1

    def __call__(self, frame: Frame) -> None:
        if self.container is None and time.monotonic() >= self._retry_at:
            self._connect(frame)
        if self.container is None:
            self.dropped += 1
            return
        try:
            self._write(frame)
            self.sent += 1
        except (av.error.FFmpegError, OSError) as exc:
            self._lost(exc)
            self.dropped += 1

    def destination(self) -> str:
        return self.safe_url

    def delivery(self) -> Delivery:
        return Delivery(sent=self.sent, dropped=self.dropped, connections=self.connections)

    def close(self) -> None:
        if self.container is not None:
            try:
                for packet in self.stream.encode(None):
                    self.container.mux(packet)
            except (av.error.FFmpegError, OSError):
                pass  # the server is gone: nothing left to deliver to
            self._disconnect()

    # -- connection ---------------------------------------------------------------------------

    def _connect(self, frame: Frame) -> None:
        p = self.params
        info = self.ctx.streams.get(frame.source_id, StreamInfo(frame.source_id))
        rate = Fraction(p.fps or info.fps or 25.0).limit_denominator(1001)
        options: dict[str, str] = {"rtsp_transport": p.transport} if self.format == "rtsp" else {}
        options["timeout"] = str(int(p.timeout * 1_000_000))  # socket I/O timeout, microseconds
        h, w = frame.image.shape[:2]
        try:
            container = av.open(p.url, mode="w", format=self.format, options=options)
            stream = container.add_stream(p.codec, rate=rate)
            assert isinstance(stream, VideoStream)  # the sink checked params.codec (encoder_error)
            stream.width, stream.height = w - w % 2, h - h % 2
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, 1000)
            stream.codec_context.time_base = Fraction(1, 1000)
            stream.bit_rate = p.bitrate * 1000
            keyint = p.keyint or max(1, round(float(rate)))
            stream.codec_context.gop_size = keyint
            if p.codec.startswith("libx264"):
                # No look-ahead, no B-frames: each frame leaves as soon as it is encoded.
                stream.options = {"preset": "ultrafast", "tune": "zerolatency",
                                  "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0"}
            container.start_encoding()  # the handshake (ANNOUNCE/SETUP/RECORD) happens here
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self._lost(exc, connecting=True)
            return
        self.container, self.stream = container, stream
        self.connections += 1
        self._failures = 0
        self._first_pts, self._last_pts = None, -1

    def _write(self, frame: Frame) -> None:
        image = frame.image
        if image.shape[1] != self.stream.width or image.shape[0] != self.stream.height:
            image = cv2.resize(image, (self.stream.width, self.stream.height))
        video = av.VideoFrame.from_ndarray(image, format="bgr24")
        # Each connection starts at pts 0 (a new RTSP session), in milliseconds.
        if frame.pts is not None:
            if self._first_pts is None:
                self._first_pts = frame.pts
            pts = round((frame.pts - self._first_pts) * 1000)
        else:
            pts = round(self.sent * 1000 / float(self.stream.average_rate or 25))
        video.pts = max(pts, self._last_pts + 1)
        video.time_base = Fraction(1, 1000)
        self._last_pts = video.pts
        for packet in self.stream.encode(video):
            self.container.mux(packet)

    def _lost(self, exc: BaseException, connecting: bool = False) -> None:
        reason = getattr(exc, "strerror", None) or type(exc).__name__  # never str(exc): it holds the URL
        self.last_error = f"{self.safe_url}: {'cannot connect' if connecting else 'connection lost'}: {reason}"
        self._disconnect()
        self._failures += 1
        delay = min(self.params.max_delay, self.params.initial_delay * 2 ** (self._failures - 1))
        self._retry_at = time.monotonic() + delay

    def _disconnect(self) -> None:
        container, self.container, self.stream = self.container, None, None
        if container is not None:
            try:
                container.close()
            except (av.error.FFmpegError, OSError):
                pass
