"""What `vpipe export` is asked for: one dataclass of the flags (`ExportOptions`), and the parsing
of the two that are text (`--input-size`, `--classes`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vpipe.tools.export.errors import ExportError


@dataclass(frozen=True)
class ExportOptions:
    """The flags of `vpipe export` (docs/exporters.md); the defaults are the command's."""

    #: a local checkpoint (state_dict) or a torchvision weights name.
    weights: str | None = None
    random_init: bool = False
    #: classes incl. background for detectors; default: the family's or the --classes file's.
    num_classes: int | None = None
    #: a text file, one class name a line.
    classes: str | None = None
    #: "HxW" or "S"; default: the family's.
    input_size: str | None = None
    batch: int = 1
    dynamic_batch: bool = False
    opset: int = 17
    simplify: bool = False
    fp16: bool = False
    int8: bool = False
    #: a folder of images for int8 calibration (and fp16's accuracy figures).
    calib: str | None = None
    #: detector NMS, one of families.NMS_MODES; default: the family's first.
    nms: str | None = None
    #: compare ONNX Runtime with PyTorch.
    check: bool = True
    sr_scale: int | None = None
    score_thresh: float | None = None
    iou_thresh: float | None = None
    max_det: int = 100
    #: Faster R-CNN: RPN proposals per image (torchvision: 1000).
    proposals: int | None = None


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'320x240' (height x width) or '320' (square) -> (h, w)."""
    if not text:
        return None
    try:
        parts = [int(p) for p in text.lower().split("x")]
        h, w = (parts[0], parts[0]) if len(parts) == 1 else parts
    except ValueError:
        raise ExportError(f"--input-size {text!r}: expected HxW, e.g. 320x320") from None
    if h < 32 or w < 32:
        raise ExportError(f"--input-size {text!r}: each side must be at least 32 pixels")
    return h, w


def read_classes(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"--classes {path}: file not found")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise ExportError(f"--classes {path}: no class names in the file")
    return names
