"""tools/train/sr.py: more photos, and a stopped run that resumes exactly where it was."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skimage")

from vpipe.tools.train.sr import SROptions, train  # noqa: E402

TINY = dict(scale=3, seed=0, batch=2, patch=12, val_every=2, rescale=())


def weights(path):
    return torch.load(path, weights_only=True)


def test_a_resumed_run_ends_with_the_same_weights_as_an_unbroken_one(tmp_path, capsys):
    train("srcnn", tmp_path / "whole.pt", SROptions(iters=4, **TINY))
    train("srcnn", tmp_path / "split.pt", SROptions(iters=4, stop_after=2, **TINY))
    assert (tmp_path / "split.state.pt").is_file()
    half = weights(tmp_path / "split.pt")
    train("srcnn", tmp_path / "split.pt", SROptions(iters=4, resume=True, **TINY))
    assert "resumed after step 2" in capsys.readouterr().out
    whole, split = weights(tmp_path / "whole.pt"), weights(tmp_path / "split.pt")
    assert all(torch.equal(whole[k], split[k]) for k in whole)
    # and the resumed half did train: step 4's weights are not step 2's
    assert not all(torch.equal(whole[k], half[k]) for k in whole)


def test_photo_folders_are_added_to_the_training_set(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.jpg"), rng.integers(0, 256, (60, 90, 3), dtype=np.uint8))
    (folder / "notes.txt").write_text("not an image")
    train("srcnn", tmp_path / "w.pt", SROptions(iters=2, photos=(folder,), **TINY))
    assert "22 images (3 from 1 folders" in capsys.readouterr().out
