"""Every malformed config gives one line naming the file, line and YAML path, and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnxruntime
import pytest

from vpipe.pipeline.apps import cli

BAD = sorted((Path(__file__).parent / "fixtures" / "bad_configs").glob("*.yaml"))


def expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} lacks its '# expect:' line"
    return first[len("# expect: "):]


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["vpipe", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_there_are_at_least_twenty_bad_configs():
    assert len(BAD) >= 20


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_config_is_one_clear_line(path: Path, monkeypatch, capsys):
    if path.stem == "30_bad_device" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA, so device: cuda is valid here")
    code, out, err = run_cli(monkeypatch, capsys, "validate", str(path))
    assert code not in (0, None)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith(f"vpipe: error: {path}"), lines[0]
    assert expected(path) in lines[0], lines[0]


def test_valid_config_passes(monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "validate", str(Path(__file__).parents[1] / "configs" / "roadview.yaml"))
    assert code in (0, None), err
    assert "ok" in out


def test_real_binary_reports_without_traceback(tmp_path):
    bad = BAD[6]  # a parameter of the wrong type
    result = subprocess.run([sys.executable, "-m", "vpipe.pipeline.apps.cli", "run", str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_config_file(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "run", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "config file not found" in err


SHIPPED = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_configs_validate(path: Path, monkeypatch, capsys):
    # Those that write raw pixels on purpose (decode, upscale) say raw_output: true.
    code, out, err = run_cli(monkeypatch, capsys, "validate", str(path))
    assert code in (0, None), err


def test_deeply_nested_yaml_is_one_line(monkeypatch, capsys, tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("sources: " + "[" * 1000 + "]" * 1000 + "\n")  # past the recursion limit (fails from about 500)
    code, _, err = run_cli(monkeypatch, capsys, "validate", str(path))
    assert code == 2
    assert err.strip() == f"vpipe: error: {path}: invalid YAML: nested too deeply"
