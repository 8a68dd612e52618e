"""Detections keep their own invariants: per-box fields line up with the boxes, and adding two
sets keeps every label, source and track with its own box."""

import numpy as np
import pytest

from vpipe.pipeline.frame import EMPTY, Detections


def dets(n: int, **kw) -> Detections:
    return Detections(np.arange(n * 4, dtype=np.float32).reshape(n, 4), np.full(n, 0.9, np.float32),
                      np.zeros(n, np.int64), **kw)


def test_adding_unnamed_and_named_boxes_keeps_each_label_on_its_box():
    both = dets(2) + dets(1, class_names=("plate",), sources=("plates",))
    assert both.class_names == ("", "", "plate") and both.sources == ("", "", "plates")
    assert both.to_json()[2]["class"] == "plate" and both.to_json()[0]["class"] == ""


def test_tracks_are_kept_per_box_and_untracked_boxes_get_minus_one():
    both = dets(1, track_ids=np.array([7])) + dets(2)
    assert both.track_ids.tolist() == [7, -1, -1]


@pytest.mark.parametrize("kw", [
    {"class_names": ("a",)},               # 1 name for 2 boxes
    {"sources": ("a", "b", "c")},
    {"track_ids": np.array([1])},
])
def test_fields_that_do_not_line_up_are_refused(kw):
    with pytest.raises(ValueError, match="for 2 boxes"):
        dets(2, **kw)


def test_scores_must_line_up_and_boxes_be_n_by_4():
    with pytest.raises(ValueError, match="scores"):
        Detections(np.zeros((2, 4), np.float32), np.zeros(1, np.float32), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="N x 4"):
        Detections(np.zeros((2, 3), np.float32), np.zeros(2, np.float32), np.zeros(2, np.int64))


def test_empty_is_the_neutral_element():
    one = dets(1, class_names=("face",))
    assert (EMPTY + one) is one and (one + EMPTY) is one and len(EMPTY) == 0


def test_resizing_a_frame_fits_its_boxes_and_masks_to_the_new_pixels():
    from vpipe.pipeline.frame import Frame, Mask

    labels = np.zeros((10, 20), np.uint8)
    labels[:, 10:] = 1
    frame = Frame(np.zeros((10, 20, 3), np.uint8), "cam", 0, None, 0.0, 0.0,
                  detections=dets(1, class_names=("face",)), masks={"seg": Mask(labels, ("bg", "person"))})
    frame.resize(np.zeros((30, 40, 3), np.uint8))  # x2 across, x3 down
    assert frame.detections.boxes.tolist() == [[0, 3, 4, 9]]
    assert frame.detections.class_names == ("face",)
    assert frame.masks["seg"].labels.shape == (30, 40) and frame.masks["seg"].of(["person"])[:, 20:].all()
