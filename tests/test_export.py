"""Exporters: every family PyTorch -> ONNX with parity, metadata, NMS modes, int8/fp16, refusals.

Random weights and small inputs keep this CPU-only and a few minutes long. TensorRT tests skip
where tensorrt is absent.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="exporters need torch (pip install 'vpipe[export]')")
pytest.importorskip("torchvision", reason="exporters need torchvision")

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

from vpipe.engines import open_engine  # noqa: E402
from vpipe.pipeline.api.paths import sha256_file  # noqa: E402
from vpipe.tools.export import exporter as E  # noqa: E402
from vpipe.tools.export import kinds  # noqa: E402
from vpipe.tools.export.errors import ExportError  # noqa: E402
from vpipe.tools.export.exporter import export_model  # noqa: E402
from vpipe.tools.export.families import FAMILIES  # noqa: E402
from vpipe.tools.export.options import ExportOptions, parse_size  # noqa: E402


def quiet(*_args) -> None:
    pass


#: (family, export kwargs): every family at a small size (ssd300's VGG needs about 300 px).
PARITY_CASES = [
    ("srcnn", {}),
    ("srcnn-955", {}),
    ("espcn", {}),
    ("espcn-s", {}),
    ("ssd300_vgg16", {"input_size": "300x300"}),
    ("ssdlite320_mobilenet_v3_large", {"input_size": "160x160"}),
    ("fasterrcnn_mobilenet_v3_large_fpn", {"input_size": "160x160", "proposals": 200}),
    ("fasterrcnn_mobilenet_v3_large_320_fpn", {"input_size": "160x160", "proposals": 200}),
    ("fasterrcnn_resnet50_fpn_v2", {"input_size": "128x128", "proposals": 100}),
    ("ssdlite_mobilenet_v2", {"input_size": "192x192"}),
    ("fasterrcnn_mobilenet_v2_fpn", {"input_size": "160x160", "proposals": 200}),
    ("fcn_resnet50", {"input_size": "128x128"}),
    ("deeplabv3_mobilenet_v3_large", {"input_size": "128x128"}),
    ("deeplabv3_resnet50", {"input_size": "128x128"}),
    ("lraspp_mobilenet_v3_large", {"input_size": "128x128"}),
]


def test_every_family_has_a_parity_case():
    assert {name for name, _ in PARITY_CASES} == set(FAMILIES)


@pytest.fixture(scope="session")
def calib_dir(tmp_path_factory) -> Path:
    """A few synthetic photos-like images (flat regions, edges, blur) for int8 calibration."""
    import cv2

    folder = tmp_path_factory.mktemp("calib")
    rng = np.random.default_rng(0)
    for i in range(6):
        img = np.full((240, 320, 3), rng.integers(0, 255, 3), np.uint8)
        for _ in range(6):
            color = tuple(int(v) for v in rng.integers(0, 255, 3))
            x, y = int(rng.integers(0, 280)), int(rng.integers(0, 200))
            cv2.rectangle(img, (x, y), (x + int(rng.integers(10, 120)), y + int(rng.integers(10, 120))), color, -1)
            cv2.circle(img, (int(rng.integers(0, 320)), int(rng.integers(0, 240))), int(rng.integers(5, 50)), color, -1)
        cv2.imwrite(str(folder / f"{i}.png"), cv2.GaussianBlur(img, (5, 5), 0))
    return folder


@pytest.mark.parametrize("family,kwargs", PARITY_CASES, ids=[c[0] for c in PARITY_CASES])
def test_export_parity_and_metadata(family, kwargs, tmp_path):
    fam = FAMILIES[family]
    result = export_model(family, tmp_path / "m.onnx", ExportOptions(random_init=True, **kwargs), log=quiet)
    onnx.checker.check_model(str(result.path))
    p = result.parity
    if fam.kind in ("sr", "segment"):
        assert max(v for k, v in p.items() if k.endswith("_max_rel")) <= kinds.DENSE_RTOL
    else:
        assert p["boxes"] > 0, "the check must compare some boxes"
        assert p["match_rate"] >= E.MIN_MATCH_RATE and p["mean_iou"] >= E.MIN_MEAN_IOU

    engine = open_engine(result.path)
    meta = engine.meta
    assert meta.task == fam.task and meta.architecture == family
    assert meta.exporter == E.EXPORTER and meta.weights_sha256 == "random-init"
    names = [o.name for o in engine.outputs]
    x = np.random.default_rng(0).random([d if isinstance(d, int) else 64 for d in engine.inputs[0].shape])
    out = engine.run({engine.inputs[0].name: x.astype(np.float32)})
    if fam.kind == "sr":
        assert meta.decoder == "sr" and meta.color == "y" and meta.sr_scale == 3
        assert engine.inputs[0].name == "input" and engine.inputs[0].shape[1] == 1
        factor = 1 if family.startswith("srcnn") else 3
        assert out["output"].shape[-2:] == (64 * factor, 64 * factor)
        assert ("vpipe.pre_upsample" in meta.extra) == family.startswith("srcnn")
    elif fam.kind == "segment":
        assert meta.decoder == "segment" and names == ["out"]
        assert meta.mean == kinds.IMAGENET_MEAN and len(meta.classes) == 21 and meta.classes[0] == "class_0"
        assert out["out"].shape == (1, 21, *meta.input_size)
    else:
        assert meta.decoder == "torchvision" and meta.nms == "graph" and names == ["boxes", "scores", "labels"]
        assert meta.scale == 255 and meta.mean == (0, 0, 0) and meta.std == (1, 1, 1)
        assert meta.input_size == parse_size(kwargs["input_size"]) and meta.resize == "stretch"
        assert meta.classes[0] == "__background__" and meta.classes[1] == "class_1"
        assert len(meta.classes) == fam.num_classes  # COCO's 91, or 3 for the plate families
        assert out["labels"].dtype == np.int64 and out["boxes"].shape[1] == 4


def _corrupting_export(monkeypatch):
    """Make the exported ONNX wrong after tracing: the parity check must then refuse it."""
    original = E._torch_export

    def corrupt(*args, **kwargs):
        original(*args, **kwargs)
        path = args[2]
        model = onnx.load(str(path))
        biggest = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
        values = onnx.numpy_helper.to_array(biggest).copy()
        biggest.CopyFrom(onnx.numpy_helper.from_array(values * -1.5 + 0.1, biggest.name))
        onnx.save(model, str(path))

    monkeypatch.setattr(E, "_torch_export", corrupt)


@pytest.mark.parametrize("family,kwargs", [("srcnn", {}), ("ssdlite320_mobilenet_v3_large", {"input_size": "160x160"})])
def test_parity_check_fails_on_a_wrong_graph(family, kwargs, tmp_path, monkeypatch):
    _corrupting_export(monkeypatch)
    with pytest.raises(ExportError, match="differ") as info:
        export_model(family, tmp_path / "m.onnx", ExportOptions(random_init=True, **kwargs), log=quiet)
    assert "\n" not in str(info.value)


def test_ssd_raw_dynamic_layout(tmp_path):
    result = export_model("ssdlite320_mobilenet_v3_large", tmp_path / "raw.onnx",
                          ExportOptions(random_init=True, input_size="160x160", nms="none",
                                        dynamic_batch=True), log=quiet)
    meta = result.meta
    assert meta.decoder == "raw" and meta.nms == "none"
    assert meta.mean == (0.5, 0.5, 0.5) and meta.std == (0.5, 0.5, 0.5)  # SSDlite's own normalization
    engine = open_engine(result.path)
    out = engine.run({"images": np.zeros((3, 3, 160, 160), np.float32)})
    boxes, scores = out["boxes"], out["scores"]
    assert boxes.shape[0] == 3 and boxes.shape[2] == 4 and scores.shape[:2] == boxes.shape[:2]
    assert scores.shape[2] == 91 and np.allclose(scores.sum(-1), 1, atol=1e-4)
    assert boxes.min() >= 0 and boxes[..., [0, 2]].max() <= 160


def test_ssd_onnx_nms_batched(tmp_path):
    result = export_model("ssdlite320_mobilenet_v3_large", tmp_path / "nms.onnx",
                          ExportOptions(random_init=True, input_size="160x160", nms="onnx", batch=2,
                                        max_det=50), log=quiet)
    assert result.meta.decoder == "nms" and result.parity["boxes"] > 0
    engine = open_engine(result.path)
    assert [o.name for o in engine.outputs] == ["num_dets", "det_boxes", "det_scores", "det_classes"]
    rng = np.random.default_rng(1)
    out = engine.run({"images": rng.random((2, 3, 160, 160), np.float32)})
    assert out["num_dets"].shape == (2, 1) and out["det_boxes"].shape == (2, 50, 4)
    n = int(out["num_dets"][0, 0])
    assert 0 < n <= 50 and (out["det_classes"][0, :n] >= 1).all()  # background never comes out
    assert (np.diff(out["det_scores"][0, :n]) <= 0).all()


def test_efficientnms_plugin_node(tmp_path):
    pytest.importorskip("onnx_graphsurgeon", reason="--nms efficientnms needs onnx-graphsurgeon")
    result = export_model("ssdlite320_mobilenet_v3_large", tmp_path / "trt.onnx",
                          ExportOptions(random_init=True, input_size="160x160", nms="efficientnms"), log=quiet)
    model = onnx.load(str(result.path))
    nodes = [n for n in model.graph.node if n.op_type == "EfficientNMS_TRT"]
    assert len(nodes) == 1
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert attrs["background_class"] == 0 and attrs["max_output_boxes"] == 100
    assert [o.name for o in model.graph.output] == ["num_dets", "det_boxes", "det_scores", "det_classes"]
    assert result.meta.decoder == "nms" and result.meta.nms == "efficientnms"
    assert result.parity["boxes_max_rel"] <= kinds.RAW_RTOL  # the raw part was checked before the plugin


def test_runtime_decoders_read_exports(tmp_path):
    """stages/decoders.py turns each exported layout into detections; the raw path's best box is the
    graph's best box (same model, same input)."""
    decoders = pytest.importorskip("vpipe.stages.decoders").DECODERS
    x = np.random.default_rng(3).random((1, 3, 160, 160), np.float32)
    found = {}
    for nms in ("graph", "none", "onnx"):
        result = export_model("ssdlite320_mobilenet_v3_large", tmp_path / f"{nms}.onnx",
                              ExportOptions(random_init=True, input_size="160x160", nms=nms, check=False),
                                            log=quiet)
        engine = open_engine(result.path)
        meta = engine.meta
        # The runtime normalizes for raw/nms exports; the graph export normalizes itself.
        feed = (x - np.array(meta.mean, np.float32)[:, None, None]) / np.array(meta.std, np.float32)[:, None, None]
        boxes, scores, labels = decoders[meta.decoder](engine.run({"images": feed.astype(np.float32)}), 0.0, 0.55)
        assert len(boxes) and boxes.shape[1] == 4 and (labels >= 1).all()
        found[nms] = (boxes[0], scores[0], labels[0])
    for nms in ("none", "onnx"):
        assert found[nms][2] == found["graph"][2]
        assert abs(found[nms][1] - found["graph"][1]) < 1e-4
        assert np.abs(found[nms][0] - found["graph"][0]).max() < 0.05


