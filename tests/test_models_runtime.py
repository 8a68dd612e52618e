"""Engines, metadata, pre-processing and output decoders, on inputs with known answers."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import CENTERFACE
from vpipe.engines import EngineError, ModelMeta, open_engine
from vpipe.engines.ort import providers_for
from vpipe.stages.decoders import DECODERS
from vpipe.stages.preprocess import Fit, input_size_for, to_tensor


def test_metadata_round_trip():
    meta = ModelMeta(task="detect", decoder="raw", input_size=(320, 480), classes=("__background__", "plate"),
                     mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), sr_scale=1, stride=32)
    back = ModelMeta.from_props(meta.to_props() | {"author": "someone"})
    assert back.input_size == (320, 480) and back.classes == ("__background__", "plate")
    assert back.mean == pytest.approx((0.485, 0.456, 0.406)) and back.stride == 32
    assert back.extra == {"author": "someone"}


def test_shipped_face_model_describes_itself():
    engine = open_engine(CENTERFACE)
    assert engine.meta.task == "detect" and engine.meta.decoder == "centerface"
    assert engine.meta.classes == ("face",) and engine.backend == "CPUExecutionProvider"
    assert [o.name for o in engine.outputs] == ["heatmap", "scale", "offset", "landmarks"]


def test_missing_provider_is_a_clear_error():
    import onnxruntime

    if "TensorrtExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("TensorRT provider present")
    with pytest.raises(EngineError, match="install vpipe\\[gpu\\] or use --device cpu"):
        providers_for("tensorrt")
    with pytest.raises(EngineError, match="unknown device"):
        providers_for("tpu")


def test_engine_runs_a_model_built_here(tmp_path):
    # y = 2x + 1 on a dynamic NCHW input: a real ONNX graph, run by ONNX Runtime.
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["n", 3, "h", "w"])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 3, "h", "w"])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["images", "two"], ["t"]), helper.make_node("Add", ["t", "one"], ["out"])],
        "affine", [x], [y],
        [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]), helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    for k, v in ModelMeta(task="segment", decoder="segment").to_props().items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, tmp_path / "affine.onnx")
    engine = open_engine(tmp_path / "affine.onnx")
    engine.warmup()
    out = engine.run({"images": np.ones((1, 3, 4, 5), np.float32)})["out"]
    assert out.shape == (1, 3, 4, 5) and np.allclose(out, 3.0)
    assert engine.meta.task == "segment"


def test_missing_engine_file(tmp_path):
    with pytest.raises(EngineError, match="engine file not found"):
        open_engine(tmp_path / "none.onnx")


def test_to_tensor_stretch_and_letterbox():
    image = np.zeros((100, 200, 3), np.uint8)
    image[..., 2] = 255  # pure red in BGR
    meta = ModelMeta(color="rgb", scale=255.0)
    tensor, fit = to_tensor(image, meta, (50, 50))
    assert tensor.shape == (1, 3, 50, 50) and np.allclose(tensor[0, 0], 1.0) and np.allclose(tensor[0, 2], 0.0)
    assert fit == Fit(0.25, 0.5)
    tensor, fit = to_tensor(image, ModelMeta(resize="letterbox", scale=1.0), (100, 100))
    assert fit.scale_x == fit.scale_y == 0.5 and fit.pad_y == 25
    boxes = fit.boxes_to_frame(np.array([[0, 25, 100, 75]], np.float32), 200, 100)
    assert np.allclose(boxes, [[0, 0, 200, 100]])


def test_input_size_rounds_to_stride():
    assert input_size_for(ModelMeta(stride=32), (576, 768), None) == (576, 768)
    assert input_size_for(ModelMeta(stride=32), (360, 640), None) == (384, 640)
    assert input_size_for(ModelMeta(input_size=(320, 320)), (360, 640), (100, 100)) == (320, 320)


def test_torchvision_layout():
    out = {"boxes": np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32),
           "scores": np.array([0.9, 0.3], np.float32), "labels": np.array([1, 2])}
    boxes, scores, labels = DECODERS["torchvision"](out, 0.5, 0.45, 0)
    assert boxes.tolist() == [[1, 2, 3, 4]] and labels.tolist() == [1]


def test_raw_layout_runs_class_aware_nms_and_skips_background():
    boxes = np.array([[[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60], [0, 0, 10, 10]]], np.float32)
    # columns: background, plate, car
    scores = np.array([[[0.1, 0.9, 0.0], [0.1, 0.8, 0.0], [0.2, 0.7, 0.1], [0.05, 0.0, 0.95]]], np.float32)
    b, s, c = DECODERS["raw"]({"boxes": boxes, "scores": scores}, 0.5, 0.5, 0)
    assert sorted((ci, round(si, 2)) for ci, si in zip(c.tolist(), s.tolist())) == [(1, 0.7), (1, 0.9), (2, 0.95)]


def test_nms_layout_uses_num_dets():
    out = {"num_dets": np.array([[1]]), "det_boxes": np.array([[[1, 1, 5, 5], [0, 0, 0, 0]]], np.float32),
           "det_scores": np.array([[0.8, 0.0]], np.float32), "det_classes": np.array([[3, 0]])}
    boxes, scores, classes = DECODERS["nms"](out, 0.5, 0.5, 0)
    assert boxes.tolist() == [[1, 1, 5, 5]] and classes.tolist() == [3]


def test_centerface_layout_recovers_a_face_box():
    heat = np.zeros((1, 1, 20, 20), np.float32)
    heat[0, 0, 10, 5] = 0.9  # centre at cell (y=10, x=5) -> pixel ((5+.5)*4, (10+.5)*4) = (22, 42)
    scale = np.zeros((1, 2, 20, 20), np.float32)
    scale[0, :, 10, 5] = np.log([8 / 4, 4 / 4])  # height 8, width 4
    offset = np.zeros((1, 2, 20, 20), np.float32)
    boxes, scores, _ = DECODERS["centerface"]({"heatmap": heat, "scale": scale, "offset": offset}, 0.5, 0.3, 0)
    assert np.allclose(boxes, [[20, 38, 24, 46]]) and scores.tolist() == pytest.approx([0.9])


def test_yolo_v8_layout():
    pred = np.zeros((1, 4 + 2, 50), np.float32)  # 50 anchors, 2 classes
    pred[0, :4, 0] = [50, 50, 20, 10]
    pred[0, 5, 0] = 0.8
    pred[0, :4, 1] = [51, 50, 20, 10]
    pred[0, 5, 1] = 0.7  # overlaps the first: suppressed
    boxes, scores, classes = DECODERS["yolo"]({"output0": pred}, 0.5, 0.5, 0)
    assert np.allclose(boxes, [[40, 45, 60, 55]]) and classes.tolist() == [1]


def test_yolo_seg_layout_ignores_mask_coefficients():
    pred = np.zeros((1, 4 + 2 + 32, 100), np.float32)
    pred[0, :4, 7] = [50, 50, 20, 10]
    pred[0, 4, 7] = 0.9
    pred[0, 6:, :] = 5.0  # mask coefficients, larger than any score: must not be read as classes
    boxes, scores, classes = DECODERS["yolo"]({"output0": pred}, 0.5, 0.5, 2)
    assert classes.tolist() == [0] and scores.tolist() == pytest.approx([0.9])


def test_ultralytics_metadata_is_understood():
    props = {"names": "{0: 'plate', 1: 'car'}", "imgsz": "[640, 640]", "task": "detect", "stride": "32",
             "description": "Ultralytics YOLOv8n model"}
    meta = ModelMeta.from_props(props)
    assert (meta.task, meta.decoder, meta.input_size, meta.resize) == ("detect", "yolo", (640, 640), "letterbox")
    assert meta.classes == ("plate", "car")


def test_fp16_model_takes_and_gives_float32(tmp_path):
    # Ultralytics exports often have float16 inputs and outputs; the runtime speaks float32.
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT16, [1, 3, 2, 2])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT16, [1, 3, 2, 2])
    graph = helper.make_graph([helper.make_node("Add", ["images", "images"], ["out"])], "double", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "half.onnx")
    engine = open_engine(tmp_path / "half.onnx")
    out = engine.run({"images": np.full((1, 3, 2, 2), 1.5, np.float32)})["out"]
    assert out.dtype == np.float32 and np.allclose(out, 3.0)
    with pytest.raises(EngineError, match="half.onnx"):  # a bad feed is one line naming the file
        engine.run({"images": np.ones((1, 3, 5, 5), np.float32)})


def test_engine_threads_share_the_cores_the_run_is_given(tmp_path):
    """A Ray task's CPUs (`Overrides.cores`), not the machine's, set its engines' ORT threads."""
    from pathlib import Path

    from vpipe.pipeline.runtime.config import load_config
    from vpipe.pipeline.runtime.graph import build_graph
    from vpipe.pipeline.runtime.overrides import Overrides, apply_overrides

    roadview = Path(__file__).parents[1] / "configs" / "roadview.yaml"  # two model stages
    for cores, each in ((1, 1), (4, 2), (8, 4)):
        graph = build_graph(apply_overrides(load_config(roadview), Overrides(cores=cores, output_dir=tmp_path)))
        try:
            engines = [n.element.engine for n in graph.nodes.values() if hasattr(n.element, "engine")]
            assert len(engines) == 2
            for engine in engines:
                assert engine.session.get_session_options().intra_op_num_threads == each
        finally:
            graph.close()
