"""Fuzz: malformed configs and malformed inputs never give a traceback.

Configs are made from one valid graph by seeded mutations: every leaf and branch replaced by a
value of the wrong shape (each must be refused in one line), and the YAML text cut or damaged at
random places (each must be refused in one line, or still be valid). Inputs are damaged or
impostor files handed to `vpipe run -i`: each must end with a short error naming the file, a
non-zero exit and no traceback; a damaged-but-decodable video still runs.

Safety shapes (issue 22): two cameras merged into one anonymizer with detectors on each, one or
none, or after it (refused unless every source passed one); weak strengths (refused without
consent); temporary names that meet an input or another file's output; special entries of an
image folder (FIFOs, non-UTF-8 names, folders and broken links named *.jpg); images larger than
a decode may allocate, and unbounded model input sizes.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_config_errors import run_cli

from conftest import CENTERFACE, SAMPLE

BASE = {
    "version": 1,
    "queue": {"size": 4, "overflow": "block"},
    "sources": [{"name": "cam", "uri": str(SAMPLE), "params": {"loop": False}}],
    "stages": [
        {"name": "faces", "type": "detect", "engine": str(CENTERFACE),
         "params": {"threshold": 0.4, "input_size": "96x128"}, "on_error": "mark"},
        {"name": "track", "type": "track", "params": {"max_age": 5}},
        {"name": "blur", "type": "anonymize", "params": {"method": "blur", "padding": 0.2, "classes": ["face"]}},
    ],
    "sinks": [
        {"name": "video", "type": "video", "params": {"path": "OUT/a.mp4", "crf": 23}},
        {"name": "audit", "type": "jsonl", "inputs": ["blur"], "params": {"path": "OUT/a.jsonl"}},
    ],
}


def _paths(node, prefix=()):
    """Every (path, value) in the config tree, branches and leaves."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield prefix + (key,), value
        yield from _paths(value, prefix + (key,))


def _set(tree, path, value):
    import copy

    tree = copy.deepcopy(tree)
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return tree


def _wrong_shape(value):
    """A value of a shape the field cannot take: containers become scalars, scalars containers."""
    if isinstance(value, dict):
        return [1, 2]
    if isinstance(value, list):
        return {"x": 1}
    return {"nested": [value]}


def structural_mutations() -> list[tuple[str, dict]]:
    cases = []
    for path, value in _paths(BASE):
        if path in (("version",),):
            continue
        cases.append(("/".join(map(str, path)), _set(BASE, path, _wrong_shape(value))))
    return cases


STRUCTURAL = structural_mutations()


def text_mutations(count: int = 40) -> list[tuple[str, str]]:
    text = yaml.safe_dump(BASE, sort_keys=False)
    rng = random.Random(7)
    garbage = ["\t", ":", "- ", "{", "]", "&a", "*b", "!!python/object:os.system", "\x00", "\ufeff", "'", "%",
               "? ", "|", "\n  - ", "--- ", "...", "@", "`", "<<: *x"]
    cases = []
    for i in range(count):
        kind = i % 3
        if kind == 0:  # cut at a random point
            at = rng.randrange(1, len(text))
            cases.append((f"cut{at}", text[:at]))
        elif kind == 1:  # damage: insert syntax garbage
            at = rng.randrange(len(text))
            cases.append((f"insert{at}", text[:at] + rng.choice(garbage) + text[at:]))
        else:  # re-indent one line
            lines = text.splitlines()
            k = rng.randrange(len(lines))
            lines[k] = " " * rng.choice((1, 3, 5)) + lines[k]
            cases.append((f"indent{k}", "\n".join(lines) + "\n"))
    return cases


TEXTS = text_mutations()


def test_the_fuzz_suite_is_big_enough():
    assert len(STRUCTURAL) + len(TEXTS) >= 50 and len(INPUTS) >= 15


