"""`vpipe verify` cannot be fooled: outputs that leak while their audit looks right give exit 3.

Each fake is made here from the bundled clip and a real roadview run of its first frames, then
verified against the run's audit over the frames where the plate is whole (about 105x26 px) and
the face is about 85x110 px. The same window of vpipe's own output verifies clean (exit 0).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_verify import ROADVIEW, cli

from conftest import ROOT, SAMPLE

pytestmark = pytest.mark.slow

FRAMES = 45  # the run's frames
WINDOW = range(32, 45)  # the frames verified: the plate is whole from about 32 on


def decode(path: Path, count: int = FRAMES) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for _, f in zip(range(count), container.decode(video=0))]


def encode(path: Path, frames: list[np.ndarray]) -> Path:
    """An H.264 mp4 of `frames`, as a person making a fake would write it (PyAV's libx264 defaults)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def config(tmp: Path, name: str, anonymizer: str) -> Path:
    """roadview.yaml with both anonymizers' params replaced by `anonymizer` (YAML lines)."""
    text = ROADVIEW.read_text().replace("../models/", f"{ROOT}/models/").replace("../samples/", f"{ROOT}/samples/")
    text = text.replace("../out/", f"{tmp}/unused_")
    for method in ("      method: blur\n      shape: ellipse\n", "      method: blur\n      shape: rect\n"):
        assert method in text
        text = text.replace(method, anonymizer + method.split("\n")[1] + "\n")
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    """The raw frames, the clean run's frames and audit lines, and vpipe's own outputs with weak
    settings (blur of 48 and 64 cells, a mosaic of 32), each with its audit."""
    tmp = tmp_path_factory.mktemp("fakes")
    runs = {}
    for name, anonymizer in (("clean", None), ("blur48", "      method: blur\n      cells: 48\n      strength_override: true\n"),
                             ("blur64", "      method: blur\n      cells: 64\n      strength_override: true\n"),
                             ("pixelate32", "      method: pixelate\n      cells: 32\n      strength_override: true\n")):
        cfg = ROADVIEW if anonymizer is None else config(tmp, name, anonymizer)
        out = tmp / f"{name}.mp4"
        assert cli("run", str(cfg), "-i", str(SAMPLE), "-o", str(out), "-q", "--max-frames", str(FRAMES)) == 0
        runs[name] = (decode(out), (tmp / f"{name}.jsonl").read_text().splitlines(keepends=True))
    return {"tmp": tmp, "raw": decode(SAMPLE), "runs": runs}


def verdict(made: dict, name: str, frames: list[np.ndarray], run: str = "clean") -> tuple[int, dict]:
    """Verify `frames` as the output of the audit's WINDOW lines (of `run`): exit code, report."""
    out = encode(made["tmp"] / f"{name}.mp4", frames)
    lines = made["runs"][run][1]
    (made["tmp"] / f"{name}.jsonl").write_text("".join(lines[i] for i in WINDOW))
    code = cli("verify", str(SAMPLE), str(out), "--config", str(ROADVIEW), "--tiles", "1", "-q")
    return code, json.loads((made["tmp"] / f"{name}.verify.json").read_text())


def kinds(report: dict) -> set[str]:
    return {c["kind"] for c in report["candidates"]}


def raw(made: dict) -> list[np.ndarray]:
    return [made["raw"][i] for i in WINDOW]


def own(made: dict, run: str = "clean") -> list[np.ndarray]:
    return [made["runs"][run][0][i] for i in WINDOW]


def test_vpipes_own_output_of_the_window_verifies_clean(made):
    code, report = verdict(made, "own", own(made))
    assert report["frames_checked"] == len(WINDOW) and report["regions_verified"] >= 2 * len(WINDOW)
    assert report["candidates"] == [] and code == 0


def test_raw_frames_appended_after_the_anonymized_ones(made):
    code, report = verdict(made, "appended", own(made) + raw(made))
    assert code == 3
    extra = [c for c in report["candidates"] if c["kind"] == "extra_frames"]
    assert len(extra) == 1 and f"{len(WINDOW)} frame(s) after" in extra[0]["detail"]
    assert report["candidates"][0]["kind"] == "extra_frames"  # ranked first


def test_an_output_shorter_than_its_audit(made):
    code, report = verdict(made, "short", own(made)[:-3])
    assert code == 3 and "frame_count" in kinds(report)


def test_the_raw_original_shrunk_2x_and_enlarged_back(made):
    fake = [cv2.resize(cv2.resize(f, (320, 180), interpolation=cv2.INTER_AREA), (640, 360)) for f in raw(made)]
    code, report = verdict(made, "shrunk", fake)
    assert code == 3 and "uncovered_region" in kinds(report)


@pytest.mark.parametrize("sigma", [1.0, 1.5])
def test_the_raw_original_with_a_gaussian_blur(made, sigma):
    code, report = verdict(made, f"gauss{sigma}", [cv2.GaussianBlur(f, (0, 0), sigma) for f in raw(made)])
    assert code == 3
    legible = [c for c in report["candidates"] if c["kind"] == "uncovered_region"]
    assert any("legible" in c["detail"] for c in legible)  # check 1's fine detail alone lets these through
    # every frame's face and plate both: each region is judged, not only some
    assert {f for c in legible for f in c["frames"]} == set(WINDOW)


def test_jpeg_quality_10_of_the_raw_frames(made):
    fake = [cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 10])[1], cv2.IMREAD_COLOR) for f in raw(made)]
    code, report = verdict(made, "jpeg10", fake)
    assert code == 3 and "uncovered_region" in kinds(report)


@pytest.mark.parametrize("run", ["blur48", "blur64", "pixelate32"])
def test_vpipes_own_output_with_too_few_cells_to_hide(made, run):
    code, report = verdict(made, run, own(made, run), run)
    assert code == 3
    assert any("legible" in c["detail"] for c in report["candidates"] if c["kind"] == "uncovered_region")


def test_a_one_frame_shift(made):
    shifted = [made["runs"]["clean"][0][i - 1] for i in WINDOW]  # each frame one late: covers trail their objects
    code, report = verdict(made, "shifted", shifted)
    assert code == 3
    assert report["candidates"][0]["kind"] == "shifted"
    assert len(report["candidates"][0]["frames"]) >= len(WINDOW) - 1  # one entry for the run of shifted frames


def test_another_video_is_not_the_original(made):
    code, report = verdict(made, "reversed", own(made)[::-1])
    assert code == 3 and kinds(report) & {"not_the_original", "shifted"}


def test_an_image_folder_output_with_one_extra_raw_image(made, tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for i in (36, 40, 44):
        cv2.imwrite(str(photos / f"f{i}.png"), made["raw"][i])
    assert cli("run", str(ROADVIEW), "-i", str(photos), "-o", str(out), "-q") == 0
    assert cli("verify", str(photos), str(out), "--tiles", "1", "-q") == 0  # vpipe's own: clean
    shutil.copy(photos / "f44.png", out / "extra.png")  # a raw image slipped in beside them
    code = cli("verify", str(photos), str(out), "--tiles", "1", "-q")
    report = json.loads((tmp_path / "out.verify.json").read_text())
    assert code == 3
    extra = [c for c in report["candidates"] if c.get("name") == "extra.png"]
    assert "unaudited_image" in {c["kind"] for c in extra}
    # checked as if nothing covered it: the face and the plate on it are found
    assert {"residual:face", "residual:licence_plate"} & {c["kind"] for c in extra}
