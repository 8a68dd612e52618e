"""What an engine file says about its model, so a config names the file and nothing else.

The exporters in `tools/` write these keys into the ONNX `metadata_props` (and into the JSON
sidecar beside a TensorRT plan); the runtime reads them back. Every value is a string; lists and
dicts are JSON. Keys carry a `vpipe.` prefix so they never collide with a framework's own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

PREFIX = "vpipe."

@dataclass
class ModelMeta:
    #: what the model does: "detect", "segment" or "super_resolution"; each element takes the
    #: tasks it runs (ModelElement.engine_tasks).
    task: str = ""
    #: a detector's output layout, by name: stages/decoders.py.
    decoder: str = ""
    #: (height, width) the graph was exported for; None where any size is accepted.
    input_size: tuple[int, int] | None = None
    #: channel order the model expects: "rgb", "bgr" or "y" (luma only, for SR).
    color: str = "rgb"
    #: network input = (pixel / scale - mean) / std, per channel.
    scale: float = 255.0
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    #: how a frame is fitted to input_size: "stretch", "letterbox", or "none" (graph resizes).
    resize: str = "stretch"
    #: input must be a multiple of this (CenterFace: 32); 1 for any size.
    stride: int = 1
    #: class names by label id (torchvision detectors: index 0 is "__background__").
    classes: tuple[str, ...] = ()
    #: upscaling factor of a super-resolution model.
    sr_scale: int = 1
    #: how NMS was exported: "graph" (torchvision), "none", "onnx", "efficientnms".
    nms: str = "graph"
    architecture: str = ""
    exporter: str = ""
    weights_sha256: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_props(cls, props: dict[str, str]) -> "ModelMeta":
        """Parse `metadata_props`; unknown `vpipe.*` keys and foreign keys land in `extra`.
        Ultralytics exports (YOLOv5/v8 ONNX files users bring) are understood as they are."""
        if not any(k.startswith(PREFIX) for k in props) and "imgsz" in props and "names" in props:
            return cls.from_ultralytics(props)
        known = {f.name: f for f in fields(cls) if f.name != "extra"}
        values: dict[str, Any] = {}
        extra: dict[str, str] = {}
        for key, raw in props.items():
            name = key[len(PREFIX):] if key.startswith(PREFIX) else None
            if name not in known:
                extra[key] = raw
                continue
            values[name] = _parse(name, raw)
        return cls(**values, extra=extra)

    @classmethod
    def from_ultralytics(cls, props: dict[str, str]) -> "ModelMeta":
        """Ultralytics writes `names` as a Python dict literal and `imgsz` as a list."""
        import ast

        names = ast.literal_eval(props["names"])
        size = ast.literal_eval(props["imgsz"])
        return cls(
            task="detect" if props.get("task", "detect") in ("detect", "segment") else props["task"],
            decoder="yolo", input_size=(int(size[0]), int(size[1])), color="rgb", scale=255.0,
            resize="letterbox", stride=int(props.get("stride", 32)),
            classes=tuple(names[i] for i in sorted(names)), nms="none",
            architecture=props.get("description", "Ultralytics YOLO"), extra=dict(props),
        )

    def to_props(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in asdict(self).items():
            if name == "extra":
                continue
            if value is None or value == "" or value == ():
                continue
            if name == "input_size":
                value = f"{value[0]}x{value[1]}"
            out[PREFIX + name] = value if isinstance(value, str) else json.dumps(value)
        out.update(self.extra)
        return out


def _parse(name: str, raw: str) -> Any:
    if name in ("task", "decoder", "color", "resize", "nms", "architecture", "exporter", "weights_sha256"):
        return raw
    if name == "input_size":
        h, w = raw.lower().split("x")
        return int(h), int(w)
    value = json.loads(raw)
    if name in ("mean", "std", "classes"):
        return tuple(value)
    if name in ("stride", "sr_scale"):
        return int(value)
    return float(value)