def _one_line_error(code, err: str, path: Path) -> None:
    assert code not in (0, None), "a malformed config was accepted"
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"vpipe: error: {path}"), lines[0]


@pytest.mark.parametrize("where,config", STRUCTURAL, ids=[c[0] for c in STRUCTURAL])
def test_a_value_of_the_wrong_shape_is_one_line(where, config, tmp_path, monkeypatch, capsys):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(config).replace("OUT/", f"{tmp_path}/"))
    code, _, err = run_cli(monkeypatch, capsys, "validate", str(path))
    _one_line_error(code, err, path)


@pytest.mark.parametrize("where,text", TEXTS, ids=[c[0] for c in TEXTS])
def test_damaged_yaml_is_one_line_or_still_valid(where, text, tmp_path, monkeypatch, capsys):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text.replace("OUT/", f"{tmp_path}/"), encoding="utf-8", errors="surrogatepass")
    code, out, err = run_cli(monkeypatch, capsys, "validate", str(path))
    if code in (0, None):
        assert "ok" in out and not err.strip()
    else:
        _one_line_error(code, err, path)


# -- inputs ---------------------------------------------------------------------------------------

GRAPH = """
sources: [{{uri: {src}}}]
stages:
  - {{name: faces, type: detect, engine: {model}, params: {{threshold: 0.4, input_size: 96x128}}}}
  - {{name: blur, type: anonymize}}
sinks: [{{type: video, params: {{path: {out}}}}}]
"""


