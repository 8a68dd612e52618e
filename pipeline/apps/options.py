"""What `vpipe run` passes down, grouped by meaning: the batch to do, where it runs on Ray, and
what the user sees meanwhile. The typer command turns its flags into these; the functions below
it take them whole instead of a dozen loose parameters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Batch:
    """A folder of videos: one config over each file, into a mirrored tree (pipeline/apps/batch.py)."""

    config: Path
    in_dir: Path
    out_dir: Path
    #: the default device of model stages (--device); None: the config's.
    device: str | None = None
    #: only the first N frames of each file (--max-frames); None: all of them.
    max_frames: int | None = None
    #: redo outputs the manifest does not vouch for, instead of refusing them (--overwrite).
    overwrite: bool = False


@dataclass(frozen=True)
class RayOptions:
    """Where and how a batch runs on Ray (pipeline/apps/ray_batch.py): the command line's --ray,
    --ray-cpus and --ray-retries where given, else the config's `executor`."""

    #: None or `local`: a Ray runtime started on this machine; `auto` or ray://HOST:PORT: a cluster.
    address: str | None = None
    #: CPUs each file's task asks for (its engines' threads).
    cpus: int = 1
    #: retries of a file whose worker died.
    retries: int = 3


@dataclass(frozen=True)
class Watch:
    """What a run shows while it runs and after."""

    #: no progress display (--quiet).
    quiet: bool = False
    #: serve Prometheus metrics on this port (--metrics-port); on Ray, each worker from this one on.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    #: a per-stream and per-stage table on exit (--status).
    status: bool = False
