"""`vpipe apply`: an audit's covers and a reviewer's edits rendered onto the original, no detector."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

import elements  # noqa: F401  (registers test_box)
from conftest import ROOT, SAMPLE, write_config
from vpipe.pipeline.api.element import Context
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.apps.apply import build_apply
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.pipeline.runtime.runner import Runner
from vpipe.pipeline.verify.check import verify
from vpipe.stages.anonymize import Anonymize, AnonymizeParams

FACE, PLATE = [40, 40, 120, 100], [300, 200, 420, 260]
BLUR = {"shape": "ellipse", "padding": 0.2, "classes": ["face"]}


def run(graph, frames=None) -> None:
    try:
        Runner(graph, max_frames=frames).run()
    finally:
        graph.close()


@pytest.fixture
def run_output(tmp_path):
    """Six PNG frames of the sample, a run over them with two fixed 'detections' (lossless output)."""
    originals = tmp_path / "frames"
    originals.mkdir()
    with av.open(str(SAMPLE)) as container:
        for k, frame in zip(range(6), container.decode(video=0)):
            cv2.imwrite(str(originals / f"f{k}.png"), frame.to_ndarray(format="bgr24"))
    config = write_config(tmp_path, f"""
sources: [{{uri: {originals}}}]
stages:
  - {{name: faces, type: test_box, params: {{box: {FACE}, label: face}}}}
  - {{name: plates, type: test_box, params: {{box: {PLATE}, label: licence_plate}}}}
  - {{name: face_blur, type: anonymize, params: {json.dumps(BLUR)}}}
  - {{name: plate_blur, type: anonymize, params: {{classes: [licence_plate]}}}}
sinks:
  - {{type: images, params: {{path: {tmp_path}/run, ext: png}}}}
  - {{type: jsonl, params: {{path: {tmp_path}/run.jsonl}}}}
""")
    run(build_graph(load_config(config)))
    return originals, config, tmp_path / "run", tmp_path / "run.jsonl"


def edit(audit: Path, out: Path, edits: dict[int, dict]) -> Path:
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    for record in lines:
        record.update(edits.get(record["index"], {}))
    out.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return out


def images(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))}


def test_one_manual_box_and_one_removal_change_exactly_those_pixels(run_output, tmp_path):
    originals, config, run_dir, audit = run_output
    manual = [500, 40, 600, 120]
    # The removal need not match the audited (padded) rectangle exactly: IoU 0.59 here.
    edited = edit(audit, tmp_path / "edited.jsonl",
                  {2: {"manual": [{"box": manual, "class": "face"}], "remove": [PLATE]}})
    graph, frames = build_apply(originals, edited, str(tmp_path / "applied"), config)
    run(graph, frames)
    before, after, source = images(run_dir), images(tmp_path / "applied"), images(originals)
    assert sorted(after) == sorted(before) == [f"f{k}.png" for k in range(6)]
    for name in before:
        if name != "f2.png":
            assert np.array_equal(after[name], before[name]), name  # an unedited line: the run's pixels
    plate = json.loads(audit.read_text().splitlines()[2])["audit"]["plate_blur"]["boxes"][0]
    expected = before["f2.png"].copy()
    x0, y0, x1, y1 = plate
    expected[y0:y1, x0:x1] = source["f2.png"][y0:y1, x0:x1]  # the removed cover: the original again
    Anonymize(Context("blur", Path(".")), AnonymizeParams(**BLUR)).cover(expected, manual)
    assert np.array_equal(after["f2.png"], expected)
    record = json.loads((tmp_path / "applied.jsonl").read_text().splitlines()[2])
    assert record["audit"]["plate_blur"]["boxes"] == []
    assert record["audit"]["review"] == {"covered": 1, "boxes": [manual], "classes": ["face"], "removed": [plate]}
    # Checked like any run's output: every cover its audit lists is in the pixels.
    result = verify(originals, tmp_path / "applied")
    assert result.regions == 12 and not result.candidates  # 6 faces, 5 plates (one removed), 1 manual box


def test_a_manual_box_on_two_frames_of_a_track_is_interpolated_between_them(run_output, tmp_path):
    originals, config, run_dir, audit = run_output
    edited = edit(audit, tmp_path / "edited.jsonl", {
        1: {"manual": [{"box": [100, 150, 140, 190], "class": "licence_plate", "track": 5}]},
        4: {"manual": [{"box": [160, 150, 200, 190], "class": "licence_plate", "track": 5}]}})
    graph, frames = build_apply(originals, edited, str(tmp_path / "applied"), config)
    run(graph, frames)
    records = [json.loads(line) for line in (tmp_path / "applied.jsonl").read_text().splitlines()]
    assert [r["audit"].get("review", {}).get("boxes") for r in records] == [
        None, [[100, 150, 140, 190]], [[120, 150, 160, 190]], [[140, 150, 180, 190]], [[160, 150, 200, 190]], None]
    before, after = images(run_dir), images(tmp_path / "applied")
    inside = (slice(150, 190), slice(140, 180))
    assert not np.array_equal(after["f3.png"][inside], before["f3.png"][inside])
    assert np.array_equal(after["f0.png"], before["f0.png"]) and np.array_equal(after["f5.png"], before["f5.png"])


@pytest.mark.parametrize("bad, message", [
    ("{not json", "not a JSON line"),
    ('{"source": "source", "index": 1, "manual": [{"box": [5, 5, 1, 1], "class": "face"}]}', "manual[0].box"),
    ('{"source": "source", "index": 1, "manual": [{"box": [1, 1, 5, 5], "class": "cat"}]}', "manual[0].class"),
    ('{"source": "source", "index": 1, "remove": [[1, 2]]}', "remove[0]"),
])
def test_a_malformed_audit_line_is_one_line_naming_the_file_and_line(run_output, tmp_path, bad, message):
    originals, config, _, audit = run_output
    lines = audit.read_text().splitlines()
    lines[2] = bad
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    with pytest.raises(VpipeError, match=rf"^{broken}:3: .*{message}".replace("[", r"\[")):
        build_apply(originals, broken, str(tmp_path / "applied"), config)
    cli = subprocess.run([sys.executable, "-m", "vpipe.pipeline.apps.cli", "apply", str(originals), str(broken),
                          "-o", str(tmp_path / "out"), "--config", str(config)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert cli.returncode != 0 and cli.stderr.count("\n") == 1 and f"{broken}:3: " in cli.stderr
    assert not (tmp_path / "out").exists()


def test_an_audit_of_another_config_is_refused_by_name(run_output, tmp_path):
    originals, _, _, audit = run_output
    with pytest.raises(VpipeError, match=r"run\.jsonl:1: .face_blur. is not an anonymize stage of .*roadview\.yaml"):
        build_apply(originals, audit, str(tmp_path / "applied"), ROOT / "configs" / "roadview.yaml")
