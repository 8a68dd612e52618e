"""The one table of model families `vpipe export` knows: how to build each and what it exports to.

Adding a family is one row here; `tools/export/exporter.py` reads nothing else. Builders import torch and
torchvision lazily so this module stays importable where torch is absent (the CLI lists families).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from vpipe.tools.export.errors import ExportError

#: NMS modes by backend, in the order the exporter prefers them.
NMS_MODES = ("graph", "none", "onnx", "efficientnms")


@dataclass(frozen=True)
class Family:
    name: str
    #: "sr", "ssd" (single-shot detector), "rcnn" (two-stage detector) or "segment".
    kind: str
    task: str
    #: (height, width) exported by default; None: spatial size dynamic (fully convolutional SR).
    input_size: tuple[int, int] | None
    #: classes the builder makes when --num-classes is not given (COCO: 91, VOC: 21).
    num_classes: int
    #: NMS modes this family can export; the first is the default.
    nms_modes: tuple[str, ...]
    #: why a mode is missing from nms_modes, for a one-line refusal.
    nms_refusal: str = ""
    #: only batch 1 exports correctly (torchvision R-CNN: pytorch/vision #8937, #2311).
    batch1_only: bool = False
    sr_scale: int = 1
    color: str = "rgb"
    #: builder(num_classes, weights, sr_scale) -> torch.nn.Module (weights: torchvision enum or None).
    build: Callable[..., Any] | None = None

    @property
    def default_nms(self) -> str:
        return self.nms_modes[0] if self.nms_modes else "none"


def _torchvision(module: str, fn: str) -> Callable[..., Any]:
    """A builder calling torchvision.models[.module].fn without ever downloading a backbone."""

    def build(num_classes: int, weights: Any = None, sr_scale: int = 1) -> Any:
        import importlib

        models = importlib.import_module(f"torchvision.models{'.' + module if module else ''}")
        kwargs: dict[str, Any] = {"weights": weights, "weights_backbone": None}
        # torchvision refuses num_classes that differ from the weights' own; pass it only when free.
        if weights is None:
            kwargs["num_classes"] = num_classes
        if module == "segmentation" and fn.startswith(("fcn", "deeplabv3")):
            kwargs["aux_loss"] = False if weights is None else None
        return getattr(models, fn)(**kwargs)

    return build


def _mobilenet_v2(fn: str) -> Callable[..., Any]:
    """A builder for the ImageNet-MobileNetV2 detectors of tools/models/detectors.py (kwargs: size,
    backbone_weights: a local ImageNet checkpoint, for training only)."""

    def build(num_classes: int, weights: Any = None, sr_scale: int = 1, **kwargs: Any) -> Any:
        from vpipe.tools.models import detectors

        return getattr(detectors, fn)(num_classes, weights, **kwargs)

    return build


def _srcnn(mid_kernel: int) -> Callable[..., Any]:
    def build(num_classes: int, weights: Any = None, sr_scale: int = 1) -> Any:
        from vpipe.tools.models.sr_models import SRCNN

        return SRCNN(channels=1, mid_kernel=mid_kernel)

    return build


def _espcn(features: tuple[int, int]) -> Callable[..., Any]:
    def build(num_classes: int, weights: Any = None, sr_scale: int = 3) -> Any:
        from vpipe.tools.models.sr_models import ESPCN

        return ESPCN(channels=1, scale=sr_scale, features=features)

    return build


_SSD_NMS = ("graph", "none", "onnx", "efficientnms")
_RCNN_NMS = ("graph",)
_RCNN_WHY = (
    "Faster R-CNN exports only with --nms graph: its RPN runs NMS inside the network and its "
    "box head regresses one box per class, so there is no class-agnostic raw box tensor to export"
)

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("srcnn", "sr", "super_resolution", None, 1, (), sr_scale=3, color="y", build=_srcnn(1)),
        Family("srcnn-955", "sr", "super_resolution", None, 1, (), sr_scale=3, color="y", build=_srcnn(5)),
        Family("espcn", "sr", "super_resolution", None, 1, (), sr_scale=3, color="y", build=_espcn((64, 32))),
        Family("espcn-s", "sr", "super_resolution", None, 1, (), sr_scale=3, color="y", build=_espcn((32, 32))),
        Family("ssd300_vgg16", "ssd", "detect", (300, 300), 91, _SSD_NMS,
               build=_torchvision("detection", "ssd300_vgg16")),
        Family("ssdlite320_mobilenet_v3_large", "ssd", "detect", (320, 320), 91, _SSD_NMS,
               build=_torchvision("detection", "ssdlite320_mobilenet_v3_large")),
        Family("fasterrcnn_mobilenet_v3_large_fpn", "rcnn", "detect", (800, 800), 91, _RCNN_NMS,
               _RCNN_WHY, batch1_only=True,
               build=_torchvision("detection", "fasterrcnn_mobilenet_v3_large_fpn")),
        Family("fasterrcnn_mobilenet_v3_large_320_fpn", "rcnn", "detect", (320, 320), 91, _RCNN_NMS,
               _RCNN_WHY, batch1_only=True,
               build=_torchvision("detection", "fasterrcnn_mobilenet_v3_large_320_fpn")),
        Family("ssdlite_mobilenet_v2", "ssd", "detect", (512, 512), 3, _SSD_NMS,
               build=_mobilenet_v2("ssdlite_mobilenet_v2")),
        Family("fasterrcnn_mobilenet_v2_fpn", "rcnn", "detect", (640, 640), 3, _RCNN_NMS,
               _RCNN_WHY, batch1_only=True, build=_mobilenet_v2("fasterrcnn_mobilenet_v2_fpn")),
        Family("fasterrcnn_resnet50_fpn_v2", "rcnn", "detect", (800, 800), 91, _RCNN_NMS,
               _RCNN_WHY, batch1_only=True,
               build=_torchvision("detection", "fasterrcnn_resnet50_fpn_v2")),
        Family("fcn_resnet50", "segment", "segment", (520, 520), 21, (),
               build=_torchvision("segmentation", "fcn_resnet50")),
        Family("deeplabv3_mobilenet_v3_large", "segment", "segment", (520, 520), 21, (),
               build=_torchvision("segmentation", "deeplabv3_mobilenet_v3_large")),
        Family("deeplabv3_resnet50", "segment", "segment", (520, 520), 21, (),
               build=_torchvision("segmentation", "deeplabv3_resnet50")),
        Family("lraspp_mobilenet_v3_large", "segment", "segment", (520, 520), 21, (),
               build=_torchvision("segmentation", "lraspp_mobilenet_v3_large")),
    )
}


def get_family(name: str) -> Family:
    """Look a family up by name; the error lists the known ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ExportError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}") from None
