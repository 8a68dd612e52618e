"""Built-in elements. Importing this package registers them all by name."""

from vpipe.stages import annotate, anonymize, capture, detect, lookahead, rtsp_sink, segment, sinks, stream, track, upscale, video_sink  # noqa: F401
