"""ONNX Runtime engine: the embedded default (CPU), with CUDA and TensorRT providers on request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from vpipe.engines.base import EngineError, TensorSpec
from vpipe.engines.metadata import ModelMeta
from vpipe.pipeline.api.errors import first_line

_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}

#: device setting -> execution providers, in order of preference (CPU always last as fallback).
_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def providers_for(device: str) -> list[str | tuple[str, dict]]:
    """Map `cpu`, `cuda`, `cuda:N` or `tensorrt` to providers; a clear error when not installed."""
    kind, _, index = device.partition(":")
    if kind not in _PROVIDERS:
        raise EngineError(f"unknown device {device!r}: expected cpu, cuda, cuda:N or tensorrt")
    wanted = _PROVIDERS[kind][0]
    available = ort.get_available_providers()
    if wanted not in available:
        raise EngineError(
            f"device {device!r} needs ONNX Runtime's {wanted}, which this install lacks "
            f"(available: {', '.join(available)}); install vpipe[gpu] or use --device cpu"
        )
    options = {"device_id": int(index)} if index else {}
    return [(p, options) if options and p != "CPUExecutionProvider" else p for p in _PROVIDERS[kind]]


class OrtEngine:
    """An ONNX model run by ONNX Runtime; reads `vpipe.*` metadata written by the exporters."""

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None):
        self.path = Path(path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        # Several engines share the cores in a pipeline; spinning threads would steal them from
        # the other stages while this one waits for work.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=providers_for(device)
            )
        except EngineError:
            raise
        except Exception as exc:  # ORT raises its own untyped errors on bad files
            raise EngineError(f"{self.path}: cannot load ONNX model: {first_line(exc)}") from None
        self.backend = self.session.get_providers()[0]
        self.meta = ModelMeta.from_props(self.session.get_modelmeta().custom_metadata_map)
        self.inputs = [_spec(a) for a in self.session.get_inputs()]
        self.outputs = [_spec(a) for a in self.session.get_outputs()]
        self._output_names = [o.name for o in self.outputs]
        self._cast_inputs = {i.name: i.dtype for i in self.inputs if i.dtype == np.float16}
        self._half_outputs = [o.name for o in self.outputs if o.dtype == np.float16]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # The runtime works in float32; fp16 models (common in Ultralytics exports) are cast at
        # the boundary, which costs far less than the network itself.
        if self._cast_inputs:
            feeds = {name: v.astype(self._cast_inputs.get(name, v.dtype), copy=False) for name, v in feeds.items()}
        try:
            values = self.session.run(self._output_names, feeds)
        except Exception as exc:  # ORT's errors are untyped and multi-line
            raise EngineError(f"{self.path.name}: {first_line(exc)}") from None
        outputs = dict(zip(self._output_names, values))
        for name in self._half_outputs:
            outputs[name] = outputs[name].astype(np.float32)
        return outputs

    def warmup(self, runs: int = 1) -> None:
        """Run on zeros so the first real frame does not pay for allocation and kernel choice."""
        feeds = {}
        for spec in self.inputs:
            shape = [d if isinstance(d, int) and d > 0 else None for d in spec.shape]
            fill = list(self.meta.input_size or (320, 320))
            # Dynamic spatial dims take the model's input size; other dynamic dims take 1.
            dims = []
            for i, d in enumerate(shape):
                if d is not None:
                    dims.append(d)
                elif len(shape) - i <= 2 and fill:
                    dims.append(_round_up(fill.pop(0), self.meta.stride))
                else:
                    dims.append(1)
            feeds[spec.name] = np.zeros(dims, dtype=spec.dtype)
        for _ in range(runs):
            self.run(feeds)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _spec(arg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else (d or None) for d in arg.shape)
    return TensorSpec(arg.name, shape, np.dtype(_ORT_DTYPES.get(arg.type, np.float32)))
