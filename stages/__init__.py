"""Built-in elements. Importing this package registers them all by name."""

from vpipe.stages import annotate, anonymize, capture, detect, lookahead, segment, sinks, track, upscale, video_sink  # noqa: F401
