"""`vpipe export`: PyTorch family -> ONNX with vpipe metadata, parity-checked, optionally fp16/int8.

The one entry point is `export_model()`; the families it knows are rows of `tools/families.py`.
Detectors go through the legacy TorchScript exporter (`dynamo=False`): the dynamo exporter fails
on torchvision detection models (pytorch #118884). torch is imported inside functions only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vpipe.engines.metadata import ModelMeta
from vpipe.pipeline import __version__
from vpipe.pipeline.errors import VpipeError, first_line
from vpipe.pipeline.paths import sha256_file
from vpipe.tools.families import NMS_MODES, Family, get_family

EXPORTER = f"vpipe-export {__version__}"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: fp32 export tolerances: dense outputs by error relative to the output's peak; detections by
#: matching. Loose enough for kernel-order noise, tight enough that a wrong op fails.
DENSE_RTOL = 1e-3
#: raw detector tensors (softmax scores, decoded boxes) amplify float noise more than SR/seg maps.
RAW_RTOL = 1e-2
MIN_MATCH_RATE = 0.9
MIN_MEAN_IOU = 0.98
MAX_SCORE_DIFF = 5e-3


class ExportError(VpipeError):
    """An export that cannot be done; the message is one line naming the flag or file."""


@dataclass
class ExportResult:
    path: Path
    meta: ModelMeta
    seconds: float
    #: PyTorch-vs-ONNX figures of the fp32 graph (empty with --no-check).
    parity: dict[str, float] = field(default_factory=dict)
    #: fp32-vs-fp16/int8 agreement when a reduced precision was asked for.
    accuracy: dict[str, float] = field(default_factory=dict)
    #: the fp32 model kept beside a reduced-precision one.
    fp32_path: Path | None = None


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


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------


def _resolve_classes(family: Family, num_classes: int | None, classes_file: str | None) -> tuple[int, list[str] | None]:
    """Class count and names from --num-classes / --classes; detectors keep index 0 as background."""
    names = read_classes(classes_file) if classes_file else None
    if names is not None and family.kind in ("ssd", "rcnn") and names[0] != "__background__":
        names = ["__background__", *names]
    if names is not None and num_classes is not None and num_classes != len(names):
        raise ExportError(
            f"--classes {classes_file}: {len(names)} names (background included for detectors) "
            f"but --num-classes {num_classes}"
        )
    return (len(names) if names else num_classes or family.num_classes), names


def _default_names(family: Family, num_classes: int, weights_meta: dict | None, pretrained: bool) -> list[str]:
    if weights_meta and weights_meta.get("categories") and len(weights_meta["categories"]) == num_classes:
        return list(weights_meta["categories"])
    if pretrained and num_classes == family.num_classes and family.kind != "sr":
        # torchvision checkpoints of these families are COCO (detectors) or COCO-with-VOC-labels.
        return list(_torchvision_categories(family))
    if family.kind in ("ssd", "rcnn"):
        return ["__background__", *[f"class_{i}" for i in range(1, num_classes)]]
    if family.kind == "segment":
        return [f"class_{i}" for i in range(num_classes)]
    return []


def _torchvision_categories(family: Family) -> list[str]:
    from torchvision.models import get_model_weights

    try:
        return list(get_model_weights(family.name).DEFAULT.meta["categories"])
    except (ValueError, KeyError):  # a family of our own (tools/detectors.py): no torchvision weights
        return ["__background__", *[f"class_{i}" for i in range(1, family.num_classes)]]


def load_model(family: Family, weights: str | None, random_init: bool, num_classes: int, sr_scale: int):
    """Build the family's torch model; returns (model, weights sha256, torchvision weights meta)."""
    import torch

    if random_init:
        if weights:
            raise ExportError("--weights and --random-init exclude each other; pass one")
        torch.manual_seed(0)
        model = family.build(num_classes, None, sr_scale)
        _spread_init(model)
        return model.eval(), "random-init", None
    if not weights:
        raise ExportError("--weights FILE|TORCHVISION_NAME is required (or --random-init for a test model)")
    path = Path(weights).expanduser()
    if path.is_file():
        return _load_checkpoint(family, path, num_classes, sr_scale), sha256_file(path), None
    if family.kind == "sr" or "_Weights." not in weights:
        raise ExportError(f"--weights {weights}: no such file")
    return _load_torchvision(family, weights, num_classes)


