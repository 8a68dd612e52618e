"""Synthetic licence-plate images with COCO boxes, for training plate (and vehicle) detectors.

    vpipe synth plates --out data/synth --count 2000 --seed 0
    vpipe synth plates --out data/synth_real_bg --count 1000 --seed 1 \\
        --backgrounds ../shared/data/train/openimages-plates/train/images \\
        --backgrounds-coco ../shared/data/train/openimages-plates/train.json

Writes DIR/images/000000.jpg ... and DIR/annotations.json (COCO detection: category 1
`licence_plate`, 2 `vehicle`; each plate keeps `plate_text` and `style`). Seeded: image i depends
only on (seed, i), so the same command gives the same bytes on the same library versions.

Plates are Korean (Hangul, Nanum font), EU (blue band, Latin fonts), US (state name, slogan),
two-line Korean / Japanese / Vietnamese, near-square motorcycle plates, Mercosur (blue band on
top) and the older grey Brazilian plate (city strip on top), rendered with PIL from real TrueType
fonts of Debian packages (fonts-dejavu-core, fonts-liberation, fonts-nanum), then
perspective-warped (some steeply) onto a background at 10-200 px wide (some close-ups up to 90 %
of the image, some cut by its edge and boxed by their visible part), lit, partly occluded,
several per image; some sit on crude procedural vehicles (labelled `vehicle`). Hard negatives --
signs and lit shop boards, truck and wall lettering, grille-like stripes, loose lettering, a
burnt-in dashcam timestamp line, and on cars chrome badges, model names and bumper stickers -- are
drawn but never labelled. The whole image then gets motion or defocus blur, noise, a lighting
change and JPEG compression. Backgrounds are procedural (gradients, fractal noise, street-like
scenes, random shapes) or, with --backgrounds, real photos: give --backgrounds-coco too so their
own plates and vehicles stay labelled (without it a real photo's plates would be unlabelled
negatives); a quarter of them are enlarged parts of the photo (close-ups that cut no plate). The
Open Images training photos in ../shared/data/train may be used this way (CC BY 2.0; name them in
any model's manifest). Never use ../shared/data/alpr: evaluation only.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.media import IMAGE_SUFFIXES

CATEGORIES = [{"id": 1, "name": "licence_plate"}, {"id": 2, "name": "vehicle"}]
STYLES = ("kr", "eu", "us", "kr2", "jp", "vn2", "moto", "mercosur", "br_grey")
#: two-line / near-square styles and the Brazilian ones, drawn by _render_more().
MORE_STYLES = STYLES[3:]
#: output sizes (width, height); the runtime stretches frames to the network size, so varied
#: aspect ratios teach the squashed plates it will see.
SIZES = ((416, 416), (512, 384), (640, 360), (480, 360), (384, 512), (640, 480))
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
LATIN_FONTS = ("DejaVuSans-Bold.ttf", "DejaVuSansCondensed-Bold.ttf", "DejaVuSansMono-Bold.ttf",
               "LiberationSans-Bold.ttf", "LiberationSansNarrow-Bold.ttf", "LiberationMono-Bold.ttf")
HANGUL_FONTS = ("NanumGothicBold.ttf", "NanumBarunGothicBold.ttf", "NanumSquareB.ttf",
                "NanumGothicCodingBold.ttf", "NotoSansCJK-Bold.ttc", "NotoSansCJKkr-Bold.otf")
FONT_PACKAGES = {"latin": "fonts-dejavu-core fonts-liberation", "hangul": "fonts-nanum (or fonts-noto-cjk)"}

HANGUL = "가나다라마거너더러머버서어저고노도로모보소오조구누두루무부수우주하허호배"
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
DIGITS = "0123456789"
EU_CODES = ("D", "F", "NL", "B", "I", "E", "PL", "CZ", "A", "S", "FIN", "GB", "P", "DK")
US_STATES = ("CALIFORNIA", "TEXAS", "NEW YORK", "FLORIDA", "OHIO", "ILLINOIS", "ARIZONA", "NEVADA",
             "GEORGIA", "OREGON", "VIRGINIA", "MICHIGAN", "NEW JERSEY", "WASHINGTON", "COLORADO")
US_SLOGANS = ("SUNSHINE STATE", "EMPIRE STATE", "GARDEN STATE", "dmv.ca.gov", "THE LONE STAR STATE",
              "GRAND CANYON STATE", "LAND OF LINCOLN", "PEACH STATE", "BIRTHPLACE OF AVIATION", "")
JP_REGIONS = ("品川", "練馬", "大阪", "名古屋", "札幌", "福岡", "京都", "足立", "千葉", "多摩")
JP_KANA = "あいうえかきくけこさすせそたちつてとなにぬねのはひふほまみむめもやゆよらりるろれわ"
KR_REGIONS = ("서울", "부산", "경기", "인천", "대구", "광주", "대전", "울산", "강원", "충북", "전남", "경북")
BR_CITIES = ("SP - SAO PAULO", "RJ - RIO DE JANEIRO", "MG - BELO HORIZONTE", "PR - CURITIBA", "RS - PORTO ALEGRE",
             "BA - SALVADOR", "SP - CAMPINAS", "SC - FLORIANOPOLIS", "PE - RECIFE", "GO - GOIANIA")
MERCOSUR = (("BRASIL", (0, 150, 60)), ("ARGENTINA", (110, 180, 230)), ("URUGUAY", (20, 60, 160)),
            ("PARAGUAY", (200, 30, 40)))
SIGN_WORDS = ("STOP", "EXIT", "SALE 50%", "OPEN", "PARKING", "ONE WAY", "MAIN ST", "HOTEL", "PHARMACY",
              "NO ENTRY", "BUS", "TAXI", "CAFE", "Route 66", "SPEED 30", "약국", "주차장", "출구", "BANK",
              "GARAGE", "TICKETS", "2 HR LIMIT", "ELM AVE", "PIZZA", "12345", "KEEP RIGHT",
              "OPEN 24H", "$3.49", "SALE", "LOTTO", "TEL 555-0199", "NO 12", "A1 AUTO", "KM 42", "24/7",
              "EXIT 12B", "편의점", "세일 30%", "ATM", "BAR", "LIQUOR", "TIRES", "BR-116", "FARMACIA")
#: lettering on a truck's side or a wall: a company name over a phone number or web address.
TRUCK_WORDS = ("ACME LOGISTICS", "FRESH FOODS", "CITY MOVERS", "NORTH EXPRESS", "BLUE LINE", "BAKERY",
               "HANJIN", "CJ 대한통운", "TRANSPORTES SILVA", "DHL", "COCA-COLA", "PLUMBING & HEATING")
#: model names and trims in chrome on a car's boot or grille (the valid split's false boxes: SAAB,
#: BLAZER, picanto beside Audi's rings).
MODEL_NAMES = ("SAAB", "BLAZER", "picanto", "GOLF", "CIVIC", "CAMRY", "FOCUS", "ASTRA", "Corolla", "TDI",
               "4MATIC", "HYBRID", "GT", "SPORT", "quattro", "TUCSON", "PRIUS", "xDrive", "V6", "SONATA")
TRUCK_LINES = ("1-800-555-0199", "www.acme.com", "(11) 4002-8922", "02-1588-1255", "CALL 555 0123",
               "SINCE 1987", "DOT 123456", "EST. 1952", "")


class FontsMissing(VpipeError):
    """No usable font of a kind; the message names the Debian package to install."""


@lru_cache(maxsize=1)
def _font_index() -> dict[str, Path]:
    index: dict[str, Path] = {}
    for root in FONT_DIRS:
        base = Path(root).expanduser()
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                if path.suffix.lower() in (".ttf", ".otf", ".ttc"):
                    index.setdefault(path.name, path)
    return index


def find_fonts() -> dict[str, list[Path]]:
    """{'latin': [...], 'hangul': [...]} font files found; FontsMissing if a kind has none."""
    index = _font_index()
    found = {"latin": [index[n] for n in LATIN_FONTS if n in index],
             "hangul": [index[n] for n in HANGUL_FONTS if n in index]}
    for kind, paths in found.items():
        if not paths:
            raise FontsMissing(f"no {kind} font found under {', '.join(FONT_DIRS)}; install the Debian "
                               f"package {FONT_PACKAGES[kind]} (apt-get install ...)")
    return found


@lru_cache(maxsize=256)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _fit_text(draw: ImageDraw.ImageDraw, text: str, path: Path, box: tuple[float, float, float, float],
              fill: int = 255, anchor_x: float = 0.5) -> None:
    """Draw `text` as large as fits in box (x0, y0, x1, y1), centred."""
    x0, y0, x1, y1 = box
    probe = _font(str(path), 100)
    l, t, r, b = draw.textbbox((0, 0), text, font=probe)
    scale = min((x1 - x0) / max(1, r - l), (y1 - y0) / max(1, b - t))
    font = _font(str(path), max(4, int(100 * scale)))
    l, t, r, b = draw.textbbox((0, 0), text, font=font)
    x = x0 + (x1 - x0 - (r - l)) * anchor_x - l
    y = y0 + (y1 - y0 - (b - t)) / 2 - t
    draw.text((x, y), text, font=font, fill=fill)


@lru_cache(maxsize=64)
def _has_glyphs(path: str, text: str) -> bool:
    """Whether the font draws every character of `text` (not its 'missing glyph' box)."""
    font = _font(path, 40)
    def pixels(ch: str) -> bytes:
        mask = font.getmask(ch)
        return bytes(mask) + bytes(str(mask.size), "ascii")

    missing = pixels("\U0010fffd")
    return all(font.getmask(ch).getbbox() and pixels(ch) != missing for ch in set(text) if not ch.isspace())


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def _chars(rng: np.random.Generator, alphabet: str, n: int) -> str:
    return "".join(_pick(rng, alphabet) for _ in range(n))


@dataclass
class Plate:
    rgb: np.ndarray  # HxWx3 uint8 (RGB)
    text_mask: np.ndarray  # HxW bool: the registration characters' pixels
    text: str
    style: str


def _layer(rgb: np.ndarray, mask: np.ndarray, color) -> None:
    m = mask.astype(np.float32)[..., None] / 255.0
    rgb[:] = (rgb * (1 - m) + np.asarray(color, np.float32) * m).astype(np.uint8)


#: a line of text and where it goes: (text, font, (x0, y0, x1, y1) as fractions of the plate).
Line = tuple[str, Path, tuple[float, float, float, float]]


@dataclass
class _Layout:
    """A plate's design before drawing: size, colours, registration lines, small text."""

    h: int
    w: int
    bg: tuple
    fg: tuple
    lines: list[Line]
    #: small text, not the registration
    deco: list[Line] = field(default_factory=list)
    #: Mercosur's blue band: (country, flag colour)
    band: tuple[str, tuple] | None = None


