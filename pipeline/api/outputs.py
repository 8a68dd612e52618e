"""Where outputs go: checked before the first frame, written under a temporary name and renamed
when complete, never over an input, and never over an existing output unless asked.

A sink writes `NAME.partial.EXT` beside its output and renames it to `NAME.EXT` when it closes
(after Ctrl-C and errors too: what was written is kept), so a file at the output path is
always a whole one, and a run that is killed outright leaves its work under the `.partial` name.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from vpipe.pipeline.api.errors import ConfigError, VpipeError


def partial(path: Path) -> Path:
    """The name a file is written under until it is complete (the suffix kept: FFmpeg and
    OpenCV choose the format by it). A name that is a temporary one already is its own: a batch
    hands each file's run `NAME.partial.mp4` and renames it itself, once the run ended cleanly."""
    if path.stem.endswith(".partial"):
        return path
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def publish(path: Path, temp: Path | None = None) -> None:
    """Move the finished `partial(path)` (or `temp`) to `path` (an atomic rename on one file system)."""
    os.replace(temp or partial(path), path)


def temporary(path: Path) -> Path:
    """A new, empty file beside `path` under a name nobody chose (`p0.partial-3f9a1c2e.jpg`), for
    files written at once: images of a folder, whose own names may be another's `partial` name
    (`x.partial.png` beside `x.png`). Created exclusively, so it never replaces anything."""
    while True:
        candidate = path.with_name(f"{path.stem}.partial-{secrets.token_hex(4)}{path.suffix}")
        try:
            os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return candidate
        except FileExistsError:
            continue


def check_writable(path: Path, folder: bool = False) -> None:
    """Refuse, before the run, an output that cannot be written: a folder where a file goes (or
    the reverse), a parent that is a file, a parent that is not writable."""
    if path.is_dir() and not folder:
        raise VpipeError(f"{path} is a folder, not a file")
    if path.exists() and not path.is_dir() and folder:
        raise VpipeError(f"{path} exists and is not a folder")
    existing = path if folder and path.is_dir() else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise VpipeError(f"cannot create folder {path if folder else path.parent}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise VpipeError(f"cannot write in {existing}: permission denied")


def make_parent(path: Path) -> None:
    """Create the folder `path` goes in, failing as one line that names the folder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        check_writable(path)  # names the file in the way, rather than "[Errno 17] File exists"
        raise VpipeError(f"cannot create folder {path.parent}: {exc.strerror or exc}") from None


def clash(output: Path, inputs: list[Path], folder: bool) -> Path | None:
    """The input that `output` would overwrite: the same file, or for an image folder the
    input folder itself or one it lies inside (its images would be replaced, or read back)."""
    out = output.resolve()
    for source in inputs:
        src = source.resolve()
        if out == src or (folder and src.is_dir() and out.is_relative_to(src)):
            return source
    return None


def occupied(output: Path, folder: bool) -> bool:
    """Whether writing `output` would replace something: a file, or a folder with files in it."""
    if folder:
        return output.is_dir() and any(output.iterdir())
    return output.exists()


def check_report(option: str, path: Path, inputs: list[Path], overwrite: bool) -> None:
    """A command's own file (bench --json, verify --json/--html, schema -o) follows a run's
    output rules: never one of the inputs, never over a file that exists unless --overwrite."""
    source = clash(path, inputs, folder=False)
    if source is not None:
        raise ConfigError(f"{option}: {path} would write over the input {source}: choose another file")
    try:
        check_writable(path)
    except VpipeError as exc:
        raise ConfigError(f"{option}: {exc}") from None
    if not overwrite and path.exists():
        raise ConfigError(f"{option}: {path} exists: --overwrite replaces it")


def audit_path(output: Path, folder: bool | None = None) -> Path:
    """Where the audit (jsonl) of a run written to `output` goes: `OUT.jsonl` beside `OUT.mp4`,
    and `FOLDER.jsonl` beside an image folder (not inside it, among the images). `folder`: whether
    `output` is a folder; None: as it is on disk (an output written already, to verify or review)."""
    if folder is None:
        folder = not output.is_file()
    return output.with_name(output.name + ".jsonl") if folder else output.with_suffix(".jsonl")


def check_outputs(config, nodes: dict) -> None:
    """What a built graph's sinks write (`nodes`: graph.Node by name): no output over an input,
    none written by two sinks, none replaced unless the run's settings allow it (`--overwrite`)."""
    inputs = [n.element.info.path for n in nodes.values() if n.role == "source" and n.element.info.path]
    written: dict[Path, str] = {}
    for node in nodes.values():
        if node.role == "source":
            continue
        where = config.settings.given.get(node.loc)  # a path the command line gave: its option
        folder = node.element.writes_folder
        for path, temp in _with_temporary(node.element.outputs(), folder):
            message = None
            source = clash(temp, inputs, folder)
            written_by = written.get(temp.resolve())
            if source is not None:
                message = (f"{temp} would write over the input {source}" if temp.resolve() == source.resolve()
                           else f"{temp} is inside the input folder {source}") + ": choose another output"
                if temp != path:
                    message = f"{path} is written as {temp} until complete, which {message.split(' ', 1)[1]}"
            elif written_by is not None:
                message = f"{temp} is written by {written_by!r} already"
            elif not config.settings.overwrite and occupied(temp, folder):
                message = f"{temp} exists" + (": --overwrite replaces it" if temp == path else
                                              f" (the name {path.name} is written under until complete): "
                                              "move it away, or --overwrite replaces it")
            if message and where:
                raise ConfigError(f"{where}: {message}")
            if message:
                key = node.element.output_params[0] if node.element.output_params else "path"
                raise config.error(node.loc + ("params", key), message)
            written[temp.resolve()] = node.name


def _with_temporary(outputs: list[Path], folder: bool) -> list[tuple[Path, Path]]:
    """Each output with itself, then (a file) with the `partial` name it is written under: that
    name must not be an input or somebody's file either (`-i clip.partial.mp4 -o clip.mp4`)."""
    return [(path, temp) for path in outputs for temp in dict.fromkeys([path] if folder else [path, partial(path)])]
