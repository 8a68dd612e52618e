"""`vpipe build` against TensorRT's builder API, without TensorRT: a fake module records the calls,
so the API the code is written for (TensorRT 10) is checked on every machine (issue 22)."""

from __future__ import annotations

import sys
import types

import pytest

from vpipe.engines.metadata import ModelMeta
from vpipe.tools.export import trt_build
from vpipe.tools.export.errors import ExportError


class _Recorder:
    """Any attribute is a method that records its call; results can be preset by name."""

    def __init__(self, calls: list, name: str, results: dict | None = None):
        self._calls, self._name, self._results = calls, name, results or {}

    def __getattr__(self, attr):
        def method(*args, **kwargs):
            self._calls.append((f"{self._name}.{attr}", args))
            return self._results.get(attr)
        return method


def fake_tensorrt(version: str = "10.3.0", input_shape=(1, 3, 64, 64)):
    """A module with TensorRT 10's builder API (the parts trt_build uses); `calls` records them."""
    calls: list = []
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = calls
    tensor = types.SimpleNamespace(name="input", shape=input_shape)
    network = _Recorder(calls, "network", {"get_input": tensor})
    profile = _Recorder(calls, "profile")
    config = _Recorder(calls, "config", {"create_timing_cache": "cache", "get_timing_cache": None})
    builder = _Recorder(calls, "builder", {"create_network": network, "create_builder_config": config,
                                           "create_optimization_profile": profile,
                                           "build_serialized_network": b"plan"})
    parser = _Recorder(calls, "parser", {"parse_from_file": True})
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    trt.init_libnvinfer_plugins = lambda logger, namespace: None
    trt.Builder = lambda logger: builder
    trt.OnnxParser = lambda net, logger: parser
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
    trt.BuilderFlag = types.SimpleNamespace(FP16="FP16", INT8="INT8")
    return trt


def build(trt, tmp_path, meta=None, fp16=False, int8=False, shapes=(None, None, None)):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    return trt_build._build(trt, onnx, meta or ModelMeta(), fp16, int8, 1.0, list(shapes), None, log=lambda *a: None)


def test_the_builder_calls_are_tensorrt_10s(tmp_path):
    trt = fake_tensorrt()
    plan, profile = build(trt, tmp_path, fp16=True)
    assert plan == b"plan" and profile == {}  # a static input needs no profile
    names = [name for name, _ in trt.calls]
    assert ("builder.create_network", (0,)) in trt.calls  # explicit batch: TensorRT 10's only mode
    assert ("config.set_memory_pool_limit", ("WORKSPACE", 1 << 30)) in trt.calls
    assert ("config.set_flag", ("FP16",)) in trt.calls and ("config.set_flag", ("INT8",)) not in trt.calls
    assert names.index("parser.parse_from_file") < names.index("builder.build_serialized_network")


def test_int8_sets_its_flag(tmp_path):
    trt = fake_tensorrt()
    build(trt, tmp_path, int8=True)
    assert ("config.set_flag", ("INT8",)) in trt.calls


@pytest.mark.parametrize("version", ["9.2.0", "11.0.0", "12.1"])
def test_a_tensorrt_the_code_was_not_written_for_is_one_line(version, monkeypatch):
    """TensorRT 11 removed the FP16/INT8 builder flags: `vpipe build --fp16` crashed on it."""
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(version))
    with pytest.raises(ExportError, match=rf"TensorRT {version}.*supports TensorRT 10") as info:
        trt_build.import_tensorrt()
    assert "\n" not in str(info.value)


def test_tensorrt_10_is_taken(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt("10.9.0"))
    assert trt_build.import_tensorrt().__version__ == "10.9.0"


def test_the_supported_major_is_pinned():
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert re.search(r'"tensorrt>=10,<11"', text), "pin the TensorRT major the builder code is written for"


def test_a_dynamic_size_model_needs_its_profile(tmp_path):
    """CenterFace and the SR models take any size: a 320x320 profile by default refused real frames."""
    trt = fake_tensorrt(input_shape=(1, 3, -1, -1))
    with pytest.raises(ExportError, match=r"takes any input size: give the frames' size, e.g\. --opt 1x3x720x1280"):
        build(trt, tmp_path)
    _, profile = build(trt, tmp_path, shapes=(None, (1, 3, 720, 1280), None))
    assert profile == {"input": ((1, 3, 720, 1280),) * 3}
    _, profile = build(trt, tmp_path, meta=ModelMeta(input_size=(512, 512)))  # the size it was exported for
    assert profile == {"input": ((1, 3, 512, 512),) * 3}
