"""Build the CJK fonts used to draw Chinese text on QR poster images.

Extracts the Simplified Chinese face of Noto Sans CJK (Debian's fonts-noto-cjk TTCs),
subsets it to the characters posters need, renames it "Fenxiang Sans SC" and writes
plain OpenType/CFF files to static/fonts/. Plain .otf rather than WOFF because Pillow
hands the file straight to FreeType, and a fresh machine must not need system fonts.

Usage: python scripts/build_poster_fonts.py [SOURCE_DIR]   (needs fonttools)
"""

import argparse
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

DEFAULT_SOURCE = Path("/usr/share/fonts/opentype/noto")  # Debian package fonts-noto-cjk
OUT_DIR = Path(__file__).resolve().parent.parent / "static" / "fonts"
SOURCE_FAMILY = "Noto Sans CJK SC"
FAMILY = "Fenxiang Sans SC"
WEIGHTS = ("Regular", "Bold")

# Inclusive code point ranges. The ideograph block dominates the size (~21k glyphs); the
# symbol blocks below it are a few hundred glyphs together, so they are kept for prices,
# list bullets and arrows that shop owners type into product titles.
RANGES = [
    (0x0020, 0x00FF),  # Basic Latin + Latin-1 Supplement (includes ¥ U+00A5)
    (0x2000, 0x206F),  # General Punctuation (“ ” — … ‰)
    (0x20A0, 0x20CF),  # Currency Symbols (€ ₩ ₹ ...)
    (0x2100, 0x214F),  # Letterlike Symbols (℃ № ™)
    (0x2190, 0x21FF),  # Arrows
    (0x2460, 0x24FF),  # Enclosed Alphanumerics (① ②)
    (0x25A0, 0x25FF),  # Geometric Shapes (■ ● ▲ ◆)
    (0x2600, 0x26FF),  # Miscellaneous Symbols (★ ☆ ☎)
    (0x3000, 0x303F),  # CJK Symbols and Punctuation (、 。 「 」 【 】)
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs: the whole block, so rare name characters work
    (0xFF00, 0xFFEF),  # Halfwidth and Fullwidth Forms (， ！ ： ￥ U+FFE5)
]

# Only what simple horizontal text needs. Pillow's basic layout ignores GSUB/GPOS entirely;
# with libraqm these give kerning, ligatures and mark placement. Vertical ('vert', 'vkrn')
# and CJK alternate-width features ('palt', 'halt') are what make the source large.
LAYOUT_FEATURES = ["ccmp", "kern", "liga", "mark", "mkmk"]


def find_face(ttc: Path) -> int:
    """Return the index of the SC face, read from the name table rather than assumed."""
    for i, font in enumerate(TTCollection(ttc, lazy=True).fonts):
        if font["name"].getDebugName(1) == SOURCE_FAMILY:
            return i
    sys.exit(f"{ttc}: no face named {SOURCE_FAMILY!r}")


def rename(font: TTFont, weight: str) -> None:
    """Give the subset its own name: it is a Modified Version under the OFL, and the upstream
    licence reserves the font name 'Source' (Noto CJK = Source Han); 'Noto' is a Google mark."""
    ps_name = f"{FAMILY.replace(' ', '')}-{weight}"
    full = FAMILY if weight == "Regular" else f"{FAMILY} {weight}"
    name = font["name"]
    version = name.getDebugName(5)
    for name_id in (1, 2, 3, 4, 6, 7, 16, 17):  # drop every old naming record, then set ours
        name.removeNames(nameID=name_id)
    name.setName(FAMILY, 1, 3, 1, 0x409)
    name.setName(weight, 2, 3, 1, 0x409)
    name.setName(f"{ps_name};subset of {SOURCE_FAMILY} {version}", 3, 3, 1, 0x409)
    name.setName(full, 4, 3, 1, 0x409)
    name.setName(f"{version}; subset by scripts/build_poster_fonts.py", 5, 3, 1, 0x409)
    name.setName(ps_name, 6, 3, 1, 0x409)
    # The CFF table carries its own copy of the names (shared with the JP face in the TTC).
    cff = font["CFF "].cff
    cff.fontNames = [ps_name]
    top = cff.topDictIndex[0]
    top.FullName, top.FamilyName = full, FAMILY


def build(source_dir: Path, weight: str) -> Path:
    ttc = source_dir / f"NotoSansCJK-{weight}.ttc"
    # Keep the source's head.modified date so a rebuild gives byte-identical files.
    font = TTFont(ttc, fontNumber=find_face(ttc), recalcTimestamp=False)
    opts = subset.Options()
    opts.layout_features = LAYOUT_FEATURES
    opts.hinting = False  # posters are rasterised large; FreeType autohints or draws unhinted
    opts.desubroutinize = False  # keep CFF subroutines: it is the raw .otf size that ships
    opts.notdef_outline = True  # an uncovered char shows a visible box, not silent blank
    opts.name_IDs = ["*"]  # keep copyright/licence/designer records; rename() fixes the rest
    opts.name_languages = [0x409]
    # Vertical metrics and baseline tables only serve vertical or mixed-script layout.
    opts.drop_tables += ["vhea", "vmtx", "VORG", "BASE"]
    subsetter = subset.Subsetter(opts)
    subsetter.populate(unicodes=[u for lo, hi in RANGES for u in range(lo, hi + 1)])
    subsetter.subset(font)
    rename(font, weight)
    out = OUT_DIR / f"{FAMILY.replace(' ', '')}-{weight}.otf"
    font.save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source_dir", nargs="?", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for weight in WEIGHTS:
        out = build(args.source_dir, weight)
        font = TTFont(out, lazy=True)
        cmap = font.getBestCmap()
        hanzi = sum(0x4E00 <= u <= 0x9FFF for u in cmap)
        print(
            f"{out.name}: {out.stat().st_size / 1e6:.2f} MB, {len(font.getGlyphOrder())} glyphs,"
            f" {len(cmap)} code points ({hanzi} in U+4E00-U+9FFF)"
        )


if __name__ == "__main__":
    main()
