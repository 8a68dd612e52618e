"""Outputs: never over an input, never over an existing file without --overwrite, written under
a temporary name, the audit beside the output, and `vpipe bench` writing nowhere of the user's."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from test_config_errors import run_cli

import elements  # noqa: F401  (registers test_box)
from conftest import SAMPLE, write_config
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.outputs import audit_path, make_parent, partial
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph

# No model: these tests are about where files go, not what is in them.
GRAPH = """
sources: [{{uri: {src}}}]
stages: [{{name: none, type: test_box, params: {{frames: []}}}}, {{name: blur, type: anonymize}}]
sinks:
  - {{type: video, params: {{path: {out}/video.mp4, preset: ultrafast}}}}
  - {{name: audit, type: jsonl, inputs: [blur], params: {{path: {out}/audit.jsonl}}}}
"""


def graph(tmp_path: Path, out: Path | None = None) -> Path:
    return write_config(tmp_path, GRAPH.format(src=SAMPLE, out=out or tmp_path / "configured"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"p{i}.jpg"), np.full((48, 64, 3), 60 * i, np.uint8))
    return folder


def test_output_that_is_the_input_is_refused(tmp_path, monkeypatch, capsys):
    clip = tmp_path / "clip.mp4"
    shutil.copy(SAMPLE, clip)
    before = digest(clip)
    (tmp_path / "sub").mkdir()
    for output in (str(clip), str(tmp_path / "sub" / ".." / "clip.mp4")):
        code, _, err = run_cli(monkeypatch, capsys, "run", str(graph(tmp_path)), "-i", str(clip), "-o", output, "-q")
        assert code == 2
        assert err.strip().splitlines() == [err.strip()] and "would write over the input" in err, err
    assert digest(clip) == before


@pytest.mark.parametrize("inside", ["", "anon"])
def test_image_output_in_the_input_folder_is_refused(tmp_path, photos, monkeypatch, capsys, inside):
    before = {p.name: digest(p) for p in photos.iterdir()}
    code, _, err = run_cli(monkeypatch, capsys, "run", str(graph(tmp_path)), "-i", str(photos),
                           "-o", str(photos / inside), "-q")
    assert code == 2 and "choose another output" in err, err
    assert {p.name: digest(p) for p in photos.iterdir()} == before


def test_batch_output_inside_the_input_folder_is_refused(tmp_path, monkeypatch, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(SAMPLE, videos / "a.mp4")
    code, _, err = run_cli(monkeypatch, capsys, "run", str(graph(tmp_path)), "-i", str(videos),
                           "-o", str(videos / "anon"), "-q")
    assert code == 2 and "inside the input folder" in err, err
    assert [p.name for p in videos.iterdir()] == ["a.mp4"]


def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path, monkeypatch, capsys):
    out = tmp_path / "anon.mp4"
    args = ("run", str(graph(tmp_path)), "-o", str(out), "--max-frames", "3", "-q")
    assert run_cli(monkeypatch, capsys, *args)[0] in (0, None)
    before = digest(out)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and err.strip() == f"vpipe: error: --output: {out} exists: --overwrite replaces it"
    assert digest(out) == before
    assert run_cli(monkeypatch, capsys, *args, "--overwrite")[0] in (0, None)
    assert not list(tmp_path.glob("*.partial.*"))


def test_an_image_folder_with_files_is_replaced_only_with_overwrite(tmp_path, photos, monkeypatch, capsys):
    out = tmp_path / "photos_anon"
    args = ("run", str(graph(tmp_path)), "-i", str(photos), "-o", str(out), "-q")
    assert run_cli(monkeypatch, capsys, *args)[0] in (0, None)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and "exists: --overwrite replaces it" in err, err
    assert run_cli(monkeypatch, capsys, *args, "--overwrite")[0] in (0, None)
    assert sorted(p.name for p in out.iterdir()) == ["p0.jpg", "p1.jpg"]


def test_a_config_output_that_exists_is_refused_too(tmp_path, monkeypatch, capsys):
    config = graph(tmp_path)
    (tmp_path / "configured").mkdir()
    (tmp_path / "configured" / "audit.jsonl").write_text("earlier run\n")
    code, _, err = run_cli(monkeypatch, capsys, "run", str(config), "--max-frames", "2", "-q")
    assert code == 2 and f"{config}:6: sinks[1].params.path: " in err and "exists" in err, err
    assert (tmp_path / "configured" / "audit.jsonl").read_text() == "earlier run\n"


def test_sinks_write_a_partial_file_and_rename_it_when_closed(tmp_path):
    built = build_graph(load_config(graph(tmp_path)))
    frame = Frame(np.zeros((64, 64, 3), np.uint8), "source", 0, 0.0, time.perf_counter(), time.time())
    try:
        for name in ("video", "audit"):
            sink = built.nodes[name].element
            final = sink.outputs()[0]
            sink.open()
            sink(frame)
            assert not final.exists()  # (the encoder may hold its first packets: no file yet)
            if name == "audit":
                assert len(partial(final).read_text().splitlines()) == 1
            sink.close()
            assert final.exists() and not partial(final).exists()
    finally:
        built.close()


def test_the_audit_follows_the_output(tmp_path, photos, monkeypatch, capsys):
    config = graph(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "run", str(config), "-o", str(tmp_path / "x" / "clip_anon.mp4"),
                           "--max-frames", "4", "-q")
    assert code in (0, None), err
    assert len((tmp_path / "x" / "clip_anon.jsonl").read_text().splitlines()) == 4
    code, _, err = run_cli(monkeypatch, capsys, "run", str(config), "-i", str(photos),
                           "-o", str(tmp_path / "photos_anon"), "-q")
    assert code in (0, None), err
    assert len((tmp_path / "photos_anon.jsonl").read_text().splitlines()) == 2
    assert not (tmp_path / "configured").exists()  # the config's own paths were not written


def test_bench_writes_nowhere_the_user_did_not_ask(tmp_path, monkeypatch, capsys):
    config = graph(tmp_path)
    (tmp_path / "configured").mkdir()
    (tmp_path / "configured" / "audit.jsonl").write_text("the main job's audit\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    code, _, err = run_cli(monkeypatch, capsys, "bench", str(config), "--frames", "3", "--warmup", "1")
    assert code in (0, None), err
    assert (tmp_path / "configured" / "audit.jsonl").read_text() == "the main job's audit\n"
    assert [p.name for p in (tmp_path / "configured").iterdir()] == ["audit.jsonl"]
    assert not list(scratch.iterdir())  # its own folder is gone too


def test_validate_refuses_a_video_path_that_is_a_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "configured" / "video.mp4").mkdir(parents=True)
    code, _, err = run_cli(monkeypatch, capsys, "validate", str(graph(tmp_path)))
    assert code == 2 and "sinks[0]: video: params.path: " in err and "is a folder, not a file" in err, err


def test_a_parent_that_is_a_file_is_named(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(VpipeError, match=r"cannot create folder .*taken/day1: .*taken is a file"):
        make_parent(tmp_path / "taken" / "day1" / "p0.jpg")


def test_a_batch_with_a_config_mistake_stops_before_the_first_file(tmp_path, monkeypatch, capsys):
    """One error for the config, not the same failure once per file, and nothing written."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(SAMPLE, videos / name)
    config = write_config(tmp_path, GRAPH.format(src=SAMPLE, out=tmp_path / "configured").replace(
        "type: anonymize}", "type: anonymize, params: {method: smudge}}"))
    code, _, err = run_cli(monkeypatch, capsys, "run", str(config), "-i", str(videos), "-o", str(tmp_path / "out"), "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "params.method" in err, err
    assert not (tmp_path / "out").exists()


def test_a_broken_first_file_fails_alone_and_the_batch_goes_on(tmp_path, monkeypatch, capsys):
    """The config check before a batch builds on its first file; that file's own fault is not the config's."""
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(b"not a video")
    shutil.copy(SAMPLE, videos / "b.mp4")
    code, _, err = run_cli(monkeypatch, capsys, "run", str(graph(tmp_path)), "-i", str(videos),
                           "-o", str(tmp_path / "out"), "-q", "--max-frames", "5")
    assert code == 1 and "a.mp4: failed" in err and "1 done, 0 skipped, 1 failed" in err, err
    with av.open(str(tmp_path / "out" / "b.mp4")) as video:  # --max-frames caps each file of a batch
        assert sum(1 for _ in video.decode(video=0)) == 5


def test_the_temporary_name_cannot_be_the_input(tmp_path, monkeypatch, capsys):
    """`-i clip.partial.mp4 -o clip.mp4`: the sink would write into its own input (issue 22 H3)."""
    clip = tmp_path / "clip.partial.mp4"
    shutil.copy(SAMPLE, clip)
    before = digest(clip)
    code, _, err = run_cli(monkeypatch, capsys, "run", str(graph(tmp_path)), "-i", str(clip),
                           "-o", str(tmp_path / "clip.mp4"), "-q", "--overwrite")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "would write over the input" in err, err
    assert digest(clip) == before and not (tmp_path / "clip.mp4").exists()


def test_an_existing_temporary_name_is_replaced_only_with_overwrite(tmp_path, monkeypatch, capsys):
    """A file under the temporary name is somebody's too (a killed run's, or the user's own)."""
    kept = tmp_path / "anon.partial.mp4"
    kept.write_bytes(b"keep me")
    args = ("run", str(graph(tmp_path)), "-o", str(tmp_path / "anon.mp4"), "--max-frames", "2", "-q")
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and f"{kept} exists" in err and "--overwrite" in err, err
    assert kept.read_bytes() == b"keep me"
    assert run_cli(monkeypatch, capsys, *args, "--overwrite")[0] in (0, None)
    assert (tmp_path / "anon.mp4").exists() and not kept.exists()


def test_images_of_one_folder_never_share_a_temporary_name(tmp_path, monkeypatch, capsys):
    """`x.partial.png` and `x.png` in one folder: the second one's temporary file was the first
    one's finished output (issue 22 M3)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "x.partial.png"), np.full((48, 64, 3), 50, np.uint8))
    cv2.imwrite(str(photos / "x.png"), np.full((48, 64, 3), 200, np.uint8))
    out = tmp_path / "photos_anon"
    code, _, err = run_cli(monkeypatch, capsys, "run", str(graph(tmp_path)), "-i", str(photos), "-o", str(out), "-q")
    assert code in (0, None), err
    assert sorted(p.name for p in out.iterdir()) == ["x.partial.png", "x.png"]
    assert cv2.imread(str(out / "x.partial.png"))[0, 0, 0] == 50
    assert cv2.imread(str(out / "x.png"))[0, 0, 0] == 200


def test_batch_inputs_never_share_a_temporary_name(tmp_path, monkeypatch, capsys):
    """`a.partial.mp4` and `a.ts` in one folder: the second file's temporary file was the first
    one's finished output, and the batch still said 2 done (issue 22 M3)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(SAMPLE, videos / "a.partial.mp4")
    with av.open(str(SAMPLE)) as src, av.open(str(videos / "a.ts"), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    out = tmp_path / "out"
    code, _, err = run_cli(monkeypatch, capsys, "run", str(graph(tmp_path)), "-i", str(videos), "-o", str(out),
                           "-q", "--max-frames", "3")
    assert code in (0, None) and "2 done" in err, err
    videos_out = sorted(p.name for p in out.iterdir() if p.suffix == ".mp4")
    assert len(videos_out) == 2, videos_out
    for name in videos_out:
        with av.open(str(out / name)) as video:
            assert sum(1 for _ in video.decode(video=0)) == 3, name


def test_a_batch_skips_only_what_its_manifest_records_as_done(tmp_path, monkeypatch, capsys):
    """Raw copies in the output folder were skipped as "done" (issue 22 H4); so was a truncated
    output. Only a file the manifest records as done, with the same checksum, is skipped."""
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    out.mkdir()
    shutil.copy(SAMPLE, videos / "a.mp4")
    shutil.copy(SAMPLE, out / "a.mp4")  # the raw video where its anonymized copy goes
    args = ("run", str(graph(tmp_path)), "-i", str(videos), "-o", str(out), "-q", "--max-frames", "3")
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{out / 'a.mp4'} exists" in err and "--overwrite" in err, err
    assert digest(out / "a.mp4") == digest(SAMPLE) and not (out / "vpipe-manifest.jsonl").exists()

    code, _, err = run_cli(monkeypatch, capsys, *args, "--overwrite")
    assert code in (0, None) and "1 done, 0 skipped" in err, err
    done = digest(out / "a.mp4")
    assert done != digest(SAMPLE)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code in (0, None) and "0 done, 1 skipped" in err, err  # a rerun still resumes

    with open(out / "a.mp4", "r+b") as f:  # cut short after it was done
        f.truncate(1000)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and f"{out / 'a.mp4'} exists" in err, err
    code, _, err = run_cli(monkeypatch, capsys, *args, "--overwrite")
    assert code in (0, None) and "1 done, 0 skipped" in err, err
    assert digest(out / "a.mp4") == done


def test_a_batch_never_writes_over_an_input_inside_its_output_folder(tmp_path, monkeypatch, capsys):
    """`-i out/raw -o out`: `out/raw/raw/a.mp4`'s output would be `out/raw/a.mp4`, an input."""
    out = tmp_path / "out"
    (out / "raw" / "raw").mkdir(parents=True)
    shutil.copy(SAMPLE, out / "raw" / "a.mp4")
    shutil.copy(SAMPLE, out / "raw" / "raw" / "a.mp4")
    code, _, err = run_cli(monkeypatch, capsys, "run", str(graph(tmp_path)), "-i", str(out / "raw"), "-o", str(out),
                           "-q", "--max-frames", "2", "--overwrite")
    assert code == 2 and "would write over the input" in err, err
    assert digest(out / "raw" / "a.mp4") == digest(SAMPLE)


def test_output_never_goes_to_a_raw_sink(tmp_path, monkeypatch, capsys):
    """`-o` named the first sink even when it said raw_output: true: the user's output got raw
    pixels, and its audit claimed covers (issue 22 M2)."""
    config = write_config(tmp_path, f"""
sources: [{{name: cam, uri: {SAMPLE}}}]
stages: [{{name: none, type: test_box, params: {{frames: []}}}}, {{name: blur, type: anonymize}}]
sinks:
  - {{name: raw, type: video, inputs: [none], raw_output: true, params: {{path: {tmp_path}/raw.mp4}}}}
  - {{name: anon, type: video, inputs: [blur], params: {{path: {tmp_path}/anon.mp4}}}}
""")
    out = tmp_path / "mine.mp4"
    code, _, err = run_cli(monkeypatch, capsys, "run", str(config), "-o", str(out), "--max-frames", "2", "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--output" in err and "raw_output" in err, err
    assert not out.exists() and not (tmp_path / "raw.mp4").exists()


def test_reports_never_replace_an_input_or_an_existing_file(tmp_path, monkeypatch, capsys):
    """bench --json, verify --json/--html and schema -o wrote over whatever they were given, an
    input video included (issue 22 M6): the same rules as a run's outputs."""
    clip, other, taken = tmp_path / "clip.mp4", tmp_path / "other.mp4", tmp_path / "taken.json"
    shutil.copy(SAMPLE, clip)
    shutil.copy(SAMPLE, other)
    taken.write_text("keep me")
    commands = {
        "bench": ("bench", str(graph(tmp_path)), "-i", str(clip), "--frames", "1", "--warmup", "0", "--json"),
        "verify --json": ("verify", str(clip), str(other), "--json"),
        "verify --html": ("verify", str(clip), str(other), "--html"),
        "schema": ("schema", "-o"),
    }
    for what, args in commands.items():
        if what != "schema":  # an input: refused even with --overwrite
            code, _, err = run_cli(monkeypatch, capsys, *args, str(clip), "--overwrite")
            assert code == 2 and "would write over the input" in err and len(err.strip().splitlines()) == 1, (what, err)
        code, _, err = run_cli(monkeypatch, capsys, *args, str(taken))  # a file that exists
        assert code == 2 and f"{taken} exists: --overwrite replaces it" in err, (what, err)
        assert digest(clip) == digest(SAMPLE) and taken.read_text() == "keep me", what
    code, _, err = run_cli(monkeypatch, capsys, "schema", "-o", str(taken), "--overwrite")
    assert code in (0, None) and taken.read_text().startswith("{"), err


@pytest.mark.parametrize("line", ['[1, 2]', '{"state": "done"}', '"text"', '{"file": 3, "state": "done"}', "null"])
def test_a_malformed_manifest_line_is_ignored_not_a_traceback(line, tmp_path):
    """A line of the batch manifest that is JSON but not a record gave a 45-line traceback (issue 22)."""
    from vpipe.pipeline.apps.manifest import NAME, Manifest

    (tmp_path / NAME).write_text(line + "\n" + '{"file": "a.mp4", "state": "done", "sha256": "x"}\n')
    assert list(Manifest(tmp_path).states()) == ["a.mp4"]


def test_a_bad_output_path_is_blamed_on_the_flag_not_the_config(tmp_path, monkeypatch, capsys):
    """`-o` that cannot be written was reported at the config's line for sinks[0] (issue 22)."""
    (tmp_path / "taken").write_text("")
    config = graph(tmp_path)
    for output in (tmp_path / "taken" / "x.mp4", tmp_path / "taken" / "photos"):
        code, _, err = run_cli(monkeypatch, capsys, "run", str(config), "-o", str(output), "-q")
        assert code == 2 and err.startswith("vpipe: error: --output: "), err
        assert str(config) not in err and "taken is a file" in err, err


def test_a_batch_reads_webm_and_names_what_it_ignores(tmp_path, monkeypatch, capsys):
    """`.webm` and `.gif` in a batch folder were ignored without a word (issue 22)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    with av.open(str(videos / "a.webm"), "w") as out:
        stream = out.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), format="bgr24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    (videos / "b.gif").write_bytes(b"GIF89a")
    code, _, err = run_cli(monkeypatch, capsys, "run", str(graph(tmp_path)), "-i", str(videos),
                           "-o", str(tmp_path / "out"), "-q")
    assert code in (0, None) and "1 done" in err, err
    assert (tmp_path / "out" / "a.mp4").exists()
    assert "b.gif" in err and "ignored" in err, err


def test_the_audit_lies_beside_a_file_or_a_folder_whether_planned_or_written(tmp_path):
    """One rule for where `run` writes the audit and where verify and review look for it."""
    assert audit_path(tmp_path / "clip.v1.mp4", folder=False) == tmp_path / "clip.v1.jsonl"
    assert audit_path(tmp_path / "photos.v1", folder=True) == tmp_path / "photos.v1.jsonl"
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "photos.v1").mkdir()
    assert audit_path(tmp_path / "clip.mp4") == tmp_path / "clip.jsonl"
    assert audit_path(tmp_path / "photos.v1") == tmp_path / "photos.v1.jsonl"


def test_a_batch_writes_each_video_under_one_partial_name(tmp_path, monkeypatch):
    """The batch named the graph's output `NAME.partial.mp4` and the sink added its own
    `.partial`: a killed run left `NAME.partial.partial.mp4`, a name no rerun looks at (issue 25)."""
    from vpipe.pipeline.apps.batch import partial_of, plan, process_file
    from vpipe.stages import video_sink

    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(SAMPLE, videos / "a.mp4")
    [job] = plan(videos, tmp_path / "out", max_frames=2)
    written, real_open = [], video_sink.av.open

    def recording_open(path, mode="r", **kwargs):
        if mode == "w":
            written.append(Path(path))
        return real_open(path, mode, **kwargs)

    monkeypatch.setattr(video_sink.av, "open", recording_open)
    result = process_file(load_config(graph(tmp_path)), job)
    assert result.status == "done", result.error
    assert written == [partial_of(job)] == [tmp_path / "out" / "a.partial.mp4"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jsonl", "a.mp4"]
