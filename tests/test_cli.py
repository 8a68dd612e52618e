"""The command line's own details: several configs to validate, help and reference output."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config_errors import BAD, run_cli

from conftest import ROOT
from vpipe.pipeline.apps import cli

ROADVIEW = str(Path(__file__).parents[1] / "configs" / "roadview.yaml")
DECODE = str(Path(__file__).parents[1] / "configs" / "decode.yaml")


def test_validate_takes_several_configs_and_reports_each(monkeypatch, capsys):
    bad = next(p for p in BAD if p.stem == "13_bad_method")
    code, out, err = run_cli(monkeypatch, capsys, "validate", ROADVIEW, str(bad), DECODE)
    assert code == 2
    assert [line.split(":")[0] for line in out.splitlines()] == [ROADVIEW, DECODE]
    assert err.strip().splitlines() == [err.strip()] and err.startswith(f"vpipe: error: {bad}:")


def test_elements_shows_required_and_factory_defaults(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "elements")
    assert code in (0, None)
    assert "PydanticUndefined" not in out
    assert "    path: str (required)" in out
    assert "    options: dict[str, str] (default {})" in out
    # Each description whole, even where the docstring's first paragraph spans several lines.
    assert "sink display: Shows frames in a window (needs a display). A screen shows pictures as a file does, " \
           "so it takes only anonymized frames, or `raw_output: true` said on purpose.\n" in out


def test_help_shows_no_value_for_flags(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "run", "--help")
    assert code in (0, None)
    assert "--help" in out and "--quiet" in out
    assert "<bool>" not in out


def test_ray_alone_means_a_local_runtime_and_needs_a_folder(monkeypatch, capsys):
    from vpipe.pipeline.apps.cli import _bare_ray

    assert _bare_ray(["run", "c.yaml", "-i", "in", "--ray"])[-1] == "--ray=local"
    assert _bare_ray(["run", "c.yaml", "--ray", "-q"])[2:] == ["--ray=local", "-q"]
    assert _bare_ray(["run", "c.yaml", "--ray", "auto"])[2:] == ["--ray", "auto"]
    code, _, err = run_cli(monkeypatch, capsys, "run", DECODE, "--ray")
    assert code == 2 and err.strip() == "vpipe: error: --ray runs a folder of videos: give -i FOLDER -o FOLDER"


def test_a_missing_optional_module_is_one_line_naming_its_extra(monkeypatch, capsys, tmp_path):
    """Without the `[export]` extra, `vpipe eval sr` says what to install instead of a traceback."""
    import sys

    import cv2
    import numpy as np

    pairs = tmp_path / "Set5" / "image_SRF_3"
    pairs.mkdir(parents=True)
    hr = np.random.default_rng(0).integers(0, 255, (48, 48, 3), np.uint8)
    cv2.imwrite(str(pairs / "a_HR.png"), hr)
    cv2.imwrite(str(pairs / "a_LR.png"), cv2.resize(hr, (16, 16), interpolation=cv2.INTER_AREA))
    monkeypatch.setitem(sys.modules, "skimage", None)  # as if not installed: importing it fails
    code, _, err = run_cli(monkeypatch, capsys, "eval", "sr", "--pairs", str(tmp_path))
    assert code == 1
    assert err.strip() == "vpipe: error: this needs the Python module 'skimage', which is not installed: pip install 'vpipe[export]'"


def test_the_summary_names_the_sink_that_wrote_images():
    """roadview's sink is named `video`; with `-o photos_anon/` it writes images, and says so."""
    from vpipe.pipeline.api.registry import ELEMENTS, load_elements
    from vpipe.pipeline.apps.progress import sink_label

    load_elements()
    images = ELEMENTS["images"].__new__(ELEMENTS["images"])
    video = ELEMENTS["video"].__new__(ELEMENTS["video"])
    assert sink_label("video", images) == "images"
    assert sink_label("video", video) == "video" and sink_label("out", images) == "out"
