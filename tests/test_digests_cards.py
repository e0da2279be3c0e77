"""Digest cards: within Discord's limits however long, escaped, and stored without loss."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.corpus.model import Article, Outlet
from bot.digests.cards import (
    cards_from_json,
    cards_to_json,
    digest_cards,
    digest_message,
    outcome_card,
    subscription_cards,
)
from bot.digests.delivery import Outcome
from bot.digests.models import Digest, DigestItem, StoryGroup, Subscription, Target
from bot.digests.schedule import Schedule
from bot.digests.store import digest_marker
from bot.render import EMBED_TOTAL_MAX, EMBEDS_MAX, FIELD_NAME_MAX, FIELD_VALUE_MAX, FIELDS_MAX

NOW = datetime(2024, 3, 2, 9, tzinfo=UTC)


def article(n: int, title: str | None = None, outlet: str = "Outlet") -> Article:
    return Article(
        id=f"{n:016x}",
        title=title or f"Story number {n} " + "with a rather long headline " * 6,
        url=f"https://example.com/{n}/" + "x" * 150,  # identity; the link is the one given
        urls=(f"https://www.example.com/{n}/" + "x" * 150,),
        outlet=Outlet(f"{outlet} {n % 7}", "example.com"),
        published=datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=n),
    )


def big_digest(groups: int = 25, per_group: int = 4) -> Digest:
    out = []
    n = 0
    for g in range(groups):
        items = []
        for _ in range(per_group):
            n += 1
            items.append(DigestItem(article(n), 90.0 - g))
        first = items[0].article
        out.append(
            StoryGroup(first.id, tuple(items), (first.outlet.name,), first, g % 2 == 0, per_group)
        )
    return Digest(1, "facial recognition", NOW - timedelta(days=1), NOW, tuple(out), more=7)


def test_a_long_digest_fits_one_message_and_counts_the_rest() -> None:
    digest = big_digest()
    message = digest_message(digest, marker="abcd1234", schedule="daily at 09:00 (UTC)")
    cards = message.cards
    assert 1 < len(cards) <= EMBEDS_MAX
    assert sum(c.length() for c in cards) <= EMBED_TOTAL_MAX
    for card in cards:
        assert len(card.fields) <= FIELDS_MAX
        assert all(
            len(f.value) <= FIELD_VALUE_MAX and len(f.name) <= FIELD_NAME_MAX for f in card.fields
        )
    shown = message.digest
    assert 0 < shown.article_count < digest.article_count
    assert shown.article_count + shown.more == digest.article_count + digest.more
    last = cards[-1]
    assert last.fields[-1].name == f"And {shown.more} more"
    assert "/search query:facial recognition since:2024-03-01" in last.fields[-1].value
    assert "ref abcd1234" in last.footer
    # Every article the log will record is visible in the cards, and no other.
    text = "\n".join(f.value for c in cards for f in c.fields)
    for group in shown.groups:
        for a in group.articles:
            assert f"({a.link})" in text
    hidden = set(digest.article_ids) - set(shown.article_ids)
    assert all(
        f"({a.link})" not in text for g in digest.groups for a in g.articles if a.id in hidden
    )


def test_a_big_story_continues_in_another_field_rather_than_losing_items() -> None:
    digest = big_digest(groups=1, per_group=12)
    message = digest_message(digest)
    assert message.digest.article_count == 12
    names = [f.name for f in message.cards[0].fields]
    assert names[0].startswith("New story:") and names[1].endswith("(continued)")


def test_corpus_text_is_escaped() -> None:
    evil = article(1, title="@everyone **click** [here](https://evil.example)")
    group = StoryGroup(evil.id, (DigestItem(evil, 80.0),), ("Outlet 1",), evil, True, 1)
    digest = Digest(1, "q", NOW - timedelta(days=1), NOW, (group,))
    card = digest_cards(digest)[0]
    text = card.fields[0].name + card.fields[0].value
    assert "@everyone" not in text and "@\u200beveryone" in text
    assert "**click**" not in text and "\\*\\*click\\*\\*" in text


def test_nothing_new_card() -> None:
    digest = Digest(1, "portland ban", datetime(2024, 3, 1, 9, tzinfo=UTC), NOW)
    [card] = digest_cards(digest, marker="00ff00ff")
    assert card.description == "Nothing new since 2024-03-01 09:00 UTC."
    assert card.footer.endswith("ref 00ff00ff")


def test_cards_survive_the_outbox() -> None:
    cards = digest_cards(big_digest(3, 2), marker="m")
    assert cards_from_json(cards_to_json(cards)) == cards


def test_marker_and_nonce_stay_short_and_stable() -> None:
    marker = digest_marker(123456, NOW, ("a", "b"))
    assert marker == digest_marker(123456, NOW, ("a", "b")) != digest_marker(1, NOW, ("a",))
    assert len(f"d{9_999_999_999}-{marker}") <= 25  # Discord's nonce limit


def test_subscription_list_shows_status_and_reasons() -> None:
    base = {"query": "clearview", "schedule": Schedule("daily"), "created_at": NOW}
    subs = [
        Subscription(1, Target.channel(5), **base),
        Subscription(
            2,
            Target.channel(6),
            failing_reason="the channel no longer exists",
            consecutive_failures=2,
            **base,
        ),
        Subscription(
            3,
            Target.channel(7),
            paused=True,
            paused_reason="paused after 5 failed deliveries",
            failing_reason="the channel no longer exists",
            consecutive_failures=5,
            **base,
        ),
    ]
    [card] = subscription_cards(subs, NOW, title="Digests", empty="none")
    values = [f.value for f in card.fields]
    assert "<#5>" in values[0] and "next <t:" in values[0]
    assert "failing (2 times): the channel no longer exists" in values[1]
    assert "paused — paused after 5 failed deliveries" in values[2]
    assert subscription_cards([], NOW, title="Digests", empty="none")[0].description == "none"


def test_send_now_says_what_happened_and_what_to_do() -> None:
    sub = Subscription(4, Target.channel(5), "clearview", Schedule("daily"), NOW)
    jump = "https://discord.com/channels/1/5/99"
    [sent] = outcome_card(sub, Outcome(4, "sent", articles=3, message_id=99), jump)
    assert sent.title == "Digest #4 posted"
    assert sent.description == f"Posted in <#5>: 3 new articles. [Jump to it]({jump})"
    [quiet] = outcome_card(sub, Outcome(4, "nothing-new"), None)
    assert quiet.title == "Nothing new for digest #4" and "quiet: False" in quiet.description
    [later] = outcome_card(sub, Outcome(4, "retrying", reason="Discord answered 503"), None)
    assert "(Discord answered 503)" in later.description and "within a minute" in later.description
    # The reason is escaped and capitalised; a paused digest says how to get it going again.
    failed = Outcome(4, "failed", reason="missing *Embed Links*", paused=True)
    [card] = outcome_card(sub, failed, None)
    assert card.title == "Digest #4 could not be posted"
    assert card.description.startswith("Missing \\*Embed Links\\*.")
    assert card.description.endswith("fix that, then /digest resume.")
