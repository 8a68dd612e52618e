"""Bad inputs and hard stops: a damaged file is reported and the run goes on; nothing is lost
silently (the safety issue's "no raw frame by mistake, no output lost")."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

import elements  # noqa: F401  (registers the test elements)
from conftest import CENTERFACE, SAMPLE, write_config
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.pipeline.runtime.runner import Runner


def vpipe(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vpipe.pipeline.apps.cli", *args],
                          capture_output=True, text=True, timeout=timeout)


def run(config: Path, max_frames: int | None = None) -> None:
    """Run a config in this process to its end (or `max_frames`), its elements closed after."""
    graph = build_graph(load_config(config))
    try:
        Runner(graph, max_frames=max_frames).run()
    finally:
        graph.close()


def decoded(path) -> list[float]:
    """Presentation times (seconds) of every frame of a file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [float(f.pts * stream.time_base) for f in container.decode(stream)]


def remux(src, dst, options=None, packets=None) -> None:
    """Copy the video packets of `src` into `dst` (the first `packets` only, if given)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options=options or {}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for k, packet in enumerate(inp.demux(inp.streams.video[0])):
            if packet.dts is None or (packets is not None and k >= packets):
                continue
            packet.stream = stream
            out.mux(packet)


def video_config(tmp_path, src, out, params: str = "", sink_params: str = ""):
    return write_config(tmp_path, f"""
sources: [{{uri: {src}, params: {{{params}}}}}]
sinks: [{{type: video, raw_output: true, params: {{path: {out} {sink_params}}}}}]
""")


def test_batch_goes_on_past_an_empty_video_and_keeps_colliding_names_apart(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    # A stream that declares 200 frames and holds none: the moov of a faststart mp4, no mdat.
    remux(SAMPLE, tmp_path / "fast.mp4", {"movflags": "faststart"})
    data = (tmp_path / "fast.mp4").read_bytes()
    (src / "empty.mp4").write_bytes(data[:data.index(b"mdat") - 4])
    shutil.copy(SAMPLE, src / "a.mp4")
    remux(SAMPLE, src / "a.mkv", packets=50)
    shutil.copy(SAMPLE, src / "z.mp4")
    # -o goes to an anonymized sink only: a small, fast detector and an anonymizer.
    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages:
  - {{type: detect, engine: {CENTERFACE}, params: {{input_size: 96x128}}}}
  - {{type: anonymize}}
sinks: [{{type: video, params: {{path: {tmp_path / "unused.mp4"}, preset: ultrafast}}}}]
""")
    result = vpipe("run", str(config), "-i", str(src), "-o", str(out), "-q")
    assert result.returncode == 1, result.stderr  # one file failed
    assert "Traceback" not in result.stderr
    assert "empty.mp4: failed: " in result.stderr and "no frame decoded" in result.stderr
    assert "3 done, 0 skipped, 1 failed" in result.stderr
    # a.mkv and a.mp4 share a stem: both are written, under names that keep their suffixes.
    assert len(decoded(out / "a.mkv.mp4")) == 50 and len(decoded(out / "a.mp4.mp4")) == 200
    assert len(decoded(out / "z.mp4")) == 200  # the file after the bad one was done too


def test_an_unreadable_image_is_skipped_and_reported(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.jpg", "c.jpg"):
        cv2.imwrite(str(src / name), np.full((48, 64, 3), 90, np.uint8))
    (src / "b.jpg").write_bytes(b"not a jpeg")
    config = write_config(tmp_path, f"""
sources: [{{uri: {src}}}]
sinks: [{{type: images, raw_output: true, params: {{path: {tmp_path / 'out'}}}}}]
""")
    result = vpipe("run", str(config), "-q")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "c.jpg"]
    assert "warning: " in result.stderr and "b.jpg: not a readable image, skipped" in result.stderr


def test_corrupt_bytes_mid_file_are_skipped_and_counted(tmp_path):
    data = bytearray(SAMPLE.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4000] = b"\x5a" * 4000
    (tmp_path / "corrupt.mp4").write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    result = vpipe("run", str(video_config(tmp_path, tmp_path / "corrupt.mp4", out)), "-q")
    assert result.returncode == 0, result.stderr
    frames = len(decoded(out))
    assert 150 < frames < 200
    assert "corrupt packets skipped" in result.stderr


