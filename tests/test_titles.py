"""The packed title table autocomplete reads: the same completions as a sorted list of tuples."""

from __future__ import annotations

import bisect
import random

import pytest

from bot.engine import titles as titles_module
from bot.engine.titles import TitleTable

WORDS = ["ICE", "Clearview", "contract", "Zoë", "café", "北京", "—", "🦓", "zebra", "a\0b", "Ärger"]


def reference(pairs: dict[str, str], prefix: str, limit: int) -> list[str]:
    """What autocomplete answered from ``sorted((title.casefold(), id))``."""
    table = sorted((title.casefold().replace("\0", " "), i) for i, title in pairs.items())
    at = bisect.bisect_left(table, (prefix, ""))
    return [i for t, i in table[at : at + limit] if t.startswith(prefix)]


def random_title(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))


def prefixes(pairs: dict[str, str], rng: random.Random) -> list[str]:
    found = ["", "z", "zebra ", "北", "🦓", "ärg", "a b", "nothing starts so"]
    for title in rng.sample(sorted(pairs.values()), min(10, len(pairs))):
        folded = title.casefold().replace("\0", " ")
        found.append(folded[: rng.randint(1, len(folded))])
    return found


def test_completions_match_the_sorted_tuples_through_changes_and_rewrites(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(titles_module, "_COMPACT_MIN", 20)  # rewritten now and then, too
    rng = random.Random(7)
    pairs = {f"id{n:04d}": random_title(rng) for n in range(300)}
    table = TitleTable.build(pairs.items())
    for step in range(40):
        before, snapshot = table, dict(pairs)
        removed = [(i, pairs.pop(i)) for i in rng.sample(sorted(pairs), 5)]
        changed = [(i, pairs[i]) for i in rng.sample(sorted(pairs), 3)]
        for i, _ in changed:
            pairs[i] = random_title(rng)
        added = [(f"new{step}-{n}", random_title(rng)) for n in range(6)]
        pairs.update(added)
        table = table.changed(removed + changed, added + [(i, pairs[i]) for i, _ in changed])
        assert len(table) == len(pairs)
        for prefix in prefixes(pairs, rng):
            assert table.starting(prefix, 25) == reference(pairs, prefix, 25), prefix
        # The table a completion was reading is unchanged by the change.
        assert before.starting("", 1000) == reference(snapshot, "", 1000)
    assert table.starting("", len(pairs)) == reference(pairs, "", len(pairs))


def test_a_title_removed_and_added_back_is_offered_once() -> None:
    table = TitleTable.build([("a", "Zebra crossing"), ("b", "Zebra robots")])
    gone = table.changed([("a", "Zebra crossing")], [])
    assert gone.starting("zebra", 10) == ["b"]
    back = gone.changed([], [("a", "Zebra crossing")])
    assert back.starting("zebra", 10) == ["a", "b"] and len(back) == 2
    again = table.changed([], [("b", "Zebra robots")])  # a change naming one it holds
    assert again.starting("zebra", 10) == ["a", "b"] and len(again) == 2
