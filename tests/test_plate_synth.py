"""The synthetic plate generator: seeded, boxes valid, plate text inside its box, fonts real."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import shared_file
from vpipe.pipeline.api.errors import VpipeError
from vpipe.tools.data import plate_synth as ps


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
    for i in range(40):  # enough images for every style to appear
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
    assert plates > 40, "several plates per image"


def test_plate_styles_draw_their_text(fonts):
    rng = np.random.default_rng(0)
    for style in ps.STYLES:
        plate = ps.render_plate(rng, style, fonts)
        assert plate.style == style and 0.03 < plate.text_mask.mean() < 0.6
    kr = ps.render_plate(np.random.default_rng(1), "kr", fonts)
    assert any("\uac00" <= ch <= "\ud7a3" for ch in kr.text), "Korean plates carry a Hangul syllable"


@pytest.mark.parametrize("style", ps.MORE_STYLES)
def test_new_styles_render_their_text_the_same_for_the_same_rng(fonts, style):
    plates = [ps.render_plate(np.random.default_rng([4, k]), style, fonts) for k in range(6)]
    again = ps.render_plate(np.random.default_rng([4, 0]), style, fonts)
    assert np.array_equal(plates[0].rgb, again.rgb) and plates[0].text == again.text
    for plate in plates:
        h, w = plate.rgb.shape[:2]
        assert plate.style == style and 0.05 < plate.text_mask.mean() < 0.4, plate.text
        rows = np.flatnonzero(plate.text_mask.any(1))
        if style in ("kr2", "jp", "vn2", "moto"):  # two lines of characters, a near-square plate
            assert " / " in plate.text and h / w > 0.45
            empty = [r for r in range(int(0.3 * h), int(0.55 * h)) if not plate.text_mask[r].any()]
            assert empty and rows.min() < empty[0] and rows.max() > empty[-1], "two separate rows"
        else:  # one line under a band or city strip, a 400 x 130 plate
            assert h / w < 0.4 and rows.min() > 0.25 * h
    jp = " ".join(p.text for p in plates if style == "jp")
    assert style != "jp" or any("\u4e00" <= ch <= "\u9fff" for ch in jp), "Japanese plates name a region in kanji"


def test_mercosur_has_a_blue_band_and_the_old_brazilian_plate_is_grey(fonts):
    for k in range(6):
        mercosur = ps.render_plate(np.random.default_rng([5, k]), "mercosur", fonts)
        band = mercosur.rgb[6:int(0.2 * mercosur.rgb.shape[0]), 40:-60].reshape(-1, 3).mean(0)
        assert band[2] > 120 and band[2] > band[0] + 60, "a blue band on top"
        assert mercosur.rgb[-20:-8, 5:15].mean() > 200, "a white plate"
        assert not mercosur.text_mask[:int(0.25 * mercosur.rgb.shape[0])].any()
        assert len(mercosur.text.replace(" ", "")) == 7
    greys = [ps.render_plate(np.random.default_rng([6, k]), "br_grey", fonts) for k in range(12)]
    grey = [p for p in greys if abs(int(p.rgb[-8, 8, 0]) - int(p.rgb[-8, 8, 2])) < 10 and 140 < p.rgb[-8, 8, 0] < 220]
    assert len(grey) >= 4, "mostly grey plates"
    for plate in greys:
        letters, dash, digits = plate.text[:3], plate.text[3], plate.text[4:]
        assert letters.isalpha() and digits.isdigit() and len(digits) == 4 and dash in "- ·"


def test_plates_cut_by_the_edge_are_boxed_by_their_visible_part(fonts):
    rng = np.random.default_rng(0)
    plate = ps.render_plate(rng, "br_grey", fonts)
    canvas = ps.Canvas(np.zeros((200, 300, 3), np.uint8), np.zeros((200, 300), bool))
    quad = np.array([[-60, 50], [100, 50], [100, 102], [-60, 102]], np.float32)  # 60 of 160 px outside
    box = ps.paste(canvas, plate.rgb, quad, rng, plate.text_mask, light=False)
    assert box == [0.0, 50.0, 100.0, 52.0]
    drawn = np.argwhere(canvas.rgb.any(2))
    assert drawn[:, 1].min() == 0 and drawn[:, 1].max() <= 101 and canvas.text_mask[:, :100].any()
    # in generated images: plates at every edge, frame-filling ones, steep views, all inside
    edges = large = 0
    for i in range(60):
        rgb, anns, text = ps.make_image(np.random.default_rng([12, i]), fonts)
        h, w = rgb.shape[:2]
        for x, y, bw, bh in (a["bbox"] for a in anns if a["category_id"] == 1 and "style" in a):
            assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
            edges += x <= 0.5 or x + bw >= w - 1.5 or y + bh >= h - 1.5
            large += bw > 0.5 * w
    assert edges >= 3 and large >= 2, (edges, large)


def test_hard_negatives_and_overlays_are_never_labelled(fonts):
    for k in range(20):
        rng = np.random.default_rng([13, k])
        canvas = ps.Canvas(np.full((360, 640, 3), 90, np.uint8), np.zeros((360, 640), bool))
        for _ in range(4):
            ps.add_negative(canvas, rng, fonts)
        ps.add_overlay(canvas, rng, fonts)
        assert canvas.annotations == [] and not canvas.text_mask.any()
    rng = np.random.default_rng(1)
    canvas = ps.Canvas(np.full((360, 640, 3), 90, np.uint8), np.zeros((360, 640), bool))
    ps.add_overlay(canvas, rng, fonts)
    rows = np.flatnonzero((canvas.rgb != 90).any((1, 2)))
    assert rows.size and (rows.max() < 40 or rows.min() > 320), "a burnt-in line along the top or bottom"


def test_car_marks_sit_on_a_vehicle_never_over_its_plate_and_are_never_labelled(fonts):
    """Badges, model names and stickers: the valid split's false boxes were mostly these."""
    drawn = 0
    for k in range(30):
        rng = np.random.default_rng([21, k])
        canvas = ps.Canvas(np.full((360, 640, 3), 90, np.uint8), np.zeros((360, 640), bool))
        canvas.annotations += [{"category_id": 2, "bbox": [100, 80, 300, 200]},
                               {"category_id": 1, "bbox": [220, 220, 60, 20]}]
        for _ in range(3):
            ps.add_car_mark(canvas, rng, fonts)
        assert len(canvas.annotations) == 2 and not canvas.text_mask.any()
        ys, xs = np.nonzero((canvas.rgb != 90).any(2))
        assert not (canvas.rgb[220:240, 220:280] != 90).any()  # never over the plate
        if len(xs):
            drawn += 1
            assert xs.min() >= 100 and xs.max() < 400 and ys.min() >= 80 and ys.max() < 280  # on the car
    assert drawn >= 20


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


