"""Errors a user sees as one line: what went wrong, and where (file, field or stage)."""


class VpipeError(Exception):
    """Base of every error the CLI reports as a single line with a non-zero exit."""


class ConfigError(VpipeError):
    """A config that cannot run; raised before any frame is read."""


class StageError(VpipeError):
    """A stage failed while running; the message names the stage."""

    def __init__(self, stage: str, message: str):
        super().__init__(f"stage {stage!r}: {message}")
        self.stage = stage


def first_line(exc: BaseException) -> str:
    """An exception's message as one line: its first, or its type's name where it has none
    (ONNX Runtime, Ray and torch raise multi-line messages)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
