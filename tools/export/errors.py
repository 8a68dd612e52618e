"""The one error of the export tools: its own module, so the family table, the exporter and the
quantizer can all raise it without importing each other."""

from __future__ import annotations

from vpipe.pipeline.api.errors import VpipeError


class ExportError(VpipeError):
    """An export that cannot be done; the message is one line naming the flag or file."""