def _kr(rng: np.random.Generator, latin: Path, fonts: dict[str, list[Path]]) -> _Layout:
    kind = rng.random()
    if kind < 0.7:
        bg, fg = (245, 245, 240), (15, 15, 15)
    elif kind < 0.85:
        bg, fg = (240, 200, 40), (20, 20, 20)  # commercial
    else:
        bg, fg = (40, 110, 60), (240, 240, 240)  # older green plates
    text = f"{_chars(rng, DIGITS, int(rng.choice([2, 3])))}{_pick(rng, HANGUL)} {_chars(rng, DIGITS, 4)}"
    font = _pick(rng, fonts["hangul"])
    return _Layout(80, 376, bg, fg, [(text, font, (0.06, 0.12, 0.94, 0.88))])


def _eu(rng: np.random.Generator, latin: Path, fonts: dict[str, list[Path]]) -> _Layout:
    bg = (245, 245, 245) if rng.random() < 0.75 else (245, 205, 30)
    text = _pick(rng, (f"{_chars(rng, LETTERS, 2)}-{_chars(rng, DIGITS, 3)}-{_chars(rng, LETTERS, 2)}",
                       f"{_chars(rng, LETTERS, int(rng.integers(1, 4)))} {_chars(rng, LETTERS, 2)} "
                       f"{_chars(rng, DIGITS, int(rng.integers(1, 5)))}",
                       f"{_chars(rng, LETTERS, 2)}{_chars(rng, DIGITS, 2)} {_chars(rng, LETTERS, 3)}",
                       f"{_chars(rng, DIGITS, 2)}-{_chars(rng, LETTERS, 3)}-{_chars(rng, DIGITS, 1)}"))
    return _Layout(80, 376, bg, (15, 15, 15), [(text, latin, (0.14, 0.12, 0.96, 0.88))])


def _us(rng: np.random.Generator, latin: Path, fonts: dict[str, list[Path]]) -> _Layout:
    bg = _pick(rng, ((245, 245, 245), (235, 240, 250), (250, 245, 225), (225, 235, 245)))
    fg = _pick(rng, ((20, 30, 120), (20, 20, 20), (150, 20, 20), (20, 90, 40)))
    text = _pick(rng, (f"{_chars(rng, DIGITS, 1)}{_chars(rng, LETTERS, 3)}{_chars(rng, DIGITS, 3)}",
                       f"{_chars(rng, LETTERS, 3)} {_chars(rng, DIGITS, 4)}",
                       f"{_chars(rng, LETTERS, 3)}-{_chars(rng, DIGITS, 3)}",
                       f"{_chars(rng, DIGITS, 3)} {_chars(rng, LETTERS, 3)}"))
    return _Layout(120, 240, bg, fg, [(text, latin, (0.07, 0.27, 0.93, 0.80))])


