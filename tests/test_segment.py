"""Segmentation masks: a model built here labels red pixels; anonymization covers exactly those."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper

from conftest import write_config
from vpipe.engines import ModelMeta
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.pipeline.runtime.runner import Runner


def red_segmenter(path):
    """logits[1,2,H,W] = (0.5, red): class 1 ('sign') wherever the red channel exceeds 0.5."""
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "h", "w"])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 2, "h", "w"])
    nodes = [
        helper.make_node("Slice", ["images", "s", "e", "ax"], ["red"]),
        helper.make_node("Mul", ["red", "zero"], ["z"]),
        helper.make_node("Add", ["z", "half"], ["bg"]),
        helper.make_node("Concat", ["bg", "red"], ["out"], axis=1),
    ]
    inits = [helper.make_tensor("s", TensorProto.INT64, [1], [0]), helper.make_tensor("e", TensorProto.INT64, [1], [1]),
             helper.make_tensor("ax", TensorProto.INT64, [1], [1]), helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
             helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])]
    model = helper.make_model(helper.make_graph(nodes, "red", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    for k, v in ModelMeta(task="segment", decoder="segment", color="rgb", classes=("background", "sign")).to_props().items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, path)


def test_mask_anonymization_covers_only_labelled_pixels(tmp_path):
    red_segmenter(tmp_path / "seg.onnx")
    rng = np.random.default_rng(1)
    image = rng.integers(0, 120, (96, 128, 3), dtype=np.uint8)
    cv2.circle(image, (64, 48), 20, (0, 0, 255), -1)  # a red disc (BGR)
    image[44:52, 50:78] = (255, 255, 255)  # text-like detail inside, white: not red-only
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "f.png"), image)
    config = write_config(tmp_path, f"""
sources: [{{uri: {tmp_path}/in}}]
stages:
  - {{name: seg, type: segment, engine: {tmp_path}/seg.onnx}}
  - {{type: anonymize, params: {{mask_classes: [sign], method: fill, color: [0, 255, 0]}}}}
sinks: [{{type: images, params: {{path: {tmp_path}/out}}}}]
""")
    graph = build_graph(load_config(config))
    Runner(graph).run()
    graph.close()
    out = cv2.imread(str(tmp_path / "out" / "f.png"))
    red = (image[..., 2] > 127)
    assert (out[red] == (0, 255, 0)).all()  # every labelled pixel covered
    assert np.array_equal(out[~red], image[~red])  # nothing else touched
