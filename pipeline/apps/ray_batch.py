"""Batch mode on Ray: the same config over a folder, one Ray task per video file.

`vpipe run CONFIG -i DIR -o DIR --ray [ADDRESS]`: without ADDRESS a local Ray runtime on this
machine, with `auto` or `ray://HOST:PORT` an existing cluster. Ray schedules, places and
retries; a task is `batch.process_file`, the very code of a local batch, so a file gives the
same pixels and audit either way. The driver alone writes the manifest (one writer, no locks)
and draws the progress; the workers report to it through a small actor. Ray is imported here
only, inside functions: the rest of vpipe runs without it.

- Resources: each task asks for `cpus` CPUs (and a GPU when the device is cuda or tensorrt);
  its engines share exactly those cores (ORT intra-op threads), not the node's.
- Models travel once through the object store and are cached per node by checksum; a task
  reads the cached file, never the driver's disk.
- A worker that dies mid-file (OOM kill, lost node) is retried by Ray up to `retries` times;
  every attempt gets a `running` line in the manifest. The dead attempt's `.partial` files are
  written over by the next one and renamed only when it completes.
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from vpipe.pipeline.api.errors import VpipeError, first_line
from vpipe.pipeline.api.paths import sha256_file
from vpipe.pipeline.apps.batch import FileResult, Job, ignored, plan, preflight, process_file, skip, sort_out, worker_id
from vpipe.pipeline.apps.manifest import Manifest
from vpipe.pipeline.apps.options import Batch, RayOptions, Watch
from vpipe.pipeline.runtime.config import Config, load_config

if TYPE_CHECKING:  # metrics needs prometheus_client, imported only with --metrics-port
    from vpipe.pipeline.apps.metrics import RunnerCollector

#: seconds between a task's frame counts to the driver (progress only).
REPORT_EVERY = 1.0


@dataclass
class RayRun:
    results: list[FileResult]
    seconds: float
    #: worker (host:pid) -> its Prometheus endpoint (host:port), with --metrics-port.
    metrics: dict[str, str] = field(default_factory=dict)


def import_ray():
    try:
        import ray
    except ImportError:
        raise VpipeError("--ray needs Ray: pip install 'vpipe[ray]'") from None
    return ray


class Tracker:
    """The cluster's live state, in one actor: the files running now (their attempts and frame
    counts), the attempts started since the driver last looked, each worker's metrics endpoint.
    Finished files are forgotten, so its size follows the tasks in flight, not the archive."""

    def __init__(self):
        self.attempts: dict[str, int] = {}
        self.frames: dict[str, int] = {}
        self.starts: list[tuple[str, int, str]] = []
        self.metrics: dict[str, str] = {}

    def started(self, name: str, worker: str, metrics: str = "") -> int:
        self.attempts[name] = self.attempts.get(name, 0) + 1
        self.frames[name] = 0
        self.starts.append((name, self.attempts[name], worker))
        if metrics:
            self.metrics[worker] = metrics
        return self.attempts[name]

    def progress(self, name: str, frames: int) -> None:
        if name in self.attempts:  # a late report of a file already forgotten is dropped
            self.frames[name] = frames

    def forget(self, names: list[str]) -> None:
        for name in names:
            self.attempts.pop(name, None)
            self.frames.pop(name, None)

    def snapshot(self) -> tuple[list[tuple[str, int, str]], dict[str, int], dict[str, str]]:
        """(attempts started since the last call, frames of the files running, metrics endpoints)."""
        starts, self.starts = self.starts, []
        return starts, self.frames, self.metrics


def run_file(config: Config, job: Job, device: str | None, cpus: int, tracker, metrics: tuple[int, str] | None,
             models: list[tuple[int, str, str]], *blobs: bytes) -> FileResult:
    """A Ray task: one file, with this task's CPUs and the models from the object store.

    It never calls `ray.get`: a task blocked in `ray.get` gives its CPU back to the scheduler,
    which starts another task beside it on the same core. So the models come as arguments,
    fetched before the task starts, and the start is confirmed through the call's future, which
    the scheduler does not see (a start sent without waiting can die with a worker killed early,
    and the manifest would miss that attempt)."""
    endpoint = serve_worker_metrics(*metrics) if metrics else ""
    tracker.started.remote(job.name, worker_id(), endpoint).future().result(timeout=60)
    last = [0.0]

    def on_frames(frames: int) -> None:
        if time.monotonic() - last[0] >= REPORT_EVERY:
            last[0] = time.monotonic()
            tracker.progress.remote(job.name, frames)

    return process_file(local_models(config, models, blobs), job, device, cores=cpus, on_frames=on_frames,
                        on_runner=watch_metrics if metrics else None)


def ship_models(ray, config: Config) -> tuple[list[tuple[int, str, str]], list]:
    """Each stage's engine file into the object store: [(stage index, file name, sha256)], [refs]."""
    models, refs = [], []
    for i, spec in enumerate(config.spec.stages):
        path = config.resolve(spec.engine) if spec.engine else None
        if path and path.is_file():
            models.append((i, path.name, sha256_file(path)))
            refs.append(ray.put(path.read_bytes()))
    return models, refs


