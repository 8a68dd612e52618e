"""Capture: video files through PyAV, image folders, webcams through OpenCV (network streams: stream.py)."""

from __future__ import annotations

import itertools
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np
from pydantic import Field

from vpipe.pipeline.api.element import Captured, Source, StreamInfo
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.media import IMAGE_SUFFIXES, image_size, tiff_orientation
from vpipe.pipeline.api.paths import resolve_path
from vpipe.pipeline.api.registry import register_source
from vpipe.stages.base import CaptureParams


class VideoParams(CaptureParams):
    loop: bool = Field(False, description="start again at the end (demo loops, soak tests).")
    threads: int = Field(0, ge=0, description="FFmpeg decoder threads; 0 lets FFmpeg choose.")
    autorotate: bool = Field(True, description="turn frames upright as the file's display matrix says (phones, some dashcams), so detectors see upright faces and plates and the output plays the same with no flag; False keeps the frames as stored and video sinks copy the rotation flag instead.")


#: display rotation (degrees counter-clockwise, as PyAV reports it) -> cv2.rotate code that
#: makes the stored frame upright.
UPRIGHT = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


def display_rotation(path: Path) -> int:
    """The rotation a player applies to this file's video (0, 90, 180 or 270), from the display
    matrix FFmpeg attaches to decoded frames (PyAV exposes no stream-level side data)."""
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0), None)
    except av.error.FFmpegError:
        return 0
    degrees = getattr(frame, "rotation", 0) if frame is not None else 0
    return int(round((degrees or 0) / 90.0)) * 90 % 360


def open_video(path: str, options: dict | None = None, timeout: float | None = None):
    """Open a container with PyAV; a one-line error that names the file when it cannot."""
    try:
        container = av.open(path, options=options or {}, timeout=timeout)
    except (av.error.FFmpegError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise VpipeError(f"{path}: cannot open video: {reason}") from None
    if not container.streams.video:
        container.close()
        raise VpipeError(f"{path}: has no video stream")
    return container


def decode_bgr(container, stream, info: StreamInfo | None = None) -> Iterator[tuple[np.ndarray, float | None]]:
    """Decoded frames as (BGR ndarray, pts seconds). A packet the decoder rejects (corrupt bytes)
    is skipped and counted in `info.corrupt`: a damaged stretch costs its frames, not the run."""
    for packet in container.demux(stream):
        try:
            frames = stream.decode(packet)
        except av.error.FFmpegError:
            if info is not None:
                info.corrupt += 1
            continue
        for frame in frames:
            # `frame.time` is pts * time_base computed in C: Fraction arithmetic per frame is not free.
            yield frame.to_ndarray(format="bgr24"), frame.time


def missing_frames(container, stream, seen: int, last_pts: float | None, fps: float | None) -> int:
    """Frames a file declares (frame count, else duration) but did not deliver: a truncated file."""
    if stream.frames:
        missing = stream.frames - seen
    else:
        declared = (float(stream.duration * stream.time_base) if stream.duration
                    else container.duration / 1e6 if container.duration else None)
        if not declared or not fps:
            return 0
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        delivered = (last_pts - start + 1 / fps) if last_pts is not None else 0.0
        missing = round((declared - delivered) * fps)
    # A frame of rounding between muxers (or one an edit list hides) is not truncation.
    return missing if missing > 1 else 0


@register_source("file")
class VideoFileSource(Source[VideoParams]):
    """A video file decoded by PyAV (FFmpeg): any container and codec FFmpeg reads."""

    Params = VideoParams
    takes = "file"

    def __init__(self, name, uri, params, base_dir):
        super().__init__(name, uri, params, base_dir)
        self.path = resolve_path(base_dir, uri)
        if not self.path.is_file():
            raise VpipeError(f"{self.path}: video file not found")
        self.container = open_video(str(self.path))
        stream = self.container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads: decode is often the capture cost
        if params.threads:
            stream.codec_context.thread_count = params.threads
        rate = stream.average_rate or stream.guessed_rate
        rotation = display_rotation(self.path)
        #: cv2.rotate code applied to every frame, or None.
        self.turn = UPRIGHT.get(rotation) if params.autorotate else None
        width, height = stream.codec_context.width, stream.codec_context.height
        if self.turn is not None and rotation in (90, 270):
            width, height = height, width
        self.info = StreamInfo(
            source_id=name,
            width=width,
            height=height,
            rotation=0 if params.autorotate else rotation,
            fps=float(rate) if rate else None,
            time_base=stream.time_base,
            live=False,
            frames=stream.frames or None,
            path=self.path,
        )

    def frames(self) -> Iterator[Captured]:
        offset = 0.0  # each loop continues the timeline where the previous one ended
        for turn in itertools.count():
            stream = self.container.streams.video[0]
            first = last = None
            seen = 0
            try:
                for image, pts in decode_bgr(self.container, stream, self.info):
                    seen += 1
                    if pts is not None:
                        first = pts if first is None else first
                        last = pts
                        pts += offset
                    yield Captured(image if self.turn is None else cv2.rotate(image, self.turn), pts)
            except av.error.FFmpegError as exc:
                raise VpipeError(f"{self.path}: decoding failed: {exc}") from None
            if turn == 0:
                self.info.missing = missing_frames(self.container, stream, seen + self.info.corrupt,
                                                   last, self.info.fps)
            if not self.params.loop or not seen:
                return
            if first is not None and last is not None:  # set together
                offset += last - first + 1 / (self.info.fps or 25.0)
            self.container.seek(0)

    def warnings(self) -> list[str]:
        lines = []
        if self.info.corrupt:
            lines.append(f"{self.path}: {self.info.corrupt} corrupt packets skipped")
        if self.info.missing:
            lines.append(f"{self.path}: truncated: {self.info.missing} frames the file declares are missing")
        return lines

    def close(self) -> None:
        self.container.close()


#: the most pixels an image of a folder may have, decoded (128 Mpx: 400 MB in BGR); a larger one
#: is skipped, or a JPEG decoded at 1/2, 1/4 or 1/8 of its size (libjpeg scales while decoding),
#: before anything is allocated: a 3 MB PNG can claim 32000x32000 pixels (3 GB).
MAX_PIXELS = 128 * 2**20
REDUCED = ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8))


