"""Train and test splits of the labelled questions, by story, so no story is in both.

Two writers labelled the question files independently, so one news event can carry two story
slugs (one per file). A story here is therefore a connected group: questions are joined when
they share a slug within one file, share any expected or ``near`` article, form a minimal pair
or are the same question. Each group goes wholly to one side, chosen by a hash of its smallest
member key: stable when questions are added elsewhere, and blind to how any engine does on it.
A question tied to no story at all goes to the dev side.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

TEST_SHARE = 30  # percent of story groups held out for testing
UNANCHORED = "unanchored:"


class _Groups:
    """Union-find over string keys."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def story_groups(items: Sequence[Mapping[str, object]]) -> list[str]:
    """Each question's story group id.

    An item has ``source`` (its file), ``story`` (its slug) and ``refs`` (its canonical
    expected and near articles).
    """
    groups = _Groups()
    keys: list[str] = []
    anchored: set[str] = set()
    for n, item in enumerate(items):
        story = str(item.get("story") or f"#{n}")
        key = f"story:{item.get('source', '')}:{story}"
        keys.append(key)
        groups.find(key)
        refs = item.get("refs") or ()
        for ref in refs:  # type: ignore[union-attr]
            groups.join(key, f"ref:{ref}")
        if item.get("pair"):  # a minimal pair is judged as one: its members stay together
            groups.join(key, f"pair:{item['pair']}")
        # The same question in two files is one item ("who won the 2018 world cup").
        groups.join(key, "text:" + " ".join(str(item.get("question", "")).lower().split()))
        if item.get("story") or refs or item.get("pair"):
            anchored.add(key)
    roots = [groups.find(k) for k in keys]
    placed = {groups.find(k) for k in anchored}
    # A question tied to no story (no slug, no expected article, no pair: a near-miss of a file
    # without slugs) cannot be kept on its story's side: it trains, never tests.
    return [r if r in placed else UNANCHORED + r for r in roots]


def side(group: str) -> str:
    """``test`` or ``dev`` for a story group, from a hash of its id (unanchored: ``dev``)."""
    if group.startswith(UNANCHORED):
        return "dev"
    digest = hashlib.sha256(group.encode("utf-8")).digest()
    return "test" if int.from_bytes(digest[:4], "big") % 100 < TEST_SHARE else "dev"
