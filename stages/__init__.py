"""Built-in elements. Importing this package registers them all by name."""

from vpipe.stages import annotate, anonymize, capture, detect, sinks, video_sink  # noqa: F401