def test_styles_draw_one_kind_only_and_unknown_ones_are_one_line(fonts, tmp_path):
    every = json.loads(ps.generate(tmp_path / "all", 4, seed=3, log=None).read_text())
    moto = json.loads(ps.generate(tmp_path / "moto", 4, seed=3, log=None, styles=["moto"]).read_text())
    assert moto["info"]["styles"] == ["moto"] and every["info"]["styles"] == list(ps.STYLES)
    assert (tmp_path / "all/images/000000.jpg").read_bytes() != (tmp_path / "moto/images/000000.jpg").read_bytes()
    with pytest.raises(VpipeError, match=r"--styles zz: unknown \(known: kr, eu"):
        ps.generate(tmp_path / "bad", 1, styles=["moto", "zz"], log=None)


def test_close_up_backgrounds_never_show_an_unlabelled_or_cut_plate(tmp_path):
    """A real photo enlarged into a close-up keeps each plate whole and labelled, or leaves it out."""
    photo = np.full((300, 400, 3), 90, np.uint8)
    photo[140:160, 200:260] = (0, 0, 255)  # the plate, pure red (BGR)
    cv2.imwrite(str(tmp_path / "car.png"), photo)
    pool = ps.BackgroundPool([tmp_path / "car.png"], {"car.png": [(1, [200.0, 140.0, 60.0, 20.0]),
                                                                  (2, [150.0, 100.0, 200.0, 120.0])]})
    kinds = set()
    for i in range(120):
        canvas = ps.Canvas(np.zeros((360, 480, 3), np.uint8), np.zeros((360, 480), bool))
        ps._photo_background(canvas, np.random.default_rng([13, i]), pool)
        red = (canvas.rgb[..., 0] > 200) & (canvas.rgb[..., 1] < 60) & (canvas.rgb[..., 2] < 60)
        plates = [a["bbox"] for a in canvas.annotations if a["category_id"] == 1]
        if not plates:
            assert not red.any(), f"image {i}: a plate shows with no label"
            kinds.add("plate left out")
            continue
        (x, y, w, h), = plates
        ys, xs = np.nonzero(red)
        assert xs.min() >= x - 2 and xs.max() <= x + w + 2 and ys.min() >= y - 2 and ys.max() <= y + h + 2, i
        assert abs(w / h - 3) < 0.15, f"image {i}: the labelled plate is cut"  # the photo and canvas are 4:3
        kinds.add("close-up" if w > 60 * 480 / 400 * 1.4 else "whole photo")
        assert all(a["bbox"][2] > 1 for a in canvas.annotations)
    assert kinds == {"plate left out", "close-up", "whole photo"}