def _png(width: int, height: int) -> bytes:
    """A PNG header that claims `width` x `height` with a tiny (broken) body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")


def _make(kind: str, folder: Path) -> Path:
    sample = SAMPLE.read_bytes()
    rng = np.random.default_rng(0)
    files = {
        "empty.mp4": b"",
        "random.mp4": rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes(),
        "text.mp4": b"this is not a video\n" * 100,
        "header_only.mp4": sample[:2000],
        "no_moov.mp4": sample[: len(sample) // 2],
        "random.avi": b"RIFF" + rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes(),
        "random.mkv": b"\x1a\x45\xdf\xa3" + rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes(),
        "zeros.mp4": bytes(100_000),
        "png_as.mp4": _png(64, 64),
        "huge_claim.png": _png(200_000, 200_000),
        "broken.png": _png(64, 64),
        "empty.jpg": b"",
        "text.jpg": b"not a jpeg",
    }
    path = folder / kind
    if kind in files:
        path.write_bytes(files[kind])
    elif kind == "missing.mp4":
        pass
    elif kind == "empty_folder":
        path.mkdir()
    elif kind == "folder_of_junk":
        path.mkdir()
        for i in range(3):
            (path / f"{i}.jpg").write_bytes(b"junk" * (i + 1))
    elif kind == "loop_link.mp4":
        path.symlink_to(path)
    return path


INPUTS = ["empty.mp4", "random.mp4", "text.mp4", "header_only.mp4", "no_moov.mp4", "random.avi", "random.mkv",
          "zeros.mp4", "png_as.mp4", "huge_claim.png", "broken.png", "empty.jpg", "text.jpg", "missing.mp4",
          "empty_folder", "folder_of_junk", "loop_link.mp4"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", INPUTS)
def test_a_malformed_input_is_a_short_error(kind, tmp_path):
    bad = _make(kind, tmp_path)
    config = tmp_path / "graph.yaml"
    config.write_text(GRAPH.format(src=SAMPLE, model=CENTERFACE, out=tmp_path / "unused.mp4"))
    r = subprocess.run([sys.executable, "-m", "vpipe.pipeline.apps.cli", "run", str(config), "-i", str(bad),
                        "-o", str(tmp_path / "out" / "anon.mp4"), "-q"], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in r.stderr + r.stdout
    assert r.returncode not in (0, None), f"{kind}: accepted ({r.stderr})"
    lines = [line for line in r.stderr.strip().splitlines() if line]
    assert 1 <= len(lines) <= 2, r.stderr  # the error (and, for a folder of bad images, its summary)
    assert bad.name in r.stderr, r.stderr


# -- special files in an image folder --------------------------------------------------------------

def _special(kind: str, folder: Path) -> None:
    """One entry that is not a plain, readable image file with a UTF-8 name (issue 22 M4, M5).
    Each sorts after `a.jpg`, so a source that still opened it would hang or crash after that."""
    import os

    if kind == "fifo":
        os.mkfifo(folder / "z.jpg")  # opening it blocks until a writer comes: forever
    elif kind == "non_utf8_name":
        os.link(folder / "a.jpg", bytes(folder) + b"/\xffb.jpg")  # OpenCV segfaulted on its name
    elif kind == "folder_named_jpg":
        (folder / "z.jpg").mkdir()
    elif kind == "broken_link":
        (folder / "z.jpg").symlink_to(folder / "gone.jpg")


SPECIAL = ["fifo", "non_utf8_name", "folder_named_jpg", "broken_link"]


@pytest.mark.parametrize("kind", SPECIAL)
def test_a_special_file_in_an_image_folder_is_skipped_and_named(kind, tmp_path):
    from vpipe.stages.capture import ImageFolderSource, ImagesParams

    cv2 = pytest.importorskip("cv2")
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), np.full((48, 64, 3), 90, np.uint8))
    _special(kind, folder)
    source = ImageFolderSource("cam", str(folder), ImagesParams(), tmp_path)
    assert [p.name for p in source.files] == ["a.jpg"]
    assert [len(list(source.frames()))] == [1]
    warnings = source.warnings()
    assert len(warnings) == 1 and "skipped" in warnings[0], warnings
    warnings[0].encode("utf-8")  # printable as it is: no lone surrogate


@pytest.mark.slow
def test_a_folder_with_a_fifo_and_a_non_utf8_name_runs_to_its_end(tmp_path):
    import cv2

    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), np.full((48, 64, 3), 90, np.uint8))
    _special("fifo", folder)
    _special("non_utf8_name", folder)
    config = tmp_path / "graph.yaml"
    config.write_text(GRAPH.format(src=SAMPLE, model=CENTERFACE, out=tmp_path / "unused.mp4"))
    r = subprocess.run([sys.executable, "-m", "vpipe.pipeline.apps.cli", "run", str(config), "-i", str(folder),
                        "-o", str(tmp_path / "out"), "-q"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.count("skipped") == 2, r.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.jpg"]


# -- sizes: refused or reduced before anything is allocated --------------------------------------

@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".webp", ".tif"])
def test_image_size_is_read_from_the_header(suffix, tmp_path):
    import cv2

    from vpipe.pipeline.api.media import image_size

    path = tmp_path / f"x{suffix}"
    cv2.imwrite(str(path), np.zeros((37, 53, 3), np.uint8))
    assert image_size(path) == (53, 37)
    assert image_size(tmp_path / "missing.png") is None
    (tmp_path / "junk.png").write_bytes(b"junk")
    assert image_size(tmp_path / "junk.png") is None


def test_a_huge_image_is_skipped_or_decoded_reduced_before_allocating(tmp_path, monkeypatch):
    """A 3 MB 32000x32000 PNG peaked at 6.25 GB (issue 22 M7): the size comes from the header,
    and an image over the limit is skipped, or for a JPEG decoded at 1/2, 1/4 or 1/8 of its size."""
    import cv2

    import vpipe.stages.capture as capture

    monkeypatch.setattr(capture, "MAX_PIXELS", 1000 * 1000)
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), np.full((300, 400, 3), 90, np.uint8))
    cv2.imwrite(str(folder / "big.jpg"), np.full((1500, 3000, 3), 90, np.uint8))  # 4.5 Mpx: read at 1/4
    cv2.imwrite(str(folder / "big.png"), np.full((1500, 1000, 3), 90, np.uint8))  # 1.5 Mpx: skipped
    source = capture.ImageFolderSource("cam", str(folder), capture.ImagesParams(), tmp_path)
    shapes = {c.name: c.image.shape[:2] for c in source.frames()}
    assert shapes == {"a.jpg": (300, 400), "big.jpg": (375, 750)}
    assert source.warnings() == [f"{folder / 'big.png'}: 1000x1500 pixels, more than the 1.0 Mpx an image "
                                 "may have (only a JPEG is read reduced), skipped"]


@pytest.mark.parametrize("where,value", [
    (("stages", 0, "params", "input_size"), "99999x99999"),
    (("stages", 0, "params", "input_size"), "0x0"),
    (("stages", 1, "params", "max_age"), 5),  # (a valid value: the shape stays valid below)
])
def test_model_input_size_is_bounded(where, value, tmp_path, monkeypatch, capsys):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(_set(BASE, where, value)).replace("OUT/", f"{tmp_path}/"))
    code, _, err = run_cli(monkeypatch, capsys, "validate", str(path))
    if value == 5:
        assert code in (0, None), err
    else:
        _one_line_error(code, err, path)
        assert "input_size" in err and "16 to 4096" in err, err


# -- per-source lineage: a detector on one camera never stands for another's ---------------------

def lineage_shapes() -> list[tuple[str, dict, bool]]:
    """Two cameras merged into one anonymizer, with a detector on each, one or none of them, and
    the anonymizer before or after them: (id, config, safe)."""
    cases = []
    for on1, on2, classes, before in itertools.product((True, False), (True, False), (None, ["face"]), (False, True)):
        stages, merged = [], []
        for cam, on in (("cam1", on1), ("cam2", on2)):
            if on and not before:
                stages.append({"name": f"det_{cam}", "type": "detect", "engine": str(CENTERFACE), "inputs": [cam],
                               "params": {"input_size": "96x128"}})
                merged.append(f"det_{cam}")
            else:
                merged.append(cam)
        params = {"classes": classes} if classes else {}
        stages.append({"name": "blur", "type": "anonymize", "inputs": merged, "params": params})
        if before and (on1 or on2):  # a detector after the anonymizer: it covers nothing
            stages.append({"name": "late", "type": "detect", "engine": str(CENTERFACE), "params": {"input_size": "96x128"}})
        spec = {"sources": [{"name": c, "uri": str(SAMPLE)} for c in ("cam1", "cam2")], "stages": stages,
                "sinks": [{"type": "video", "params": {"path": "OUT/{source}.mp4"}}]}
        safe = on1 and on2 and not before
        cases.append((f"cam1{'+' if on1 else '-'}cam2{'+' if on2 else '-'}{'-classes' if classes else ''}"
                      f"{'-before' if before else ''}", spec, safe))
    return cases


LINEAGE = lineage_shapes()


@pytest.mark.parametrize("where,config,safe", LINEAGE, ids=[c[0] for c in LINEAGE])
def test_every_source_reaching_an_anonymizer_passed_a_detector(where, config, safe, tmp_path, monkeypatch, capsys):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(config).replace("OUT/", f"{tmp_path}/"))
    code, out, err = run_cli(monkeypatch, capsys, "validate", str(path))
    if safe:
        assert code in (0, None), err
    else:
        _one_line_error(code, err, path)
        assert "no detect or segment stage is upstream" in err, err


# -- weak strengths -------------------------------------------------------------------------------

WEAK = [(method, cells) for method in ("blur", "pixelate") for cells in (9, 12, 24, 48, 64)]


@pytest.mark.parametrize("method,cells", WEAK)
def test_a_weak_strength_needs_consent(method, cells, tmp_path, monkeypatch, capsys):
    path = tmp_path / "fuzz.yaml"
    params = {"method": method, "cells": cells, "classes": ["face"]}
    for consent, refused in ((False, True), (True, False)):
        config = _set(BASE, ("stages", 2, "params"), {**params, **({"strength_override": True} if consent else {})})
        path.write_text(yaml.safe_dump(config).replace("OUT/", f"{tmp_path}/"))
        code, _, err = run_cli(monkeypatch, capsys, "validate", str(path))
        if refused:
            _one_line_error(code, err, path)
            assert "params.cells" in err and "strength_override" in err, err
        else:
            assert code in (0, None), err


# -- temporary names: no output is ever another's temporary file -----------------------------------

CLASHES = [("a.partial.mp4", "a.ts"), ("a.partial.mkv", "a.mp4"), ("a.partial.mp4", "a.mp4"),
           ("x/a.partial.mov", "x/a.avi"), ("a.partial.partial.mp4", "a.partial.ts"), ("b.mp4", "b.mkv")]


@pytest.mark.parametrize("names", CLASHES, ids=["+".join(c) for c in CLASHES])
def test_batch_outputs_and_temporary_names_never_meet(names, tmp_path):
    from vpipe.pipeline.apps.batch import partial_of, plan

    src = tmp_path / "in"
    for name in names:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(b"")
    jobs = plan(src, tmp_path / "out")
    targets = [job.target for job in jobs]
    temporaries = [partial_of(job) for job in jobs] + [t.with_name(t.stem + ".partial.mp4") for t in
                                                       [partial_of(job) for job in jobs]]
    audits = [t.with_suffix(".jsonl") for t in targets]
    everything = targets + temporaries + audits
    assert len(set(everything)) == len(everything), everything


@pytest.mark.parametrize("output", ["clip.mp4", "clip.mkv", "sub/clip.mov"])
def test_an_output_whose_temporary_name_is_the_input_is_refused(output, tmp_path, monkeypatch, capsys):
    out = tmp_path / output
    out.parent.mkdir(exist_ok=True)
    clip = out.with_name(out.stem + ".partial" + out.suffix)
    clip.write_bytes(SAMPLE.read_bytes())
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(BASE).replace("OUT/", f"{tmp_path}/"))
    code, _, err = run_cli(monkeypatch, capsys, "validate", str(path))
    assert code in (0, None), err
    code, _, err = run_cli(monkeypatch, capsys, "run", str(path), "-i", str(clip), "-o", str(out), "--overwrite", "-q")
    assert code == 2 and "would write over the input" in err and len(err.strip().splitlines()) == 1, err
    assert clip.read_bytes() == SAMPLE.read_bytes()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_an_oriented_tiff_in_a_folder_is_read_upright(orientation, tmp_path, capfd):
    """OpenCV 5 fails on a TIFF whose Orientation swaps its sides, with noise on stderr, so it
    was skipped (issue 22): read as stored, then turned as the tag says, like PIL does."""
    Image = pytest.importorskip("PIL.Image")  # (writes the tag; OpenCV cannot)
    from vpipe.stages.capture import ImageFolderSource, ImagesParams

    folder = tmp_path / "photos"
    folder.mkdir()
    stored = np.random.default_rng(orientation).integers(0, 255, (40, 60, 3), np.uint8)  # RGB
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(folder / "p.tif", exif=exif)
    # As shown: the TIFF/EXIF Orientation values, one by one (5: transpose, 7: transverse).
    shown = {1: stored, 2: stored[:, ::-1], 3: stored[::-1, ::-1], 4: stored[::-1],
             5: stored.transpose(1, 0, 2), 6: np.rot90(stored, -1), 7: np.rot90(stored.transpose(1, 0, 2), 2),
             8: np.rot90(stored, 1)}[orientation]
    upright = shown[:, :, ::-1]  # BGR
    source = ImageFolderSource("cam", str(folder), ImagesParams(), tmp_path)
    frames = list(source.frames())
    assert len(frames) == 1 and not source.warnings(), source.warnings()
    np.testing.assert_array_equal(frames[0].image, upright)
    assert "imread" not in capfd.readouterr().err
