"""Whole runs through the CLI: real footage in, a playable mp4 and a complete audit out."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from fractions import Fraction

import av
import cv2
import pytest

from conftest import CENTERFACE, SAMPLE, cut_clips, write_config
from vpipe.pipeline.api.outputs import partial
from vpipe.pipeline.apps import cli


def vpipe(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vpipe.pipeline.apps.cli", *args],
                          capture_output=True, text=True, timeout=timeout)


def probe(path) -> tuple[int, Fraction, tuple[int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, stream.average_rate, (stream.width, stream.height)


ANON_GRAPH = """
sources: [{{uri: {src}}}]
stages:
  - {{name: faces, type: detect, engine: {model}, params: {{threshold: 0.4, input_size: 288x384}}}}
  - {{name: blur, type: anonymize}}
sinks:
  - {{type: video, params: {{path: {out}/anon.mp4}}}}
  - {{type: jsonl, inputs: [blur], params: {{path: {out}/anon.jsonl}}}}
"""


def test_vtest_detect_anonymize_video_keeps_every_frame(tmp_path, vtest):
    config = write_config(tmp_path, ANON_GRAPH.format(src=vtest, model=CENTERFACE, out=tmp_path))
    result = vpipe("run", str(config), "--quiet")
    assert result.returncode == 0, result.stderr
    with av.open(str(vtest)) as container:
        in_stream = container.streams.video[0]
        in_rate = in_stream.average_rate
        in_frames = sum(1 for _ in container.decode(in_stream))
    frames, rate, size = probe(tmp_path / "anon.mp4")
    assert frames == in_frames == 795
    assert rate == in_rate
    assert size == (768, 576)
    records = (tmp_path / "anon.jsonl").read_text().splitlines()
    assert len(records) == in_frames
    # Real people walk through this scene: the face model finds some of them.
    assert sum(len(json.loads(r)["detections"]) for r in records) > 0


def test_default_config_runs_on_the_bundled_sample(roadview_run):
    assert roadview_run["result"].returncode == 0, roadview_run["result"].stderr
    frames, rate, _ = probe(roadview_run["video"])
    assert frames == 200 and rate == 25


def test_sigint_leaves_a_playable_mp4(tmp_path):
    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}, params: {{loop: true}}}}]
stages:
  - {{name: faces, type: detect, engine: {CENTERFACE}}}
  - {{name: blur, type: anonymize}}
sinks:
  - {{type: video, params: {{path: {tmp_path}/live.mp4}}}}
  - {{type: jsonl, inputs: [blur], params: {{path: {tmp_path}/live.jsonl}}}}
""")
    process = subprocess.Popen([sys.executable, "-m", "vpipe.pipeline.apps.cli", "run", str(config), "-q"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not partial(tmp_path / "live.jsonl").exists():  # frames flow
        time.sleep(0.2)
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    frames, rate, _ = probe(tmp_path / "live.mp4")
    assert frames > 0 and rate == 25
    # Both sinks saw the same frames: nothing in flight was lost.
    assert frames == len((tmp_path / "live.jsonl").read_text().splitlines())
    assert not list(tmp_path.glob("*.partial.*"))  # interrupted, yet both under their own names


def test_image_folder_in_folder_out_keeps_names(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    with av.open(str(SAMPLE)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in (40, 100):
                cv2.imwrite(str(src / ("sub" if i == 100 else ".") / f"shot_{i}.jpg"), frame.to_ndarray(format="bgr24"))
            if i > 100:
                break
    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}, params: {{loop: true}}}}]
stages:
  - {{type: detect, engine: {CENTERFACE}}}
  - {{type: anonymize}}
sinks: [{{type: video, params: {{path: unused.mp4, crf: 30}}}}]
""")
    # A config written for a video serves a folder too: a folder out writes images of the same
    # names (the sub-folder is not read: folders are not recursive unless asked).
    result = vpipe("run", str(config), "-i", str(src), "-o", str(tmp_path / "out"), "-q")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["shot_40.jpg"]
    before = cv2.imread(str(src / "shot_40.jpg"))
    after = cv2.imread(str(tmp_path / "out" / "shot_40.jpg"))
    assert after.shape == before.shape and not (after == before).all()


def test_bench_json_has_the_documented_keys(tmp_path):
    result = vpipe("bench", "configs/decode.yaml", "--frames", "50", "--warmup", "5",
                   "--decode-baseline", "--json", str(tmp_path / "b.json"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "b.json").read_text())
    for key in ("fps", "p50", "p95", "p99", "decode_baseline_fps", "fps_vs_decode", "slowest_stage"):
        assert key in report
    assert report["fps"] > 0 and report["frames"] == 55
    assert report["measured_frames"] == 50 and "over 50 frames" in result.stdout  # warm-up left out
    for stage in report["stages"].values():
        for key in ("fps", "p50", "p95", "p99", "mean_ms", "busy_share", "queue_occupancy"):
            assert key in stage


def test_bench_sequential_mode_runs_the_same_graph(tmp_path):
    result = vpipe("bench", "configs/roadview.yaml", "--frames", "10", "--warmup", "2", "--sequential",
                   "--json", str(tmp_path / "s.json"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["mode"] == "sequential" and report["stages"]["faces"]["frames"] == 12


def test_info_lists_providers(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["vpipe", "info"])
    cli.main()
    out = capsys.readouterr().out
    assert "CPUExecutionProvider" in out and "libx264" in out


def test_batch_mode_mirrors_the_tree_and_resumes(tmp_path):
    import shutil

    src = tmp_path / "in"
    (src / "day2").mkdir(parents=True)
    # 20-frame cuts of the bundled clip: the batch logic is the same at any length, and whole runs
    # of roadview cost a minute each on CI.
    a, b = cut_clips(SAMPLE, tmp_path / "clips", 2, 20)
    shutil.copy(a, src / "a.mp4")
    shutil.copy(b, src / "day2" / "b.mp4")
    (src / "day2" / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "out"
    first = vpipe("run", "configs/roadview.yaml", "-i", str(src), "-o", str(out), "-q")
    assert first.returncode == 1  # the broken file fails, the others are done
    assert "broken.mp4: failed" in first.stderr and "2 done" in first.stderr
    assert probe(out / "a.mp4")[0] == 20 and probe(out / "day2" / "b.mp4")[0] == 20
    assert len((out / "day2" / "b.jsonl").read_text().splitlines()) == 20
    assert not list(out.rglob("*.partial.mp4"))
    (src / "day2" / "broken.mp4").unlink()
    second = vpipe("run", "configs/roadview.yaml", "-i", str(src), "-o", str(out), "-q")
    assert second.returncode == 0 and "2 skipped" in second.stderr


@pytest.mark.parametrize("args, message", [(("run", "--bogus"), "No such option: --bogus"),
                                           (("nosuchcmd",), "No such command"),
                                           (("run",), "Missing argument")])
def test_usage_errors_are_short_and_without_traceback(args, message):
    result = vpipe(*args, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
