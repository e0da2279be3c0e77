"""Characters nobody can see never reach what the bot shows: cards, embed authors, choices."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.answer_service import AnswerService
from bot.corpus.invisible import strip_invisible
from bot.corpus.loader import CorpusLoader
from bot.engine.engine import Engine
from bot.engine.results import SearchResult, SourceAnswer
from bot.render import Card, answer_cards, escape, search_pages
from cogs._choices import LookupChoices

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad"
INVISIBLE = BIDI + ZERO_WIDTH
# Cf characters shown on purpose: visible number and end-of-ayah signs, and the format controls
# of Egyptian hieroglyphs and Duployan shorthand, which lay their script out.
VISIBLE_FORMAT = (
    "\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u0890\u0891\u08e2\U000110bd\U000110cd"
    + "".join(map(chr, range(0x13430, 0x13440)))
    + "\U0001bca0\U0001bca1\U0001bca2\U0001bca3"
)


@pytest.mark.parametrize("char", list(INVISIBLE))
def test_each_bidi_control_and_zero_width_character_is_removed(char: str) -> None:
    assert strip_invisible(f"Re{char}uters {char}Daily{char}") == "Reuters Daily"


def test_every_other_format_character_unicode_knows_is_removed_too() -> None:
    kept = {
        c
        for c in map(chr, range(0x110000))
        if unicodedata.category(c) == "Cf" and strip_invisible(f"a{c}b") != "ab"
    }
    assert kept <= set(VISIBLE_FORMAT)  # nothing kept that is not listed as visible


@pytest.mark.parametrize(
    "text",
    [
        "Coders 👩\u200d💻 and families 👨\u200d👩\u200d👧",  # ZWJ emoji sequences
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: ZWNJ spells the word
        "\u0915\u094d\u200d\u0937",  # Devanagari: ZWJ picks the half form
        "England 🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f wins",  # a flag
        "tab\tand\nnewline",
    ],
)
def test_joiners_inside_emoji_and_scripts_and_flag_tags_are_kept(text: str) -> None:
    assert strip_invisible(text) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Reu\u200dters", "Reuters"),  # a joiner between Latin letters draws nothing
        ("\u200d👩", "👩"),  # nor at an edge
        ("hidden\U000e0041\U000e0042 tags", "hidden tags"),  # tags outside a flag
        ("ansi \x1b[31mred\x07", "ansi [31mred"),  # terminal control characters
        ("blank \u3164 name", "blank  name"),  # Hangul filler: a letter that draws nothing
    ],
)
def test_joiners_between_latin_letters_stray_tags_and_controls_are_removed(
    text: str, shown: str
) -> None:
    assert strip_invisible(text) == shown


def test_escape_removes_them_before_escaping_so_none_can_split_an_escape() -> None:
    assert escape("@\u200beveryone \u202e**bold**") == "@\u200beveryone \\*\\*bold\\*\\*"
    assert escape("@\u2060everyone") == "@\u200beveryone"  # joined up, then defused as ever


# ------------------------------------------------------------------------- through the bot
TITLE = "\u202eClearview\u200b AI contract\u2066 with\u2069 ICE\u200f signed\u202c"
OUTLET = "The \u202eVerge\u200b\u2060"
EXCERPT = "ICE pays Clearview\u200b \u202e$224,000\u202c for face recognition\ufeff."


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    record = {
        "title": TITLE,
        "webUrl": "https://www.theverge.com/2020/8/14/ice-clearview",
        "ampWebUrl": "https://www.theverge.com/platform/amp/2020/8/14/ice-clearview",
        "publishedDateTime": "2020-08-14T17:42:00Z",
        "provider": {"name": OUTLET, "domain": "theverge.com"},
        "excerpt": EXCERPT,
    }
    (corpus / "rlo.json").write_text(json.dumps(record), encoding="utf-8")
    snapshot, _, _ = CorpusLoader([corpus], tmp_path / "c.db").load()
    assert snapshot.errors == []
    return Engine(snapshot)


def shown(cards: list[Card]) -> str:
    """Every piece of text the cards show."""
    parts: list[Any] = []
    for card in cards:
        parts += [card.title, card.description, card.footer, card.author, card.url or ""]
        parts += [text for f in card.fields for text in (f.name, f.value)]
    return "\n".join(parts)


def test_search_and_source_show_no_invisible_character(engine: Engine) -> None:
    result = engine.search("clearview ice contract")
    assert isinstance(result, SearchResult) and result.hits
    source = engine.source("clearview ice contract")
    assert isinstance(source, SourceAnswer)
    assert source.hit.article.title == TITLE  # the corpus keeps what it read; display cleans
    for cards in (search_pages(result), answer_cards(source)):
        text = shown(cards)
        assert "Clearview AI contract with ICE signed" in text and "The Verge" in text
        assert not set(text) & set(INVISIBLE.replace("\u200b", ""))
        # The only zero-width space left is the one that defuses "@everyone"; there is none here.
        assert "\u200b" not in text


class Choices(LookupChoices):
    def __init__(self, answers: AnswerService) -> None:
        self.answers = answers


async def test_autocomplete_choices_show_no_invisible_character(engine: Engine) -> None:
    service = AnswerService(engine)
    try:
        choices = Choices(service)
        interaction: Any = SimpleNamespace(client=None, user=SimpleNamespace(id=1))
        titles = await choices.query_choices(interaction, "clearview ice")
        outlets = await choices.outlet_choices(interaction, "verge")
        offered = await service.suggest("clearview ice")
    finally:
        await service.close()
    assert "Clearview AI contract with ICE signed" in [c.name for c in titles]
    assert [c.name for c in outlets] == ["The Verge"]
    assert not {ch for c in [*titles, *outlets] for ch in c.name} & set(INVISIBLE)
    # The value goes back unchanged, so the choice finds exactly what it was made from.
    assert {c.value for c in titles} == {s.value for s in offered}
    assert [c.value for c in outlets] == [OUTLET]


async def test_did_you_mean_buttons_show_no_invisible_character() -> None:
    from cogs.views import SuggestionView

    async def pick(interaction: Any, suggestion: str) -> None:
        return None

    cooldown: Any = SimpleNamespace(hit=lambda user: None)
    view = SuggestionView([TITLE, f"\u202e{OUTLET}\u2066 story"], 1, pick, cooldown)
    labels = [item.label for item in view.children]
    assert labels[0] == "Clearview AI contract with ICE signed"
    assert not {ch for label in labels for ch in label} & set(INVISIBLE)


def test_the_cli_text_shows_no_invisible_character(engine: Engine) -> None:
    from bot.answers import run_command, to_text

    for command in ("search", "source", "summary"):
        text = to_text(command, run_command(engine, command, "clearview ice contract"))
        assert "Clearview AI contract with ICE signed" in text, command
        assert not set(text) & set(INVISIBLE), command


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Reu\ufe0fters", "Reuters"),  # a variation selector after a Latin letter hides nothing
        ("Re\u034futers", "Reuters"),  # combining grapheme joiner
        ("\u115f\u1160News", "News"),  # Hangul fillers
        ("Ne\u180bws", "News"),  # Mongolian variation selector
        ("\u2764\ufe0f love", "\u2764\ufe0f love"),  # an emoji's own selector stays
    ],
)
def test_selectors_and_fillers_that_only_hide_a_difference_are_removed(
    text: str, shown: str
) -> None:
    assert strip_invisible(text) == shown
