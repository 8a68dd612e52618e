"""The video sink keeps what a dashcam recorded (timing, audio) and strips what it must not (GPS)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

import elements  # noqa: F401  (registers test_box)
from conftest import SAMPLE, write_config
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.pipeline.runtime.runner import Runner


def make_dashcam_clip(path, frames=30, fps=15, vfr=False):
    """A clip with AAC audio, a GPS location tag and (optionally) variable frame timing."""
    with av.open(str(path), "w") as out:
        out.metadata["location"] = "+48.8584+002.2945/"
        out.metadata["title"] = "dashcam"
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        video.time_base = Fraction(1, 1000)
        audio = out.add_stream("aac", rate=16000)
        audio.layout = "mono"
        t = 0
        for i in range(frames):
            image = np.full((120, 160, 3), (i * 8) % 255, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            t += (1000 // fps) * (2 if vfr and i % 5 == 4 else 1)
            for p in video.encode(frame):
                out.mux(p)
        samples = int(16000 * t / 1000)
        tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000)).astype(np.float32)[None, :]
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start:start + 1024]), format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 16000, start
            for p in audio.encode(chunk):
                out.mux(p)
        for stream in (video, audio):
            for p in stream.encode(None):
                out.mux(p)


def run_graph(tmp_path, src, sink_params=""):
    config = write_config(tmp_path, f"""
sources: [{{uri: {src}}}]
stages: [{{name: none, type: test_box, params: {{frames: []}}}}, {{type: anonymize}}]
sinks: [{{type: video, params: {{path: {tmp_path}/out.mp4 {sink_params}}}}}]
""")
    graph = build_graph(load_config(config))
    Runner(graph).run()
    graph.close()
    return tmp_path / "out.mp4"


def video_pts(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [float(f.pts * s.time_base) for f in c.decode(s)]


def test_audio_is_copied_and_gps_stripped_by_default(tmp_path):
    src = tmp_path / "dashcam.mp4"
    make_dashcam_clip(src)
    out = run_graph(tmp_path, src)
    with av.open(str(out)) as c, av.open(str(src)) as s:
        assert len(c.streams.audio) == 1
        assert c.streams.audio[0].codec_context.name == "aac"
        copied = sum(1 for _ in c.demux(c.streams.audio[0]) if _.size)
        original = sum(1 for _ in s.demux(s.streams.audio[0]) if _.size)
        assert copied >= original - 2  # all of it, up to the end of the last video frame
        assert "location" not in c.metadata and "title" not in c.metadata


def test_metadata_kept_when_asked(tmp_path):
    src = tmp_path / "dashcam.mp4"
    make_dashcam_clip(src)
    out = run_graph(tmp_path, src, ", metadata: keep, audio: drop")
    with av.open(str(out)) as c:
        assert c.metadata.get("location", "").startswith("+48.8584")
        assert not c.streams.audio


def test_variable_frame_timing_is_kept(tmp_path):
    src = tmp_path / "vfr.mp4"
    make_dashcam_clip(src, vfr=True)
    assert video_pts(run_graph(tmp_path, src)) == pytest.approx(video_pts(src), abs=1e-3)


def test_one_file_per_source(tmp_path):
    config = write_config(tmp_path, f"""
sources: [{{name: a, uri: {SAMPLE}}}, {{name: b, uri: {SAMPLE}}}]
stages: [{{name: none, type: test_box, params: {{frames: []}}}}, {{type: anonymize}}]
sinks: [{{type: video, params: {{path: "{tmp_path}/cam_{{source}}.mp4"}}}}]
""")
    graph = build_graph(load_config(config))
    Runner(graph, max_frames=10).run()
    graph.close()
    for name in ("a", "b"):
        assert len(video_pts(tmp_path / f"cam_{name}.mp4")) == 10


def make_rotated_clip(path, rotation: int):
    """A 64x32 clip stored sideways with a display rotation flag, a white mark top-left."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 32, "yuv420p"
        s.set_display_rotation(rotation)
        for _ in range(5):
            image = np.zeros((32, 64, 3), np.uint8)
            image[:8, :8] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def first_frame(path):
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        return frame.to_ndarray(format="bgr24"), getattr(frame, "rotation", 0)


@pytest.mark.skipif(not hasattr(av.video.stream.VideoStream, "set_display_rotation"),
                    reason="this PyAV cannot write a display rotation")
@pytest.mark.parametrize("autorotate", [True, False])
def test_rotation_is_kept(tmp_path, autorotate):
    src = tmp_path / "phone.mp4"
    make_rotated_clip(src, 90)
    config = write_config(tmp_path, f"""
sources: [{{uri: {src}, params: {{autorotate: {str(autorotate).lower()}}}}}]
stages: [{{name: none, type: test_box, params: {{frames: []}}}}, {{type: anonymize}}]
sinks: [{{type: video, params: {{path: {tmp_path}/out.mp4}}}}]
""")
    graph = build_graph(load_config(config))
    Runner(graph).run()
    graph.close()
    image, rotation = first_frame(tmp_path / "out.mp4")
    if autorotate:
        # Upright pixels, no flag: the mark a player showed bottom-left is there in the pixels.
        assert image.shape[:2] == (64, 32) and rotation == 0
        assert image[-8:, :8].mean() > 200 and image[:8, :8].mean() < 50
    else:
        assert image.shape[:2] == (32, 64) and rotation == 90
        assert image[:8, :8].mean() > 200