def render_plate(rng: np.random.Generator, style: str, fonts: dict[str, list[Path]]) -> Plate:
    """One plate, front-on, at a canonical size (80 px high for KR/EU, 120 for US)."""
    if style in MORE_STYLES:
        return _render_more(rng, style, fonts)
    latin = _pick(rng, fonts["latin"])
    layout = {"kr": _kr, "eu": _eu}.get(style, _us)(rng, latin, fonts)
    (h, w, fg), (text, font, (fx0, fy0, fx1, fy1)) = (layout.h, layout.w, layout.fg), layout.lines[0]
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:] = layout.bg
    if style == "us" and rng.random() < 0.5:  # a coloured band or gradient as many US designs
        ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        tint = rng.integers(60, 255, 3).astype(np.float32)
        rgb[:] = (rgb * (1 - 0.35 * ramp) + tint * 0.35 * ramp).astype(np.uint8)
    deco = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(deco)
    draw.rounded_rectangle((1, 1, w - 2, h - 2), radius=int(0.08 * h), outline=255, width=max(2, h // 30))
    _layer(rgb, np.asarray(deco), fg if rng.random() < 0.7 else (90, 90, 90))
    if style == "eu":
        _eu_band(rgb, rng, latin)
    if style == "us":
        _us_lettering(rgb, rng, latin)
    text_layer = Image.new("L", (w, h), 0)
    _fit_text(ImageDraw.Draw(text_layer), text, font, (fx0 * w, fy0 * h, fx1 * w, fy1 * h))
    mask = np.asarray(text_layer)
    _layer(rgb, mask, fg)
    return Plate(rgb, mask > 127, text, style)


def _eu_band(rgb: np.ndarray, rng: np.random.Generator, latin: Path) -> None:
    """The blue band on the left: a ring of stars over the country code."""
    h, w = rgb.shape[:2]
    band = np.zeros((h, w), np.uint8)
    band[3:h - 3, 3:int(0.115 * w)] = 255
    _layer(rgb, band, (20, 50, 160))
    stars = Image.new("L", (w, h), 0)
    sd = ImageDraw.Draw(stars)
    cx, cy, r = 0.06 * w, 0.3 * h, 0.17 * h
    for k in range(12):
        a = 2 * math.pi * k / 12
        sx, sy = cx + r * math.cos(a), cy + r * math.sin(a)
        sd.ellipse((sx - 1.6, sy - 1.6, sx + 1.6, sy + 1.6), fill=255)
    _fit_text(sd, _pick(rng, EU_CODES), latin, (0.02 * w, 0.58 * h, 0.105 * w, 0.9 * h))
    _layer(rgb, np.asarray(stars), (240, 220, 40) if rng.random() < 0.5 else (245, 245, 245))


def _us_lettering(rgb: np.ndarray, rng: np.random.Generator, latin: Path) -> None:
    """The state's name along the top and, on most, a slogan along the bottom."""
    h, w = rgb.shape[:2]
    small = Image.new("L", (w, h), 0)
    sd = ImageDraw.Draw(small)
    _fit_text(sd, _pick(rng, US_STATES), latin, (0.2 * w, 0.05 * h, 0.8 * w, 0.23 * h))
    slogan = _pick(rng, US_SLOGANS)
    if slogan:
        _fit_text(sd, slogan, latin, (0.2 * w, 0.83 * h, 0.8 * w, 0.95 * h))
    _layer(rgb, np.asarray(small), _pick(rng, ((150, 20, 20), (20, 30, 120), (30, 30, 30))))


def _kr2(rng: np.random.Generator, latin: Path, hangul: Path, kanji: list[Path]) -> _Layout:
    """Older / commercial Korean two-line: region + class over Hangul + 4 digits."""
    bg, fg = _pick(rng, (((40, 110, 60), (240, 240, 240)), ((240, 200, 40), (20, 20, 20)),
                         ((245, 245, 240), (15, 15, 15))))
    top = f"{_pick(rng, KR_REGIONS)} {_chars(rng, DIGITS, 2)}"
    bottom = f"{_pick(rng, HANGUL)} {_chars(rng, DIGITS, 4)}"
    return _Layout(170, 335, bg, fg, [(top, hangul, (0.2, 0.06, 0.8, 0.38)), (bottom, hangul, (0.05, 0.42, 0.95, 0.94))])


def _jp(rng: np.random.Generator, latin: Path, hangul: Path, kanji: list[Path]) -> _Layout:
    """Japanese: region kanji + class number over a kana + "12-34"."""
    bg, fg = _pick(rng, (((245, 245, 240), (20, 90, 50)), ((20, 90, 50), (245, 245, 240)),
                         ((245, 210, 40), (20, 20, 20)), ((20, 20, 20), (245, 210, 40))))
    top = f"{_pick(rng, JP_REGIONS)} {_chars(rng, DIGITS, int(rng.integers(2, 4)))}"
    digits = _chars(rng, DIGITS, 4)
    bottom = f"{_pick(rng, JP_KANA)} {digits[:2]}-{digits[2:]}"
    font = _pick(rng, kanji)
    return _Layout(165, 330, bg, fg, [(top, font, (0.22, 0.06, 0.78, 0.36)), (bottom, font, (0.04, 0.4, 0.96, 0.94))])


def _vn2(rng: np.random.Generator, latin: Path, hangul: Path, kanji: list[Path]) -> _Layout:
    """Vietnamese two-line (cars and motorcycles): "51G" / "123.45"."""
    h, w = int(rng.choice([140, 200])), 190 if rng.random() < 0.5 else 280
    bg, fg = _pick(rng, (((245, 245, 245), (15, 15, 15)), ((245, 205, 40), (15, 15, 15)),
                         ((30, 60, 150), (245, 245, 245))))
    top = _pick(rng, (f"{_chars(rng, DIGITS, 2)}{_chars(rng, LETTERS, 1)}",
                      f"{_chars(rng, DIGITS, 2)}-{_chars(rng, LETTERS, 1)}{_chars(rng, DIGITS, 1)}"))
    d = _chars(rng, DIGITS, 5)
    bottom = f"{d[:3]}.{d[3:]}" if rng.random() < 0.7 else d[:4]
    return _Layout(h, w, bg, fg, [(top, latin, (0.15, 0.06, 0.85, 0.46)), (bottom, latin, (0.06, 0.52, 0.94, 0.94))])


def _moto(rng: np.random.Generator, latin: Path, hangul: Path, kanji: list[Path]) -> _Layout:
    """Motorcycle plates of several countries: small, near-square, 2 rows."""
    h, w = int(rng.integers(110, 200)), int(rng.integers(160, 230))
    bg = _pick(rng, ((245, 245, 245), (245, 210, 40), (235, 240, 250), (250, 245, 225)))
    fg = _pick(rng, ((15, 15, 15), (20, 30, 120), (150, 20, 20)))
    top = _pick(rng, (f"{_chars(rng, LETTERS, 2)}{_chars(rng, DIGITS, 2)}", f"{_chars(rng, LETTERS, int(rng.integers(1, 4)))}",
                      f"{_chars(rng, DIGITS, 2)}-{_chars(rng, LETTERS, 2)}", _pick(rng, US_STATES)[:8]))
    bottom = _pick(rng, (_chars(rng, LETTERS, 3), _chars(rng, DIGITS, int(rng.integers(3, 6))),
                         f"{_chars(rng, LETTERS, 1)}{_chars(rng, DIGITS, 3)}"))
    layout = _Layout(h, w, bg, fg, [(top, latin, (0.1, 0.08, 0.9, 0.46)), (bottom, latin, (0.08, 0.52, 0.92, 0.92))])
    if rng.random() < 0.3:
        layout.lines = [(top, latin, (0.18, 0.08, 0.9, 0.46)), (bottom, latin, (0.18, 0.52, 0.92, 0.92))]
        layout.deco.append(("EU", latin, (0.02, 0.6, 0.16, 0.9)))
    return layout


def _mercosur(rng: np.random.Generator, latin: Path, hangul: Path, kanji: list[Path]) -> _Layout:
    """White, blue band on top with country name and flag, "ABC1D23"."""
    country, flag = _pick(rng, MERCOSUR)
    text = _pick(rng, (f"{_chars(rng, LETTERS, 3)}{_chars(rng, DIGITS, 1)}{_chars(rng, LETTERS, 1)}"
                       f"{_chars(rng, DIGITS, 2)}", f"{_chars(rng, LETTERS, 2)} {_chars(rng, DIGITS, 3)} "
                       f"{_chars(rng, LETTERS, 2)}"))
    return _Layout(130, 400, (245, 245, 245), (15, 15, 15), [(text, latin, (0.05, 0.3, 0.95, 0.93))],
                   band=(country, flag))


def _br_grey(rng: np.random.Generator, latin: Path, hangul: Path, kanji: list[Path]) -> _Layout:
    """The older Brazilian plate, grey with dark characters and a city strip on top."""
    grey = int(rng.integers(150, 215))
    bg, fg = _pick(rng, (((grey, grey, grey + 5), (25, 25, 25)),) * 3 +
                   (((180, 30, 30), (240, 240, 240)), ((240, 240, 240), (25, 25, 25))))
    text = f"{_chars(rng, LETTERS, 3)}{_pick(rng, ('-', ' ', '·'))}{_chars(rng, DIGITS, 4)}"
    layout = _Layout(130, 400, bg, fg, [(text, latin, (0.05, 0.3, 0.95, 0.92))])
    layout.deco.append((_pick(rng, BR_CITIES), latin, (0.2, 0.05, 0.8, 0.24)))
    return layout


_MORE_LAYOUTS = {"kr2": _kr2, "jp": _jp, "vn2": _vn2, "moto": _moto, "mercosur": _mercosur, "br_grey": _br_grey}


def _render_more(rng: np.random.Generator, style: str, fonts: dict[str, list[Path]]) -> Plate:
    """Two-line / near-square plates and the Brazilian styles. Each is a background, a border,
    decorations (bands, small text) and lines of registration characters (the text mask)."""
    latin, hangul = _pick(rng, fonts["latin"]), _pick(rng, fonts["hangul"])
    kanji = [f for f in fonts["hangul"] if _has_glyphs(str(f), "".join(JP_REGIONS) + JP_KANA)] or fonts["hangul"]
    layout = _MORE_LAYOUTS.get(style, _br_grey)(rng, latin, hangul, kanji)
    h, w, fg = layout.h, layout.w, layout.fg
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:] = layout.bg
    border = Image.new("L", (w, h), 0)
    ImageDraw.Draw(border).rounded_rectangle((1, 1, w - 2, h - 2), radius=int(0.06 * min(h, w)), outline=255,
                                             width=max(2, min(h, w) // 30))
    _layer(rgb, np.asarray(border), fg if rng.random() < 0.7 else (90, 90, 90))
    if layout.band is not None:
        _mercosur_band(rgb, *layout.band, latin)
    for word, font, (fx0, fy0, fx1, fy1) in layout.deco:
        small = Image.new("L", (w, h), 0)
        _fit_text(ImageDraw.Draw(small), word, font, (fx0 * w, fy0 * h, fx1 * w, fy1 * h))
        _layer(rgb, np.asarray(small), fg)
    text_layer = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(text_layer)
    for line, font, (fx0, fy0, fx1, fy1) in layout.lines:
        _fit_text(draw, line, font, (fx0 * w, fy0 * h, fx1 * w, fy1 * h))
    mask = np.asarray(text_layer)
    _layer(rgb, mask, fg)
    return Plate(rgb, mask > 127, " / ".join(line for line, _, _ in layout.lines), style)


def _mercosur_band(rgb: np.ndarray, country: str, flag: tuple, latin: Path) -> None:
    """The blue band along the top with the country's name, its flag and the Mercosur emblem."""
    h, w = rgb.shape[:2]
    band = np.zeros((h, w), np.uint8)
    band[3:int(0.24 * h), 3:w - 3] = 255
    _layer(rgb, band, (20, 50, 160))
    small = Image.new("L", (w, h), 0)
    _fit_text(ImageDraw.Draw(small), country, latin, (0.3 * w, 0.05 * h, 0.7 * w, 0.21 * h))
    _layer(rgb, np.asarray(small), (245, 245, 245))
    fx0, fy0 = int(0.86 * w), int(0.06 * h)
    rgb[fy0:fy0 + int(0.14 * h), fx0:fx0 + int(0.09 * w)] = flag  # the flag's place
    rgb[fy0:fy0 + int(0.14 * h), int(0.03 * w):int(0.08 * w)] = (245, 245, 245)  # Mercosur emblem


# ---------------------------------------------------------------------------------------------
# Backgrounds
# ---------------------------------------------------------------------------------------------


def _fractal(rng: np.random.Generator, h: int, w: int, octaves: int = 5) -> np.ndarray:
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = 2 ** (o + 1)
        small = rng.random((cells + 1, cells + 1)).astype(np.float32)
        out += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.55
    out /= total
    return (out - out.min()) / max(1e-6, float(out.max() - out.min()))


def _color(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> np.ndarray:
    return rng.integers(lo, hi, 3).astype(np.float32)


def procedural_background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    kind = int(rng.integers(4))
    if kind == 0:  # gradient + noise
        t = np.linspace(0, 1, h if rng.random() < 0.5 else w, dtype=np.float32)
        t = t[:, None] if t.shape[0] == h else t[None, :]
        t = np.broadcast_to(t, (h, w))[..., None]
        img = _color(rng) * (1 - t) + _color(rng) * t
        img = img + (_fractal(rng, h, w)[..., None] - 0.5) * rng.uniform(20, 90)
    elif kind == 1:  # fractal texture between two colours
        t = _fractal(rng, h, w, octaves=int(rng.integers(3, 7)))[..., None]
        img = _color(rng) * (1 - t) + _color(rng) * t
    elif kind == 2:  # street-like: sky, buildings with windows, road with lanes
        img = np.empty((h, w, 3), np.float32)
        horizon = int(h * rng.uniform(0.3, 0.6))
        sky = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
        img[:horizon] = _color(rng, 120, 255) * (1 - sky) + _color(rng, 150, 255) * sky
        road = _color(rng, 50, 130).mean()
        img[horizon:] = road + (_fractal(rng, h - horizon, w)[..., None] - 0.5) * 40
        x = 0
        while x < w:
            bw = int(rng.integers(w // 10, w // 3))
            top = int(rng.integers(0, horizon))
            img[top:horizon, x:x + bw] = _color(rng, 40, 220)
            for wy in range(top + 6, horizon - 8, int(rng.integers(12, 30))):
                for wx in range(x + 4, x + bw - 8, int(rng.integers(10, 26))):
                    img[wy:wy + 6, wx:wx + 5] = _color(rng, 0, 255) * 0.6
            x += bw + int(rng.integers(0, 20))
        for _ in range(int(rng.integers(0, 4))):
            y = int(rng.integers(horizon, h))
            img[y:y + 3, :] = 230
    else:  # random shapes
        img = np.empty((h, w, 3), np.float32)
        img[:] = _color(rng)
        for _ in range(int(rng.integers(10, 40))):
            c = tuple(float(v) for v in _color(rng))
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            x1, y1 = x0 + int(rng.integers(5, w // 2)), y0 + int(rng.integers(5, h // 2))
            shape = rng.random()
            if shape < 0.4:
                cv2.rectangle(img, (x0, y0), (x1, y1), c, -1)
            elif shape < 0.7:
                cv2.ellipse(img, (x0, y0), ((x1 - x0) // 2, (y1 - y0) // 2), float(rng.uniform(0, 180)), 0, 360, c, -1)
            else:
                cv2.line(img, (x0, y0), (x1, y1), c, int(rng.integers(1, 8)))
    return np.clip(img, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Compositing
# ---------------------------------------------------------------------------------------------


@dataclass
class Canvas:
    rgb: np.ndarray
    text_mask: np.ndarray
    annotations: list[dict] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    def plate_boxes(self) -> list[list[float]]:
        return [a["bbox"] for a in self.annotations if a["category_id"] == 1]


def _quad(rng: np.random.Generator, cx: float, cy: float, pw: float, ph: float, tilt: float = 1.0,
          steep: bool = False) -> np.ndarray:
    """Destination corners (tl, tr, br, bl) of a plate seen with rotation, yaw and pitch; `steep`:
    a strong side view (one edge down to 40 % of the other) or a view from far above or below."""
    angle = math.radians(float(np.clip(rng.normal(0, (14 if steep else 6) * tilt), -35, 35)))
    yaw = rng.uniform(0.7, 1.0) if rng.random() < 0.5 * tilt else 1.0
    top_w = 1.0
    if steep:
        yaw = rng.uniform(0.4, 0.7) if rng.random() < 0.6 else 1.0
        top_w = rng.uniform(0.6, 0.85) if yaw == 1.0 else 1.0
        if rng.random() < 0.5:
            top_w = 1.0 / top_w if top_w != 1.0 else 1.0
    left_h, right_h = (ph, ph * yaw) if rng.random() < 0.5 else (ph * yaw, ph)
    tw = pw * top_w if top_w <= 1.0 else pw
    bw = pw if top_w <= 1.0 else pw / top_w
    pts = np.array([[-tw / 2, -left_h / 2], [tw / 2, -right_h / 2], [bw / 2, right_h / 2], [-bw / 2, left_h / 2]],
                   np.float32)
    pts += rng.uniform(-0.06, 0.06, (4, 2)).astype(np.float32) * np.array([pw, ph], np.float32) * tilt
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], np.float32)
    return pts @ rot.T + np.array([cx, cy], np.float32)


def _overlaps(box: list[float], others: list[list[float]], limit: float = 0.1) -> bool:
    x, y, w, h = box
    for ox, oy, ow, oh in others:
        iw = min(x + w, ox + ow) - max(x, ox)
        ih = min(y + h, oy + oh) - max(y, oy)
        if iw > 0 and ih > 0 and iw * ih > limit * min(w * h, ow * oh):
            return True
    return False


def paste(canvas: Canvas, rgb: np.ndarray, quad: np.ndarray, rng: np.random.Generator,
          text_mask: np.ndarray | None = None, light: bool = True) -> list[float]:
    """Warp `rgb` onto the canvas at `quad`; returns its box [x, y, w, h], clipped to the image
    (a plate cut by the image's edge is labelled by its visible part)."""
    ph, pw = rgb.shape[:2]
    x0, y0 = np.floor(quad.min(0)).astype(int)
    x1, y1 = np.ceil(quad.max(0)).astype(int)
    bw, bh = x1 - x0 + 1, y1 - y0 + 1
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    m = cv2.getPerspectiveTransform(src, (quad - np.array([x0, y0], np.float32)).astype(np.float32))
    patch = rgb.astype(np.float32)
    if light:  # per-object lighting: gain and a shadow gradient across it
        patch = patch * rng.uniform(0.45, 1.25)
        if rng.random() < 0.4:
            ramp = np.linspace(rng.uniform(0.4, 1.0), 1.0, pw, dtype=np.float32)
            patch = patch * (ramp[None, :, None] if rng.random() < 0.5 else ramp[None, ::-1, None])
    # Small targets are warped from a pre-shrunk source so they alias like a real camera's.
    warped = cv2.warpPerspective(patch, m, (bw, bh), flags=cv2.INTER_AREA if bw < pw / 2 else cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(np.ones((ph, pw), np.float32), m, (bw, bh), flags=cv2.INTER_LINEAR)[..., None]
    W, H = canvas.size
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + bw), min(H, y0 + bh)  # the visible part
    inner = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    region = canvas.rgb[cy0:cy1, cx0:cx1].astype(np.float32)
    canvas.rgb[cy0:cy1, cx0:cx1] = np.clip(region * (1 - alpha[inner]) + warped[inner] * alpha[inner], 0, 255
                                           ).astype(np.uint8)
    if text_mask is not None:
        tm = cv2.warpPerspective(text_mask.astype(np.float32), m, (bw, bh), flags=cv2.INTER_LINEAR) > 0.5
        canvas.text_mask[cy0:cy1, cx0:cx1] |= tm[inner]
    qx0, qy0 = np.maximum(quad.min(0), 0)
    qx1, qy1 = np.minimum(quad.max(0), [W - 1, H - 1])
    return [float(qx0), float(qy0), float(qx1 - qx0), float(qy1 - qy0)]


def add_plate(canvas: Canvas, rng: np.random.Generator, fonts, width: float | None = None,
              center: tuple[float, float] | None = None, tilt: float = 1.0) -> bool:
    """Render, warp and paste one plate; label it. False when it could not be placed."""
    w, h = canvas.size
    plate = render_plate(rng, _pick(rng, _WORKER.get("styles") or STYLES), fonts)
    aspect = plate.rgb.shape[0] / plate.rgb.shape[1] * rng.uniform(0.85, 1.15)
    free = width is None and center is None
    close_up = free and rng.random() < 0.08  # a frame-filling plate, 30-90 % of the image's width
    cut = free and not close_up and rng.random() < 0.12  # a plate cut by the image's edge
    steep = rng.random() < 0.15 * tilt
    for _ in range(12):
        if width is not None:
            pw = width
        elif close_up:
            pw = math.exp(rng.uniform(math.log(0.3 * w), math.log(0.9 * w)))
        else:
            pw = math.exp(rng.uniform(math.log(10), math.log(min(200, 0.8 * w))))
        ph = pw * aspect
        if center is not None:
            cx, cy = center
        elif cut:  # 30-85 % of it inside, across the left, right or bottom edge
            inside = rng.uniform(0.3, 0.85)
            side = int(rng.integers(3))
            cx = (-pw / 2 + inside * pw, w + pw / 2 - inside * pw,
                  rng.uniform(min(pw * 0.7, w / 2), max(w - pw * 0.7, w / 2)))[side]
            cy = (rng.uniform(min(ph * 0.8 + 2, h / 2), max(h - ph * 0.8 - 2, h / 2)) if side < 2
                  else h + ph / 2 - inside * ph)
        else:
            cx = rng.uniform(min(pw * 0.7, w / 2), max(w - pw * 0.7, w / 2))
            cy = rng.uniform(min(ph * 0.8 + 2, h / 2), max(h - ph * 0.8 - 2, h / 2))
        quad = _quad(rng, cx, cy, pw, ph, tilt, steep)
        qmin, qmax = quad.min(0), quad.max(0)
        if (not cut and (qmin[0] < 0 or qmin[1] < 0 or qmax[0] > w - 2 or qmax[1] > h - 2)) or \
                (cut and (qmin[1] < 0 or qmax[1] < 4 or qmin[0] > w - 6 or qmax[0] < 6)):
            if center is not None:
                return False
            continue
        qmin, qmax = np.maximum(qmin, 0), np.minimum(qmax, [w - 1, h - 1])
        box = [float(qmin[0]), float(qmin[1]), float(qmax[0] - qmin[0]), float(qmax[1] - qmin[1])]
        if _overlaps(box, canvas.plate_boxes()):
            if center is not None:
                return False
            continue
        box = paste(canvas, plate.rgb, quad, rng, plate.text_mask)
        if rng.random() < 0.2 and pw >= 16 and not cut:
            _occlude(canvas, rng, box)
        canvas.annotations.append({"category_id": 1, "bbox": [round(v, 2) for v in box],
                                   "plate_text": plate.text, "style": plate.style})
        return True
    return False


def _occlude(canvas: Canvas, rng: np.random.Generator, box: list[float]) -> None:
    """Cover up to ~35% of a plate (a pole, a tow bar, a hand): from one side, never all of it."""
    x, y, w, h = box
    ow = w * rng.uniform(0.1, 0.35)
    ox = x + (rng.uniform(-0.05, 0.05) * w if rng.random() < 0.5 else w - ow + rng.uniform(-0.05, 0.05) * w)
    oy0, oy1 = y - h * rng.uniform(0, 0.5), y + h * rng.uniform(0.6, 1.5)
    x0, x1 = int(max(0, ox)), int(min(canvas.size[0], ox + ow))
    y0, y1 = int(max(0, oy0)), int(min(canvas.size[1], oy1))
    if x1 <= x0 or y1 <= y0:
        return
    canvas.rgb[y0:y1, x0:x1] = _color(rng, 0, 200).astype(np.uint8)
    canvas.text_mask[y0:y1, x0:x1] = False


def add_vehicle(canvas: Canvas, rng: np.random.Generator, fonts) -> None:
    """A crude car seen from the front or back (body, glass, wheels, lights, grille) with a plate."""
    w, h = canvas.size
    vw = math.exp(rng.uniform(math.log(60), math.log(min(400, 0.9 * w))))
    vh = vw * rng.uniform(0.55, 0.85)
    if vw >= w - 4 or vh >= h - 4:
        return
    x0, y0 = rng.uniform(0, w - vw - 2), rng.uniform(0, h - vh - 2)
    box = [float(x0), float(y0), float(vw), float(vh)]
    if _overlaps(box, canvas.plate_boxes(), 0.0):
        return
    img = canvas.rgb
    body = tuple(float(v) for v in _color(rng))
    dark = (20.0, 20.0, 20.0)
    X = lambda f: int(x0 + f * vw)  # noqa: E731
    Y = lambda f: int(y0 + f * vh)  # noqa: E731
    cv2.rectangle(img, (X(0.02), Y(0.78)), (X(0.2), Y(1.0)), dark, -1)  # wheels
    cv2.rectangle(img, (X(0.8), Y(0.78)), (X(0.98), Y(1.0)), dark, -1)
    cv2.rectangle(img, (X(0.0), Y(0.4)), (X(1.0), Y(0.88)), body, -1)
    roof = np.array([[X(0.12), Y(0.42)], [X(0.25), Y(0.0)], [X(0.75), Y(0.0)], [X(0.88), Y(0.42)]], np.int32)
    cv2.fillPoly(img, [roof], body)
    glass = np.array([[X(0.17), Y(0.4)], [X(0.28), Y(0.06)], [X(0.72), Y(0.06)], [X(0.83), Y(0.4)]], np.int32)
    cv2.fillPoly(img, [glass], tuple(float(v) for v in _color(rng, 20, 120)))
    light = (235.0, 235.0, 200.0) if rng.random() < 0.5 else (200.0, 30.0, 30.0)
    cv2.rectangle(img, (X(0.04), Y(0.48)), (X(0.2), Y(0.58)), light, -1)
    cv2.rectangle(img, (X(0.8), Y(0.48)), (X(0.96), Y(0.58)), light, -1)
    for k in range(int(rng.integers(0, 5))):  # grille
        gy = Y(0.47 + 0.03 * k)
        cv2.line(img, (X(0.3), gy), (X(0.7), gy), dark, max(1, int(vh * 0.012)))
    canvas.annotations.append({"category_id": 2, "bbox": [round(v, 2) for v in box]})
    if rng.random() < 0.9:
        add_plate(canvas, rng, fonts, width=vw * rng.uniform(0.2, 0.32),
                  center=(x0 + vw * rng.uniform(0.45, 0.55), y0 + vh * 0.72), tilt=0.4)


def add_negative(canvas: Canvas, rng: np.random.Generator, fonts) -> None:
    """Plate-like things that are not plates: signs and shop boards (some lit), grille stripes,
    lettering on a truck or a wall (a name over a phone number), loose lettering."""
    w, h = canvas.size
    nw = math.exp(rng.uniform(math.log(12), math.log(min(260, 0.8 * w))))
    kind = rng.random()
    lit = False
    panel: np.ndarray | None
    if kind < 0.45:  # a sign: a coloured panel with border and one or two lines of words
        panel, nw, nh, lit = _sign(rng, fonts, w, nw, truck=kind < 0.15)
    elif kind < 0.7:  # grille-like stripes
        panel, nh = _stripes(rng, nw)
    else:  # lettering on the background, no panel
        nh = nw * rng.uniform(0.15, 0.4)
        panel = None
    nh = min(nh, 0.9 * h - 4)
    cx, cy = rng.uniform(nw / 2 + 1, w - nw / 2 - 1), rng.uniform(nh / 2 + 1, h - nh / 2 - 1)
    quad = _quad(rng, cx, cy, nw, nh)
    if quad.min() < 0 or quad[:, 0].max() > w - 2 or quad[:, 1].max() > h - 2:
        return
    qmin, qmax = quad.min(0), quad.max(0)
    if _overlaps([float(qmin[0]), float(qmin[1]), float(qmax[0] - qmin[0]), float(qmax[1] - qmin[1])],
                 canvas.plate_boxes(), 0.0):
        return  # never hide a labelled plate of a real background
    if panel is None:
        _loose_lettering(canvas, rng, fonts, quad, nw, nh)
    else:
        paste(canvas, panel, quad, rng, light=not lit)


def add_car_mark(canvas: Canvas, rng: np.random.Generator, fonts) -> None:
    """Marks on a car that are not its plate, where a plate detector looks: a chrome badge
    (interlocked rings, or an oval with a word), a model name in chrome lettering, or a bumper
    sticker. Placed on a labelled vehicle when there is one (else anywhere), never over a labelled
    plate, never labelled. On the valid split these were most of the shipped model's false boxes."""
    w, h = canvas.size
    vehicles = [a["bbox"] for a in canvas.annotations if a["category_id"] == 2]
    vx, vy, vw, vh = (vehicles[int(rng.integers(len(vehicles)))] if vehicles
                      else (0.0, 0.0, float(w), float(h)))
    kind = rng.random()
    mw = vw * rng.uniform(0.06, 0.2 if kind < 0.6 else 0.3)
    if mw < 8:
        return
    mh = mw * (rng.uniform(0.3, 0.45) if kind < 0.3 else rng.uniform(0.2, 0.5))
    sticker = None
    if kind >= 0.6:  # a bumper sticker: a small sign, its own height
        sticker, _, _, lit = _sign(rng, fonts, w, mw, truck=False)
        mh = mw * sticker.shape[0] / sticker.shape[1]
    cx, cy = vx + vw * rng.uniform(0.3, 0.7), vy + vh * rng.uniform(0.3, 0.75)
    quad = _quad(rng, cx, cy, mw, mh, tilt=0.3)
    (qx0, qy0), (qx1, qy1) = quad.min(0), quad.max(0)
    if qx0 < 1 or qy0 < 1 or qx1 > w - 2 or qy1 > h - 2 or _overlaps(
            [float(qx0), float(qy0), float(qx1 - qx0), float(qy1 - qy0)], canvas.plate_boxes(), 0.0):
        return
    grey = rng.uniform(150, 240)
    chrome = (grey, grey, grey) if rng.random() < 0.8 else (40.0, 40.0, 40.0)  # chrome, or black plastic
    if sticker is not None:
        paste(canvas, sticker, quad, rng, light=not lit)
    elif kind < 0.15:  # interlocked rings (Audi's)
        n = int(rng.integers(2, 5))
        r = mw / (2 + 1.5 * (n - 1))
        for k in range(n):
            centre = (int(round(qx0 + r + 1.5 * r * k)), int(round(cy)))
            cv2.circle(canvas.rgb, centre, max(2, int(r)), chrome, max(1, int(r / 5)), cv2.LINE_AA)
    elif kind < 0.3:  # an oval badge with a word (Ford's, Hyundai's)
        axes = (max(2, int(mw / 2)), max(2, int(mh / 2)))
        cv2.ellipse(canvas.rgb, (int(cx), int(cy)), axes, 0, 0, 360, tuple(float(v) for v in _color(rng, 0, 120)), -1, cv2.LINE_AA)
        cv2.ellipse(canvas.rgb, (int(cx), int(cy)), axes, 0, 0, 360, chrome, max(1, int(mh / 10)), cv2.LINE_AA)
        _loose_lettering(canvas, rng, fonts, _quad(rng, cx, cy, mw * 0.6, mh * 0.5, tilt=0.3),
                         mw * 0.6, mh * 0.5, words=MODEL_NAMES, color=chrome)
    else:  # a model name in chrome
        _loose_lettering(canvas, rng, fonts, quad, mw, mh, words=MODEL_NAMES, color=chrome)


def _sign(rng: np.random.Generator, fonts, w: int, nw: float, truck: bool) -> tuple[np.ndarray, float, float, bool]:
    """A coloured panel with border and one or two lines of words: (panel, width, height, lit)."""
    lines = [_pick(rng, SIGN_WORDS)] + ([_pick(rng, SIGN_WORDS)] if rng.random() < 0.3 else [])
    if truck:  # a truck's side or a wall: large lettering, a name over a number
        nw = math.exp(rng.uniform(math.log(60), math.log(0.9 * w)))
        lines = [_pick(rng, TRUCK_WORDS), _pick(rng, TRUCK_LINES)]
    nh = nw * rng.uniform(0.2, 1.0)
    panel = np.empty((max(8, int(nh * 2)), max(16, int(nw * 2)), 3), np.uint8)
    lit = rng.random() < 0.3  # a lit board: bright face, saturated letters
    panel[:] = _color(rng, 200, 256) if lit else _color(rng)
    layer = Image.new("L", (panel.shape[1], panel.shape[0]), 0)
    draw = ImageDraw.Draw(layer)
    if rng.random() < 0.6:
        draw.rectangle((1, 1, panel.shape[1] - 2, panel.shape[0] - 2), outline=255, width=max(1, panel.shape[0] // 20))
    ph_, pw_ = panel.shape[:2]
    for k, word in enumerate(line for line in lines if line):
        font = _pick(rng, fonts["hangul"] if any(ord(c) > 0x3000 for c in word) else fonts["latin"])
        top, bottom = (0.15, 0.85) if len(lines) == 1 else ((0.1, 0.55) if k == 0 else (0.6, 0.9))
        _fit_text(draw, word, font, (0.08 * pw_, top * ph_, 0.92 * pw_, bottom * ph_))
    _layer(panel, np.asarray(layer), _color(rng, 0, 160) if lit else _color(rng))
    return panel, nw, nh, lit


def _stripes(rng: np.random.Generator, nw: float) -> tuple[np.ndarray, float]:
    """A grille: dark with bright stripes, some crossed: (panel, height)."""
    nh = nw * rng.uniform(0.15, 0.6)
    panel = np.empty((max(8, int(nh * 2)), max(16, int(nw * 2)), 3), np.uint8)
    panel[:] = _color(rng, 0, 90)
    period = int(rng.integers(3, 10))
    bright = _color(rng, 120, 256)
    for y in range(0, panel.shape[0], period):
        panel[y:y + max(1, period // 2)] = bright
    if rng.random() < 0.4:
        for x in range(0, panel.shape[1], period * 3):
            panel[:, x:x + max(1, period // 2)] = bright
    return panel, nh


def _loose_lettering(canvas: Canvas, rng: np.random.Generator, fonts, quad: np.ndarray, nw: float,
                     nh: float, words: tuple[str, ...] = SIGN_WORDS + TRUCK_LINES[:5], color=None) -> None:
    """A word drawn straight onto the background, warped into `quad`."""
    layer = Image.new("L", (int(nw * 2) + 8, int(nh * 2) + 8), 0)
    word = _pick(rng, words)
    font = _pick(rng, fonts["hangul"] if any(ord(c) > 0x3000 for c in word) else fonts["latin"])
    _fit_text(ImageDraw.Draw(layer), word, font, (0, 0, layer.size[0], layer.size[1]))
    mask = np.asarray(layer)
    x0, y0 = quad.min(0).astype(int)
    m = cv2.getPerspectiveTransform(np.array([[0, 0], [mask.shape[1], 0], [mask.shape[1], mask.shape[0]],
                                              [0, mask.shape[0]]], np.float32),
                                    (quad - np.array([x0, y0], np.float32)).astype(np.float32))
    x1, y1 = np.ceil(quad.max(0)).astype(int)
    warped = cv2.warpPerspective(mask.astype(np.float32) / 255, m, (x1 - x0 + 1, y1 - y0 + 1))[..., None]
    region = canvas.rgb[y0:y1 + 1, x0:x1 + 1].astype(np.float32)
    ink = _color(rng) if color is None else np.asarray(color, np.float32)
    canvas.rgb[y0:y1 + 1, x0:x1 + 1] = (region * (1 - warped) + ink * warped).astype(np.uint8)


def add_overlay(canvas: Canvas, rng: np.random.Generator, fonts) -> None:
    """Burnt-in text of a dashcam or CCTV: a timestamp / GPS / speed line along the top or
    bottom edge, light with a dark outline. Never labelled, never over a labelled plate."""
    w, h = canvas.size
    stamp = (f"{int(rng.integers(2015, 2027))}/{int(rng.integers(1, 13)):02d}/{int(rng.integers(1, 29)):02d} "
             f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}:{int(rng.integers(0, 60)):02d}")
    extra = _pick(rng, ("", f"  N{rng.uniform(0, 60):.4f} E{rng.uniform(0, 180):.4f}",
                        f"  {int(rng.integers(0, 130))} km/h", f"  CAM{int(rng.integers(1, 9))}",
                        f"  {int(rng.integers(0, 80))} MPH  {_chars(rng, LETTERS, 3)}-{_chars(rng, DIGITS, 4)}"))
    text = stamp + extra if rng.random() < 0.8 else extra.strip() + "  " + stamp
    th = int(rng.integers(9, 24))
    font = _font(str(_pick(rng, fonts["latin"])), th)
    layer = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(layer)
    l, t, r, b = draw.textbbox((0, 0), text, font=font, stroke_width=1)
    x = 4 if rng.random() < 0.6 else max(0, w - (r - l) - 4)
    y = 3 if rng.random() < 0.5 else max(0, h - (b - t) - 3)
    box = [float(x), float(y), float(r - l), float(b - t)]
    if _overlaps(box, canvas.plate_boxes(), 0.0):
        return
    edge = Image.new("L", (w, h), 0)
    ImageDraw.Draw(edge).text((x - l, y - t), text, font=font, fill=255, stroke_width=max(1, th // 10), stroke_fill=255)
    draw.text((x - l, y - t), text, font=font, fill=255)
    _layer(canvas.rgb, np.asarray(edge), (10, 10, 10))
    _layer(canvas.rgb, np.asarray(layer), _pick(rng, ((250, 250, 250), (250, 230, 60), (240, 240, 200))))


def degrade(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whole-image camera effects: lighting and colour cast, motion or defocus blur, noise."""
    img = rgb.astype(np.float32) / 255.0
    img = np.power(np.clip(img, 0, 1), rng.uniform(0.6, 1.6)) * rng.uniform(0.6, 1.2)
    img = img * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    if rng.random() < 0.3:  # uneven light: a bright or dark blob
        h, w = img.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.2, 0.8) * max(h, w)
        img = img * (1 + rng.uniform(-0.5, 0.5) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)))[..., None]
    img = np.clip(img * 255, 0, 255).astype(np.uint8)
    blur = rng.random()
    if blur < 0.25:  # motion
        k = int(rng.integers(3, 10))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2] = 1.0
        rot = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), float(rng.uniform(0, 180)), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        img = cv2.filter2D(img, -1, kernel / max(1e-6, kernel.sum()))
    elif blur < 0.45:  # defocus
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 2.0)))
    if rng.random() < 0.5:
        noise = rng.normal(0, rng.uniform(2, 12), img.shape).astype(np.float32)
        img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return img


# ---------------------------------------------------------------------------------------------
# Images and the data set
# ---------------------------------------------------------------------------------------------


@dataclass
class BackgroundPool:
    """Real photos to draw on; `boxes[file name]` their labelled (category, [x, y, w, h])."""

    files: list[Path]
    boxes: dict[str, list[tuple[int, list[float]]]]

    @classmethod
    def load(cls, folder: str | Path, coco: str | Path | None = None) -> "BackgroundPool":
        folder = Path(folder)
        if not folder.is_dir():
            raise VpipeError(f"--backgrounds {folder}: not a directory")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise VpipeError(f"--backgrounds {folder}: no images")
        boxes: dict[str, list[tuple[int, list[float]]]] = {}
        if coco:
            data = json.loads(Path(coco).read_text())
            names = {c["id"]: c["name"] for c in data["categories"]}
            by_id = {i["id"]: i["file_name"] for i in data["images"]}
            for a in data["annotations"]:
                cat = category_of(names.get(a["category_id"], ""))
                if cat:
                    boxes.setdefault(Path(by_id[a["image_id"]]).name, []).append((cat, list(a["bbox"])))
            files = [f for f in files if f.name in {Path(n).name for n in by_id.values()}]
        return cls(files, boxes)


def category_of(name: str) -> int | None:
    """Our category (1 plate, 2 vehicle) for a data set's category name; None to ignore it."""
    n = name.lower().replace("-", "_").replace(" ", "_")
    if "plate" in n:
        return 1
    if n in ("vehicle", "car", "truck", "bus", "van", "motorcycle", "vehicles"):
        return 2
    return None


def _photo_background(canvas: Canvas, rng: np.random.Generator, pool: BackgroundPool) -> None:
    """A real photo as the background, its labelled boxes kept. One in four is a part of the photo
    enlarged 1.5-4x: close-up scenes (a grille, a facade, a mast filling the view) as a detector's
    whole-frame pass sees them, so the model learns that large structure without characters is
    not a plate (part 3 scored a launch tower's lattice 0.94)."""
    w, h = canvas.size
    path = pool.files[int(rng.integers(len(pool.files)))]
    photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if photo is None:
        raise VpipeError(f"{path}: not a readable image")
    boxes = pool.boxes.get(path.name, [])
    region = (0, 0, photo.shape[1], photo.shape[0])
    if rng.random() < 0.25:
        for _ in range(8):  # a crop that cuts no plate: each is wholly inside it or outside
            zoom = rng.uniform(1.5, 4.0)
            cw, ch = int(photo.shape[1] / zoom), int(photo.shape[0] / zoom)
            crop = (int(rng.integers(0, photo.shape[1] - cw + 1)), int(rng.integers(0, photo.shape[0] - ch + 1)), cw, ch)
            if all(_inside(b, crop) or _outside(b, crop) for cat, b in boxes if cat == 1):
                region = crop
                break
    x0, y0, cw, ch = region
    sx, sy = w / cw, h / ch
    resample = cv2.INTER_AREA if sx < 1 and sy < 1 else cv2.INTER_CUBIC
    canvas.rgb[:] = cv2.cvtColor(cv2.resize(photo[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=resample), cv2.COLOR_BGR2RGB)
    for cat, (x, y, bw, bh) in boxes:
        # a vehicle cut by the crop is still a vehicle: its visible part, if a tenth of it shows
        left, top = max(x, x0), max(y, y0)
        right, bottom = min(x + bw, x0 + cw), min(y + bh, y0 + ch)
        if right <= left or bottom <= top or (cat != 1 and (right - left) * (bottom - top) < 0.1 * bw * bh):
            continue
        canvas.annotations.append({"category_id": cat, "bbox": [round((left - x0) * sx, 2), round((top - y0) * sy, 2),
                                                                round((right - left) * sx, 2), round((bottom - top) * sy, 2)]})


def _inside(box, region) -> bool:
    """`box` (x, y, w, h) lies within `region` (x, y, w, h), give or take half a pixel."""
    x, y, w, h = box
    rx, ry, rw, rh = region
    return x >= rx - 0.5 and y >= ry - 0.5 and x + w <= rx + rw + 0.5 and y + h <= ry + rh + 0.5


def _outside(box, region) -> bool:
    """`box` and `region` (x, y, w, h) do not overlap."""
    x, y, w, h = box
    rx, ry, rw, rh = region
    return x + w <= rx or y + h <= ry or x >= rx + rw or y >= ry + rh


def make_image(rng: np.random.Generator, fonts, pool: BackgroundPool | None = None) -> tuple[np.ndarray, list[dict], np.ndarray]:
    """One synthetic image: (RGB uint8, annotations, plate-text pixel mask)."""
    w, h = SIZES[int(rng.integers(len(SIZES)))]
    canvas = Canvas(np.zeros((h, w, 3), np.uint8), np.zeros((h, w), bool))
    if pool is not None and rng.random() < 0.5:
        _photo_background(canvas, rng, pool)
    else:
        canvas.rgb[:] = procedural_background(rng, w, h)
    for _ in range(int(rng.integers(0, 5))):
        add_negative(canvas, rng, fonts)
    real = bool(canvas.annotations)
    for _ in range(0 if real else int(rng.choice([0, 0, 1, 1, 2]))):  # no toy cars over real ones
        add_vehicle(canvas, rng, fonts)
    for _ in range(int(rng.integers(1, 5))):
        add_plate(canvas, rng, fonts)
    for _ in range(int(rng.integers(0, 3))):
        add_car_mark(canvas, rng, fonts)
    if rng.random() < 0.25:
        add_overlay(canvas, rng, fonts)
    return degrade(canvas.rgb, rng), canvas.annotations, canvas.text_mask


_WORKER: dict = {}


def _init_worker(backgrounds, backgrounds_coco, styles=None) -> None:
    _WORKER["fonts"] = find_fonts()
    _WORKER["styles"] = tuple(styles) if styles else None
    _WORKER["pool"] = BackgroundPool.load(backgrounds, backgrounds_coco) if backgrounds else None


def _render(job: tuple[int, int, str]) -> tuple[int, int, list[dict]]:
    """Image i of `seed`, written to `folder`; depends only on (seed, i), in any process."""
    seed, i, folder = job
    rng = np.random.default_rng([seed, i])
    rgb, anns, _ = make_image(rng, _WORKER["fonts"], _WORKER["pool"])
    quality = int(rng.integers(30, 96))
    cv2.imwrite(str(Path(folder) / f"{i:06d}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, quality])
    return rgb.shape[1], rgb.shape[0], anns


def check_styles(styles: list[str], option: str = "--styles") -> None:
    """One line naming the option and each style the generator does not draw."""
    unknown = sorted(set(styles) - set(STYLES))
    if unknown:
        raise VpipeError(f"{option} {','.join(unknown)}: unknown (known: {', '.join(STYLES)})")


def generate(out: str | Path, count: int, seed: int = 0, backgrounds: str | Path | None = None,
             backgrounds_coco: str | Path | None = None, log=print, workers: int = 0,
             styles: list[str] | None = None) -> Path:
    """Write `count` images and annotations.json under `out`; returns the JSON's path.
    `workers` > 0 renders in that many processes; the bytes are the same as with 0. `styles`
    draws plates of those styles only (a held-out set of one kind, to measure on)."""
    if count < 1:
        raise VpipeError(f"--count {count}: must be at least 1")
    check_styles(styles or [])
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    find_fonts()  # fail here, in one line, rather than in a worker
    jobs = [(seed, i, str(out / "images")) for i in range(count)]
    if workers > 0:
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(workers, _init_worker, (backgrounds, backgrounds_coco, styles))
        results = pool.imap(_render, jobs, chunksize=8)
    else:
        _init_worker(backgrounds, backgrounds_coco, styles)
        pool, results = None, map(_render, jobs)
    images, annotations = [], []
    for i, (width, height, anns) in enumerate(results):
        images.append({"id": i + 1, "file_name": f"{i:06d}.jpg", "width": width, "height": height})
        for a in anns:
            a.update(id=len(annotations) + 1, image_id=i + 1, area=round(a["bbox"][2] * a["bbox"][3], 2), iscrowd=0)
            annotations.append(a)
        if log and (i + 1) % 500 == 0:
            log(f"{i + 1}/{count} images")
    if pool is not None:
        pool.close()
        pool.join()
    _WORKER["styles"] = None  # this process's later images draw every style again
    path = out / "annotations.json"
    info = {"description": "vpipe synthetic licence plates", "generator": "vpipe.tools.data.plate_synth",
            "seed": seed, "count": count, "styles": list(styles or STYLES), "backgrounds": str(backgrounds) if backgrounds else None}
    path.write_text(json.dumps({"info": info, "images": images, "annotations": annotations,
                                "categories": CATEGORIES}) + "\n")
    if log:
        plates = sum(a["category_id"] == 1 for a in annotations)
        log(f"{count} images, {plates} plates, {len(annotations) - plates} vehicles -> {path}")
    return path


def main(argv: list[str] | None = None, prog: str = "vpipe synth plates") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (images/ and annotations.json)")
    parser.add_argument("--count", type=int, required=True, help="number of images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backgrounds", help="folder of real photos used as backgrounds for half the images")
    parser.add_argument("--backgrounds-coco", help="COCO JSON of --backgrounds, so their own plates/vehicles stay labelled")
    parser.add_argument("--workers", type=int, default=0, help="rendering processes (same images for any number)")
    parser.add_argument("--styles", help=f"comma-separated plate styles to draw, of {','.join(STYLES)} (default: all)")
    args = parser.parse_args(argv)
    try:
        generate(args.out, args.count, args.seed, args.backgrounds, args.backgrounds_coco, workers=args.workers,
                 styles=args.styles.split(",") if args.styles else None)
    except VpipeError as exc:
        print(f"plate_synth: error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
