"""TensorRT engine: a serialized plan (`.engine`/`.plan`) run with TensorRT 10's named-tensor API.

The plan file is raw (trtexec and polygraphy read it as is); the model's metadata lives in the
sidecar `<plan>.json` written by `vpipe build`. CUDA memory and the stream come from cuda-python's
runtime bindings, so no torch is needed. Importing this module imports tensorrt;
`vpipe.engines.open_engine` imports it only for plan files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import tensorrt as trt

from vpipe.engines.base import EngineError, TensorSpec
from vpipe.engines.metadata import ModelMeta

_LOGGER = trt.Logger(trt.Logger.WARNING)


def cudart() -> Any:
    """cuda-python's runtime module (its location moved in cuda-python 12.6)."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime
        except ImportError:
            raise EngineError("TensorRT engines need cuda-python: pip install 'vpipe[tensorrt]'") from None
    return runtime


def check(result: Any) -> Any:
    """Unwrap a cuda-python call's (error, *values) tuple; raise EngineError on failure."""
    rt = cudart()
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != rt.cudaError_t.cudaSuccess:
        raise EngineError(f"CUDA error: {rt.cudaGetErrorString(err)[1].decode()}")
    return values[0] if len(values) == 1 else values


def sidecar_path(plan: str | Path) -> Path:
    plan = Path(plan)
    return plan.with_name(plan.name + ".json")


class _DeviceBuffer:
    """One cudaMalloc'd block, grown on demand."""

    def __init__(self) -> None:
        self.ptr, self.size = 0, 0

    def reserve(self, nbytes: int) -> int:
        if nbytes > self.size:
            self.free()
            self.ptr, self.size = check(cudart().cudaMalloc(max(nbytes, 1))), max(nbytes, 1)
        return self.ptr

    def free(self) -> None:
        if self.ptr:
            check(cudart().cudaFree(self.ptr))
            self.ptr, self.size = 0, 0


class _OutputAllocator(trt.IOutputAllocator):
    """Memory for outputs whose shape TensorRT learns only while running (in-graph NMS)."""

    def __init__(self) -> None:
        trt.IOutputAllocator.__init__(self)
        self.buffers: dict[str, _DeviceBuffer] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}

    def reallocate_output(self, tensor_name: str, memory: int, size: int, alignment: int) -> int:
        return self.buffers.setdefault(tensor_name, _DeviceBuffer()).reserve(size)

    def reallocate_output_async(self, tensor_name, memory, size, alignment, stream) -> int:
        return self.reallocate_output(tensor_name, memory, size, alignment)

    def notify_shape(self, tensor_name: str, shape) -> None:
        self.shapes[tensor_name] = tuple(shape)


