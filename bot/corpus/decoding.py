"""Bytes to text for files of unknown origin, in the order that loses the least."""

from __future__ import annotations

import codecs
from dataclasses import dataclass


class NotText(ValueError):
    """The bytes are not a text file (binary content); the message says why."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """Text plus a warning when the encoding had to be guessed."""

    text: str
    encoding: str
    warning: str | None = None


def decode(data: bytes) -> Decoded:
    """Decode as UTF-8, UTF-8 with BOM, UTF-16 with BOM, then cp1252 (with a warning).

    A NUL byte outside UTF-16 means binary: guessing there would index garbage.
    """
    if data.startswith(codecs.BOM_UTF8):
        body = data[len(codecs.BOM_UTF8) :]
        try:
            return Decoded(body.decode("utf-8"), "utf-8-sig")
        except UnicodeDecodeError as exc:  # the mark promised UTF-8: keep it, flag the damage
            return Decoded(
                body.decode("utf-8", errors="replace"),
                "utf-8-sig",
                f"UTF-8 byte order mark but invalid UTF-8 at byte {exc.start + 3}; "
                "undecodable bytes replaced with U+FFFD",
            )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return Decoded(data.decode("utf-16"), "utf-16")
        except UnicodeDecodeError as exc:
            raise NotText(
                f"UTF-16 byte order mark but undecodable text at byte {exc.start}"
            ) from None
    if b"\x00" in data[:8192]:
        raise NotText("binary file (NUL bytes), not text")
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = f"not valid UTF-8 at byte {exc.start}"
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        return Decoded(text, "latin-1", f"{utf8_error}; read as Latin-1, check the characters")
    return Decoded(text, "cp1252", f"{utf8_error}; read as Windows-1252, check the characters")