def test_run_verify_checks_the_anonymized_video_not_the_snapshots(tmp_path):
    """An `events` stage with snapshots writes pixels too, and came first: `run --verify` took its
    snapshot folder for the output and failed (issue 22 M9)."""
    import elements  # noqa: F401  (registers test_box)
    from conftest import SAMPLE, write_config
    from vpipe.pipeline.apps.cli import verify_targets
    from vpipe.pipeline.runtime.config import load_config
    from vpipe.pipeline.runtime.graph import build_graph

    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages:
  - {{type: test_box}}
  - {{type: track}}
  - {{type: anonymize}}
  - {{type: events, params: {{snapshots: {tmp_path}/snaps}}}}
sinks:
  - {{type: web, params: {{port: 0}}}}
  - {{type: video, params: {{path: {tmp_path}/anon.mp4}}}}
  - {{type: jsonl, params: {{path: {tmp_path}/anon.jsonl}}}}
""")
    graph = build_graph(load_config(config))
    try:
        assert verify_targets(graph) == (SAMPLE, tmp_path / "anon.mp4", tmp_path / "anon.jsonl")
    finally:
        graph.close()


@pytest.mark.parametrize("command", ["serve", "review"])
def test_an_empty_web_password_is_refused_by_every_command_that_serves(command, monkeypatch, capsys, tmp_path):
    """serve refused an empty $VPIPE_WEB_PASSWORD and review took it: knowing the user was
    enough to open the review page and save edits (the check was written twice)."""
    original, anonymized = tmp_path / "a.mp4", tmp_path / "b.mp4"
    original.write_bytes(b"")
    anonymized.write_bytes(b"")
    monkeypatch.setenv("VPIPE_WEB_PASSWORD", "")
    args = [str(original), str(anonymized)] if command == "review" else [str(tmp_path / "graph.yaml")]
    code, _, err = run_cli(monkeypatch, capsys, command, *args, "--user", "ann")
    assert code == 2 and "VPIPE_WEB_PASSWORD is empty" in err and len(err.strip().splitlines()) == 1, err


def test_verify_review_and_apply_default_to_the_shipped_roadview():
    """pipeline/apps/cli.py sits two folders down since the layers split: its default config was
    looked for under pipeline/, and verify then re-checked outputs with no detector at all."""
    assert cli.DEFAULT_CONFIG == ROOT / "configs" / "roadview.yaml"
    assert cli.DEFAULT_CONFIG.is_file()


def test_verify_without_a_config_it_can_find_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "DEFAULT_CONFIG", tmp_path / "absent.yaml")
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "b.mp4").write_bytes(b"x")
    monkeypatch.setattr("sys.argv", ["vpipe", "verify", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code != 0
    err = capsys.readouterr().err
    assert "--config: none given" in err and "Traceback" not in err


@pytest.mark.parametrize("blocked", [True, False])
def test_a_reader_still_in_ffmpeg_ends_the_process_past_pythons_shutdown(monkeypatch, tmp_path, blocked):
    """A stalled camera's reader may still sit in FFmpeg when the run ends; Python's shutdown
    under it segfaulted now and then (CI: exit -11 after a clean Ctrl-C), so main() leaves with
    os._exit and the run's own exit code. With no such reader it exits as usual."""
    import threading

    import vpipe.stages.stream as stream

    release = threading.Event()
    reader = threading.Thread(target=release.wait, daemon=True)
    reader.start()
    monkeypatch.setattr(stream, "_running_readers", {reader} if blocked else set())
    exits: list[int] = []

    def fake_exit(code: int):
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(cli.os, "_exit", fake_exit)
    monkeypatch.setattr("sys.argv", ["vpipe", "run", str(tmp_path / "absent.yaml")])
    try:
        with pytest.raises(SystemExit) as exc:
            cli.main()
    finally:
        release.set()
    assert exc.value.code not in (0, None)
    assert exits == ([exc.value.code] if blocked else [])
