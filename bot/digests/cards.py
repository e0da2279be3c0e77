"""Digests, subscription lists and confirmations as cards within Discord's limits, stored as JSON.

A digest is one message: up to ten embeds, 6,000 characters in all. Stories are packed as
fields (a field value is cut at 1,024 characters, so lines are added whole and a Markdown link
is never cut in half); what doesn't fit joins "and N more" with the /search that finds it.
The outbox stores the cards themselves, so a digest re-sent after a crash is byte-for-byte the
one first sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.digests.models import Digest, StoryGroup, Subscription
from bot.render import (
    EMBED_TOTAL_MAX,
    EMBEDS_MAX,
    FIELD_NAME_MAX,
    FIELD_VALUE_MAX,
    Card,
    CardField,
    byline,
    cut,
    escape,
    escape_code,
    fit_message,
    link,
    make_card,
    safe_url,
)

if TYPE_CHECKING:
    from bot.digests.delivery import Outcome

DIGEST_COLOUR = 0x2F855A
FIELDS_PER_CARD = 6  # more fields per embed is legal, but a long embed is hard to scan
_RESERVE = 400  # characters kept for the "and N more" field
_DESCRIPTION_RESERVE = 300


def plural(count: int, word: str, many: str | None = None) -> str:
    """``3 articles``, ``1 story``."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def search_hint(digest: Digest) -> str:
    """The /search that shows everything the digest matched."""
    parts = [f"/search query:{digest.query}"]
    if digest.outlet:
        parts.append(f"outlet:{digest.outlet}")
    if digest.topic:
        parts.append(f"topic:{digest.topic}")
    parts.append(f"since:{digest.since:%Y-%m-%d}")
    return " ".join(parts)


def _group_fields(group: StoryGroup) -> list[tuple[str, str, int]]:
    """A story as fields: (name, value ≤ 1,024 characters, items shown), continued as needed.

    Lines are added whole, so a Markdown link is never cut in half.
    """
    label = "New story" if group.new_story else "Update"
    name = cut(f"{label}: {escape(cut(group.headline.title, 200))}", FIELD_NAME_MAX - 12)
    outlets = len(group.outlets)
    first = group.first.outlet.name if group.first is not None else ""
    first_text = f", first {escape(first)}" if first else ""
    lines: list[str] = []
    if not group.new_story:
        gained = ", ".join(escape(o) for o in group.gained_outlets) or "more coverage"
        lines.append(f"Now covered by {plural(outlets, 'outlet')}{first_text} · new: {gained}")
    elif outlets > 1:
        lines.append(f"Covered by {plural(outlets, 'outlet')}{first_text}")
    lines = [cut(line, 300) for line in lines]
    fields: list[tuple[str, str, int]] = []
    count = 0
    for item in group.items:
        line = f"• {link(item.article, 100)} — {byline(item.article)}"
        if len(line) > FIELD_VALUE_MAX // 2:  # a URL of a thousand characters: title only
            line = f"• {escape(cut(item.article.title, 100))} — {byline(item.article)}"
        if sum(len(x) + 1 for x in lines) + len(line) > FIELD_VALUE_MAX:
            fields.append((name, "\n".join(lines), count))
            name, lines, count = f"{name} (continued)", [], 0
        lines.append(line)
        count += 1
    fields.append((name, "\n".join(lines), count))
    return fields


@dataclass(frozen=True, slots=True)
class DigestMessage:
    """The cards of one digest message and the digest exactly as they show it.

    ``digest`` drops what Discord's limits left out (counted in ``more``), so its
    ``article_ids`` are what the delivery log records: nothing unseen is marked delivered.
    """

    cards: list[Card]
    digest: Digest


def digest_message(
    digest: Digest, *, marker: str = "", title: str | None = None, schedule: str = ""
) -> DigestMessage:
    """One message's cards for a digest (a "nothing new" card when it is empty).

    ``marker`` goes in the footer: it is how a digest whose send outcome was lost is
    recognised in the channel's history after Discord's nonce window has passed.
    """
    heading = title or f"Digest: {escape(cut(digest.query, 200))}"
    footer = " · ".join(
        p for p in ("Coverage Bot", schedule, f"ref {marker}" if marker else "") if p
    )
    since = f"{digest.since:%Y-%m-%d %H:%M} UTC"
    if digest.empty:
        card = make_card(
            heading, f"Nothing new since {since}.", footer=footer, colour=DIGEST_COLOUR
        )
        return DigestMessage([card], digest)

    fields: list[tuple[str, str]] = []
    kept: list[StoryGroup] = []
    used = len(heading) + len(footer) + _DESCRIPTION_RESERVE + _RESERVE
    # The "and N more" field needs a slot too, hence the - 1.
    max_fields = FIELDS_PER_CARD * EMBEDS_MAX - 1
    full = False
    for group in digest.groups:
        shown = 0
        for name, value, count in _group_fields(group):
            starts_card = bool(fields) and len(fields) % FIELDS_PER_CARD == 0
            cost = len(name) + len(value) + (len(heading) + len(" (continued)")) * starts_card
            if used + cost > EMBED_TOTAL_MAX or len(fields) >= max_fields:
                full = True
                break
            used += cost
            fields.append((name, value))
            shown += count
        if shown:
            kept.append(replace(group, items=group.items[:shown]))
        if full:
            break
    shown_digest = replace(
        digest,
        groups=tuple(kept),
        more=digest.more + digest.article_count - sum(len(g.items) for g in kept),
    )
    new = sum(1 for g in kept if g.new_story)
    summary = [
        f"**{plural(shown_digest.article_count, 'new article')}** since {since}: "
        f"{plural(new, 'new story', 'new stories')}, "
        f"{plural(len(kept) - new, 'story', 'stories')} with new coverage."
    ]
    filters = [
        f"outlet {escape(digest.outlet)}" if digest.outlet else "",
        f"topic {escape(digest.topic)}" if digest.topic else "",
    ]
    if any(filters):
        summary.append("Filtered to " + " and ".join(f for f in filters if f) + ".")
    description = cut("\n".join(summary), _DESCRIPTION_RESERVE)
    if shown_digest.more:
        count = f"{shown_digest.more}+" if digest.more_at_least else str(shown_digest.more)
        hint = escape_code(cut(search_hint(digest), 300))
        fields.append((f"And {count} more", f"`{hint}`"))
    chunks = [fields[i : i + FIELDS_PER_CARD] for i in range(0, len(fields), FIELDS_PER_CARD)]
    cards = [
        make_card(
            heading if number == 0 else f"{heading} (continued)",
            description if number == 0 else "",
            fields=chunk,
            footer=footer if number == len(chunks) - 1 else "",
            colour=DIGEST_COLOUR,
        )
        for number, chunk in enumerate(chunks)
    ]
    return DigestMessage(fit_message(cards), shown_digest)