def local_models(config: Config, models: list[tuple[int, str, str]], blobs: tuple[bytes, ...]) -> Config:
    """The config with its engines read from this node's cache, written there once per node."""
    if not models:
        return config
    config = copy.deepcopy(config)
    cache = Path(tempfile.gettempdir()) / "vpipe-models"
    for (i, name, digest), blob in zip(models, blobs):
        path = cache / digest / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fresh = path.with_name(f"{name}.{os.getpid()}.tmp")
            fresh.write_bytes(blob)
            fresh.replace(path)  # atomic: tasks on one node may write it at once
        config.spec.stages[i].engine = str(path)
    return config


# -- metrics: one endpoint per worker process, showing the file it runs now ---------------------

@dataclass
class _WorkerMetrics:
    """This worker process's endpoint, and the collector of the file it runs now."""

    collector: RunnerCollector | None = None
    endpoint: str = ""


_current = _WorkerMetrics()


class _CurrentFile:
    def collect(self):
        collector = _current.collector
        return collector.collect() if collector else iter(())


def serve_worker_metrics(port: int, host: str, tries: int = 64) -> str:
    """Serve this worker's metrics on the first free port from `port` (once per process)."""
    if _current.endpoint:
        return _current.endpoint
    from vpipe.pipeline.apps.metrics import prometheus

    client = prometheus()
    registry = client.CollectorRegistry()
    registry.register(_CurrentFile())
    shown = import_ray().util.get_node_ip_address() if host in ("0.0.0.0", "::") else host
    for candidate in range(port, port + tries):
        try:
            client.start_http_server(candidate, addr=host, registry=registry)
        except OSError:
            continue
        _current.endpoint = f"{shown}:{candidate}"
        break
    return _current.endpoint


def watch_metrics(runner) -> None:
    from vpipe.pipeline.apps.metrics import RunnerCollector

    _current.collector = RunnerCollector(runner)


# -- the driver ---------------------------------------------------------------------------------

def connect(ray, address: str | None) -> bool:
    """Join `address` or start a local runtime; True when this call started (and owns) it."""
    if ray.is_initialized():
        return False
    try:
        if address in (None, "", "local"):
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except Exception as exc:  # Ray's connection errors are of many types
        raise VpipeError(f"--ray {address or ''}: cannot start or reach Ray: {first_line(exc)}".replace("  ", " ")) from None
    return True


