"""The one interface every inference backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from vpipe.engines.metadata import ModelMeta
from vpipe.pipeline.api.errors import VpipeError


@dataclass(frozen=True)
class TensorSpec:
    name: str
    #: dimensions; a str or None marks a dynamic one.
    shape: tuple[int | str | None, ...]
    dtype: np.dtype


class Engine(Protocol):
    path: Path
    meta: ModelMeta
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    #: the execution provider or device actually used, for logs and `vpipe bench`.
    backend: str

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one inference; returns every output by name."""
        ...

    def warmup(self, runs: int = 1) -> None:
        """Run on zeros, so that the first real frame does not pay for allocation and setup."""
        ...


class EngineError(VpipeError):
    """An engine that cannot be opened or run; the message names the file."""
