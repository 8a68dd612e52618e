"""`vpipe eval sr --pairs`: the SR papers' protocol on given HR/LR pairs (Set5, Set14).

The reference here is written from the definitions with numpy alone, by another route than the
code under test (which upscales with Pillow and scores with scikit-image): MATLAB imresize's
bicubic upscale as a matrix (Keys' a = -0.5, symmetric border), rgb2ycbcr's Y from its formula.
"""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT, shared_file
from vpipe.tools.evaluate.scores import pairs_scores

pytest.importorskip("skimage")


def _cubic(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x <= 1, 1.5 * x**3 - 2.5 * x**2 + 1, np.where(x < 2, -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2, 0.0))


def _upscale_matrix(n: int, k: int) -> np.ndarray:
    """(n*k, n) weights of MATLAB imresize's bicubic x`k` along one axis (its contributions())."""
    u = np.arange(1, n * k + 1) / k + 0.5 * (1 - 1 / k)  # 1-based input coordinate of each output
    taps = np.floor(u - 2)[:, None] + np.arange(6)
    weights = _cubic(u[:, None] - taps)
    mirror = np.concatenate([np.arange(n), np.arange(n)[::-1]])  # MATLAB's symmetric padding
    m = np.zeros((n * k, n))
    np.add.at(m, (np.repeat(np.arange(n * k), 6), mirror[(taps.astype(int) - 1) % (2 * n)].ravel()),
              (weights / weights.sum(1, keepdims=True)).ravel())
    return m


def reference_bicubic_psnr(hr: np.ndarray, lr: np.ndarray, k: int) -> float:
    """hr, lr: RGB (or grey) uint8. Upscale rows then columns, rounding to 8 bits after each as
    MATLAB does on uint8; Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 (grey: itself)."""
    up = np.clip(np.round(np.tensordot(_upscale_matrix(lr.shape[0], k), lr.astype(float), axes=(1, 0))), 0, 255)
    up = np.clip(np.round(np.moveaxis(np.tensordot(_upscale_matrix(lr.shape[1], k), up, axes=(1, 1)), 0, 1)), 0, 255)

    def y(a):
        a = a.astype(float)
        return a if a.ndim == 2 else 16 + (65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]) / 255

    diff = (y(up) - y(hr))[k:-k, k:-k]
    return float(10 * np.log10(255 ** 2 / np.mean(diff ** 2)))


