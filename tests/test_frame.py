"""Detections keep their own invariants, like supervision's: every per-box field lines up with
the boxes, and adding, indexing and filtering keep every label, track and data entry with its
own box."""

import pickle

import numpy as np
import pytest

from vpipe.pipeline.api.frame import EMPTY, Detections


def dets(n: int, **kw) -> Detections:
    return Detections(np.arange(n * 4, dtype=np.float32).reshape(n, 4), np.full(n, 0.9, np.float32),
                      np.zeros(n, np.int64), **kw)


def test_adding_unnamed_and_named_boxes_keeps_each_label_on_its_box():
    both = dets(2) + dets(1, class_names=("plate",)).with_data(source="plates")
    assert both.class_names == ("", "", "plate") and both.source.tolist() == ["", "", "plates"]
    assert both.to_json()[2]["class"] == "plate" and both.to_json()[0]["class"] == ""
    assert both.to_json()[2]["stage"] == "plates" and both.to_json()[0]["stage"] == ""


def test_tracks_are_kept_per_box_and_untracked_boxes_get_minus_one():
    both = dets(1, track_ids=np.array([7])) + dets(2)
    assert both.track_ids.tolist() == [7, -1, -1]


def test_every_box_has_a_source_and_a_coasted_flag_even_when_nobody_set_them():
    plain = dets(3)
    assert plain.source.tolist() == ["", "", ""] and plain.coasted.tolist() == [False] * 3
    assert len(EMPTY.source) == len(EMPTY.coasted) == 0


def test_data_stays_with_its_box_when_added():
    found = dets(2).with_data(source="faces")
    coasted = dets(1, track_ids=np.array([4])).with_data(source="track", coasted=True)
    both = found + coasted
    assert both.source.tolist() == ["faces", "faces", "track"]
    assert both.coasted.tolist() == [False, False, True]
    assert [d["stage"] for d in both.to_json()] == ["faces", "faces", "track:coast"]


def test_a_data_column_only_one_side_has_is_blank_on_the_other():
    left = dets(1, data={"plate_text": np.array(["AB123"])})
    both = dets(2) + left
    assert both.data["plate_text"].tolist() == ["", "", "AB123"]


def test_indexing_and_filtering_keep_every_field_with_its_box():
    both = (dets(2, class_names=("face", "plate")).with_data(source="det")
            + dets(1, class_names=("plate",), track_ids=np.array([9])).with_data(source="track", coasted=True))
    kept = both[both.coasted]
    assert len(kept) == 1 and kept.class_names == ("plate",) and kept.track_ids.tolist() == [9]
    assert kept.source.tolist() == ["track"] and kept.boxes.tolist() == [[0, 1, 2, 3]]
    picked = both[np.array([1, 0])]
    assert picked.class_names == ("plate", "face") and picked.boxes[0].tolist() == [4, 5, 6, 7]
    assert both[2].class_names == ("plate",) and both[:2].source.tolist() == ["det", "det"]


@pytest.mark.parametrize("kw", [
    {"class_names": ("a",)},               # 1 name for 2 boxes
    {"data": {"source": np.array(["a", "b", "c"])}},
    {"data": {"coasted": np.array([True])}},
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


def test_fields_after_the_names_are_named_so_an_old_positional_call_fails_loudly():
    with pytest.raises(TypeError):
        Detections(np.zeros((1, 4), np.float32), np.zeros(1, np.float32), np.zeros(1, np.int64), ("a",), ("det",))


def test_detections_pickle_with_their_data_and_own_a_copy_of_it():
    given = {"plate_text": np.array(["AB123"])}
    found = dets(1, data=given).with_data(source="det", coasted=True)
    given["plate_text"] = np.array(["changed"])
    back = pickle.loads(pickle.dumps(found))  # e.g. frames sent to another process
    assert back.data["plate_text"].tolist() == ["AB123"] and back.source.tolist() == ["det"]
    assert back.coasted.tolist() == [True] and back.boxes.tolist() == found.boxes.tolist()


def test_empty_is_the_neutral_element():
    one = dets(1, class_names=("face",))
    assert (EMPTY + one) is one and (one + EMPTY) is one and len(EMPTY) == 0


def test_resizing_a_frame_fits_its_boxes_and_masks_to_the_new_pixels():
    from vpipe.pipeline.api.frame import Frame, Mask

    labels = np.zeros((10, 20), np.uint8)
    labels[:, 10:] = 1
    frame = Frame(np.zeros((10, 20, 3), np.uint8), "cam", 0, None, 0.0, 0.0,
                  detections=dets(1, class_names=("face",)), masks={"seg": Mask(labels, ("bg", "person"))})
    frame.resize(np.zeros((30, 40, 3), np.uint8))  # x2 across, x3 down
    assert frame.detections.boxes.tolist() == [[0, 3, 4, 9]]
    assert frame.detections.class_names == ("face",)
    assert frame.masks["seg"].labels.shape == (30, 40) and frame.masks["seg"].of(["person"])[:, 20:].all()
