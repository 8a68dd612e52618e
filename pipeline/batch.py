"""Batch mode: one config over a folder of videos, into a mirrored tree of outputs.

Resumable: each output is written under a `.partial` name and renamed only once its run ended
cleanly, so a file that exists is finished and a rerun skips it; an interrupted or failed file
is redone next time. A file that fails does not stop the batch.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vpipe.pipeline.config import load_config
from vpipe.pipeline.errors import ConfigError, VpipeError
from vpipe.pipeline.graph import Overrides, build_graph
from vpipe.pipeline.runner import Runner
from vpipe.stages.video_sink import VIDEO_SUFFIXES


@dataclass
class FileResult:
    source: Path
    output: Path
    status: str  # done | skipped | failed | interrupted
    frames: int = 0
    seconds: float = 0.0
    error: str = ""


def find_videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def run_batch(config_path: Path, in_dir: Path, out_dir: Path, device: str | None = None,
              log=lambda line: print(line, file=sys.stderr)) -> list[FileResult]:
    config = load_config(config_path)
    if out_dir.resolve().is_relative_to(in_dir.resolve()):
        raise ConfigError(f"--output: {out_dir} is inside the input folder {in_dir}: "
                          "its outputs would be read as inputs next time; choose another folder")
    results = []
    for video in find_videos(in_dir):
        relative = video.relative_to(in_dir)
        target = out_dir / relative.with_suffix(".mp4")
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
            if runner.interrupted:
                result.status = "interrupted"
            else:
                partial.replace(target)
        except VpipeError as exc:
            result.status, result.error = "failed", str(exc)
        result.seconds = time.perf_counter() - start
        results.append(result)
        fps = result.frames / result.seconds if result.seconds else 0.0
        log(f"{relative}: {result.status}" + (f": {result.error}" if result.error else
                                               f" ({result.frames} frames, {fps:.1f} FPS) -> {target}"))
        if result.status == "interrupted":
            break
    return results
