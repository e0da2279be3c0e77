"""Corpus text never changes how an answer is formatted in Discord."""

from __future__ import annotations

import pytest

from bot.render import escape


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("## Big heading", "\\## Big heading"),
        ("-# subtext", "\\-# subtext"),
        ("1. first", "1\\. first"),
        ("> quoted", "\\> quoted"),
        # "](" and "://" are broken up too: a link's end, a bare URL Discord would link.
        ("*bold* and [fake](http://evil)", "\\*bold\\* and \\[fake\\]\\(http\\://evil)"),
        ("hi @everyone", "hi @\u200beveryone"),
    ],
)
def test_markdown_and_pings_from_the_corpus_are_defused(text: str, shown: str) -> None:
    assert escape(text) == shown