def test_int8_detector_and_srcnn(tmp_path, calib_dir):
    for family, kwargs, metric in (
        ("srcnn", {}, "psnr_db"),
        ("ssdlite320_mobilenet_v3_large", {"input_size": "160x160"}, "box_agreement"),
    ):
        out = tmp_path / f"{family}.int8.onnx"
        result = export_model(family, out,
                              ExportOptions(random_init=True, int8=True, calib=str(calib_dir), **kwargs),
                                            log=quiet)
        assert result.path == out and result.fp32_path.is_file()
        model = onnx.load(str(out))
        assert any(n.op_type == "QuantizeLinear" for n in model.graph.node)
        value = result.accuracy[metric]
        assert np.isfinite(value) and value > 0
        if family == "srcnn":
            assert value > 25  # a 3-layer net loses little to int8
        else:
            assert value <= 1 and 0 <= result.accuracy["mean_iou"] <= 1
        meta = open_engine(out).meta
        assert meta.extra["vpipe.precision"] == "int8" and meta.architecture == family


def test_fp16_keeps_float32_io(tmp_path, calib_dir):
    pytest.importorskip("onnxconverter_common", reason="--fp16 needs onnxconverter-common")
    result = export_model("espcn", tmp_path / "e.onnx",
                          ExportOptions(random_init=True, fp16=True, calib=str(calib_dir)), log=quiet)
    session = ort.InferenceSession(str(result.path))
    assert session.get_inputs()[0].type == "tensor(float)" and session.get_outputs()[0].type == "tensor(float)"
    assert result.accuracy["psnr_db"] > 40


