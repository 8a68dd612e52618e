"""Upscaling and its evaluation, with SR 'models' built here whose outputs are known exactly."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import write_config
from vpipe.engines import ModelMeta, open_engine
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.pipeline.runtime.runner import Runner
from vpipe.stages.upscale import Upscaler
from vpipe.tools.evaluate.scores import downscale, sr_scores


def sr_model(path, kind: str, scale: int = 2, channels: int = 1):
    """'nearest': LR in, nearest-neighbour x`scale` out (ESPCN-like, LR space);
    'identity': HR in, HR out (SRCNN-like, after bicubic pre-upsampling)."""
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, channels, "h", "w"])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, channels, "H", "W"])
    if kind == "nearest":
        scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, scale, scale])
        nodes = [helper.make_node("Resize", ["input", "", "scales"], ["output"], mode="nearest")]
        inits, extra = [scales], {}
    else:
        nodes, inits, extra = [helper.make_node("Identity", ["input"], ["output"])], [], {"vpipe.pre_upsample": "bicubic"}
    model = helper.make_model(helper.make_graph(nodes, kind, [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    meta = ModelMeta(task="super_resolution", decoder="sr", color="y" if channels == 1 else "rgb",
                     sr_scale=scale, extra=extra)
    for k, v in meta.to_props().items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, path)
    return path


def test_tiles_leave_no_seams(tmp_path):
    engine = open_engine(sr_model(tmp_path / "n.onnx", "nearest", 2, channels=3))
    image = np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8)
    tiled = Upscaler(engine, tile=16, overlap=4)(image)
    whole = Upscaler(engine, tile=4096)(image)
    assert tiled.shape == (140, 180, 3)
    assert np.array_equal(tiled, whole)
    assert np.array_equal(whole, cv2.resize(image, (180, 140), interpolation=cv2.INTER_NEAREST))


def test_luma_model_keeps_bicubic_chroma(tmp_path):
    engine = open_engine(sr_model(tmp_path / "i.onnx", "identity", 3))
    image = np.random.default_rng(1).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    out = Upscaler(engine)(image)
    expected = cv2.resize(image, (120, 90), interpolation=cv2.INTER_CUBIC)
    # identity on bicubic Y + bicubic Cb/Cr = bicubic, up to YCrCb rounding and clipping
    diff = np.abs(out.astype(int) - expected)
    assert out.shape == expected.shape and diff.mean() < 1.0 and diff.max() <= 8


def test_eval_sr_known_answer(tmp_path):
    images = tmp_path / "hr"
    images.mkdir()
    rng = np.random.default_rng(2)
    for i in range(2):
        cv2.imwrite(str(images / f"{i}.png"), cv2.GaussianBlur(rng.integers(0, 255, (60, 90, 3), dtype=np.uint8), (5, 5), 0))
    report = sr_scores(sr_model(tmp_path / "i.onnx", "identity", 3), sorted(images.iterdir()), 3)
    # An identity after bicubic pre-upsampling *is* bicubic: no gain, same SSIM.
    assert report["psnr_gain"] == pytest.approx(0.0, abs=0.05)
    assert report["ssim"] == pytest.approx(report["ssim_bicubic"], abs=1e-3)
    assert report["images"] == 2 and report["ms_per_megapixel"] > 0


def test_upscale_stage_scales_frames_and_boxes(tmp_path):
    model = sr_model(tmp_path / "n.onnx", "nearest", 2)
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "a.png"), np.full((40, 60, 3), 128, np.uint8))
    config = write_config(tmp_path, f"""
sources: [{{uri: {tmp_path}/in}}]
stages:
  - {{type: test_box, params: {{box: [10, 10, 20, 20]}}}}
  - {{type: upscale, engine: {model}}}
sinks: [{{type: jsonl, params: {{path: {tmp_path}/out.jsonl}}}}, {{type: images, inputs: [upscale], raw_output: true, params: {{path: {tmp_path}/out}}}}]
""")
    import json

    import elements  # noqa: F401

    graph = build_graph(load_config(config))
    Runner(graph).run()
    graph.close()
    assert cv2.imread(str(tmp_path / "out" / "a.png")).shape == (80, 120, 3)
    record = json.loads((tmp_path / "out.jsonl").read_text())
    assert record["detections"][0]["box"] == [20, 20, 40, 40]


def _imresize_1d(signal: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB imresize's bicubic shrink, written from its definition: Keys' cubic (a = -0.5)
    stretched by the factor, so it low-passes before it decimates; weights renormalized."""
    def cubic(x):
        x = np.abs(x)
        return (1.5 * x**3 - 2.5 * x**2 + 1) * (x <= 1) + (-0.5 * x**3 + 2.5 * x**2 - 4 * x + 2) * ((x > 1) & (x <= 2))

    out = []
    for i in range(len(signal) // scale):
        centre = (i + 0.5) * scale - 0.5
        taps = np.arange(int(np.floor(centre - 2 * scale)), int(np.ceil(centre + 2 * scale)) + 1)
        weights = cubic((taps - centre) / scale)
        out.append(np.sum(weights / weights.sum() * signal[np.clip(taps, 0, len(signal) - 1)]))
    return np.clip(np.round(out), 0, 255)


def test_imresize_degradation_is_matlabs_and_antialiased():
    rng = np.random.default_rng(0)
    signal = rng.integers(0, 256, 300).astype(np.float64)
    image = np.repeat(np.tile(signal.astype(np.uint8)[None], (6, 1))[..., None], 3, axis=2)
    small = downscale(image, 3)
    assert small.shape == (2, 100, 3)
    expected = _imresize_1d(signal, 3)
    # equal away from the border (MATLAB pads symmetrically there)
    assert np.array_equal(small[0, 2:-2, 0].astype(float), expected[2:-2])
    # one-pixel stripes are above the new Nyquist limit: imresize averages them to grey,
    # OpenCV's bicubic decimates them into full-contrast aliases
    stripes = np.zeros((30, 30, 3), np.uint8)
    stripes[:, ::2] = 255
    assert np.ptp(downscale(stripes, 3)[:, 2:-2].astype(int)) <= 40
    assert np.ptp(downscale(stripes, 3, "opencv")[:, 2:-2].astype(int)) >= 200
