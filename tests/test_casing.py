"""How the corpus writes a word decides whether a lowercase query word is a name."""

from __future__ import annotations

import pytest

from bot.engine.casing import CorpusCasing


def casing(texts: dict[str, list[str]]) -> CorpusCasing:
    """A casing reader over articles given as {id: their opening texts}."""
    words = {aid: " ".join(parts).lower() for aid, parts in texts.items()}

    def find(word: str, n: int) -> list[str]:
        return [aid for aid, text in words.items() if word in text][:n]

    return CorpusCasing(find, lambda ids: [texts[aid] for aid in ids])


def test_a_word_written_capitalised_mid_sentence_is_a_name() -> None:
    share = casing(
        {"a": ["Police in Detroit said so. The Detroit ban passed, detroit said."]}
    ).share
    # "Detroit" twice mid-sentence, "detroit" once; none begins a sentence.
    assert share("detroit") == pytest.approx(2 / 3)


def test_a_sentence_s_first_word_says_nothing() -> None:
    share = casing({"a": ["Amazon said no. Amazon! amazon? Amazon"]}).share
    assert share("amazon") is None  # every use begins a sentence (or the text)


def test_only_whole_words_count() -> None:
    share = casing({"a": ["the Banners and Rebanned went on, the ban stood"]}).share
    assert share("ban") == 0.0  # "Banners" and "Rebanned" hold it; the one whole "ban" is lowercase


def test_a_text_whose_lowercase_is_longer_is_read_the_same() -> None:
    # "İ" lowercases to two characters, so the text's offsets and its lowercase differ.
    share = casing({"a": ["İstanbul voted, and Ankara said Paris agreed, paris too."]}).share
    assert share("paris") == pytest.approx(1 / 2)
    assert share("ankara") == 1.0


def test_a_capital_sigma_is_read_token_by_token() -> None:
    # Lowercasing a whole text spells a capital sigma "ς" or "σ" by what follows it, across a
    # token's end ("ΟΔΟΣ.Α"); each token lowercased alone ends in "ς": a query word ("οδος",
    # casefolded to "οδοσ") is compared with the token as it stands.
    share = casing({"a": ["x ΟΔΟΣ.Α and the οδος, οδος"]}).share
    assert share("οδος") == pytest.approx(1 / 3)