class TensorRTEngine:
    """A TensorRT plan with the Engine protocol: `.meta`, `.inputs`, `.outputs`, `.run(feeds)`."""

    def __init__(self, path: str | Path, device: str = "cuda"):
        self.path = Path(path)
        kind, _, index = device.partition(":")
        if kind not in ("cuda", "tensorrt", "cpu"):
            raise EngineError(f"unknown device {device!r} for a TensorRT engine: expected cuda or cuda:N")
        if kind == "cpu":
            raise EngineError(f"{self.path}: a TensorRT engine runs on a GPU; use --device cuda or the .onnx file")
        rt = cudart()
        check(rt.cudaSetDevice(int(index or 0)))
        self.meta = _read_meta(self.path)
        trt.init_libnvinfer_plugins(_LOGGER, "")  # EfficientNMS_TRT and friends
        self._runtime = trt.Runtime(_LOGGER)
        self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise EngineError(
                f"{self.path}: TensorRT {trt.__version__} cannot load this plan "
                "(built by another TensorRT version or for another GPU? rebuild with vpipe build)"
            )
        self.context = self.engine.create_execution_context()
        self.stream = check(rt.cudaStreamCreate())
        self.backend = f"TensorRT {trt.__version__}"
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(d if d >= 0 else None for d in self.engine.get_tensor_shape(name))
            spec = TensorSpec(name, shape, np.dtype(trt.nptype(self.engine.get_tensor_dtype(name))))
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs).append(spec)
        self._buffers = {spec.name: _DeviceBuffer() for spec in self.inputs + self.outputs}
        self._allocator = _OutputAllocator()

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rt = cudart()
        host_inputs = []
        for spec in self.inputs:
            if spec.name not in feeds:
                raise EngineError(f"{self.path}: missing input {spec.name!r}")
            array = np.ascontiguousarray(feeds[spec.name], dtype=spec.dtype)
            host_inputs.append(array)  # kept alive until the stream has copied it
            if not self.context.set_input_shape(spec.name, array.shape):
                raise EngineError(f"{self.path}: input {spec.name} shape {array.shape} is outside the engine's profile")
            ptr = self._buffers[spec.name].reserve(array.nbytes)
            check(rt.cudaMemcpyAsync(ptr, array.ctypes.data, array.nbytes,
                                     rt.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
            self.context.set_tensor_address(spec.name, ptr)
        dynamic = []
        for spec in self.outputs:
            shape = tuple(self.context.get_tensor_shape(spec.name))
            if any(d < 0 for d in shape):  # data-dependent (NMS): TensorRT asks the allocator
                self.context.set_output_allocator(spec.name, self._allocator)
                dynamic.append(spec.name)
                continue
            nbytes = int(np.prod(shape)) * spec.dtype.itemsize
            self.context.set_tensor_address(spec.name, self._buffers[spec.name].reserve(nbytes))
        if not self.context.execute_async_v3(int(self.stream)):  # TensorRT takes the raw handle
            raise EngineError(f"{self.path}: TensorRT execution failed")
        results: dict[str, np.ndarray] = {}
        for spec in self.outputs:
            if spec.name in dynamic:
                shape = self._allocator.shapes[spec.name]
                ptr = self._allocator.buffers[spec.name].ptr
            else:
                shape = tuple(self.context.get_tensor_shape(spec.name))
                ptr = self._buffers[spec.name].ptr
            out = np.empty(shape, spec.dtype)
            if out.nbytes:
                check(rt.cudaMemcpyAsync(out.ctypes.data, ptr, out.nbytes,
                                         rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
            results[spec.name] = out
        check(rt.cudaStreamSynchronize(self.stream))
        return results

    def warmup(self, runs: int = 1) -> None:
        """Run on zeros at each input's shape, or its profile's optimal one where it is dynamic:
        the first frame then pays neither for the device buffers nor for CUDA's lazy loading.
        Untested on the machines this was written on (no TensorRT there)."""
        feeds = {}
        for spec in self.inputs:
            if all(isinstance(d, int) for d in spec.shape):
                shape = tuple(d for d in spec.shape if isinstance(d, int))  # all of them: typed for mypy
            else:
                shape = tuple(int(d) for d in self.engine.get_tensor_profile_shape(spec.name, 0)[1])
            feeds[spec.name] = np.zeros(shape, spec.dtype)
        for _ in range(runs):
            self.run(feeds)

    def close(self) -> None:
        for buffer in [*self._buffers.values(), *self._allocator.buffers.values()]:
            buffer.free()
        if self.stream is not None:
            check(cudart().cudaStreamDestroy(self.stream))
            self.stream = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass  # interpreter shutdown: CUDA may already be gone


def _read_meta(plan: Path) -> ModelMeta:
    sidecar = sidecar_path(plan)
    if not sidecar.is_file():
        raise EngineError(f"{plan}: no metadata sidecar {sidecar.name} (build the plan with vpipe build)")
    try:
        return ModelMeta.from_props(json.loads(sidecar.read_text())["props"])
    except (ValueError, KeyError) as exc:
        raise EngineError(f"{sidecar}: unreadable metadata ({exc})") from None