@pytest.mark.parametrize("kwargs,message", [
    ({"batch": 2}, "batch 1"),
    ({"dynamic_batch": True}, "batch 1"),
    ({"nms": "none"}, "--nms graph"),
    ({"nms": "onnx"}, "--nms graph"),
])
def test_rcnn_refusals(kwargs, message, tmp_path):
    with pytest.raises(ExportError, match=message) as info:
        export_model("fasterrcnn_mobilenet_v3_large_320_fpn", tmp_path / "m.onnx",
                     ExportOptions(random_init=True, **kwargs), log=quiet)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kwargs,message", [
    ({}, "--weights"),
    ({"random_init": True, "input_size": "12x12"}, "--input-size"),
    ({"random_init": True, "int8": True}, "--calib"),
    ({"random_init": True, "nms": "graph", "batch": 2}, "batch 1"),
    ({"random_init": True, "fp16": True}, "--fp16"),
    ({"weights": "no/such/file.pth"}, "no/such/file.pth"),
])
def test_bad_flags_are_one_line(kwargs, message, tmp_path):
    with pytest.raises(ExportError, match=message) as info:
        export_model("ssdlite320_mobilenet_v3_large", tmp_path / "m.onnx", ExportOptions(**kwargs), log=quiet)
    assert "\n" not in str(info.value)


