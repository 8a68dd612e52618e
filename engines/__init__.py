"""Inference engines behind one interface: ONNX Runtime (default, CPU) and TensorRT."""

from __future__ import annotations

from pathlib import Path

from vpipe.engines.base import Engine, EngineError, TensorSpec
from vpipe.engines.metadata import ModelMeta

__all__ = ["Engine", "EngineError", "ModelMeta", "TensorSpec", "open_engine"]


def open_engine(path: str | Path, device: str = "cpu", threads: int | None = None) -> Engine:
    """Open an engine file by its suffix: `.onnx` runs on ONNX Runtime, `.engine`/`.plan` on TensorRT."""
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"{path}: engine file not found")
    if path.suffix in (".engine", ".plan"):
        from vpipe.engines.tensorrt import TensorRTEngine  # imported late: TensorRT is optional

        return TensorRTEngine(path, device=device)
    from vpipe.engines.ort import OrtEngine

    return OrtEngine(path, device=device, threads=threads)