def _spread_init(model) -> None:
    """Re-initialize so a random model's outputs vary from pixel to pixel and class to class.

    torchvision's own init of a detector without pretrained backbone gives near-constant scores
    (every box at 1/num_classes), which a parity check could not tell from a broken export.
    """
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if module.bias is not None:
                    module.bias.copy_(torch.rand(module.bias.shape, generator=gen) * 0.2 - 0.1)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.fill_(1.0)
                module.bias.copy_(torch.rand(module.bias.shape, generator=gen) * 0.2 - 0.1)
                module.running_mean.zero_()
                module.running_var.fill_(1.0)


def _calibrate_random_model(wrapper, example) -> None:
    """Make a random model's activations well scaled with one forward pass (data-dependent init).

    Each Conv/Linear is rescaled on its first call so its output has unit spread (LSUV-style), and
    BatchNorm statistics are taken from the same pass. Without it deep random nets saturate: scores
    tie at 0 or 1 and a parity check could not tell a broken export from noise.
    """
    import torch
    from torch import nn

    norms = [m for m in wrapper.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one pass sets the statistics exactly
        m.train()
    seen: set[int] = set()

    def rescale(module, _inputs, output):
        if id(module) in seen or not isinstance(output, torch.Tensor):
            return None
        seen.add(id(module))  # heads shared across pyramid levels are scaled once
        std = float(output.std())
        if not std > 1e-6:
            return None
        module.weight.div_(std)
        if module.bias is not None:
            module.bias.div_(std)
        return output / std

    hooks = [m.register_forward_hook(rescale) for m in wrapper.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            wrapper(example)
    finally:
        for h in hooks:
            h.remove()
    for m in norms:
        m.eval()


def _load_checkpoint(family: Family, path: Path, num_classes: int, sr_scale: int):
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ExportError(f"--weights {path}: not a loadable torch checkpoint ({first_line(exc)})") from None
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ExportError(f"--weights {path}: expected a state_dict, got {type(state).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = family.build(num_classes, None, sr_scale)
    own = model.state_dict()
    # Segmentation checkpoints carry the training-only aux head; the export drops it.
    state = {k: v for k, v in state.items() if not (k.startswith("aux_classifier.") and k not in own)}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        what = (f"{len(missing)} missing (e.g. {missing[0]})" if missing else
                f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else
                f"{len(wrong)} of another shape (e.g. {wrong[0]}; check --num-classes)")
        raise ExportError(f"--weights {path}: does not fit {family.name}: {what} tensors")
    model.load_state_dict(state)
    return model.eval()


def _load_torchvision(family: Family, name: str, num_classes: int):
    import torch
    from torchvision.models import get_weight

    try:
        enum = get_weight(name)
    except Exception:
        raise ExportError(f"--weights {name}: neither a file nor a torchvision weights name") from None
    try:
        model = family.build(num_classes, enum).eval()
    except Exception as exc:
        if isinstance(exc, ValueError) and "num_classes" in str(exc):
            raise ExportError(f"--weights {name}: {first_line(exc)}") from None
        raise ExportError(
            f"--weights {name}: could not download it ({first_line(exc)}); offline, download "
            f"{enum.url} elsewhere and pass the file with --weights PATH"
        ) from None
    file = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    sha = sha256_file(file) if file.is_file() else ""
    return model, sha, dict(enum.meta)


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------


def _check_flags(family: Family, nms: str, batch: int, dynamic_batch: bool, int8: bool, calib: str | None) -> None:
    if nms not in NMS_MODES:
        raise ExportError(f"--nms {nms}: expected one of {', '.join(NMS_MODES)}")
    if family.kind in ("ssd", "rcnn") and nms not in family.nms_modes:
        raise ExportError(f"--nms {nms}: {family.nms_refusal or 'not supported by ' + family.name}")
    if batch < 1:
        raise ExportError(f"--batch {batch}: must be at least 1")
    if family.batch1_only and (batch > 1 or dynamic_batch):
        raise ExportError(
            f"{family.name} exports only at batch 1 (torchvision R-CNN ONNX export is single-image, "
            "pytorch/vision #8937, #2311); drop --batch/--dynamic-batch"
        )
    if family.kind in ("ssd", "rcnn") and nms == "graph" and (batch > 1 or dynamic_batch):
        raise ExportError(
            "--nms graph exports torchvision's per-image output (batch 1); use --nms none, onnx or "
            "efficientnms for --batch/--dynamic-batch"
        )
    if int8 and not calib:
        raise ExportError("--int8 needs --calib DIR, a folder of representative images")
    if calib and not Path(calib).is_dir():
        raise ExportError(f"--calib {calib}: not a directory")


def _meta(family: Family, nms: str, size: tuple[int, int] | None, classes: list[str], sr_scale: int,
          sha: str, model: Any) -> ModelMeta:
    common = dict(architecture=family.name, exporter=EXPORTER, weights_sha256=sha, input_size=size)
    if family.kind == "sr":
        extra = {"vpipe.pre_upsample": "bicubic"} if family.name.startswith("srcnn") else {}
        return ModelMeta(task=family.task, decoder="sr", color="y", scale=255.0, mean=(0.0,), std=(1.0,),
                         resize="none", sr_scale=sr_scale, nms="none", extra=extra, **common)
    if family.kind == "segment":
        return ModelMeta(task="segment", decoder="segment", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                         classes=tuple(classes), nms="none", **common)
    if nms == "graph":
        # The graph normalizes and resizes itself: feed it pixels / 255 at the export size.
        return ModelMeta(task="detect", decoder="torchvision", classes=tuple(classes), nms="graph", **common)
    transform = model.transform
    return ModelMeta(task="detect", decoder="raw" if nms == "none" else "nms", classes=tuple(classes),
                     mean=tuple(float(v) for v in transform.image_mean),
                     std=tuple(float(v) for v in transform.image_std), nms=nms, **common)


def _wrap(family: Family, model: Any, nms: str, size: tuple[int, int], score_thresh: float,
          iou_thresh: float | None, max_det: int, proposals: int | None = None):
    """The module to trace, its input/output names; sets torchvision's postprocess knobs."""
    from vpipe.tools import wrappers

    if family.kind == "sr":
        return model, ["input"], ["output"]
    if family.kind == "segment":
        return wrappers.SegmentOut(model), ["images"], ["out"]
    h, w = size
    if nms == "graph":
        model.transform.min_size, model.transform.max_size = (min(h, w),), max(h, w)
        if family.kind == "ssd":
            model.transform.fixed_size = (h, w)
            model.score_thresh, model.detections_per_img = score_thresh, max_det
            model.nms_thresh = iou_thresh if iou_thresh is not None else model.nms_thresh
        else:
            heads = model.roi_heads
            heads.score_thresh, heads.detections_per_img = score_thresh, max_det
            heads.nms_thresh = iou_thresh if iou_thresh is not None else heads.nms_thresh
            if proposals:  # fewer RPN proposals: a faster box head, lower recall (torchvision: 1000)
                model.rpn._pre_nms_top_n["testing"] = model.rpn._post_nms_top_n["testing"] = proposals
        return wrappers.GraphDetector(model), ["images"], ["boxes", "scores", "labels"]
    iou = iou_thresh if iou_thresh is not None else float(model.nms_thresh)
    raw = wrappers.SSDRaw(model, size)
    if nms == "onnx":
        return (wrappers.OnnxNMSDetector(raw, max_det, iou, max(score_thresh, 1e-6)), ["images"],
                ["num_dets", "det_boxes", "det_scores", "det_classes"])
    return raw, ["images"], ["boxes", "scores"]


def export_model(
    family: str,
    out: str | Path,
    weights: str | None = None,
    random_init: bool = False,
    num_classes: int | None = None,
    classes: str | None = None,
    input_size: str | None = None,
    batch: int = 1,
    dynamic_batch: bool = False,
    opset: int = 17,
    simplify: bool = False,
    fp16: bool = False,
    int8: bool = False,
    calib: str | None = None,
    nms: str | None = None,
    check: bool = True,
    sr_scale: int | None = None,
    score_thresh: float | None = None,
    iou_thresh: float | None = None,
    max_det: int = 100,
    proposals: int | None = None,
    log=print,
) -> ExportResult:
    """Export one family to `out`; see docs/exporters.md. Raises ExportError with a one-line reason."""
    start = time.perf_counter()
    fam = get_family(family)
    nms = nms or fam.default_nms
    if fam.kind in ("sr", "segment"):
        if nms not in ("none", fam.default_nms):
            raise ExportError(f"--nms {nms}: {fam.name} is not a detector")
        nms = "none"
    _check_flags(fam, nms, batch, dynamic_batch, int8, calib)
    if fp16 and int8:
        raise ExportError("--fp16 and --int8 exclude each other; pass one")
    if fp16 and fam.kind in ("ssd", "rcnn") and nms != "none":
        # onnxconverter-common mistypes the Casts of in-graph postprocessing (ORT cannot load it).
        raise ExportError(
            f"--fp16 with --nms {nms}: only graphs without in-graph postprocessing convert "
            "(use --nms none, or build fp16 in TensorRT: vpipe build --fp16)"
        )
    out = Path(out)
    if out.suffix != ".onnx":
        raise ExportError(f"--out {out}: expected a .onnx file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    size = parse_size(input_size) or fam.input_size
    scale = sr_scale or fam.sr_scale
    if fam.kind != "sr" and size is None:
        raise ExportError(f"{fam.name} needs --input-size")

    n_classes, names = _resolve_classes(fam, num_classes, classes)
    model, sha, weights_meta = load_model(fam, weights, random_init, n_classes, scale)
    if score_thresh is None and fam.kind in ("ssd", "rcnn"):
        # torchvision's own threshold (SSD 0.01, SSDlite 0.001, R-CNN 0.05); a random model's scores
        # are near 1/num_classes, so it keeps everything down to 0.001 for the parity check to see.
        own = model.score_thresh if fam.kind == "ssd" else model.roi_heads.score_thresh
        score_thresh = 0.001 if random_init else float(own)
    names = names or _default_names(fam, n_classes, weights_meta, pretrained=not random_init)
    meta = _meta(fam, nms, size, names, scale, sha, model)
    try:
        wrapper, input_names, output_names = _wrap(fam, model, nms, size, score_thresh, iou_thresh, max_det,
                                                   proposals)
    except RuntimeError as exc:  # e.g. a feature map shrinks below a kernel at a small --input-size
        raise ExportError(f"{fam.name} at --input-size {size}: {first_line(exc)}") from None
    wrapper.eval()
    if random_init and fam.kind != "sr":  # small SR nets are fine with torch's default init
        _calibrate_random_model(wrapper, network_input(fam, meta, 2, size, seed=2))

    fp32_path = out.with_suffix(".fp32.onnx") if (fp16 or int8) else out
    example = network_input(fam, meta, batch, size, seed=0)
    _torch_export(wrapper, example, fp32_path, input_names, output_names, opset, fam, dynamic_batch, size, nms)
    if simplify:
        _simplify(fp32_path)
    if nms == "efficientnms":
        # Check the raw graph (ORT cannot run the TensorRT plugin), then append the plugin.
        parity = check_parity(wrapper, fp32_path, fam, meta, "none", batch, size, log) if check else {}
        from vpipe.tools.trt_nms import add_efficientnms

        add_efficientnms(fp32_path, max_det, meta_iou(model, iou_thresh), score_thresh)
    else:
        parity = check_parity(wrapper, fp32_path, fam, meta, nms, batch, size, log) if check else {}
    write_meta(fp32_path, meta)

    result = ExportResult(fp32_path, meta, 0.0, parity)
    if fp16 or int8:
        from vpipe.tools import quantize

        if int8:
            accuracy = quantize.quantize_int8(fp32_path, out, calib, log=log)
        else:
            accuracy = quantize.convert_fp16(fp32_path, out, calib, log=log)
        result.path, result.fp32_path, result.accuracy = out, fp32_path, accuracy
    result.seconds = time.perf_counter() - start
    log(f"exported {fam.name} -> {result.path} in {result.seconds:.1f}s")
    return result


def meta_iou(model: Any, iou_thresh: float | None) -> float:
    return iou_thresh if iou_thresh is not None else float(getattr(model, "nms_thresh", 0.45))


def network_input(fam: Family, meta: ModelMeta, batch: int, size: tuple[int, int] | None, seed: int):
    """A test image batch as the network sees it: normalized by meta's mean/std, as the runtime does."""
    import torch

    x = _example_input(fam, batch, size, seed)
    mean = torch.tensor(meta.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(meta.std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x * 255.0 / meta.scale - mean) / std


def _example_input(fam: Family, batch: int, size: tuple[int, int] | None, seed: int):
    """A smooth random image batch in [0,1] (noise alone gives degenerate detections)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    h, w = size or (96, 128)
    channels = 1 if fam.kind == "sr" else 3
    coarse = torch.rand(batch, channels, max(h // 16, 2), max(w // 16, 2), generator=gen)
    img = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return (0.8 * img + 0.2 * torch.rand(batch, channels, h, w, generator=gen)).clamp(0, 1)


def _torch_export(wrapper, example, path: Path, input_names, output_names, opset: int, fam: Family,
                  dynamic_batch: bool, size, nms: str) -> None:
    import warnings

    import torch

    axes: dict[str, dict[int, str]] = {}
    if dynamic_batch:
        axes = {n: {0: "batch"} for n in input_names + output_names}
    if fam.kind == "sr" and size is None:
        axes.setdefault("input", {}).update({2: "height", 3: "width"})
        axes.setdefault("output", {}).update({2: "out_height", 3: "out_width"})
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about constant sizes are expected
            torch.onnx.export(
                wrapper, (example,), str(path), dynamo=False, opset_version=opset,
                input_names=input_names, output_names=output_names, dynamic_axes=axes or None,
                do_constant_folding=True,
            )
    except Exception as exc:
        raise ExportError(f"{fam.name}: torch.onnx.export failed: {first_line(exc)}") from None


def _simplify(path: Path) -> None:
    import onnx
    import onnxslim

    model = onnxslim.slim(onnx.load(str(path)))
    onnx.save(model, str(path))


def write_meta(path: str | Path, meta: ModelMeta, extra: dict[str, str] | None = None) -> None:
    """Replace the model's metadata_props with `meta` (plus `extra`), keeping foreign keys."""
    import onnx

    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props if not p.key.startswith("vpipe.")}
    props.update(meta.to_props())
    props.update(extra or {})
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    model.producer_name = EXPORTER.split()[0]
    onnx.save(model, str(path))


# ---------------------------------------------------------------------------------------------
# Parity
# ---------------------------------------------------------------------------------------------


def check_parity(wrapper, path: Path, fam: Family, meta: ModelMeta, nms: str, batch: int, size,
                 log) -> dict[str, float]:
    """Run PyTorch and ONNX Runtime on one input; raise ExportError past the tolerances."""
    import onnxruntime as ort
    import torch

    from vpipe.tools import parity as P

    x = network_input(fam, meta, batch, size, seed=1)
    with torch.no_grad():
        ref = wrapper(x)
    ref = [t.numpy() for t in (ref if isinstance(ref, (tuple, list)) else (ref,))]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    if nms == "efficientnms":
        nms = "none"
    if fam.kind in ("sr", "segment") or nms == "none":
        figures: dict[str, float] = {}
        for name, r, g in zip([o.name for o in session.get_outputs()], ref, got):
            err = P.dense_error(r, g)
            figures[f"{name}_max_abs"], figures[f"{name}_max_rel"] = err["max_abs"], err["max_rel"]
        worst = max(v for k, v in figures.items() if k.endswith("_max_rel"))
        log("parity: " + ", ".join(f"{k}={v:.3g}" for k, v in figures.items()))
        tolerance = RAW_RTOL if fam.kind == "ssd" else DENSE_RTOL
        if not worst <= tolerance:
            raise ExportError(f"{path}: ONNX output differs from PyTorch (max rel error {worst:.3g} > {tolerance})")
        return figures
    if nms == "graph":
        pairs = [(tuple(ref), tuple(got))]
    else:
        pairs = [(P.nms_rows(*ref, b=b), P.nms_rows(*got, b=b)) for b in range(batch)]
    agreements = [P.match_boxes(r, g) for r, g in pairs]
    figures = {
        "match_rate": min(a.match_rate for a in agreements),
        "mean_iou": float(np.mean([a.mean_iou for a in agreements])),
        "max_score_diff": max(a.max_score_diff for a in agreements),
        "boxes": float(sum(a.n_ref for a in agreements)),
    }
    log("parity: " + ", ".join(f"{k}={v:.4g}" for k, v in figures.items()))
    if figures["boxes"] == 0:
        raise ExportError(f"{path}: parity check found no boxes to compare; lower --score-thresh")
    if (figures["match_rate"] < MIN_MATCH_RATE or figures["mean_iou"] < MIN_MEAN_IOU
            or figures["max_score_diff"] > MAX_SCORE_DIFF):
        raise ExportError(
            f"{path}: ONNX detections differ from PyTorch (match rate {figures['match_rate']:.3f}, "
            f"mean IoU {figures['mean_iou']:.4f}, max score diff {figures['max_score_diff']:.2g})"
        )
    return figures
