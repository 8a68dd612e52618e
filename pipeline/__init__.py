"""vpipe: an edge video-stream pipeline described in YAML, run stage by stage on worker threads.

The plugin API, for elements written outside vpipe (docs/elements.md): subclass Element, Sink or
Source, give it a Params model, and register it by name.
"""

from importlib import metadata

try:
    __version__ = metadata.version("vpipe")  # pyproject.toml's: the one place it is written
except metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

from vpipe.pipeline.api.element import (  # noqa: E402
    Captured,
    Context,
    Delivery,
    Element,
    LiveView,
    Params,
    Sink,
    Source,
    SourceParams,
    StreamInfo,
)
from vpipe.pipeline.api.frame import Detections, Frame, Mask  # noqa: E402
from vpipe.pipeline.api.registry import register, register_source  # noqa: E402

__all__ = ["Captured", "Context", "Delivery", "Detections", "Element", "Frame", "LiveView", "Mask", "Params",
           "Sink", "Source", "SourceParams", "StreamInfo", "register", "register_source"]
