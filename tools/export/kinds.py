"""One class per export kind (the `kind` column of tools/export/families.py): what a
super-resolution net, a segmenter, a single-shot and a two-stage detector each check, wrap,
describe and compare. The exporter asks the family's kind and never tests its name, as
torchvision keeps one builder per family. torch is imported inside methods only.
"""

from __future__ import annotations

from typing import Any

from vpipe.engines.metadata import ModelMeta
from vpipe.tools.export.errors import ExportError
from vpipe.tools.export.families import Family
from vpipe.tools.export.options import ExportOptions

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: fp32 export tolerance of dense outputs: error relative to the output's peak. Loose enough for
#: kernel-order noise, tight enough that a wrong op fails.
DENSE_RTOL = 1e-3
#: raw detector tensors (softmax scores, decoded boxes) amplify float noise more than SR/seg maps.
RAW_RTOL = 1e-2

#: (the module to trace, its input names, its output names)
Wrapped = tuple[Any, list[str], list[str]]


class Kind:
    """A dense-output kind (SR, segmentation): no NMS, parity by element-wise error."""

    detector = False
    #: the family may take a torchvision weights name (SR nets are ours: files only).
    torchvision_weights = True
    #: needs a fixed input size (SR graphs take any size).
    needs_size = True
    #: input channels of the example image.
    channels = 3
    #: a random-init model gets a data-dependent init (small SR nets are fine with torch's).
    calibrate_random = True
    dense_rtol = DENSE_RTOL

    def resolve_nms(self, family: Family, asked: str | None) -> str:
        nms = asked or family.default_nms
        if nms not in ("none", family.default_nms):
            raise ExportError(f"--nms {nms}: {family.name} is not a detector")
        return "none"

    # The detector checks, in the order the exporter runs them (the first failing flag is named).
    def check_nms(self, family: Family, nms: str) -> None:
        pass

    def check_batch(self, nms: str, options: ExportOptions) -> None:
        pass

    def check_fp16(self, nms: str, options: ExportOptions) -> None:
        pass

    def with_background(self, names: list[str]) -> list[str]:
        return names

    def fallback_names(self, num_classes: int) -> list[str]:
        return []

    def default_score_thresh(self, model: Any, random_init: bool) -> float | None:
        return None

    def dynamic_axes(self, size: tuple[int, int] | None) -> dict[str, dict[int, str]]:
        return {}

    def meta(self, family: Family, nms: str, classes: list[str], sr_scale: int, model: Any,
             common: dict[str, Any]) -> ModelMeta:
        raise NotImplementedError

    def wrap(self, model: Any, nms: str, size: tuple[int, int], options: ExportOptions,
             score_thresh: float | None) -> Wrapped:
        raise NotImplementedError


class SuperResolution(Kind):
    torchvision_weights = False
    needs_size = False
    channels = 1
    calibrate_random = False

    def dynamic_axes(self, size):
        if size is not None:
            return {}
        return {"input": {2: "height", 3: "width"}, "output": {2: "out_height", 3: "out_width"}}

    def meta(self, family, nms, classes, sr_scale, model, common):
        extra = {"vpipe.pre_upsample": "bicubic"} if family.name.startswith("srcnn") else {}
        return ModelMeta(task=family.task, decoder="sr", color="y", scale=255.0, mean=(0.0,), std=(1.0,),
                         resize="none", sr_scale=sr_scale, nms="none", extra=extra, **common)

    def wrap(self, model, nms, size, options, score_thresh):
        return model, ["input"], ["output"]


class Segmentation(Kind):
    def fallback_names(self, num_classes):
        return [f"class_{i}" for i in range(num_classes)]

    def meta(self, family, nms, classes, sr_scale, model, common):
        return ModelMeta(task="segment", decoder="segment", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                         classes=tuple(classes), nms="none", **common)

    def wrap(self, model, nms, size, options, score_thresh):
        from vpipe.tools.export import wrappers

        return wrappers.SegmentOut(model), ["images"], ["out"]


