"""The verify report: JSON for machines, one self-contained HTML page for people; and the
progress bar verify shows while it works (rich, as `vpipe run`'s).

The page embeds its thumbnails as base64 JPEGs (cropped from the output, never the original) and
links each candidate to its frame: the image file, or the video at its time (`#t=`).
"""

from __future__ import annotations

import base64
import html
import json
import os
from contextlib import contextmanager
from pathlib import Path

from vpipe.pipeline.api.outputs import make_parent
from vpipe.pipeline.verify.check import Candidate, Result

STYLE = """body{font:14px sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.pass{color:#070}.fail{color:#b00}.grid{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;border:1px solid #ccc;padding:6px;width:250px}figcaption{font-size:12px}"""


@contextmanager
def progress_bar(enabled: bool = True):
    """A bar of the audit's frames on stderr (on a terminal only); yields the `progress(done, total)`
    callback verify() takes."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(TextColumn("[bold]verify"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, disable=not (enabled and console.is_terminal)) as bar:
        task = bar.add_task("verify", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def report_paths(anonymized: Path) -> tuple[Path, Path]:
    """OUT.verify.json and OUT.verify.html beside the output file or folder."""
    stem = anonymized.with_suffix("") if anonymized.is_file() else anonymized
    return stem.parent / (stem.name + ".verify.json"), stem.parent / (stem.name + ".verify.html")


def write_reports(result: Result, json_path: Path, html_path: Path) -> None:
    for path in (json_path, html_path):
        make_parent(path)
    json_path.write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")
    html_path.write_text(page(result, html_path.parent), encoding="utf-8")


def page(result: Result, folder: Path) -> str:
    e = html.escape
    counts = result.counts()
    verdict = (f'<p class="fail">{len(result.candidates)} candidate leak(s): look at each before publishing.</p>'
               if result.candidates else '<p class="pass">No candidate leak found.</p>')
    rows = [("original", str(result.original)), ("anonymized", str(result.anonymized)), ("audit", str(result.audit)),
            ("frames checked", str(result.frames)), ("regions verified", str(result.regions)),
            ("of which flat in the original", str(result.flat)), ("frames covered whole", str(result.whole_frames)),
            ("residuals dropped as the run's own decision", str(result.near_threshold)),
            ("residuals on a cover's edge, absent from the original", str(result.cover_edges)),
            ("detectors (check 2)", "; ".join(result.detectors) or "none")]
    rows += [(f"candidates: {kind}", str(n)) for kind, n in sorted(counts.items())]
    summary = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    figures = "".join(_figure(c, result.anonymized, folder) for c in result.candidates)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>vpipe verify: {e(result.anonymized.name)}</title>'
            f"<style>{STYLE}</style></head><body><h1>vpipe verify</h1>"
            f'<section id="summary"><h2>Summary</h2>{verdict}<table>{summary}</table></section>'
            f'<section id="candidates"><h2>Candidates</h2><div class="grid">{figures or "<p>none</p>"}</div></section>'
            "</body></html>\n")


def _figure(c: Candidate, anonymized: Path, folder: Path) -> str:
    e = html.escape
    target = anonymized / c.name if c.name else anonymized
    link = Path(os.path.relpath(target, folder)).as_posix()
    if c.time is not None and not c.name:
        link += f"#t={c.time:.3f}"
    when = (f"frames {c.frames[0]} to {c.frames[-1]} ({len(c.frames)})" if len(c.frames) > 1 else
            f"frame {c.index}" if c.index >= 0 else "not in the audit")
    when += (f", {c.time:.2f} s" if c.time is not None else "") + (f", {c.name}" if c.name else "")
    image = (f'<img alt="{e(c.kind)}" src="data:image/jpeg;base64,{base64.b64encode(c.thumbnail).decode()}">'
             if c.thumbnail else "")
    return (f'<figure>{image}<figcaption><b>{e(c.kind)}</b><br>{e(when)}<br>{e(c.detail)}<br>'
            f'<a href="{e(link)}">open the frame</a></figcaption></figure>')
