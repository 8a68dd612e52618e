"""The synthetic plate generator: seeded, boxes valid, plate text inside its box, fonts real."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import shared_file
from vpipe.tools import plate_synth as ps


@pytest.fixture(scope="module")
def fonts():
    try:
        return ps.find_fonts()
    except ps.FontsMissing as exc:
        pytest.skip(str(exc))


def test_same_seed_same_bytes_other_seed_other_images(fonts, tmp_path):
    a = ps.generate(tmp_path / "a", 4, seed=5, log=None)
    b = ps.generate(tmp_path / "b", 4, seed=5, log=None)
    c = ps.generate(tmp_path / "c", 4, seed=6, log=None)
    assert a.read_bytes() == b.read_bytes()
    for name in sorted(p.name for p in (tmp_path / "a" / "images").iterdir()):
        assert (tmp_path / "a" / "images" / name).read_bytes() == (tmp_path / "b" / "images" / name).read_bytes()
    assert a.read_bytes() != c.read_bytes()
    data = json.loads(a.read_text())
    assert [c["id"] for c in data["categories"]] == [1, 2]
    assert data["categories"][0]["name"] == "licence_plate" and data["categories"][1]["name"] == "vehicle"
    assert len(data["images"]) == 4 and len({a["id"] for a in data["annotations"]}) == len(data["annotations"])


def test_boxes_inside_image_and_text_inside_plate_boxes(fonts):
    widths, styles, plates = [], set(), 0
    for i in range(16):
        rgb, anns, text = ps.make_image(np.random.default_rng([11, i]), fonts)
        h, w = rgb.shape[:2]
        assert rgb.dtype == np.uint8 and text.shape == (h, w)
        boxes = [a["bbox"] for a in anns if a["category_id"] == 1]
        assert boxes, "every image has at least one plate"
        plates += len(boxes)
        for a in anns:
            x, y, bw, bh = a["bbox"]
            assert a["category_id"] in (1, 2)
            assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h and bw > 1 and bh > 1, (i, a)
        inside = np.zeros((h, w), bool)
        for x, y, bw, bh in boxes:
            inside[max(0, int(y) - 1):int(np.ceil(y + bh)) + 1, max(0, int(x) - 1):int(np.ceil(x + bw)) + 1] = True
        assert text.any()
        assert not (text & ~inside).any(), f"image {i}: plate text pixels outside every plate box"
        widths += [b[2] for b in boxes]
        styles |= {a["style"] for a in anns if a["category_id"] == 1}
    assert styles == set(ps.STYLES)
    assert min(widths) < 30 and max(widths) > 80, "plates from a few px to large"
    assert plates > 16, "several plates per image"


def test_plate_styles_draw_their_text(fonts):
    rng = np.random.default_rng(0)
    for style in ps.STYLES:
        plate = ps.render_plate(rng, style, fonts)
        assert plate.style == style and 0.03 < plate.text_mask.mean() < 0.6
    kr = ps.render_plate(np.random.default_rng(1), "kr", fonts)
    assert any("\uac00" <= ch <= "\ud7a3" for ch in kr.text), "Korean plates carry a Hangul syllable"


def test_a_missing_font_names_the_package(monkeypatch):
    monkeypatch.setattr(ps, "_font_index", lambda: {})
    with pytest.raises(ps.FontsMissing, match="fonts-dejavu-core"):
        ps.find_fonts()


def test_cli_and_real_backgrounds_keep_their_labels(fonts, tmp_path):
    root = shared_file("train/openimages-plates")
    assert ps.main(["--out", str(tmp_path / "s"), "--count", "6", "--seed", "2", "--backgrounds",
                    str(root / "train" / "images"), "--backgrounds-coco", str(root / "train.json")]) == 0
    data = json.loads((tmp_path / "s" / "annotations.json").read_text())
    assert len(data["images"]) == 6 and data["info"]["seed"] == 2
    assert ps.main(["--out", str(tmp_path / "x"), "--count", "0"]) == 2
