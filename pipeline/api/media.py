"""File types the framework recognises by name: batch mode picks the videos of a folder, and
elements check what they are given against the same lists."""

from typing import Literal

VIDEO_SUFFIXES = (".avi", ".m4v", ".mkv", ".mov", ".mp4", ".ts")
IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
#: videos a batch reads (FFmpeg decodes them) but no sink writes (no H.264 in WebM).
VIDEO_INPUT_SUFFIXES = VIDEO_SUFFIXES + (".webm",)


def image_size(path) -> tuple[int, int] | None:
    """(width, height) an image file declares in its header, read without decoding it (so that a
    small file claiming 32000x32000 pixels is caught before gigabytes are allocated); None when
    the header is not one of PNG, JPEG, BMP, WebP or TIFF, or cannot be read."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
            if head.startswith(b"BM") and len(head) >= 26:
                return (int.from_bytes(head[18:22], "little", signed=True),
                        abs(int.from_bytes(head[22:26], "little", signed=True)))
            if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
                return _webp_size(head)
            if head[:4] in (b"II*\x00", b"MM\x00*"):
                return _tiff_size(f, "little" if head[:2] == b"II" else "big")
            if head.startswith(b"\xff\xd8"):
                return _jpeg_size(f)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    if chunk == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF
    return None


def _tiff_tags(f, order: Literal["little", "big"]) -> dict[int, int]:
    """The SHORT and LONG values of a TIFF's first IFD, by tag."""
    f.seek(4)
    f.seek(int.from_bytes(f.read(4), order))
    found = {}
    for _ in range(int.from_bytes(f.read(2), order)):
        entry = f.read(12)
        tag, kind = int.from_bytes(entry[0:2], order), int.from_bytes(entry[2:4], order)
        if kind in (3, 4):
            found[tag] = int.from_bytes(entry[8:10] if kind == 3 else entry[8:12], order)
    return found


def _tiff_size(f, order: Literal["little", "big"]) -> tuple[int, int] | None:
    tags = _tiff_tags(f, order)  # ImageWidth, ImageLength
    return (tags[256], tags[257]) if 256 in tags and 257 in tags else None


def tiff_orientation(path) -> int:
    """A TIFF's Orientation tag (1..8, 1 when absent, or not a TIFF)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            if head not in (b"II*\x00", b"MM\x00*"):
                return 1
            value = _tiff_tags(f, "little" if head[:2] == b"II" else "big").get(274, 1)
            return value if 1 <= value <= 8 else 1
    except (OSError, ValueError, IndexError):
        return 1


def _jpeg_size(f) -> tuple[int, int] | None:
    f.seek(2)
    while True:
        marker = f.read(2)
        while marker[:1] == b"\xff" and marker[1:] == b"\xff":  # fill bytes
            marker = marker[1:] + f.read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        length = int.from_bytes(f.read(2), "big")
        if length < 2:  # a damaged segment: stop rather than loop on it
            return None
        # Start of frame (any coding but DHT C4, JPG C8, DAC CC): precision, height, width.
        if 0xC0 <= marker[1] <= 0xCF and marker[1] not in (0xC4, 0xC8, 0xCC):
            data = f.read(5)
            return int.from_bytes(data[3:5], "big"), int.from_bytes(data[1:3], "big")
        f.seek(length - 2, 1)