class ImagesParams(CaptureParams):
    recursive: bool = False
    fps: float | None = Field(None, gt=0, description="frame rate to stamp on the frames (for video sinks); None leaves pts unset.")


@register_source("images")
class ImageFolderSource(Source[ImagesParams]):
    """Image files of a folder in name order; sinks keep their names."""

    Params = ImagesParams
    takes = "folder"

    def __init__(self, name, uri, params, base_dir):
        super().__init__(name, uri, params, base_dir)
        self.folder = resolve_path(base_dir, uri)
        if not self.folder.is_dir():
            raise VpipeError(f"{self.folder}: image folder not found")
        pattern = "**/*" if params.recursive else "*"
        #: entries skipped before reading (a FIFO would block forever; a name that is not UTF-8
        #: crashed OpenCV): "PATH: why", each named in the summary.
        self.skipped: list[str] = []
        self.files = []
        for path in sorted(p for p in self.folder.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES):
            why = _not_an_image_file(path)
            if why:
                self.skipped.append(f"{os.fsencode(path).decode('utf-8', 'backslashreplace')}: {why}, skipped")
            else:
                self.files.append(path)
        if not self.files:
            raise VpipeError(f"{self.folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        first, _ = _read(self.files[0])
        height, width = first.shape[:2] if first is not None else (None, None)
        self.info = StreamInfo(source_id=name, width=width, height=height, fps=params.fps,
                               time_base=Fraction(1, 1000) if params.fps else None,
                               frames=len(self.files), path=self.folder)
        self.unreadable: list[Path] = []

    def frames(self) -> Iterator[Captured]:
        for i, path in enumerate(self.files):
            image, too_large = _read(path)
            if too_large:
                self.skipped.append(f"{path}: {too_large}, skipped")
                continue
            if image is None:  # one bad file in a folder is reported, not the end of the folder
                self.info.corrupt += 1
                self.unreadable.append(path)
                continue
            pts = i / self.params.fps if self.params.fps else None
            # Unrelated photos: each its own clip, so no track or look-ahead spans two of them.
            yield Captured(image, pts, name=str(path.relative_to(self.folder)), clip=i)


    def warnings(self) -> list[str]:
        return self.skipped + [f"{path}: not a readable image, skipped" for path in self.unreadable]


def _read(path: Path):
    """(the image, decoded reduced where it is too large, or None if unreadable; why it is too
    large to read at all, or None)."""
    size = image_size(path)
    flags = cv2.IMREAD_COLOR
    if size and size[0] * size[1] > MAX_PIXELS:
        with open(path, "rb") as f:
            jpeg = f.read(2) == b"\xff\xd8"  # by its bytes: a PNG named .jpg is not read reduced
        reduced = next((f for k, f in REDUCED if jpeg and size[0] * size[1] <= MAX_PIXELS * k * k), None)
        if reduced is None:
            return None, (f"{size[0]}x{size[1]} pixels, more than the {MAX_PIXELS / 1e6:.1f} Mpx an image "
                          "may have (only a JPEG is read reduced)")
        flags = reduced
    orientation = tiff_orientation(path)
    if orientation == 1:
        return cv2.imread(str(path), flags), None
    # OpenCV 5 fails on a TIFF whose Orientation swaps its sides, even told to ignore it, and
    # libtiff turns the others itself: FFmpeg reads the pixels as stored, and they are turned here.
    try:
        with av.open(str(path)) as container:
            image = next(container.decode(video=0)).to_ndarray(format="bgr24")
    except (av.error.FFmpegError, StopIteration, ValueError):
        return None, None
    return _upright(image, orientation), None


def _upright(image, orientation: int):
    """The stored pixels turned as an EXIF/TIFF Orientation (2..8) says they are shown."""
    if orientation in (5, 7):  # mirrored about a diagonal
        image = cv2.transpose(image)
        return image if orientation == 5 else cv2.rotate(image, cv2.ROTATE_180)
    turns = {2: lambda: cv2.flip(image, 1), 3: lambda: cv2.rotate(image, cv2.ROTATE_180),
             4: lambda: cv2.flip(image, 0), 6: lambda: cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE),
             8: lambda: cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)}
    return turns[orientation]()