def read_rgb(path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return image if image.ndim == 2 else image[..., ::-1]


def linked(tmp_path, **sets):
    """A pairs root holding only the named folders: {set name: folder}."""
    for name, folder in sets.items():
        (tmp_path / name).symlink_to(folder, target_is_directory=True)
    return tmp_path


def test_bicubic_matches_an_independent_computation_on_two_set5_images(tmp_path):
    source = shared_file("sr-bench/Set5/image_SRF_3")
    (tmp_path / "Set5").mkdir()
    names = ("img_001", "img_003")  # the largest and the worst-scoring one
    for name in names:
        for part in ("HR", "LR"):
            (tmp_path / "Set5" / f"{name}_SRF_3_{part}.png").symlink_to(source / f"{name}_SRF_3_{part}.png")
    (group,) = pairs_scores(tmp_path, [])
    assert (group["set"], group["scale"], group["pairs"]) == ("Set5", 3, 2)
    bicubic = group["rows"][0]["per_image"]
    for name, row in zip(names, bicubic):
        expected = reference_bicubic_psnr(read_rgb(source / f"{name}_SRF_3_HR.png"),
                                          read_rgb(source / f"{name}_SRF_3_LR.png"), 3)
        assert row["psnr"] == pytest.approx(expected, abs=0.05), name


def test_bicubic_reproduces_the_papers_figures(tmp_path):
    """The protocol check of the issue: Set5 x3 30.39 dB, Set14 x3 27.54 dB (its grey image too)."""
    root = linked(tmp_path, Set5=shared_file("sr-bench/Set5/image_SRF_3"),
                  Set14=shared_file("sr-bench/Set14/image_SRF_3"))
    got = {g["set"]: g["rows"][0] for g in pairs_scores(root, [])}
    assert got["Set5"]["psnr"] == pytest.approx(30.39, abs=0.05)
    assert got["Set14"]["psnr"] == pytest.approx(27.54, abs=0.05)
    # SSIM as the papers list it for bicubic (VDSR's table: 0.8682, 0.7742)
    assert got["Set5"]["ssim"] == pytest.approx(0.8682, abs=0.002)
    assert got["Set14"]["ssim"] == pytest.approx(0.7742, abs=0.002)


def test_shipped_srcnn_x3_beats_bicubic_on_set5_by_1_5_db(tmp_path):
    root = linked(tmp_path, Set5=shared_file("sr-bench/Set5/image_SRF_3"))
    (group,) = pairs_scores(root, [ROOT / "models" / "srcnn_x3.onnx"], threads=1)
    bicubic, srcnn = group["rows"]
    assert srcnn["method"] == "srcnn"
    assert srcnn["psnr"] - bicubic["psnr"] >= 1.5  # measured +1.80 (docs/super_resolution.md)
    assert srcnn["ssim"] > bicubic["ssim"]


def synthetic_pairs(root):
    """Two sets, two scales, one grey pair: smooth random HR, LR by a box shrink."""
    rng = np.random.default_rng(0)
    images = {}
    for folder, k, grey in (("A/x2", 2, False), ("A/x3", 3, True), ("B", 2, False)):
        (root / folder).mkdir(parents=True)
        hr = cv2.GaussianBlur(rng.integers(0, 256, (48, 60) if grey else (48, 60, 3), dtype=np.uint8), (3, 3), 0)
        lr = cv2.resize(hr, (60 // k, 48 // k), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(root / folder / "p_HR.png"), hr)
        cv2.imwrite(str(root / folder / "p_LR.png"), lr)
        images[folder] = (read_rgb(root / folder / "p_HR.png"), read_rgb(root / folder / "p_LR.png"), k)
    return images


def test_pairs_are_grouped_by_set_and_scale_and_grey_is_its_own_luma(tmp_path):
    images = synthetic_pairs(tmp_path)
    report = pairs_scores(tmp_path, [])
    assert [(g["set"], g["scale"], g["pairs"]) for g in report] == [("A", 2, 1), ("A", 3, 1), ("B", 2, 1)]
    for group, folder in zip(report, ("A/x2", "A/x3", "B")):
        assert group["rows"][0]["psnr"] == pytest.approx(reference_bicubic_psnr(*images[folder]), abs=0.05), folder


def vpipe(*args):
    return subprocess.run([sys.executable, "-m", "vpipe.pipeline.apps.cli", "eval", "sr", *args],
                          capture_output=True, text=True, timeout=300)


def test_command_prints_a_table_per_set_and_scale_and_the_markdown_table(tmp_path):
    synthetic_pairs(tmp_path / "pairs")
    result = vpipe("--pairs", str(tmp_path / "pairs"), "--json", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stderr
    for title in ("A x2 (1 pairs)", "A x3 (1 pairs)", "B x2 (1 pairs)", "| method | A x2 | A x3 | B x2 |"):
        assert title in result.stdout
    assert "| bicubic |" in result.stdout and (tmp_path / "r.json").is_file()


@pytest.mark.parametrize("damage, message", [
    ("lr_missing", "no low-resolution p_LR.png beside it"),
    ("bad_size", "is not an integer multiple of LR"),
])
def test_bad_pairs_are_one_line_naming_the_file(tmp_path, damage, message):
    synthetic_pairs(tmp_path)
    lr = tmp_path / "B" / "p_LR.png"
    if damage == "lr_missing":
        lr.unlink()
    else:
        cv2.imwrite(str(lr), np.zeros((20, 29, 3), np.uint8))  # 48x60 HR is not 2x this
    result = vpipe("--pairs", str(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert str(tmp_path / "B" / "p_HR.png") in result.stderr and message in result.stderr


def test_images_and_pairs_exclude_each_other(tmp_path):
    result = vpipe("--pairs", str(tmp_path), "--images", str(tmp_path))
    assert result.returncode == 1 and result.stderr.strip() == "vpipe: error: vpipe eval sr: give one of --images or --pairs"


def test_each_model_runs_on_the_pairs_of_its_scale(tmp_path):
    from test_upscale import sr_model

    synthetic_pairs(tmp_path / "pairs")
    x2 = sr_model(tmp_path / "near_x2.onnx", "nearest", 2)
    report = pairs_scores(tmp_path / "pairs", [x2])
    assert [[r["method"] for r in g["rows"]] for g in report] == [["bicubic", "near"], ["bicubic"], ["bicubic", "near"]]
    # nearest-neighbour is worse than bicubic on smooth images: the model's own output was scored
    assert all(g["rows"][1]["psnr"] < g["rows"][0]["psnr"] for g in report if len(g["rows"]) == 2)
    result = vpipe("--pairs", str(tmp_path / "pairs"), "--model", str(sr_model(tmp_path / "n_x4.onnx", "nearest", 4)))
    assert result.returncode == 1 and result.stderr.strip().endswith("upscales x4, but " + str(tmp_path / "pairs") + " has no x4 pairs")