def run_ray_batch(batch: Batch, options: RayOptions | None = None, watch: Watch | None = None,
                  log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> RayRun:
    """Process the folder on Ray (each worker serving metrics from `watch.metrics_port` on)."""
    options, watch = options or RayOptions(), watch or Watch()
    config = load_config(batch.config)
    jobs = plan(batch.in_dir, batch.out_dir, batch.max_frames)
    manifest = Manifest(batch.out_dir)
    done, pending = sort_out(jobs, manifest, batch.overwrite)
    # On the CPU: the driver may have no GPU; the workers check their device themselves.
    preflight(config, pending, device="cpu")
    others = ignored(batch.in_dir)
    if others:
        log(others)
    started = time.perf_counter()
    results = [skip(job) for job in done]
    if not pending:
        return RayRun(results, time.perf_counter() - started)
    if watch.metrics_port:
        from vpipe.pipeline.apps.metrics import prometheus

        prometheus()  # fails here, once, not in every task
    ray = import_ray()
    owned = connect(ray, options.address)
    try:
        finished, endpoints = _run_on_ray(ray, config, pending, manifest, batch.device, options, watch, log)
    finally:
        if owned:
            ray.shutdown()
    return RayRun(results + finished, time.perf_counter() - started, endpoints)


def _run_on_ray(ray, config: Config, pending: list[Job], manifest: Manifest, device: str | None,
                options: RayOptions, watch: Watch, log: Callable[[str], None]) -> tuple[list[FileResult], dict[str, str]]:
    """The files to do as Ray tasks, with their models in the object store and a tracker actor."""
    gpus = 1 if (device or config.spec.device or "cpu").startswith(("cuda", "tensorrt")) else 0
    task = ray.remote(run_file).options(num_cpus=options.cpus, num_gpus=gpus, max_retries=options.retries,
                                        retry_exceptions=False)
    tracker = ray.remote(Tracker).options(num_cpus=0).remote()
    shared, (models, blobs) = ray.put(config), ship_models(ray, config)
    metrics = (watch.metrics_port, watch.metrics_host) if watch.metrics_port else None

    def submit(job: Job):
        return task.remote(shared, job, device, options.cpus, tracker, metrics, models, *blobs)

    return drive(ray, submit, pending, tracker, manifest, options.cpus, watch.quiet, log)


def drive(ray, submit, pending: list[Job], tracker, manifest: Manifest, cpus: int, quiet: bool,
          log) -> tuple[list[FileResult], dict[str, str]]:
    """Keep the cluster busy with a bounded window of tasks; record each attempt and result."""
    from vpipe.pipeline.apps.batch_progress import BatchProgress

    window = max(4, 2 * int(ray.cluster_resources().get("CPU", 1) // cpus))
    queue, results = deque(pending), []
    in_flight: dict[Any, Job] = {}  # task ref -> its file
    attempts: dict[str, int] = {}
    endpoints: dict[str, str] = {}
    with BatchProgress(len(pending), enabled=not quiet) as progress:
        try:
            while queue or in_flight:
                while queue and len(in_flight) < window:
                    job = queue.popleft()
                    in_flight[submit(job)] = job
                ready, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=0.5, fetch_local=False)
                starts, running, endpoints = ray.get(tracker.snapshot.remote())
                for name, attempt, worker in starts:
                    attempts[name] = attempt
                    manifest.write(name, "running", attempt=attempt, worker=worker)
                for ref in ready:  # each one's start is in `starts`: the task waited for it
                    job = in_flight.pop(ref)
                    result = collect(ray, ref, job, attempts.pop(job.name, 1))
                    manifest.write_result(result)
                    results.append(result)
                    progress.log(result, log)
                    tracker.forget.remote([job.name])
                progress.update(results, running)
        except KeyboardInterrupt:
            for ref, job in in_flight.items():
                ray.cancel(ref)
                manifest.write(job.name, "interrupted")
                results.append(FileResult(job.source, job.target, "interrupted", name=job.name))
    return results, endpoints


def collect(ray, ref, job: Job, attempts: int) -> FileResult:
    """A task's result; a task whose every attempt lost its worker is a failed file."""
    try:
        result = ray.get(ref)
    except ray.exceptions.RayError as exc:
        return FileResult(job.source, job.target, "failed", name=job.name, attempts=attempts,
                          error=f"{job.source}: lost its worker on every attempt: {first_line(exc)}")
    result.attempts = attempts
    return result