def _not_an_image_file(path: Path) -> str | None:
    """Why `path` must not be opened as an image: not a regular file (FIFO, device, folder,
    broken link), or a name that is not UTF-8; None if it may be."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not UTF-8"
    if not path.is_file():  # follows links; never opens the file, so a FIFO does not block
        return "not a regular file"
    return None


class WebcamParams(CaptureParams):
    width: int | None = Field(None, gt=0)
    height: int | None = Field(None, gt=0)
    fps: float | None = Field(None, gt=0)


@register_source("webcam")
class WebcamSource(Source[WebcamParams]):
    """A local camera by index or /dev/videoN, through OpenCV (V4L2 on Linux)."""

    Params = WebcamParams
    takes = "device"

    def __init__(self, name, uri, params, base_dir):
        super().__init__(name, uri, params, base_dir)
        device = int(uri) if uri.isdigit() else uri
        #: not `capture`: that is Source.capture(), which the runner reads the frames through.
        self.camera = cv2.VideoCapture(device)
        if not self.camera.isOpened():
            raise VpipeError(f"webcam {uri}: cannot open")
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, params.width),
                            (cv2.CAP_PROP_FRAME_HEIGHT, params.height), (cv2.CAP_PROP_FPS, params.fps)):
            if value:
                self.camera.set(prop, value)
        self.info = StreamInfo(
            source_id=name,
            width=int(self.camera.get(cv2.CAP_PROP_FRAME_WIDTH)) or None,
            height=int(self.camera.get(cv2.CAP_PROP_FRAME_HEIGHT)) or None,
            fps=self.camera.get(cv2.CAP_PROP_FPS) or params.fps,
            live=True,
        )
        self._stopped = False

    def frames(self) -> Iterator[Captured]:
        import time

        start = time.monotonic()
        while not self._stopped:
            ok, image = self.camera.read()
            if not ok:
                return
            yield Captured(image, time.monotonic() - start)

    def stop(self) -> None:
        self._stopped = True

    def close(self) -> None:
        self.camera.release()
