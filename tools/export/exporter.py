"""`vpipe export`: PyTorch family -> ONNX with vpipe metadata, parity-checked, optionally fp16/int8.

The one entry point is `export_model()`: a family (a row of `tools/export/families.py`) and an
`ExportOptions` (the flags). What differs between a super-resolution net, a segmenter and the two
kinds of detector is in one class per kind (`tools/export/kinds.py`); the weights are loaded by
`tools/export/weights.py`. Detectors go through the legacy TorchScript exporter (`dynamo=False`):
the dynamo exporter fails on torchvision detection models (pytorch #118884). torch is imported
inside functions only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vpipe.engines.metadata import ModelMeta
from vpipe.pipeline.api.errors import first_line
from vpipe.tools.export.errors import ExportError
from vpipe.tools.export.families import NMS_MODES, Family, get_family
from vpipe.tools.export.kinds import Kind, kind_of
from vpipe.tools.export.metadata import EXPORTER, write_meta
from vpipe.tools.export.options import ExportOptions, parse_size, read_classes
from vpipe.tools.export.weights import calibrate_random_model, load_model, torchvision_categories

#: detections are compared by matching boxes: these are the least agreement an fp32 export needs.
MIN_MATCH_RATE = 0.9
MIN_MEAN_IOU = 0.98
MAX_SCORE_DIFF = 5e-3


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


@dataclass
class _Job:
    """One export under way: the family, its kind, and what was settled from the options."""

    family: Family
    kind: Kind
    options: ExportOptions
    nms: str
    size: tuple[int, int] | None
    log: Callable[..., Any]


def export_model(family: str, out: str | Path, options: ExportOptions | None = None,
                 log: Callable[..., Any] = print) -> ExportResult:
    """Export one family to `out`; see docs/exporters.md. Raises ExportError with a one-line reason."""
    start = time.perf_counter()
    o = options or ExportOptions()
    fam = get_family(family)
    kind = kind_of(fam)
    nms = kind.resolve_nms(fam, o.nms)
    _check_flags(kind, fam, o, nms)
    out = Path(out)
    if out.suffix != ".onnx":
        raise ExportError(f"--out {out}: expected a .onnx file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    job = _Job(fam, kind, o, nms, parse_size(o.input_size) or fam.input_size, log)
    if kind.needs_size and job.size is None:
        raise ExportError(f"{fam.name} needs --input-size")

    model, meta, wrapper, wrapped = _prepare(job)
    fp32_path = out.with_suffix(".fp32.onnx") if (o.fp16 or o.int8) else out
    parity = _write_fp32(job, model, meta, wrapper, wrapped, fp32_path)
    result = ExportResult(fp32_path, meta, 0.0, parity)
    if o.fp16 or o.int8:
        from vpipe.tools.export import quantize

        if o.int8:
            accuracy = quantize.quantize_int8(fp32_path, out, o.calib, log=log)
        else:
            accuracy = quantize.convert_fp16(fp32_path, out, o.calib, log=log)
        result.path, result.fp32_path, result.accuracy = out, fp32_path, accuracy
    result.seconds = time.perf_counter() - start
    log(f"exported {fam.name} -> {result.path} in {result.seconds:.1f}s")
    return result


def _check_flags(kind: Kind, family: Family, o: ExportOptions, nms: str) -> None:
    """The flags, checked in one order, so the first wrong one is the one named."""
    if nms not in NMS_MODES:
        raise ExportError(f"--nms {nms}: expected one of {', '.join(NMS_MODES)}")
    kind.check_nms(family, nms)
    if o.batch < 1:
        raise ExportError(f"--batch {o.batch}: must be at least 1")
    if family.batch1_only and (o.batch > 1 or o.dynamic_batch):
        raise ExportError(
            f"{family.name} exports only at batch 1 (torchvision R-CNN ONNX export is single-image, "
            "pytorch/vision #8937, #2311); drop --batch/--dynamic-batch"
        )
    kind.check_batch(nms, o)
    if o.int8 and not o.calib:
        raise ExportError("--int8 needs --calib DIR, a folder of representative images")
    if o.calib and not Path(o.calib).is_dir():
        raise ExportError(f"--calib {o.calib}: not a directory")
    if o.fp16 and o.int8:
        raise ExportError("--fp16 and --int8 exclude each other; pass one")
    kind.check_fp16(nms, o)


def _prepare(job: _Job) -> tuple[Any, ModelMeta, Any, tuple[list[str], list[str], float | None]]:
    """The torch model, its metadata and the wrapper to trace (with its IO names and score threshold)."""
    fam, kind, o = job.family, job.kind, job.options
    scale = o.sr_scale or fam.sr_scale
    n_classes, names = _resolve_classes(kind, fam, o.num_classes, o.classes)
    model, sha, weights_meta = load_model(fam, o.weights, o.random_init, n_classes, scale)
    score = o.score_thresh if o.score_thresh is not None else kind.default_score_thresh(model, o.random_init)
    names = names or _default_names(kind, fam, n_classes, weights_meta, pretrained=not o.random_init)
    common = dict(architecture=fam.name, exporter=EXPORTER, weights_sha256=sha, input_size=job.size)
    meta = kind.meta(fam, job.nms, names, scale, model, common)
    try:
        wrapper, input_names, output_names = kind.wrap(model, job.nms, job.size, o, score)
    except RuntimeError as exc:  # e.g. a feature map shrinks below a kernel at a small --input-size
        raise ExportError(f"{fam.name} at --input-size {job.size}: {first_line(exc)}") from None
    wrapper.eval()
    if o.random_init and kind.calibrate_random:
        calibrate_random_model(wrapper, network_input(kind, meta, 2, job.size, seed=2))
    return model, meta, wrapper, (input_names, output_names, score)


def _write_fp32(job: _Job, model: Any, meta: ModelMeta, wrapper: Any,
                wrapped: tuple[list[str], list[str], float | None], path: Path) -> dict[str, float]:
    """Trace to `path`, simplify, check parity, graft EfficientNMS, write the metadata."""
    o = job.options
    input_names, output_names, score = wrapped
    example = network_input(job.kind, meta, o.batch, job.size, seed=0)
    _torch_export(wrapper, example, path, input_names, output_names, job, o.opset)
    if o.simplify:
        _simplify(path)
    if job.nms == "efficientnms":
        # Check the raw graph (ORT cannot run the TensorRT plugin), then append the plugin.
        parity = _parity(job, wrapper, path, meta, "none")
        from vpipe.tools.export.trt_nms import add_efficientnms

        add_efficientnms(path, o.max_det, meta_iou(model, o.iou_thresh), score)
    else:
        parity = _parity(job, wrapper, path, meta, job.nms)
    write_meta(path, meta)
    return parity


def _parity(job: _Job, wrapper: Any, path: Path, meta: ModelMeta, nms: str) -> dict[str, float]:
    if not job.options.check:
        return {}
    return check_parity(wrapper, path, job.kind, meta, nms, job.options.batch, job.size, job.log)


def _resolve_classes(kind: Kind, family: Family, num_classes: int | None,
                     classes_file: str | None) -> tuple[int, list[str] | None]:
    """Class count and names from --num-classes / --classes; detectors keep index 0 as background."""
    names = read_classes(classes_file) if classes_file else None
    if names is not None:
        names = kind.with_background(names)
    if names is not None and num_classes is not None and num_classes != len(names):
        raise ExportError(
            f"--classes {classes_file}: {len(names)} names (background included for detectors) "
            f"but --num-classes {num_classes}"
        )
    return (len(names) if names else num_classes or family.num_classes), names


def _default_names(kind: Kind, family: Family, num_classes: int, weights_meta: dict | None,
                   pretrained: bool) -> list[str]:
    if weights_meta and weights_meta.get("categories") and len(weights_meta["categories"]) == num_classes:
        return list(weights_meta["categories"])
    if pretrained and num_classes == family.num_classes and kind.torchvision_weights:
        # torchvision checkpoints of these families are COCO (detectors) or COCO-with-VOC-labels.
        return list(torchvision_categories(family))
    return kind.fallback_names(num_classes)


def meta_iou(model: Any, iou_thresh: float | None) -> float:
    return iou_thresh if iou_thresh is not None else float(getattr(model, "nms_thresh", 0.45))


def network_input(kind: Kind, meta: ModelMeta, batch: int, size: tuple[int, int] | None, seed: int):
    """A test image batch as the network sees it: normalized by meta's mean/std, as the runtime does."""
    import torch

    x = _example_input(kind, batch, size, seed)
    mean = torch.tensor(meta.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(meta.std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x * 255.0 / meta.scale - mean) / std


def _example_input(kind: Kind, batch: int, size: tuple[int, int] | None, seed: int):
    """A smooth random image batch in [0,1] (noise alone gives degenerate detections)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    h, w = size or (96, 128)
    channels = kind.channels
    coarse = torch.rand(batch, channels, max(h // 16, 2), max(w // 16, 2), generator=gen)
    img = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return (0.8 * img + 0.2 * torch.rand(batch, channels, h, w, generator=gen)).clamp(0, 1)


def _torch_export(wrapper, example, path: Path, input_names: list[str], output_names: list[str], job: _Job,
                  opset: int) -> None:
    import warnings

    import torch

    axes: dict[str, dict[int, str]] = {}
    if job.options.dynamic_batch:
        axes = {n: {0: "batch"} for n in input_names + output_names}
    for name, dims in job.kind.dynamic_axes(job.size).items():
        axes.setdefault(name, {}).update(dims)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about constant sizes are expected
            torch.onnx.export(
                wrapper, (example,), str(path), dynamo=False, opset_version=opset,
                input_names=input_names, output_names=output_names, dynamic_axes=axes or None,
                do_constant_folding=True,
            )
    except Exception as exc:
        raise ExportError(f"{job.family.name}: torch.onnx.export failed: {first_line(exc)}") from None


def _simplify(path: Path) -> None:
    import onnx
    import onnxslim

    model = onnxslim.slim(onnx.load(str(path)))
    onnx.save(model, str(path))


# ---------------------------------------------------------------------------------------------
# Parity
# ---------------------------------------------------------------------------------------------


def check_parity(wrapper, path: Path, kind: Kind, meta: ModelMeta, nms: str, batch: int, size,
                 log) -> dict[str, float]:
    """Run PyTorch and ONNX Runtime on one input; raise ExportError past the tolerances."""
    import onnxruntime as ort
    import torch

    x = network_input(kind, meta, batch, size, seed=1)
    with torch.no_grad():
        ref = wrapper(x)
    ref = [t.numpy() for t in (ref if isinstance(ref, (tuple, list)) else (ref,))]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    if nms == "efficientnms":
        nms = "none"
    if not kind.detector or nms == "none":
        names = [o.name for o in session.get_outputs()]
        return _dense_parity(path, names, ref, got, kind.dense_rtol, log)
    return _detection_parity(path, nms, batch, ref, got, log)


def _dense_parity(path: Path, names: list[str], ref, got, tolerance: float, log) -> dict[str, float]:
    from vpipe.tools.export import parity as P

    figures: dict[str, float] = {}
    for name, r, g in zip(names, ref, got):
        err = P.dense_error(r, g)
        figures[f"{name}_max_abs"], figures[f"{name}_max_rel"] = err["max_abs"], err["max_rel"]
    worst = max(v for k, v in figures.items() if k.endswith("_max_rel"))
    log("parity: " + ", ".join(f"{k}={v:.3g}" for k, v in figures.items()))
    if not worst <= tolerance:
        raise ExportError(f"{path}: ONNX output differs from PyTorch (max rel error {worst:.3g} > {tolerance})")
    return figures


def _detection_parity(path: Path, nms: str, batch: int, ref, got, log) -> dict[str, float]:
    from vpipe.tools.export import parity as P

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
