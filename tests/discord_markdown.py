"""A small reader of the Discord Markdown that decides what a message links to and pings.

Modelled on the rules of simple-markdown, which Discord's client parses with: backslash escapes
of any ASCII punctuation, masked links ``[text](target)`` (target regex copied from it),
autolinks ``<scheme:/…>``, bare ``http(s)://`` URLs, mentions (``<@id>``, ``<@!id>``,
``<@&id>``, ``<#id>``, ``@everyone``, ``@here``) and other ``<…>`` objects (timestamps,
emoji, commands). It is deliberately stricter than Discord: any unescaped ``* _ ~ | ` [ ] < >``
outside those constructs, and block syntax at a line start, counts as markup, whether or not
Discord would pair it into emphasis. A renderer that passes this reader cannot have handed
corpus text a way to format, link or ping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# simple-markdown's LINK_INSIDE and LINK_HREF_AND_TITLE.
_LINK = re.compile(
    r"\[((?:\[[^\]]*\]|[^\[\]]|\](?=[^\[]*\]))*)\]"
    r"\(\s*<?((?:\([^)]*\)|[^\s\\])*?)>?(?:\s+['\"]([\s\S]*?)['\"])?\s*\)"
)
_AUTOLINK = re.compile(r"<([^: >]+:/[^ >]+)>")
_URL = re.compile(r"https?://[^\s<]+[^<.,:;\"')\]\s]", re.IGNORECASE)
_MENTION = re.compile(r"<(?:@[!&]?|#)\d+>|@everyone|@here")
_ANGLE_OBJECT = re.compile(r"<(?:t:-?\d+(?::[tTdDfFR])?|a?:\w+:\d+|/[\w -]+:\d+)>")
_BLOCK = re.compile(r"(?m)^[ \t]*(?:#{1,3}[ \t]|-#[ \t]|>|[-+*][ \t]|\d+\.[ \t])")
_MARKUP = frozenset("*_~|`[]<>")
_PUNCTUATION = re.compile(r"[^0-9A-Za-z\s]")


@dataclass
class Parsed:
    """What a reader sees: the text, the links with their visible text, pings, stray markup."""

    text: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # (visible text, URL)
    mentions: list[str] = field(default_factory=list)
    markup: list[str] = field(default_factory=list)


def parse(message: str) -> Parsed:
    """Read ``message`` as Discord would, for the purposes above."""
    out = Parsed()
    out.markup += [m.group(0).strip() for m in _BLOCK.finditer(message)]
    _inline(message, out)
    return out


def _inline(s: str, out: Parsed) -> None:
    text: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and _PUNCTUATION.fullmatch(s[i + 1]):
            text.append(s[i + 1])
            i += 2
            continue
        if c == "[" and (m := _LINK.match(s, i)):
            inner = Parsed()
            _inline(m.group(1), inner)
            out.links.append((inner.text, m.group(2)))
            out.links += inner.links  # a link inside a link's text is a link too
            out.mentions += inner.mentions
            out.markup += inner.markup
            text.append(inner.text)
            i = m.end()
            continue
        if c == "<":
            if m := _MENTION.match(s, i):
                out.mentions.append(m.group(0))
                i = m.end()
                continue
            if m := _ANGLE_OBJECT.match(s, i):
                out.markup.append(m.group(0))
                i = m.end()
                continue
            if m := _AUTOLINK.match(s, i):
                out.links.append((m.group(1), m.group(1)))
                text.append(m.group(1))
                i = m.end()
                continue
        if c == "@" and (m := _MENTION.match(s, i)):
            out.mentions.append(m.group(0))
            i = m.end()
            continue
        if c in "hH" and (m := _URL.match(s, i)):
            out.links.append((m.group(0), m.group(0)))
            text.append(m.group(0))
            i = m.end()
            continue
        if c in _MARKUP:
            out.markup.append(c)
        text.append(c)
        i += 1
    out.text += "".join(text)