def digest_cards(
    digest: Digest, *, marker: str = "", title: str | None = None, schedule: str = ""
) -> list[Card]:
    """The cards of ``digest_message`` alone (previews)."""
    return digest_message(digest, marker=marker, title=title, schedule=schedule).cards


def subscription_line(sub: Subscription, next_run: datetime | None = None) -> tuple[str, str]:
    """A list entry: name and value for one subscription's field."""
    name = f"#{sub.id} · {escape(cut(sub.query, 120))}"
    parts = [sub.target.mention if not sub.is_follow else "by DM", sub.schedule.describe()]
    if sub.outlet:
        parts.append(f"outlet {escape(sub.outlet)}")
    if sub.topic:
        parts.append(f"topic {escape(sub.topic)}")
    parts.append(f"up to {sub.max_items}")
    lines = [" · ".join(parts)]
    if sub.paused:
        lines.append("⏸ paused" + (f" — {escape(sub.paused_reason)}" if sub.paused_reason else ""))
    elif next_run is not None:
        lines.append(f"next <t:{int(next_run.timestamp())}:R>")
    if sub.failing_reason:
        lines.append(
            f"⚠ failing ({plural(sub.consecutive_failures, 'time')}): {escape(sub.failing_reason)}"
        )
    if sub.last_delivered_at is not None:
        lines.append(f"last delivered <t:{int(sub.last_delivered_at.timestamp())}:f>")
    return name, "\n".join(lines)


def subscription_cards(
    subs: Sequence[Subscription], now: datetime, *, title: str, empty: str
) -> list[Card]:
    """/digest list and /follows: one field per subscription, 10 to a card."""
    if not subs:
        return [make_card(title, empty)]
    cards = []
    for start in range(0, len(subs), 10):
        chunk = subs[start : start + 10]
        fields = [subscription_line(s, s.schedule.next_run(now)) for s in chunk]
        cards.append(make_card(title, f"{plural(len(subs), 'subscription')}", fields=fields))
    return fit_message(cards)


# ------------------------------------------------------------------------------ stored form
def cards_to_json(cards: Sequence[Card]) -> str:
    """Cards as the outbox stores them."""
    out = []
    for card in cards:
        data = asdict(card)
        data["timestamp"] = card.timestamp.isoformat() if card.timestamp else None
        out.append(data)
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def cards_from_json(text: str) -> list[Card]:
    """The inverse of ``cards_to_json``."""
    cards = []
    for data in json.loads(text):
        fields: list[dict[str, Any]] = data.pop("fields", [])
        stamp = data.pop("timestamp", None)
        data.pop("suggestions", None)  # written by versions before 2026-11-23, never read
        cards.append(
            Card(
                **data,
                fields=tuple(CardField(**f) for f in fields),
                timestamp=datetime.fromisoformat(stamp) if stamp else None,
            )
        )
    return cards


# ------------------------------------------------------------------------------ confirmations
def note(
    title: str, text: str = "", sub: Subscription | None = None, now: datetime | None = None
) -> list[Card]:
    """A short confirmation card, with the subscription as /digest list shows it."""
    fields = None
    if sub is not None:
        upcoming = None if sub.paused or now is None else sub.schedule.next_run(now)
        fields = [subscription_line(sub, upcoming)]
    return [make_card(title, text, fields=fields, colour=DIGEST_COLOUR)]


def outcome_card(sub: Subscription, outcome: Outcome, jump: str | None) -> list[Card]:
    """What /digest send-now did, in words a server manager can act on."""
    reason = escape(outcome.reason or "unknown error")
    if outcome.status == "sent":
        what = plural(outcome.articles, "new article") if outcome.articles else "nothing new"
        url = safe_url(jump)
        link = f" [Jump to it]({url})" if url else ""
        return note(f"Digest #{sub.id} posted", f"Posted in {sub.target.mention}: {what}.{link}")
    if outcome.status == "nothing-new":
        return note(
            f"Nothing new for digest #{sub.id}",
            "Nothing new since its last delivery, so nothing was posted (the digest is quiet: "
            "add it with quiet: False to post “nothing new”).",
        )
    if outcome.status == "retrying":
        return note(
            f"Digest #{sub.id} not posted yet",
            f"Discord didn't take it ({reason}); it is tried again within a minute.",
        )
    paused = " It is paused now: fix that, then /digest resume." if outcome.paused else ""
    return note(
        f"Digest #{sub.id} could not be posted", f"{reason[:1].upper()}{reason[1:]}.{paused}"
    )
