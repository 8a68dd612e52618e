"""`vpipe build`: ONNX -> TensorRT 10 plan, with a metadata sidecar, an engine cache and a check.

- TensorRT's Python API: `Builder`, `create_network(0)` (explicit batch is the only mode in 10),
  `OnnxParser`, a WORKSPACE memory-pool limit, one optimization profile, `build_serialized_network`.
- INT8 comes from the Q/DQ nodes `vpipe export --int8` writes (explicit quantization), never
  from the deprecated implicit calibrator.
- The plan is written raw (trtexec/polygraphy read it); `<plan>.json` holds the ModelMeta props,
  the ONNX sha256, the TensorRT version and the GPU name.
- Built plans are cached by ONNX sha256, TensorRT version, GPU and build flags.
- `--check` compares TensorRT with ONNX Runtime through polygraphy's Comparator.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vpipe.engines.metadata import ModelMeta
from vpipe.pipeline.api.paths import sha256_file
from vpipe.tools.export.errors import ExportError

#: dense outputs may differ by fp16/int8 rounding; detections are compared by matching.
CHECK_TOLERANCE = {"fp32": (1e-3, 1e-3), "fp16": (2e-2, 2e-2), "int8": (1e-1, 1e-1)}


def cache_dir() -> Path:
    return Path(os.environ.get("VPIPE_CACHE", Path.home() / ".cache" / "vpipe")) / "engines"


def parse_shape(text: str | None, flag: str) -> tuple[int, ...] | None:
    """'1x3x320x320' -> (1, 3, 320, 320)."""
    if not text:
        return None
    try:
        shape = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ExportError(f"{flag} {text!r}: expected a shape like 1x3x320x320") from None
    if not shape or min(shape) < 1:
        raise ExportError(f"{flag} {text!r}: every dimension must be at least 1")
    return shape


def gpu_name(index: int = 0) -> str:
    from vpipe.engines.tensorrt import check, cudart

    props = check(cudart().cudaGetDeviceProperties(index))
    name = props.name
    return (name.decode() if isinstance(name, bytes) else str(name)).strip("\x00 ")


#: the TensorRT major version the builder calls are written for (11 dropped the FP16/INT8 builder
#: flags for strongly typed networks); pyproject's `tensorrt` extra pins the same.
TENSORRT_MAJOR = 10


def import_tensorrt():
    """The tensorrt module, if it is the major version this code supports; else one line."""
    try:
        import tensorrt as trt
    except ImportError:
        raise ExportError("vpipe build needs TensorRT 10 and a GPU: pip install 'vpipe[tensorrt]'") from None
    if trt.__version__.split(".")[0] != str(TENSORRT_MAJOR):
        raise ExportError(f"TensorRT {trt.__version__} is installed; vpipe build supports TensorRT {TENSORRT_MAJOR} "
                          f"(its builder flags): pip install 'tensorrt>={TENSORRT_MAJOR},<{TENSORRT_MAJOR + 1}'")
    return trt


def _profile_shapes(network: Any, min_s, opt_s, max_s, meta: ModelMeta) -> dict[str, tuple]:
    """min/opt/max for the one input: the flags, else the static shape, else meta's input size;
    a model that takes any size and has none of them is refused (no size is a safe guess)."""
    tensor = network.get_input(0)
    static = tuple(tensor.shape)
    if all(d > 0 for d in static) and not (min_s or opt_s or max_s):
        return {}
    if opt_s is None and not meta.input_size and any(d <= 0 for d in static[-2:]):
        if not (min_s or max_s):
            # A guessed size (320x320 once) builds an engine that refuses every real frame.
            example = "x".join(str(d if d > 0 else v) for d, v in zip(static, (1, 3, 720, 1280)))
            raise ExportError(f"input {tensor.name} {static} takes any input size: give the frames' size, e.g. "
                              f"--opt {example} (the detect stage's input_size, else the stream's), and "
                              "--min/--max for a range")
        opt_s = max_s or min_s
    if opt_s is None:
        fill = meta.input_size or (1, 1)  # (only read for a dynamic height or width)
        opt_s = tuple(d if d > 0 else (fill[i - len(static) + 2] if i >= len(static) - 2 else 1)
                      for i, d in enumerate(static))
    min_s, max_s = min_s or opt_s, max_s or opt_s
    for shape, flag in ((min_s, "--min"), (opt_s, "--opt"), (max_s, "--max")):
        if len(shape) != len(static) or any(d > 0 and s != d for s, d in zip(shape, static)):
            raise ExportError(f"{flag} {'x'.join(map(str, shape))}: does not fit input {tensor.name} {static}")
    if not all(a <= b <= c for a, b, c in zip(min_s, opt_s, max_s)):
        raise ExportError("--min/--opt/--max: need min <= opt <= max in every dimension")
    return {tensor.name: (min_s, opt_s, max_s)}


def build_engine(
    onnx_path: str | Path,
    out: str | Path,
    fp16: bool = False,
    int8: bool = False,
    workspace_gb: float = 2.0,
    min_shape: str | None = None,
    opt_shape: str | None = None,
    max_shape: str | None = None,
    timing_cache: str | Path | None = None,
    check: bool = True,
    use_cache: bool = True,
    log: Callable = print,
) -> Path:
    """Build (or fetch from the cache) a plan for `onnx_path`; writes `out` and `out.json`."""
    import onnx

    onnx_path, out = Path(onnx_path), Path(out)
    if not onnx_path.is_file():
        raise ExportError(f"{onnx_path}: ONNX file not found")
    trt = import_tensorrt()
    model = onnx.load(str(onnx_path), load_external_data=False)
    props = {p.key: p.value for p in model.metadata_props}
    meta = ModelMeta.from_props(props)
    has_qdq = any(n.op_type == "QuantizeLinear" for n in model.graph.node)
    if int8 and not has_qdq:
        raise ExportError(f"{onnx_path}: --int8 needs a Q/DQ model (vpipe export --int8 --calib DIR)")
    shapes = [parse_shape(min_shape, "--min"), parse_shape(opt_shape, "--opt"), parse_shape(max_shape, "--max")]
    onnx_sha = sha256_file(onnx_path)
    gpu = gpu_name()
    precision = "int8" if (int8 or has_qdq) else "fp16" if fp16 else "fp32"
    key_text = json.dumps([onnx_sha, trt.__version__, gpu, precision, fp16, workspace_gb, shapes])
    cached = cache_dir() / f"{hashlib.sha256(key_text.encode()).hexdigest()[:24]}.engine"
    sidecar = {
        "props": props,
        "onnx_sha256": onnx_sha,
        "tensorrt_version": trt.__version__,
        "gpu": gpu,
        "precision": precision,
    }
    if use_cache and cached.is_file():
        log(f"engine cache hit: {cached}")
        plan = cached.read_bytes()
    else:
        plan, profile = _build(trt, onnx_path, meta, fp16, int8 or has_qdq, workspace_gb, shapes,
                               timing_cache, log)
        sidecar["profile"] = {k: [list(s) for s in v] for k, v in profile.items()}
        if use_cache:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(plan)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(plan)
    out.with_name(out.name + ".json").write_text(json.dumps(sidecar, indent=2))
    if check:
        compare_with_onnxruntime(onnx_path, out, meta, precision, log=log)
    return out


def _build(trt: Any, onnx_path: Path, meta: ModelMeta, fp16: bool, int8: bool, workspace_gb: float,
           shapes: list, timing_cache: str | Path | None, log: Callable) -> tuple[bytes, dict]:
    logger = trt.Logger(trt.Logger.WARNING)
    trt.init_libnvinfer_plugins(logger, "")  # EfficientNMS_TRT for --nms efficientnms exports
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        first = parser.get_error(0).desc() if parser.num_errors else "unknown error"
        raise ExportError(f"{onnx_path}: TensorRT cannot parse it: {first}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if int8:
        config.set_flag(trt.BuilderFlag.INT8)  # precision taken from the graph's Q/DQ scales
    profile_shapes = _profile_shapes(network, *shapes, meta)
    if profile_shapes:
        profile = builder.create_optimization_profile()
        for name, (lo, mid, hi) in profile_shapes.items():
            profile.set_shape(name, lo, mid, hi)
        config.add_optimization_profile(profile)
    cache_file = Path(timing_cache) if timing_cache else None
    cache = config.create_timing_cache(cache_file.read_bytes() if cache_file and cache_file.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    log(f"building TensorRT {trt.__version__} engine from {onnx_path} ...")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(f"{onnx_path}: TensorRT build failed (see the TensorRT log above)")
    if cache_file:
        cache_file.write_bytes(bytes(memoryview(config.get_timing_cache().serialize())))
    return bytes(memoryview(serialized)), profile_shapes


def compare_with_onnxruntime(onnx_path: Path, plan_path: Path, meta: ModelMeta, precision: str,
                             log: Callable = print) -> dict[str, float]:
    """Run ORT and TensorRT on the same random inputs (polygraphy); ExportError when they disagree."""
    if meta.nms == "efficientnms":
        log("check skipped: ONNX Runtime cannot run the EfficientNMS_TRT plugin")
        return {}
    from polygraphy.backend.onnxrt import OnnxrtRunner, SessionFromOnnx
    from polygraphy.backend.trt import EngineFromBytes, TrtRunner
    from polygraphy.comparator import Comparator, CompareFunc, DataLoader

    from vpipe.tools.export import parity as P

    side = json.loads(plan_path.with_name(plan_path.name + ".json").read_text())
    loader = DataLoader(iterations=2, val_range=(0.0, 1.0))
    profile = side.get("profile") or {}
    if profile:
        from polygraphy.common import TensorMetadata

        metadata = TensorMetadata()
        for name, (_, opt, _) in profile.items():
            metadata.add(name, np.float32, tuple(opt))
        loader = DataLoader(iterations=2, val_range=(0.0, 1.0), input_metadata=metadata)
    runners = [
        OnnxrtRunner(SessionFromOnnx(str(onnx_path), providers=["cpu"])),
        TrtRunner(EngineFromBytes(plan_path.read_bytes())),
    ]
    results = Comparator.run(runners, data_loader=loader)
    if meta.decoder in ("sr", "segment", "raw"):
        atol, rtol = CHECK_TOLERANCE[precision]
        ok = bool(Comparator.compare_accuracy(results, compare_func=CompareFunc.simple(atol=atol, rtol=rtol)))
        if not ok:
            raise ExportError(f"{plan_path}: TensorRT output differs from ONNX Runtime past atol={atol}, rtol={rtol}")
        log("check: TensorRT matches ONNX Runtime")
        return {}
    # Detections: order may differ between backends; compare by greedy box matching.
    (_, ort_runs), (_, trt_runs) = list(results.items()) if hasattr(results, "items") else list(results)
    worst = 1.0
    for a, b in zip(ort_runs, trt_runs):
        if meta.decoder == "torchvision":
            pair = [tuple(r[k] for k in ("boxes", "scores", "labels")) for r in (a, b)]
        else:
            pair = [P.nms_rows(r["num_dets"], r["det_boxes"], r["det_scores"], r["det_classes"]) for r in (a, b)]
        worst = min(worst, P.match_boxes(*pair).match_rate)
    log(f"check: TensorRT vs ONNX Runtime box match rate {worst:.3f}")
    if worst < 0.9:
        raise ExportError(f"{plan_path}: TensorRT detections differ from ONNX Runtime (match rate {worst:.2f})")
    return {"match_rate": worst}

