"""vpipe eval detect on a fixture with a known answer: a 'detector' that always reports one box."""

from __future__ import annotations

import json

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from vpipe.engines import ModelMeta
from vpipe.tools.evaluate.scores import detect_scores


def constant_detector(path, box):
    """torchvision layout, whatever the input: one 'plate' at `box` with score 0.9."""
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 100, 100])
    outs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [1])]
    nodes = [helper.make_node("Constant", [], ["boxes"], value=helper.make_tensor("b", TensorProto.FLOAT, [1, 4], box)),
             helper.make_node("Constant", [], ["scores"], value=helper.make_tensor("s", TensorProto.FLOAT, [1], [0.9])),
             helper.make_node("Constant", [], ["labels"], value=helper.make_tensor("l", TensorProto.INT64, [1], [1]))]
    model = helper.make_model(helper.make_graph(nodes, "const", [x], outs), opset_imports=[helper.make_opsetid("", 17)])
    meta = ModelMeta(task="detect", decoder="torchvision", input_size=(100, 100), classes=("__background__", "plate"))
    for k, v in meta.to_props().items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, path)


def test_recall_boxes_and_timing_from_cocoeval(tmp_path):
    # Images 200x200; the model sees 100x100, so its box [10,10,30,20] is [20,20,60,40] in the image.
    constant_detector(tmp_path / "m.onnx", [10, 10, 30, 20])
    (tmp_path / "img").mkdir()
    images, annotations = [], []
    for i, gt in enumerate([[20, 20, 40, 20], [120, 120, 40, 20], [22, 21, 40, 20]], start=1):
        cv2.imwrite(str(tmp_path / "img" / f"{i}.jpg"), np.zeros((200, 200, 3), np.uint8))
        images.append({"id": i, "file_name": f"{i}.jpg", "height": 200, "width": 200})
        annotations.append({"id": i, "image_id": i, "category_id": 1, "bbox": gt, "area": 800, "iscrowd": 0})
    coco = tmp_path / "gt.json"
    coco.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "licence_plate"}]}))
    report = detect_scores(tmp_path / "m.onnx", coco, tmp_path / "img", errors=tmp_path / "errors")
    assert report["recall"] == pytest.approx(2 / 3, abs=1e-3)  # the second plate is missed
    assert report["recall_by_size"] == {"small": pytest.approx(2 / 3, abs=1e-3)}  # 40x20 px: all small
    assert report["boxes_per_image"] == 1.0 and report["ms_per_image"] > 0
    for key in ("recall", "boxes_per_image", "ms_per_image"):
        assert key in report
    # ... and its crops say so: the plate at (120, 120) missed, the box at (20, 20) in its image false.
    assert (report["misses"], report["false_boxes"]) == (1, 1)
    errors = json.loads((tmp_path / "errors" / "errors.json").read_text())
    assert [(e["kind"], e["image_id"], e["bbox"]) for e in errors] == [
        ("miss", 2, [120.0, 120.0, 40.0, 20.0]), ("false", 2, [20.0, 20.0, 40.0, 20.0])]
    crop = cv2.imread(str(tmp_path / "errors" / errors[0]["crop"]))
    assert crop.shape[:2] == (68, 120)  # the box, and as much again on every side (24 px at least)
    b, g, r = crop[24, 41:80].astype(int).T  # its outline (a JPEG's), green for a miss
    assert (g > b + 50).all() and (g > r + 50).all() and crop[10, 10].max() < 20
    # Above the detector's only score no box is left, which COCOeval refuses: every plate is a miss.
    blind = detect_scores(tmp_path / "m.onnx", coco, tmp_path / "img", threshold=0.95, errors=tmp_path / "blind")
    assert (blind["recall"], blind["boxes_per_image"], blind["misses"], blind["false_boxes"]) == (0.0, 0.0, 3, 0)
    assert len(json.loads((tmp_path / "blind" / "errors.json").read_text())) == len(list((tmp_path / "blind").glob("miss_*.jpg"))) == 3


def test_detect_params_reach_the_stage_and_a_wrong_one_is_one_line(tmp_path, monkeypatch, capsys):
    from test_config_errors import run_cli

    constant_detector(tmp_path / "m.onnx", [10, 10, 30, 20])
    (tmp_path / "img").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "1.jpg"), np.zeros((200, 400, 3), np.uint8))
    coco = tmp_path / "gt.json"
    coco.write_text(json.dumps({"images": [{"id": 1, "file_name": "1.jpg", "height": 200, "width": 400}],
                                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [40, 20, 80, 20],
                                                 "area": 1600, "iscrowd": 0}],
                                "categories": [{"id": 1, "name": "licence_plate"}]}))
    whole = detect_scores(tmp_path / "m.onnx", coco, tmp_path / "img")
    # Two 200-px tiles, each giving the constant box at its own place: two more boxes.
    tiled = detect_scores(tmp_path / "m.onnx", coco, tmp_path / "img", params={"tiles": {"size": 200, "overlap": 0.0}})
    assert (whole["boxes_per_image"], tiled["boxes_per_image"]) == (1.0, 3.0)
    code, _, err = run_cli(monkeypatch, capsys, "eval", "detect", "--model", str(tmp_path / "m.onnx"), "--coco", str(coco),
                           "--images", str(tmp_path / "img"), "--params", "{tiles: {sizes: 2}}")
    assert code == 1 and err.strip() == "vpipe: error: --params: tiles.sizes: Extra inputs are not permitted"
    (tmp_path / "errors").mkdir()
    (tmp_path / "errors" / "old.jpg").write_bytes(b"")
    code, _, err = run_cli(monkeypatch, capsys, "eval", "detect", "--model", str(tmp_path / "m.onnx"), "--coco", str(coco),
                           "--images", str(tmp_path / "img"), "--errors", str(tmp_path / "errors"))
    assert code == 1 and err.strip() == f"vpipe: error: --errors: {tmp_path / 'errors'} is not empty (its crops would mix with an earlier run's)"
