"""The text half of a poster: its two fonts, which characters they can draw, and lines that
fit a width (Chinese line breaking, an ellipsis on the last line). Pure functions of text and a
font; shop.sharing.posters (the layout, the pictures, the cache key) draws what they return.
"""

import re
import struct
import unicodedata
from functools import cache
from pathlib import Path

from PIL import ImageFont

FONT_DIR = Path(__file__).resolve().parents[2] / "static" / "fonts"
FONT_FILES = {"regular": "FenxiangSansSC-Regular.otf", "bold": "FenxiangSansSC-Bold.otf"}
ELLIPSIS = "…"
#: Chinese typography: these never start a line; the character before them moves down too.
NO_LINE_START = frozenset("，。、；：？！）》」』”’】〉,.;:?!)")

# A run of anything but spaces and CJK/fullwidth characters is a word kept on one line.
_TOKEN_RE = re.compile(r"[^\s\u2e80-\u9fff\uf900-\ufaff\ufe30-\uffef]+|\s|.")


@cache
def font(weight: str, size: int) -> ImageFont.FreeTypeFont:
    """The poster font at ``weight`` ("regular" or "bold") and ``size`` px, loaded once per
    process. Threads may share it: Pillow holds the GIL while FreeType draws (a FreeType face is
    not thread-safe by itself)."""
    return ImageFont.truetype(str(FONT_DIR / FONT_FILES[weight]), size)


class CodePoints:
    """A set of code points as one bit each (139 KB for all of Unicode): the fonts' 30,000-odd
    code points as a frozenset took 2.7 MB in every worker that drew a poster."""

    def __init__(self, points):
        self._bits = bytearray(0x110000 // 8)
        for point in points:
            self._bits[point >> 3] |= 1 << (point & 7)

    def __contains__(self, point: int) -> bool:
        return 0 <= point < 0x110000 and bool(self._bits[point >> 3] >> (point & 7) & 1)


@cache
def font_codepoints() -> CodePoints:
    """Code points both poster fonts draw, read once from their cmaps."""
    return CodePoints(frozenset.intersection(*map(_read_cmap, FONT_FILES.values())))


def _read_cmap(name: str) -> frozenset[int]:
    """Code points a font's Unicode cmap (format 4 or 12) maps to a glyph other than .notdef."""
    with (FONT_DIR / name).open("rb") as handle:
        head = handle.read(12)
        records = handle.read(16 * struct.unpack_from(">H", head, 4)[0])
        tables = {rec[0]: rec[2:] for rec in struct.iter_unpack(">4sLLL", records)}
        handle.seek(tables[b"cmap"][0])
        cmap = handle.read(tables[b"cmap"][1])
    count = struct.unpack_from(">H", cmap, 2)[0]
    subtables = {(p, e): at for p, e, at in struct.iter_unpack(">HHL", cmap[4 : 4 + 8 * count])}
    found: set[int] = set()
    for at in (subtables[key] for key in ((3, 10), (0, 4), (3, 1), (0, 3)) if key in subtables):
        if struct.unpack_from(">H", cmap, at)[0] == 12:
            groups = struct.unpack_from(">L", cmap, at + 12)[0]
            for start, end, glyph in struct.iter_unpack(">LLL", cmap[at + 16 :][: 12 * groups]):
                found.update(range(start + (glyph == 0), end + 1))
        elif struct.unpack_from(">H", cmap, at)[0] == 4:
            segs = struct.unpack_from(">H", cmap, at + 6)[0] // 2
            ends, starts, deltas, offsets = (
                struct.unpack_from(f">{segs}H", cmap, at + 14 + 2 * segs * i + 2 * (i > 0))
                for i in range(4)
            )  # endCode, (reservedPad), startCode, idDelta, idRangeOffset
            offsets_at = at + 16 + 6 * segs
            for s in range(segs):
                for char in range(starts[s], min(ends[s], 0xFFFE) + 1):
                    glyph = char
                    if offsets[s]:  # the glyph id comes from glyphIdArray; 0 stays .notdef
                        where = offsets_at + 2 * s + offsets[s] + 2 * (char - starts[s])
                        glyph = struct.unpack_from(">H", cmap, where)[0]
                        if not glyph:
                            continue
                    if (glyph + deltas[s]) & 0xFFFF:
                        found.add(char)
        if found:
            return frozenset(found)
    raise ValueError(f"{name} has no Unicode cmap of format 4 or 12")


def drawable_text(text: str) -> str:
    """``text`` without the characters either poster font lacks (emoji, CJK Extension B, ...)
    or that draw nothing (control and format characters), whitespace collapsed to one space.
    Whatever comes back draws without an empty box ("tofu")."""
    covered = font_codepoints()
    kept = (
        " " if char.isspace() else char
        for char in text
        if char.isspace() or (ord(char) in covered and unicodedata.category(char)[0] != "C")
    )
    return " ".join("".join(kept).split())


def wrap_text(text: str, face: ImageFont.FreeTypeFont, width: float, max_lines: int) -> list[str]:
    """Break ``text`` (already drawable) into at most ``max_lines`` lines of ``width`` px.

    CJK breaks between any two characters, except before closing punctuation; a Latin word moves
    whole to the next line unless it is wider than a line. Text that does not fit ends the last
    line with "…". Empty text gives no lines.
    """
    lines: list[str] = []
    line = ""
    for token in _TOKEN_RE.findall(text):
        if face.getlength(line + token) <= width:
            line += token
            continue
        pieces = [] if token == " " else list(token) if face.getlength(token) > width else [token]
        for piece in pieces:
            if line and face.getlength(line + piece) > width:
                carry = ""
                if piece in NO_LINE_START and len(line) > 1:
                    line, carry = line[:-1], line[-1]
                lines.append(line.rstrip())
                if len(lines) == max_lines:  # more text follows: cut and mark the last line
                    while lines[-1] and face.getlength(lines[-1] + ELLIPSIS) > width:
                        lines[-1] = lines[-1][:-1].rstrip()
                    lines[-1] += ELLIPSIS
                    return lines
                line = carry
            line += piece
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _one_line(text: str, face: ImageFont.FreeTypeFont, width: float) -> str:
    return next(iter(wrap_text(drawable_text(text), face, width, 1)), "")
