"""One front door: every tool is a `vpipe` command (mounted through the `vpipe.commands` entry
points), with the same flags as its `python -m` module, and listing them imports no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: `vpipe` words -> the module whose argparse `main` they run (python -m MODULE still works).
TOOLS = {
    ("train", "detect"): "vpipe.tools.train.detect",
    ("train", "sr"): "vpipe.tools.train.sr",
    ("synth", "plates"): "vpipe.tools.data.plate_synth",
    ("weights", "imagenet"): "vpipe.tools.train.imagenet_weights",
    ("sample",): "vpipe.tools.data.make_sample",
    ("import", "centerface"): "vpipe.tools.export.centerface",
    ("export-report",): "vpipe.tools.export.report",
}


def vpipe(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from vpipe.pipeline.apps.cli import main; sys.argv[0] = 'vpipe'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_tool_and_imports_no_torch():
    code = ("import sys; from vpipe.pipeline.apps.cli import main; sys.argv = ['vpipe', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  ")}
    assert {words[0] for words in TOOLS} <= listed, proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("words", sorted(TOOLS))
def test_the_vpipe_command_and_python_m_take_the_same_flags(words):
    """`vpipe WORDS --help` is the tool's own argparse help under its vpipe name."""
    proc = vpipe(*words, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: vpipe {' '.join(words)} "), proc.stdout
    module = subprocess.run([sys.executable, "-m", TOOLS[words], "--help"], capture_output=True, text=True,
                            timeout=120)
    assert module.returncode == 0, module.stderr

    def flags(text: str) -> set[str]:
        return {w.strip(",[]") for w in text.split() if w.startswith(("--", "[--"))}

    assert flags(proc.stdout) == flags(module.stdout) and len(flags(proc.stdout)) > 1


def test_a_bad_flag_is_argparse_error_and_exit_2():
    proc = vpipe("train", "detect", "ssdlite_mobilenet_v2", "--no-such-flag", "--out", "x.pt")
    assert proc.returncode == 2
    assert "vpipe train detect: error: unrecognized arguments: --no-such-flag" in proc.stderr


def test_synth_plates_runs_with_the_same_flags(tmp_path):
    ps = pytest.importorskip("vpipe.tools.data.plate_synth")
    try:
        ps.find_fonts()
    except ps.FontsMissing as exc:
        pytest.skip(str(exc))
    proc = vpipe("synth", "plates", "--out", str(tmp_path), "--count", "2", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "annotations.json").read_text())
    assert len(data["images"]) == 2 and data["info"]["seed"] == 3
