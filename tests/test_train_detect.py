"""Detector training: a tiny run learns, its checkpoint exports with `vpipe export --check` and is
scored by `vpipe eval detect`; Faster R-CNN checkpoints fit the exporter; alpr/ is refused."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import shared_file
from vpipe.pipeline.api.errors import VpipeError
from vpipe.tools.data import plate_synth as ps
from vpipe.tools.train import detect as td

torch = pytest.importorskip("torch")
SSD = "ssdlite320_mobilenet_v3_large"
RCNN = "fasterrcnn_mobilenet_v3_large_320_fpn"


def vpipe(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "from vpipe.pipeline.apps.cli import main; main()", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    try:
        ps.find_fonts()
    except ps.FontsMissing as exc:
        pytest.skip(str(exc))
    out = tmp_path_factory.mktemp("synth")
    ps.generate(out, 8, seed=0, log=None)
    return out


@pytest.fixture(scope="module")
def trained(synth, tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run") / "ssd.pt"
    samples = td.load_coco(synth / "annotations.json", synth / "images")
    history = td.train(SSD, samples, out,
                       td.TrainOptions(epochs=100, batch=4, lr=3e-3, size=160, seed=0, max_iters=16,
                                       threads=1), log=lambda *_: None)
    return out, history


def test_tiny_run_loss_decreases(trained):
    out, history = trained
    losses = history["losses"]
    assert len(losses) == 16 and all(np.isfinite(losses))
    first, last = np.mean(losses[:4]), np.mean(losses[-4:])
    assert last < 0.8 * first, f"loss did not fall: first {first:.3f}, last {last:.3f}"
    state = torch.load(out, map_location="cpu", weights_only=True)
    assert state["family"] == SSD and state["classes"] == ["licence_plate", "vehicle"]
    assert out.with_suffix(".names.txt").read_text().split() == ["licence_plate", "vehicle"]


def test_checkpoint_exports_and_evaluates(trained, synth, tmp_path):
    ckpt, _ = trained
    model = tmp_path / "plates.onnx"
    proc = vpipe("export", SSD, "--weights", str(ckpt), "--num-classes", "3", "--classes",
                 str(ckpt.with_suffix(".names.txt")), "--input-size", "160x160", "--check", "--out", str(model))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "parity" in proc.stdout
    report = tmp_path / "eval.json"
    proc = vpipe("eval", "detect", "--model", str(model), "--coco", str(synth / "annotations.json"),
                 "--images", str(synth / "images"), "--model-class", "licence_plate", "--category", "1",
                 "--threshold", "0.01", "--json", str(report))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    figures = json.loads(report.read_text())
    assert figures["images"] == 8 and 0.0 <= figures["recall"] <= 1.0
    assert figures["boxes_per_image"] > 0 and figures["ms_per_image"] > 0


def test_fine_tune_from_init_and_a_wrong_init(trained, synth, tmp_path):
    ckpt, _ = trained
    samples = td.load_coco(synth / "annotations.json", synth / "images")[:2]
    history = td.train(SSD, samples, tmp_path / "ft.pt",
                       td.TrainOptions(batch=2, size=160, init=str(ckpt), max_iters=1, threads=1),
                                       log=lambda *_: None)
    assert history["iterations"] == 1
    with pytest.raises(VpipeError, match="does not fit"):
        td.build_model(RCNN, 160, init=ckpt)


def test_worker_processes_give_the_same_run(synth, tmp_path):
    """Images read and augmented in 2 worker processes train exactly as in the loop itself."""
    torch.set_num_threads(1)
    samples = td.load_coco(synth / "annotations.json", synth / "images")
    runs = [td.train(SSD, samples, tmp_path / f"w{workers}.pt",
                     td.TrainOptions(epochs=2, batch=4, size=160, seed=3, max_iters=3, threads=1,
                                     workers=workers), log=lambda *_: None)["losses"]
            for workers in (0, 2)]
    assert len(runs[0]) == 3 and runs[0] == runs[1]


def test_faster_rcnn_checkpoint_fits_the_exporter(synth, tmp_path):
    from vpipe.tools.export.families import get_family
    from vpipe.tools.export.weights import load_model

    torch.set_num_threads(1)
    samples = td.load_coco(synth / "annotations.json", synth / "images")[:2]
    history = td.train(RCNN, samples, tmp_path / "rcnn.pt",
                       td.TrainOptions(batch=2, size=160, max_iters=1, threads=1), log=lambda *_: None)
    assert np.isfinite(history["losses"][0])
    model, sha, _ = load_model(get_family(RCNN), str(tmp_path / "rcnn.pt"), False, 3, 1)
    assert len(sha) == 64 and model.roi_heads.box_predictor.cls_score.out_features == 3


def test_evaluation_data_is_refused(tmp_path):
    (tmp_path / "alpr").mkdir()
    (tmp_path / "alpr" / "us.json").write_text("{}")
    with pytest.raises(VpipeError, match="evaluation-only"):
        td.load_coco(tmp_path / "alpr" / "us.json", tmp_path / "alpr")
    with pytest.raises(VpipeError, match="--synth"):
        td.gather("synth", [], [], tmp_path, 1)


def test_real_training_split_loads():
    root = shared_file("train/openimages-plates")
    samples = td.gather("real", [], [], root, 1)
    assert len(samples) == 245
    labels = np.concatenate([s.labels for s in samples])
    assert set(labels.tolist()) == {1, 2} and (labels == 1).sum() == 326
    x, target = td.read_sample(samples[0], 160)
    assert tuple(x.shape) == (3, 160, 160) and float(target["boxes"].max()) <= 160


def test_image_size_follows_the_init_checkpoint_or_the_family(trained, tmp_path):
    ckpt, _ = trained  # trained at 160 px
    assert td.resolve_size(SSD, None, ckpt) == 160
    assert td.resolve_size(SSD, None) == 320
    assert td.resolve_size("ssdlite_mobilenet_v2", None) == 512  # the shipped plate model's size
    with pytest.raises(VpipeError, match="trained at 160 px"):
        td.resolve_size(SSD, 320, ckpt)
    with pytest.raises(VpipeError, match=f"a {SSD} checkpoint, not {RCNN}"):
        td.resolve_size(RCNN, None, ckpt)
    with pytest.raises(VpipeError, match="plates_ssdlite_mnv2.pt"):
        td.resolve_size(SSD, None, tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(VpipeError, match="not a PyTorch checkpoint"):
        td.resolve_size(SSD, None, tmp_path / "junk.pt")


def test_the_shipped_weights_fine_tune_at_512_and_export_at_512():
    from vpipe.tools.export.families import get_family

    shipped = td.ROOT / "models" / "weights" / "plates_ssdlite_mnv2.pt"
    assert td.resolve_size("ssdlite_mobilenet_v2", None, shipped) == 512
    assert get_family("ssdlite_mobilenet_v2").input_size == (512, 512)


def test_cli_fine_tune_shows_progress_and_a_missing_init_is_one_line(trained, synth, tmp_path):
    ckpt, _ = trained
    base = [sys.executable, "-m", "vpipe.tools.train.detect", SSD, "--data", "none", "--dataset",
            f"{synth / 'annotations.json'}:{synth / 'images'}", "--no-val", "--threads", "1", "--batch", "4"]
    proc = subprocess.run(base + ["--init", str(tmp_path / "both.pt"), "--out", str(tmp_path / "x.pt")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout.strip().splitlines() == [proc.stdout.strip()] and "no such file" in proc.stdout
    proc = subprocess.run(base + ["--init", str(ckpt), "--max-iters", "2", "--out", str(tmp_path / "ft.pt")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "size 160" in proc.stdout, "the init checkpoint's size, not the 320 default"
    assert torch.load(tmp_path / "ft.pt", weights_only=True)["args"]["size"] == 160


def test_progress_bar_shows_iterations_loss_and_time_left(synth, tmp_path):
    import io

    from rich.console import Console

    torch.set_num_threads(1)
    console = Console(file=io.StringIO(), force_terminal=True, width=140)
    samples = td.load_coco(synth / "annotations.json", synth / "images")[:4]
    td.train(SSD, samples, tmp_path / "p.pt",
             td.TrainOptions(batch=2, size=160, max_iters=2, threads=1), log=lambda *_: None, progress=console)
    text = console.file.getvalue()
    assert "2/2" in text and "loss " in text and "ETA 0:00:00" in text and "lr " in text


def test_a_time_limited_run_warms_up_in_its_first_twentieth_of_time():
    """A CPU fine-tune under --time-limit may do fewer iterations than the warm-up counts (84 of a
    3-epoch budget, where 65 fit): the warm-up then ends after 5 % of the time, and the cosine runs
    to its end at the time limit."""
    assert td.rate_factor(10, 84, 1680) == pytest.approx(11 / 84)  # no time limit: by iterations
    assert td.rate_factor(10, 84, 1680, elapsed=60, time_limit=2580) == pytest.approx(60 / 129)
    assert td.rate_factor(10, 84, 1680, elapsed=300, time_limit=2580) > 0.95
    assert td.rate_factor(50, 84, 1680, elapsed=2580, time_limit=2580) == pytest.approx(0.05)
    assert td.rate_factor(1680, 84, 1680) == pytest.approx(0.05)


def test_default_paths_are_the_repository_s():
    """The real training set and the shipped weights are found from the repository root, wherever
    the trainer's module sits inside tools/."""
    import os
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    assert td.ROOT == repo and (td.ROOT / "pyproject.toml").is_file()
    shared = Path(os.environ.get("VPIPE_SHARED_DATA", repo.parent / "shared" / "data"))
    assert td.REAL == shared / "train" / "openimages-plates"