def test_a_truncated_file_is_warned_about(tmp_path):
    # A faststart mp4 cut short opens (its index comes first) and declares 200 frames; a
    # Matroska file declares its duration only. Either way the missing end is reported.
    remux(SAMPLE, tmp_path / "fast.mp4", {"movflags": "faststart"})
    remux(SAMPLE, tmp_path / "full.mkv")
    for name, full in (("cut.mp4", "fast.mp4"), ("cut.mkv", "full.mkv")):
        data = (tmp_path / full).read_bytes()
        (tmp_path / name).write_bytes(data[:len(data) * 6 // 10])
        out = tmp_path / f"{name}.out.mp4"
        result = vpipe("run", str(video_config(tmp_path, tmp_path / name, out)), "-q")
        assert result.returncode == 0, result.stderr
        frames = len(decoded(out))
        assert 50 < frames < 150
        assert f"warning: {tmp_path / name}: truncated: {200 - frames} frames" in result.stderr, result.stderr
    # A whole file says nothing.
    result = vpipe("run", str(video_config(tmp_path, tmp_path / "full.mkv", tmp_path / "w.mp4")), "-q")
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr


def test_looped_file_timestamps_continue_across_loops(tmp_path):
    out = tmp_path / "loop.mp4"
    run(video_config(tmp_path, SAMPLE, out, "loop: true"), max_frames=400)
    times = decoded(out)
    assert len(times) == 400
    # 25 FPS throughout: the second pass follows the first one frame interval later.
    assert np.allclose(np.diff(times), 0.04, atol=1e-3)
    assert abs(times[-1] - 15.96) < 1e-3


def test_a_killed_run_leaves_a_fragmented_mp4_missing_about_a_second(tmp_path):
    # 2x real time (test_slow: 10-30 ms a frame), so a fragment that waits for a keyframe (x264
    # puts one every 250 frames) would never reach the disk before the kill.
    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}, params: {{loop: true}}}}]
stages: [{{type: test_slow, params: {{ms: 10}}}}]
sinks:
  - {{type: video, raw_output: true, params: {{path: {tmp_path}/kill.mp4, fragmented: true}}}}
  - {{type: jsonl, params: {{path: {tmp_path}/kill.jsonl}}}}
""")
    tests = str(Path(__file__).parent)
    script = f"import sys; sys.path.insert(0, {tests!r}); import elements; from vpipe.pipeline.apps.cli import main; main()"
    process = subprocess.Popen([sys.executable, "-c", script, "run", str(config), "-q"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Outputs are written under NAME.partial.EXT and renamed on close: a killed run leaves those.
    audit = tmp_path / "kill.partial.jsonl"
    deadline = time.monotonic() + 120
    try:
        while process.poll() is None and (not audit.exists() or len(audit.read_text().splitlines()) < 75):
            assert time.monotonic() < deadline, "the run wrote no audit"
            time.sleep(0.02)
    finally:
        process.kill()  # SIGKILL: no finalizing at all
        process.wait()
    written = len(audit.read_text().splitlines())  # flushed per line: what reached the sinks
    frames = 0
    with av.open(str(tmp_path / "kill.partial.mp4")) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            try:
                frames += len(stream.decode(packet))
            except av.error.FFmpegError:
                pass  # a fragment cut mid-write by the kill
    # Lost: the fragment in progress (25 frames), the encoder's look-ahead, the queue ahead of it.
    assert 0 < frames and written - frames <= 60, (frames, written)


def test_large_inputs_are_downscaled_to_max_side_on_capture(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    big = np.zeros((4000, 6000, 3), np.uint8)
    cv2.rectangle(big, (1500, 1000), (4500, 3000), (255, 255, 255), -1)
    cv2.imwrite(str(src / "big.png"), big)
    for params, side in (("", 4096), ("max_side: 1000", 1000)):
        out = tmp_path / f"out{side}"
        config = write_config(tmp_path, f"""
sources: [{{uri: {src}, params: {{{params}}}}}]
stages: [{{type: test_box, params: {{box: [0, 0, 10, 10]}}}}, {{type: anonymize}}]
sinks: [{{type: images, raw_output: true, params: {{path: {out}}}}}]
""")
        run(config)
        image = cv2.imread(str(out / "big.png"))
        # The longer side is max_side, the aspect kept; the content scaled with it.
        assert image.shape == (round(4000 * side / 6000), side, 3)
        assert image[round(image.shape[0] / 2), round(side / 2)].min() > 200
    # Video files too.
    out = tmp_path / "small.mp4"
    run(video_config(tmp_path, SAMPLE, out, "max_side: 320"), max_frames=5)
    with av.open(str(out)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (320, 180)


def test_every_image_folder_reader_takes_the_same_suffixes(tmp_path):
    """tools/quantize.py's calibration folder had its own list, without .tif/.tiff (issue 25)."""
    from vpipe.pipeline.api.media import IMAGE_SUFFIXES
    from vpipe.tools.export import quantize

    for suffix in IMAGE_SUFFIXES:
        (tmp_path / f"a{suffix}").write_bytes(b"")
    assert len(quantize.list_images(tmp_path)) == len(IMAGE_SUFFIXES)


def test_a_webcam_source_delivers_frames(tmp_path):
    # OpenCV opens a video file as it opens /dev/videoN: the webcam source without a camera. Its
    # cv2.VideoCapture once hid Source.capture(), which the runner calls, so no frame came.
    # A camera is live, so a sink slower than it drops the oldest frame (docs/live.md); a file read
    # as a camera comes faster than real time, so the sink waits instead, and every frame counts.
    out = tmp_path / "cam.mp4"
    config = write_config(tmp_path, f"""
sources: [{{name: cam, kind: webcam, uri: {SAMPLE}}}]
sinks: [{{type: video, raw_output: true, queue: {{overflow: block}}, params: {{path: {out}}}}}]
""")
    run(config, max_frames=3)
    assert len(decoded(out)) == 3