class Detector(Kind):
    """A torchvision detector: index 0 is background; NMS in the graph, in ONNX, in TensorRT or none."""

    detector = True

    def resolve_nms(self, family, asked):
        return asked or family.default_nms

    def check_nms(self, family, nms):
        if nms not in family.nms_modes:
            raise ExportError(f"--nms {nms}: {family.nms_refusal or 'not supported by ' + family.name}")

    def check_batch(self, nms, options):
        if nms == "graph" and (options.batch > 1 or options.dynamic_batch):
            raise ExportError(
                "--nms graph exports torchvision's per-image output (batch 1); use --nms none, onnx or "
                "efficientnms for --batch/--dynamic-batch"
            )

    def check_fp16(self, nms, options):
        if options.fp16 and nms != "none":
            # onnxconverter-common mistypes the Casts of in-graph postprocessing (ORT cannot load it).
            raise ExportError(
                f"--fp16 with --nms {nms}: only graphs without in-graph postprocessing convert "
                "(use --nms none, or build fp16 in TensorRT: vpipe build --fp16)"
            )

    def with_background(self, names):
        return names if names[0] == "__background__" else ["__background__", *names]

    def fallback_names(self, num_classes):
        return ["__background__", *[f"class_{i}" for i in range(1, num_classes)]]

    def default_score_thresh(self, model, random_init):
        # torchvision's own threshold (SSD 0.01, SSDlite 0.001, R-CNN 0.05); a random model's scores
        # are near 1/num_classes, so it keeps everything down to 0.001 for the parity check to see.
        return 0.001 if random_init else float(self.own_score_thresh(model))

    def own_score_thresh(self, model: Any) -> float:
        raise NotImplementedError

    def meta(self, family, nms, classes, sr_scale, model, common):
        if nms == "graph":
            # The graph normalizes and resizes itself: feed it pixels / 255 at the export size.
            return ModelMeta(task="detect", decoder="torchvision", classes=tuple(classes), nms="graph", **common)
        transform = model.transform
        return ModelMeta(task="detect", decoder="raw" if nms == "none" else "nms", classes=tuple(classes),
                         mean=tuple(float(v) for v in transform.image_mean),
                         std=tuple(float(v) for v in transform.image_std), nms=nms, **common)

    def wrap(self, model, nms, size, options, score_thresh):
        """The module to trace; sets torchvision's postprocess knobs for --nms graph."""
        from vpipe.tools.export import wrappers

        if nms == "graph":
            h, w = size
            model.transform.min_size, model.transform.max_size = (min(h, w),), max(h, w)
            self.set_postprocess(model, size, options, score_thresh)
            return wrappers.GraphDetector(model), ["images"], ["boxes", "scores", "labels"]
        iou = options.iou_thresh if options.iou_thresh is not None else float(model.nms_thresh)
        raw = wrappers.SSDRaw(model, size)
        if nms == "onnx":
            return (wrappers.OnnxNMSDetector(raw, options.max_det, iou, max(score_thresh, 1e-6)), ["images"],
                    ["num_dets", "det_boxes", "det_scores", "det_classes"])
        return raw, ["images"], ["boxes", "scores"]

    def set_postprocess(self, model: Any, size: tuple[int, int], options: ExportOptions,
                        score_thresh: float) -> None:
        raise NotImplementedError


class SingleShot(Detector):
    """SSD and SSDlite: also exports raw boxes and scores (--nms none, onnx, efficientnms)."""

    dense_rtol = RAW_RTOL

    def own_score_thresh(self, model):
        return model.score_thresh

    def set_postprocess(self, model, size, options, score_thresh):
        model.transform.fixed_size = size
        model.score_thresh, model.detections_per_img = score_thresh, options.max_det
        model.nms_thresh = options.iou_thresh if options.iou_thresh is not None else model.nms_thresh


class TwoStage(Detector):
    """Faster R-CNN: --nms graph only (families.py says why)."""

    def own_score_thresh(self, model):
        return model.roi_heads.score_thresh

    def set_postprocess(self, model, size, options, score_thresh):
        heads = model.roi_heads
        heads.score_thresh, heads.detections_per_img = score_thresh, options.max_det
        heads.nms_thresh = options.iou_thresh if options.iou_thresh is not None else heads.nms_thresh
        if options.proposals:  # fewer RPN proposals: a faster box head, lower recall (torchvision: 1000)
            model.rpn._pre_nms_top_n["testing"] = model.rpn._post_nms_top_n["testing"] = options.proposals


KINDS: dict[str, Kind] = {"sr": SuperResolution(), "segment": Segmentation(), "ssd": SingleShot(),
                          "rcnn": TwoStage()}


def kind_of(family: Family) -> Kind:
    return KINDS[family.kind]