def test_offline_torchvision_weights_name(tmp_path, monkeypatch):
    """A weights name needs a download; offline that is one line telling how to pass a file."""
    import socket

    import torch.hub

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def no_network(*_args, **_kwargs):
        raise urllib.error.URLError("network is unreachable")

    def no_socket(*_args, **_kwargs):
        raise OSError("tests never reach the network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_socket)
    with pytest.raises(ExportError) as info:
        export_model("ssdlite320_mobilenet_v3_large", tmp_path / "m.onnx",
                     ExportOptions(weights="SSDLite320_MobileNet_V3_Large_Weights.DEFAULT"), log=quiet)
    text = str(info.value)
    assert "\n" not in text and "--weights PATH" in text and "could not download" in text
    assert not (tmp_path / "m.onnx").exists()


def test_local_checkpoint(tmp_path):
    from vpipe.tools.models.sr_models import ESPCN, SRCNN

    ckpt = tmp_path / "srcnn.pth"
    torch.manual_seed(1)
    torch.save({"model": SRCNN(mid_kernel=5).state_dict()}, ckpt)
    result = export_model("srcnn-955", tmp_path / "m.onnx", ExportOptions(weights=str(ckpt)), log=quiet)
    assert result.meta.weights_sha256 == sha256_file(ckpt)
    # The wrong family's checkpoint is refused on one line naming the file.
    torch.save(ESPCN().state_dict(), ckpt)
    with pytest.raises(ExportError, match="does not fit srcnn-955") as info:
        export_model("srcnn-955", tmp_path / "m.onnx", ExportOptions(weights=str(ckpt)), log=quiet)
    assert str(ckpt) in str(info.value) and "\n" not in str(info.value)


def test_classes_file(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("person\ncar\n")
    result = export_model("ssdlite320_mobilenet_v3_large", tmp_path / "m.onnx",
                          ExportOptions(random_init=True, input_size="160x160", classes=str(names),
                                        check=False), log=quiet)
    assert result.meta.classes == ("__background__", "person", "car")
    assert open_engine(result.path).run({"images": np.zeros((1, 3, 160, 160), np.float32)})["scores"].ndim == 1


def test_typer_commands(tmp_path):
    import typer
    from typer.testing import CliRunner

    from vpipe.tools import cli

    app = typer.Typer()
    app.command("export")(cli.export)
    app.command("build")(cli.build)
    out = tmp_path / "sr.onnx"
    run = CliRunner().invoke(app, ["export", "espcn", "--random-init", "--out", str(out), "--sr-scale", "2"])
    assert run.exit_code == 0, run.output
    assert open_engine(out).meta.sr_scale == 2 and "parity" in run.output


def test_vpipe_cli_prints_one_line_error(tmp_path):
    """The real `vpipe` entry point: an R-CNN batch refusal is one line, exit 1, no traceback."""
    cmd = [sys.executable, "-c", "from vpipe.pipeline.apps.cli import main; main()", "export",
           "fasterrcnn_mobilenet_v3_large_320_fpn", "--random-init", "--batch", "2", "--out", str(tmp_path / "m.onnx")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if "No such command" in proc.stderr:
        pytest.skip("this vpipe CLI does not mount the export command")
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "batch 1" in lines[0] and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------
# TensorRT: runs only where tensorrt (and a GPU) is installed.
# ---------------------------------------------------------------------------------------------


def test_build_without_tensorrt_is_one_line(tmp_path):
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401

        pytest.skip("tensorrt is installed: the refusal path does not apply")
    except ImportError:
        pass
    from vpipe.tools.export.trt_build import build_engine

    result = export_model("espcn", tmp_path / "m.onnx", ExportOptions(random_init=True, check=False), log=quiet)
    with pytest.raises(ExportError, match="TensorRT") as info:
        build_engine(result.path, tmp_path / "m.engine", log=quiet)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("family,kwargs", [
    ("espcn", {"input_size": "64x64"}),
    ("ssdlite320_mobilenet_v3_large", {"input_size": "160x160"}),
])
def test_tensorrt_build_and_run(family, kwargs, tmp_path):
    pytest.importorskip("tensorrt", reason="TensorRT not installed (GPU machines only)")
    pytest.importorskip("polygraphy", reason="polygraphy not installed")
    from vpipe.tools.export.trt_build import build_engine

    result = export_model(family, tmp_path / "m.onnx", ExportOptions(random_init=True, **kwargs), log=quiet)
    plan = build_engine(result.path, tmp_path / "m.engine", check=True, use_cache=False, log=quiet)
    engine = open_engine(plan, device="cuda")
    assert engine.meta.task == result.meta.task and engine.meta.classes == result.meta.classes
    engine.warmup()  # zeros at each input's shape (or its profile's optimal one): what a stage's open() runs
    reference = open_engine(result.path)
    shape = [d if isinstance(d, int) else 64 for d in reference.inputs[0].shape]
    x = np.random.default_rng(0).random(shape, np.float32)
    got, want = engine.run({reference.inputs[0].name: x}), reference.run({reference.inputs[0].name: x})
    assert set(got) == set(want)
