"""verify's second look at a plate candidate: a row of characters is found on a legible plate and
not on a blurred one, a tail light or noise; faces stand only at the run's threshold."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vpipe.pipeline.verify.confirm import MIN_CHARACTERS, PLATE_ALONE, confirmed, text_row


def plate(text: str = "KX 4729", width: int = 120, dark_on_light: bool = True) -> tuple[np.ndarray, list[int]]:
    """A plate drawn with OpenCV's own font on a grey street, scaled to `width`; the image and its box."""
    ink, paper = ((20, 20, 20), (235, 235, 235)) if dark_on_light else ((235, 235, 235), (30, 30, 30))
    card = np.full((110, 480, 3), paper, np.uint8)
    cv2.putText(card, text, (22, 82), cv2.FONT_HERSHEY_SIMPLEX, 2.4, ink, 7, cv2.LINE_AA)
    card = cv2.resize(card, (width, round(110 * width / 480)), interpolation=cv2.INTER_AREA)
    street = np.full((card.shape[0] + 40, width + 40, 3), 90, np.uint8)
    street[20:-20, 20:-20] = card
    return street, [20, 20, 20 + width, 20 + card.shape[0]]


@pytest.mark.parametrize("width", [80, 120, 300])
@pytest.mark.parametrize("dark_on_light", [True, False])
def test_a_legible_plate_holds_a_row_of_characters(width, dark_on_light):
    image, box = plate(width=width, dark_on_light=dark_on_light)
    assert text_row(image, box) >= MIN_CHARACTERS


def test_the_same_plate_blurred_holds_none():
    image, box = plate(width=120)
    blurred = cv2.GaussianBlur(image, (0, 0), 4)
    assert text_row(blurred, box) < MIN_CHARACTERS


def test_shapes_without_text_hold_no_row():
    street = np.full((60, 140, 3), 90, np.uint8)
    cv2.ellipse(street, (70, 30), (40, 14), 0, 0, 360, (40, 40, 230), -1)  # a tail light
    assert text_row(street, [20, 10, 120, 50]) < MIN_CHARACTERS
    bars = np.full((60, 140, 3), 200, np.uint8)
    bars[:, ::12] = 30  # a grille: bars the height of the box
    assert text_row(bars, [20, 10, 120, 50]) < MIN_CHARACTERS
    assert text_row(np.full((60, 140, 3), 128, np.uint8), [20, 10, 120, 50]) == 0  # flat


def test_a_box_outside_or_too_small_holds_nothing():
    image, _ = plate()
    assert text_row(image, [5, 5, 7, 7]) == 0
    assert text_row(image, [500, 500, 600, 560]) == 0


def test_a_plate_stands_on_its_score_or_its_text_a_face_on_the_run_threshold():
    image, box = plate(width=120)
    street = np.full_like(image, 90)
    assert confirmed(street, box, PLATE_ALONE, 0.3, reads_as_text=True)  # sure enough alone
    assert confirmed(street, box, PLATE_ALONE - 0.01, 0.3, reads_as_text=True) is None  # unsure, no text
    assert "characters" in confirmed(image, box, 0.2, 0.3, reads_as_text=True)
    assert confirmed(image, box, 0.39, 0.4, reads_as_text=False) is None  # a face: below the run, dropped
    assert confirmed(image, box, 0.4, 0.4, reads_as_text=False)


@pytest.mark.export
def test_synthetic_plates_of_every_style_are_read_from_60_px_wide():
    """plate_synth's real fonts and three styles (US, EU, KR): a row on nearly every plate 60 px wide or
    more, none once blurred."""
    synth = pytest.importorskip("vpipe.tools.data.plate_synth")
    try:
        fonts = synth.find_fonts()
    except synth.FontsMissing as exc:
        pytest.skip(str(exc))
    rng = np.random.default_rng(0)
    read = blurred = total = 0
    for i in range(30):
        card = cv2.cvtColor(synth.render_plate(rng, ("us", "eu", "kr")[i % 3], fonts).rgb, cv2.COLOR_RGB2BGR)
        for width in (60, 120):
            small = cv2.resize(card, (width, round(card.shape[0] * width / card.shape[1])), interpolation=cv2.INTER_AREA)
            image = cv2.copyMakeBorder(small, 10, 10, 10, 10, cv2.BORDER_CONSTANT, value=(90, 90, 90))
            box = [10, 10, 10 + small.shape[1], 10 + small.shape[0]]
            total += 1
            read += text_row(image, box) >= MIN_CHARACTERS
            blurred += text_row(cv2.GaussianBlur(image, (0, 0), 4), box) >= MIN_CHARACTERS
    assert read >= 0.9 * total, f"{read} of {total}"
    assert blurred == 0
