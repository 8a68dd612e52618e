"""Elements from outside packages: found through the `vpipe.elements` entry points, like the
built-ins; a name that is taken already is refused in one line. The example element of
docs/elements.md (examples/gamma.py) is the plugin under test."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import cv2

from conftest import ROOT, SAMPLE


def _plugin(tmp_path: Path, module: str, source: str | None = None) -> dict:
    """An installed-looking distribution (a dist-info folder on the path) whose entry point is `module`."""
    info = tmp_path / "site" / "vpipe_test_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vpipe-test-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[vpipe.elements]\nmine = {module}\n")
    if source:
        (tmp_path / "site" / f"{module}.py").write_text(source)
    path = os.pathsep.join([str(tmp_path / "site"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def _vpipe(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vpipe.pipeline.apps.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_the_built_ins_are_an_entry_point_too():
    assert "vpipe.stages" in {p.value for p in entry_points(group="vpipe.elements")}


def test_an_outside_element_runs_from_its_entry_point(tmp_path):
    env = _plugin(tmp_path, "examples.gamma")
    listed = _vpipe(env, "elements")
    assert listed.returncode == 0 and "gamma" in listed.stdout and "below 1 brightens" in listed.stdout
    config = tmp_path / "graph.yaml"
    config.write_text(f"""
sources: [{{uri: {SAMPLE}}}]
stages: [{{type: gamma, params: {{gamma: 0.5}}}}]
sinks: [{{type: images, raw_output: true, params: {{path: {tmp_path}/out}}}}]
""")
    done = _vpipe(env, "run", str(config), "--max-frames", "2", "-q")
    assert done.returncode == 0, done.stderr
    written = sorted((tmp_path / "out").iterdir())
    assert len(written) == 2
    import av

    with av.open(str(SAMPLE)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="bgr24")
    brightened = cv2.imread(str(written[0]))
    assert brightened.mean() > first.mean() + 20  # gamma 0.5 lifts the mid-tones a lot


def test_a_name_taken_already_is_refused_in_one_line(tmp_path):
    env = _plugin(tmp_path, "dup_stages", source=(
        "from vpipe.pipeline.api.registry import register\n"
        "from vpipe.pipeline.api.element import Element\n"
        "@register('detect')\nclass Mine(Element):\n    pass\n"))
    config = tmp_path / "graph.yaml"
    config.write_text(f"sources: [{{uri: {SAMPLE}}}]\nsinks: [{{type: jsonl, params: {{path: {tmp_path}/a.jsonl}}}}]\n")
    done = _vpipe(env, "validate", str(config))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "vpipe: error: plugin mine (dup_stages): element type 'detect' is taken by vpipe.stages.detect"]
