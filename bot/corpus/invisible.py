"""Invisible characters out of corpus text before anyone is shown it.

Corpus text is untrusted, and a character nobody can see still changes what is seen: a
right-to-left override (U+202E) reverses the rest of a title, outlet name or autocomplete
choice, so "moc.elpmaxe" reads as a real domain and the words after it look like the bot's;
zero-width spaces, joiners and soft hyphens make "Reu\u200bters" a different outlet that looks
the same. ``strip_invisible`` is the one place those are removed; ``bot.render.escape`` (every
card), ``bot.render.defuse`` (embed authors) and the autocomplete choices all call it.

Removed:

- bidi controls: U+200E/U+200F (marks), U+202A–U+202E (embeddings and overrides),
  U+2066–U+2069 (isolates), U+061C (Arabic letter mark);
- zero-width and invisible characters: U+200B (zero-width space), U+2060–U+2064 (word joiner,
  invisible operators), U+FEFF (BOM), U+180E (Mongolian vowel separator), U+00AD (soft hyphen),
  U+206A–U+206F (deprecated format controls), U+FFF9–U+FFFB (interlinear annotation, which hides
  text), U+1D173–U+1D17A (musical format controls), U+3164 and U+FFA0 (Hangul fillers: letters
  that draw nothing, the usual "blank name");
- tag characters U+E0001 and U+E0020–U+E007F (invisible ASCII look-alikes) except inside an
  emoji flag sequence (🏴 + tags + U+E007F), where they pick the flag;
- control characters (Cc) other than tab and newline;
- the combining grapheme joiner U+034F, the Hangul fillers U+115F/U+1160, the Khmer
  inherent vowels U+17B4/U+17B5, the Mongolian variation selectors U+180B–U+180F, and
  variation selectors (U+FE00–U+FE0F, U+E0100–U+E01EF) anywhere but right after a visible
  non-ASCII character.

Kept on purpose:

- U+200C (ZWNJ) and U+200D (ZWJ) between two visible non-ASCII characters, where they change
  what is drawn: emoji sequences (👩‍💻, 👨‍👩‍👧), Persian and Indic spelling. Anywhere else (between
  Latin letters, at an edge, beside a space) they draw nothing and are removed;
- the Cf characters that are visible or lay out their script: the Arabic, Syriac and Kaithi
  number and end-of-ayah marks (U+0600–U+0605, U+06DD, U+070F, U+0890–U+0891, U+08E2,
  U+110BD, U+110CD), Egyptian hieroglyph and Duployan shorthand format controls
  (U+13430–U+1343F, U+1BCA0–U+1BCA3).
"""

from __future__ import annotations

import re

# Removed wherever they are, as (first, last) code points.
_ALWAYS = (
    (0x00, 0x08),  # controls other than tab and newline
    (0x0B, 0x1F),
    (0x7F, 0x9F),
    (0xAD, 0xAD),
    (0x34F, 0x34F),  # combining grapheme joiner
    (0x61C, 0x61C),
    (0x115F, 0x1160),  # Hangul choseong/jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels, which draw nothing
    (0x180B, 0x180F),  # Mongolian free variation selectors and vowel separator
    (0x200B, 0x200B),
    (0x200E, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0x3164, 0x3164),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF9, 0xFFFB),
    (0x1D173, 0x1D17A),
)
_JOINERS = ((0x200C, 0x200D),)
# Variation selectors pick an emoji's or a CJK character's form; after anything else
# ("Reu\ufe0fters") they only hide a difference.
_SELECTORS = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
_TAGS = ((0xE0001, 0xE0001), (0xE0020, 0xE007F))


def _class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )


def _complement(ranges: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    out, start = [], 0
    for a, b in sorted(ranges):
        if a > start:
            out.append((start, a - 1))
        start = b + 1
    return (*out, (start, 0x10FFFF))


_ANY = _ALWAYS + _JOINERS + _SELECTORS + _TAGS
# The same set written as "not any other character": measured 3x faster to search for (1.9 µs
# on a 350-character excerpt), which is all that most text with curly quotes ever needs.
_SUSPECT = re.compile(f"[^{_class(_complement(_ANY))}]")
# A character a joiner may sit beside: visible and not ASCII (emoji, other scripts).
_VISIBLE_NON_ASCII = f"[^\\x00-\\x7f{_class(_ANY)}]"
_INVISIBLE = re.compile(
    # Kept: a flag's tag sequence, and a joiner between two visible non-ASCII characters.
    f"(\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"
    f"|(?<={_VISIBLE_NON_ASCII})[{_class(_JOINERS)}](?={_VISIBLE_NON_ASCII})"
    # Kept: a variation selector right after a visible non-ASCII character (❤️, 邉󠄁).
    f"|(?<={_VISIBLE_NON_ASCII})[{_class(_SELECTORS)}])"
    # Removed: everything else in these sets.
    f"|[{_class(_ANY)}]+"
)


def strip_invisible(text: str) -> str:
    """``text`` without the invisible and direction-changing characters listed above."""
    if (text.isascii() and text.isprintable()) or _SUSPECT.search(text) is None:
        return text
    return _INVISIBLE.sub(lambda m: m.group(1) or "", text)
