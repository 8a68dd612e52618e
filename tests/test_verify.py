"""`vpipe verify`: a clean output passes; an anonymizer off on some frames, or an audit that lists a
region left sharp, is caught; the HTML report opens in a real browser."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_config_errors import run_cli

import elements  # noqa: F401  (registers test_faulty_anonymize)
from conftest import ROOT, SAMPLE

ROADVIEW = ROOT / "configs" / "roadview.yaml"
CLIP = 200  # the bundled clip's frames: the clean output is verified whole
FRAMES = "50"  # the faulty output: a face is covered on all of them, a plate from frame 14 on
TILED = 12  # the tiled pass (slow) on the clean output's first frames: it once saw the astronaut's
           # collar as a plate from frame 7 on (docs/verify.md)
SKIPPED = [9, 12, 20]  # the face anonymizer is off on these frames (face track 1 spans 0..29)
UNBLURRED = 16  # its audit lists the face's box, the pixels stay sharp
PLATE_SKIPPED = [40, 45]  # the plate anonymizer is off: the plate is about 105x26 px there, readable


def faulty_config(tmp_path: Path) -> Path:
    """roadview.yaml with its face anonymizer replaced by one that fails on chosen frames."""
    text = ROADVIEW.read_text().replace("../models/", f"{ROOT}/models/").replace("../samples/", f"{ROOT}/samples/")
    text = text.replace("../out/", f"{tmp_path}/unused_")
    face_blur = "  - name: blur\n    type: anonymize\n    params:\n"
    assert face_blur in text
    text = text.replace(face_blur, "  - name: blur\n    type: test_faulty_anonymize\n    params:\n"
                                   f"      skip: {SKIPPED}\n      unblur: [{UNBLURRED}]\n")
    plate_blur = "  - name: plate_blur\n    type: anonymize\n    params:\n"
    assert plate_blur in text
    text = text.replace(plate_blur, "  - name: plate_blur\n    type: test_faulty_anonymize\n    params:\n"
                                    f"      skip: {PLATE_SKIPPED}\n")
    path = tmp_path / "faulty.yaml"
    path.write_text(text)
    return path


def cli(*args: str) -> int:
    """`vpipe ARGS` in this process (the test elements are registered here); its exit code."""
    from vpipe.pipeline.apps import cli as vpipe_cli

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.argv", ["vpipe", *args])
        try:
            vpipe_cli.main()
        except SystemExit as exc:
            return exc.code
    return 0


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, roadview_run) -> dict:
    """The whole bundled clip's clean roadview output and a faulty one of its first frames, each
    verified with the whole-frame pass (--tiles 1); the clean one's first frames also with the
    tiled pass (the default, 6 times slower: docs/verify.md)."""
    tmp = tmp_path_factory.mktemp("verify")
    found = {}
    for name, config, frames in (("clean", ROADVIEW, str(CLIP)), ("faulty", faulty_config(tmp), FRAMES)):
        out = tmp / f"{name}.mp4"
        if name == "clean":  # the session's one whole roadview run (conftest), copied beside the rest
            assert roadview_run["result"].returncode == 0, roadview_run["result"].stderr
            shutil.copy(roadview_run["video"], out)
            shutil.copy(roadview_run["audit"], out.with_suffix(".jsonl"))
        else:
            assert cli("run", str(config), "-i", str(SAMPLE), "-o", str(out), "-q", "--max-frames", frames) == 0
        code = cli("verify", str(SAMPLE), str(out), "--config", str(ROADVIEW), "--tiles", "1")
        found[name] = {"out": out, "code": code, "html": out.with_name(f"{name}.verify.html"),
                       "report": json.loads(out.with_name(f"{name}.verify.json").read_text())}
    # A run of the first frames alone: an audit's first lines do not verify a longer output (its
    # frames after them are unaccounted for).
    head = tmp / "clean_head.mp4"
    assert cli("run", str(ROADVIEW), "-i", str(SAMPLE), "-o", str(head), "-q", "--max-frames", str(TILED)) == 0
    code = cli("verify", str(SAMPLE), str(head), "--json", str(tmp / "tiled.json"), "--html", str(tmp / "tiled.html"))
    found["tiled"] = {"code": code, "report": json.loads((tmp / "tiled.json").read_text())}
    return found


def test_a_clean_output_verifies_with_no_candidate(outputs):
    clean = outputs["clean"]
    report = clean["report"]
    assert report["frames_checked"] == CLIP
    assert report["regions_verified"] >= CLIP  # a face on every frame, plates on some
    assert report["candidates"] == [], report["candidates"]
    assert clean["code"] == 0


def test_the_tiled_pass_finds_nothing_on_the_clean_output(outputs):
    tiled = outputs["tiled"]
    assert tiled["report"]["frames_checked"] == TILED
    assert "tiles upscaled x2" in tiled["report"]["detectors"][0]
    assert tiled["report"]["candidates"] == [], tiled["report"]["candidates"]
    assert tiled["code"] == 0


def test_frames_with_the_anonymizer_off_are_caught(outputs):
    faulty = outputs["faulty"]
    report = faulty["report"]
    assert faulty["code"] == 3
    flagged = {f for c in report["candidates"] for f in c["frames"]}  # a repeat on one box is one entry
    assert set(SKIPPED) <= flagged
    kinds = {c["kind"] for c in report["candidates"] if set(c["frames"]) & set(SKIPPED)}
    # Both the track check and the detectors see the sharp face.
    assert {"temporal_gap", "residual:face"} <= kinds


def test_a_readable_plate_left_uncovered_is_caught_by_the_detectors_and_the_track(outputs):
    report = outputs["faulty"]["report"]
    for frame in PLATE_SKIPPED:
        kinds = {c["kind"] for c in report["candidates"] if frame in c["frames"]}
        assert {"temporal_gap", "residual:licence_plate"} <= kinds, (frame, kinds)


def test_a_listed_region_left_sharp_fails_check_1(outputs):
    report = outputs["faulty"]["report"]
    uncovered = [c for c in report["candidates"] if c["kind"] == "uncovered_region"]
    assert [c["frame"] for c in uncovered] == [UNBLURRED]
    assert report["candidates_by_kind"]["uncovered_region"] == 1


def test_the_report_embeds_a_thumbnail_of_each_candidate_and_links_its_frame(outputs):
    faulty = outputs["faulty"]
    page = faulty["html"].read_text()
    images = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)
    assert len(images) == len(faulty["report"]["candidates"])
    for data in images:
        thumb = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
        assert thumb is not None and min(thumb.shape[:2]) >= 16
    assert f'href="faulty.mp4#t={SKIPPED[0] / 25:.3f}"' in page


def test_run_verify_writes_the_reports_beside_the_output_and_gates_on_them(tmp_path):
    out = tmp_path / "clip.mp4"
    code = cli("run", str(ROADVIEW), "-i", str(SAMPLE), "-o", str(out), "-q", "--max-frames", "4", "--verify")
    report = json.loads((tmp_path / "clip.verify.json").read_text())
    assert report["frames_checked"] == 4 and report["audit"] == str(tmp_path / "clip.jsonl")
    assert report["detectors"] and "tiles upscaled x2" in report["detectors"][0]  # the default: tiles too
    assert code == (3 if report["candidates"] else 0)
    assert (tmp_path / "clip.verify.html").read_text().startswith("<!doctype html>")


def test_verify_errors_are_one_line_naming_the_file(monkeypatch, capsys, tmp_path):
    video = tmp_path / "out.mp4"
    shutil.copy(SAMPLE, video)
    code, _, err = run_cli(monkeypatch, capsys, "verify", str(SAMPLE), str(video), "--tiles", "1")
    assert code == 1
    assert err.strip() == f"vpipe: error: {tmp_path / 'out.jsonl'}: audit not found (give one with --audit)"
    code, _, err = run_cli(monkeypatch, capsys, "verify", str(tmp_path / "gone.mp4"), str(video))
    assert code == 1 and err.strip() == f"vpipe: error: {tmp_path / 'gone.mp4'}: not found"
    code, _, err = run_cli(monkeypatch, capsys, "verify", str(tmp_path), str(video))
    assert code == 2 and err.strip().startswith(f"vpipe: error: {video}: compare a video with a video")


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (/usr/bin/chromium absent)")
def test_the_html_report_opens_in_headless_chromium(outputs, tmp_path):
    page = outputs["faulty"]["html"]
    shot = tmp_path / "shot.png"
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + str(tmp_path / "profile"),
              "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run(common + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "CONSOLE" not in dom.stderr and "Uncaught" not in dom.stderr
    assert '<section id="summary">' in dom.stdout and "frames checked" in dom.stdout
    subprocess.run(common + ["--window-size=1000,700", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, text=True, timeout=120, check=True)
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (700, 1000)
    # The summary is on screen: the top of the page holds text, and the red verdict line.
    top = image[:350]
    assert (top < 100).all(axis=2).sum() > 500, "no dark text in the top half"
    red = (top[:, :, 2] > 150) & (top[:, :, 1] < 60) & (top[:, :, 0] < 60)
    assert red.sum() > 50, "the verdict (red when candidates were found) is not on screen"


def test_run_verify_over_a_folder_of_videos_verifies_each_file(tmp_path):
    import av

    videos = tmp_path / "videos"
    videos.mkdir()
    with av.open(str(SAMPLE)) as inp, av.open(str(videos / "a.mp4"), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        # 12 frames: the face enters at the right edge and is first found on frame 8 (back-filled).
        for _, frame in zip(range(12), inp.decode(video=0)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="bgr24"), format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    code = cli("run", str(ROADVIEW), "-i", str(videos), "-o", str(tmp_path / "out"), "--verify")
    report = json.loads((tmp_path / "out" / "a.verify.json").read_text())
    assert report["frames_checked"] == 12 and report["regions_verified"] >= 12  # the face, on every frame
    assert code == (3 if report["candidates"] else 0)
    # `vpipe verify` takes the same two folders (whole frames only: the tiled pass ran above).
    (tmp_path / "out" / "a.verify.json").unlink()
    code = cli("verify", str(videos), str(tmp_path / "out"), "--tiles", "1")
    report = json.loads((tmp_path / "out" / "a.verify.json").read_text())
    assert report["frames_checked"] == 12 and report["regions_verified"] >= 12
    assert code == (3 if report["candidates"] else 0)
