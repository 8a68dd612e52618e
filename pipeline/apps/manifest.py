"""The batch manifest: what happened to each file of a folder run, one JSON line per event.

`OUT/vpipe-manifest.jsonl`, beside the mirrored outputs. Only the process that runs the batch
writes it (a Ray run's driver, not its workers), appending and flushing line by line, so a
kill loses at most the line being written, and a torn last line is ignored when read back.
A file's last line is its state: `running` (with its attempt and worker), then `done`
(the output's and audit's sha256, frames in and out), `failed` (the error), `skipped` or
`interrupted`.

The manifest is what vouches for an output: a rerun skips a file only where its last line is
`done` and the output's sha256 still matches. A file under an output's name that it does not
vouch for (a raw copy put there, a truncated output, a deleted manifest) is refused before the
batch starts, or redone with `--overwrite` (pipeline/apps/batch.py `sort_out`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

NAME = "vpipe-manifest.jsonl"


class Manifest:
    def __init__(self, out_dir: Path):
        self.path = out_dir / NAME

    def states(self) -> dict[str, dict]:
        """Each file's last record, by its path relative to the input folder."""
        last: dict[str, dict] = {}
        if not self.path.exists():
            return last
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # the line a kill cut short
            if not (isinstance(record, dict) and isinstance(record.get("file"), str)
                    and isinstance(record.get("state"), str)):
                continue  # not a record (edited by hand?): vouches for nothing, so its file is redone or refused
            last[record["file"]] = record
        return last

    def write(self, file: str, state: str, **fields) -> None:
        record = {"file": file, "state": state, **{k: v for k, v in fields.items() if v not in (None, "", [])},
                  "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def write_result(self, result) -> None:
        """The line for a file that ended (a batch.FileResult)."""
        self.write(result.name, result.status, output=str(result.output.relative_to(self.path.parent)), attempt=result.attempts,
                   worker=result.worker, frames_in=result.frames_in, frames_out=result.frames,
                   seconds=round(result.seconds, 3), sha256=result.sha256, audit_sha256=result.audit_sha256,
                   error=result.error, warnings=result.warnings)
