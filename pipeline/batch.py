"""Batch mode: one config over a folder of videos, into a mirrored tree of outputs.

Resumable: each output is written under a `.partial` name and renamed only once its run ended
cleanly, so a file that exists is finished and a rerun skips it; an interrupted or failed file
is redone next time. A file that fails (unreadable, or without a single frame) is reported and
does not stop the batch; corrupt or truncated files are done, with their warnings.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from vpipe.pipeline.config import load_config
from vpipe.pipeline.errors import ConfigError, VpipeError
from vpipe.pipeline.graph import Overrides, build_graph
from vpipe.pipeline.media import VIDEO_SUFFIXES
from vpipe.pipeline.runner import Runner


@dataclass
class FileResult:
    source: Path
    output: Path
    status: str  # done | skipped | failed | interrupted
    frames: int = 0
    seconds: float = 0.0
    error: str = ""
    #: the source's warnings (corrupt packets skipped, truncated).
    warnings: list[str] = field(default_factory=list)


def find_videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def output_name(relative: Path, taken: Counter) -> Path:
    """`a.mkv` -> `a.mp4`; when two inputs of one folder share a stem (`a.mkv`, `a.mp4`), each
    keeps its suffix (`a.mkv.mp4`, `a.mp4.mp4`) so neither overwrites or skips the other."""
    if taken[relative.with_suffix("")] > 1:
        return relative.with_name(relative.name + ".mp4")
    return relative.with_suffix(".mp4")


def run_batch(config_path: Path, in_dir: Path, out_dir: Path, device: str | None = None,
              log=lambda line: print(line, file=sys.stderr)) -> list[FileResult]:
    config = load_config(config_path)
    if out_dir.resolve().is_relative_to(in_dir.resolve()):
        raise ConfigError(f"--output: {out_dir} is inside the input folder {in_dir}: "
                          "its outputs would be read as inputs next time; choose another folder")
    results = []
    videos = find_videos(in_dir)
    stems = Counter(v.relative_to(in_dir).with_suffix("") for v in videos)
    for video in videos:
        relative = video.relative_to(in_dir)
        target = out_dir / output_name(relative, stems)
        if target.exists():
            results.append(FileResult(video, target, "skipped"))
            log(f"{relative}: skipped (done already: {target})")
            continue
        partial = target.with_name(target.stem + ".partial.mp4")
        audit = target.with_suffix(".jsonl")
        start = time.perf_counter()
        result = FileResult(video, target, "done")
        try:
            graph = build_graph(config, Overrides(input=str(video), output=str(partial), device=device,
                                                  audit=str(audit)))
            runner = Runner(graph)
            try:
                runner.run()
            finally:
                graph.close()
            result.frames = runner.stats.frames_out
            result.warnings = [w for node in graph.sources for w in node.element.warnings()]
            if runner.interrupted:
                result.status = "interrupted"
            elif not partial.exists():  # a stream without frames: nothing was written
                result.status, result.error = "failed", f"{video}: no frame decoded"
            else:
                partial.replace(target)
        except VpipeError as exc:
            result.status, result.error = "failed", str(exc)
        result.seconds = time.perf_counter() - start
        results.append(result)
        fps = result.frames / result.seconds if result.seconds else 0.0
        log(f"{relative}: {result.status}" + (f": {result.error}" if result.error else
                                               f" ({result.frames} frames, {fps:.1f} FPS) -> {target}"))
        for warning in result.warnings:
            log(f"{relative}: warning: {warning}")
        if result.status == "interrupted":
            break
    return results
