"""Batch mode: one config over a folder of videos, into a mirrored tree of outputs.

Resumable: each output is written under a `.partial` name and renamed only once its run ended
cleanly, and the manifest records it done with its sha256; a rerun skips a file only where the
manifest says so and the checksum still matches. Any other file under an output's name (a raw
copy, a truncated output, one from another tool) is refused, or redone with --overwrite; an
interrupted or failed file is redone next time. A file that fails (unreadable, or without a single frame) is reported and
does not stop the batch; corrupt or truncated files are done, with their warnings. Each file's
states go to the manifest (pipeline/apps/manifest.py). `process_file` is the whole of one file's
work, the same here and in a Ray task (pipeline/apps/ray_batch.py).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vpipe.pipeline.api.errors import ConfigError, VpipeError
from vpipe.pipeline.api.media import IMAGE_SUFFIXES, VIDEO_INPUT_SUFFIXES
from vpipe.pipeline.api.outputs import audit_path, partial
from vpipe.pipeline.api.paths import sha256_file
from vpipe.pipeline.apps.manifest import Manifest
from vpipe.pipeline.apps.options import Batch
from vpipe.pipeline.runtime.config import Config, load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.pipeline.runtime.overrides import Overrides, apply_overrides
from vpipe.pipeline.runtime.runner import Runner


@dataclass
class Job:
    source: Path
    #: the source's path relative to the input folder: its name in the manifest.
    name: str
    target: Path
    #: only the first N frames of the file (`run --max-frames`); None: all of them.
    max_frames: int | None = None


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
    name: str = ""
    frames_in: int = 0
    #: the run that ended it: 2 or more after a worker was lost (Ray retries).
    attempts: int = 1
    #: host:pid of the process that ran it.
    worker: str = ""
    sha256: str = ""
    audit_sha256: str = ""


def find_videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_INPUT_SUFFIXES)


def ignored(folder: Path, limit: int = 5) -> str | None:
    """A line naming the files of a batch folder that are not videos it reads (a `.gif`, a
    stray `.txt`), so none is left out without a word; None when there are none."""
    others = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                    and p.suffix.lower() not in VIDEO_INPUT_SUFFIXES + IMAGE_SUFFIXES + (".jsonl",))
    if not others:
        return None
    more = f" and {len(others) - limit} more" if len(others) > limit else ""
    return f"batch: {len(others)} files that are not videos ignored: {', '.join(others[:limit])}{more}"


def output_name(relative: Path, taken: Counter) -> Path:
    """`a.mkv` -> `a.mp4`; when two inputs of one folder share a stem (`a.mkv`, `a.mp4`), each
    keeps its suffix (`a.mkv.mp4`, `a.mp4.mp4`) so neither overwrites or skips the other. So does
    `a.partial.mp4`: no output may be named like another's temporary file (`a.ts` -> `a.mp4`,
    written as `a.partial.mp4`)."""
    if taken[relative.with_suffix("")] > 1 or relative.stem.endswith(".partial"):
        return relative.with_name(relative.name + ".mp4")
    return relative.with_suffix(".mp4")


def plan(in_dir: Path, out_dir: Path, max_frames: int | None = None) -> list[Job]:
    if out_dir.resolve().is_relative_to(in_dir.resolve()):
        raise ConfigError(f"--output: {out_dir} is inside the input folder {in_dir}: "
                          "its outputs would be read as inputs next time; choose another folder")
    videos = find_videos(in_dir)
    stems = Counter(v.relative_to(in_dir).with_suffix("") for v in videos)
    jobs = [Job(v, str(v.relative_to(in_dir)), out_dir / output_name(v.relative_to(in_dir), stems), max_frames)
            for v in videos]
    # The input folder may lie inside the output folder: no output, or its temporary name, may be an input.
    inputs = {v.resolve() for v in videos}
    for job in jobs:
        for path in (job.target, partial_of(job), audit_path(job.target, folder=False)):
            if path.resolve() in inputs:
                raise ConfigError(f"--output: {path} would write over the input {path}: choose another folder")
    return jobs


def partial_of(job: Job) -> Path:
    """What a file's output is written as until its run ended cleanly (never another's output:
    `output_name`)."""
    return partial(job.target)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def skip(job: Job) -> FileResult:
    return FileResult(job.source, job.target, "skipped", name=job.name)


def done_already(job: Job, manifest: Manifest, known: dict[str, dict]) -> bool:
    """Whether the manifest records `job`'s output as done, and the file is still that output
    (its sha256): a file that merely exists may be a raw copy or a truncated one."""
    record = known.get(job.name, {})
    return (record.get("state") == "done" and record.get("sha256") is not None
            and record.get("output") == str(job.target.relative_to(manifest.path.parent))
            and record["sha256"] == sha256_file(job.target))


def sort_out(jobs: list[Job], manifest: Manifest, overwrite: bool) -> tuple[list[Job], list[Job]]:
    """(jobs done already, jobs to run). An output that exists without the manifest vouching for
    it is refused before the batch starts, unless `overwrite` (then it is redone)."""
    known = manifest.states()
    done: list[Job] = []
    todo: list[Job] = []
    unknown: list[Job] = []
    for job in jobs:
        if not job.target.exists():
            todo.append(job)
        elif done_already(job, manifest, known):
            done.append(job)
        else:
            (todo if overwrite else unknown).append(job)
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise ConfigError(f"--output: {unknown[0].target} exists{more}, and {manifest.path} does not record it "
                          "as done with this content: --overwrite redoes it")
    return done, todo


def process_file(config: Config, job: Job, device: str | None = None, cores: int | None = None,
                 on_frames: Callable[[int], None] | None = None,
                 on_runner: Callable[[Runner], None] | None = None) -> FileResult:
    """Run the config on one file: into `NAME.partial.mp4`, renamed to its own name when complete.
    `cores`: what its engines share (default: the machine's); `on_frames`: frames written so far,
    every fraction of a second; `on_runner`: the runner before it starts (a metrics endpoint)."""
    temp = partial_of(job)
    audit = audit_path(job.target, folder=False)
    start = time.perf_counter()
    result = FileResult(job.source, job.target, "done", name=job.name, worker=worker_id())
    try:
        graph = build_graph(apply_overrides(config, Overrides(input=str(job.source), output=str(temp), device=device,
                                                              audit=str(audit), cores=cores)))
        runner = Runner(graph, max_frames=job.max_frames)
        if on_runner:
            on_runner(runner)
        try:
            runner.run(tick=(lambda: on_frames(runner.stats.frames_out)) if on_frames else None)
        finally:
            graph.close()
        result.frames = runner.stats.frames_out
        result.frames_in = sum(runner.stats.stages[node.name].frames for node in graph.sources)
        result.warnings = [w for source in graph.source_elements() for w in source.warnings()]
        if runner.interrupted:
            result.status = "interrupted"
        elif not temp.exists():  # a stream without frames: nothing was written
            result.status, result.error = "failed", f"{job.source}: no frame decoded"
        else:
            temp.replace(job.target)
            result.sha256 = sha256_file(job.target)
            result.audit_sha256 = sha256_file(audit) if audit.exists() else ""
    except VpipeError as exc:
        result.status, result.error = "failed", str(exc)
    result.seconds = time.perf_counter() - start
    return result


def report(result: FileResult, log: Callable[[str], None]) -> None:
    fps = result.frames / result.seconds if result.seconds else 0.0
    retried = f", attempt {result.attempts}" if result.attempts > 1 else ""
    log(f"{result.name}: {result.status}" + (f": {result.error}" if result.error else
                                             f" ({result.frames} frames, {fps:.1f} FPS{retried}) -> {result.output}"))
    for warning in result.warnings:
        log(f"{result.name}: warning: {warning}")


def preflight(config: Config, jobs: list[Job], device: str | None = None) -> None:
    """Build the graph once on the first file to do, so a mistake in the config is one error
    before the batch, not the same failure once per file. A problem of that file itself (it
    names the file) is left to its own run, where it fails alone and the batch goes on."""
    if not jobs:
        return
    job = jobs[0]
    temp = partial_of(job)
    try:
        build_graph(apply_overrides(config, Overrides(input=str(job.source), output=str(temp), device=device,
                                                      audit=str(audit_path(job.target, folder=False))))).close()
    except ConfigError as exc:
        if str(job.source) not in str(exc):
            raise


def run_batch(batch: Batch, log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> list[FileResult]:
    """Each file of the batch in turn, skipping what the manifest records as done."""
    config = load_config(batch.config)
    jobs = plan(batch.in_dir, batch.out_dir, batch.max_frames)
    manifest = Manifest(batch.out_dir)
    done, todo = sort_out(jobs, manifest, batch.overwrite)
    preflight(config, todo, batch.device)
    others = ignored(batch.in_dir)
    if others:
        log(others)
    results = []
    for job in jobs:
        if job in done:
            results.append(skip(job))
            log(f"{job.name}: skipped (done already: {job.target})")
            continue
        manifest.write(job.name, "running", attempt=1, worker=worker_id())
        result = process_file(config, job, batch.device)
        manifest.write_result(result)
        results.append(result)
        report(result, log)
        if result.status == "interrupted":
            break
    return results
