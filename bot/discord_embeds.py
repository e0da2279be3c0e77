"""Cards to ``discord.Embed``: the only place a card becomes Discord's type.

Cards arrive escaped and cut by ``bot.render``; this module adds nothing but the conversion and
a last check that a message is within Discord's limits, so an answer is trimmed here rather
than rejected by Discord with a 400 the user never sees explained.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.render import (
    AUTHOR_MAX,
    DESCRIPTION_MAX,
    EMBED_TOTAL_MAX,
    EMBEDS_MAX,
    FIELD_NAME_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    FOOTER_MAX,
    TITLE_MAX,
    Card,
    fit_message,
)


def card_embed(card: Card) -> discord.Embed:
    """One card as one embed: linked title, author (outlet), text, fields, thumbnail, footer."""
    embed = discord.Embed(
        title=card.title,
        url=card.url,
        description=card.description or None,
        colour=card.colour,
        timestamp=card.timestamp,
    )
    if card.author:
        embed.set_author(name=card.author)
    for f in card.fields:
        embed.add_field(name=f.name, value=f.value, inline=f.inline)
    if card.thumbnail:
        embed.set_thumbnail(url=card.thumbnail)
    if card.footer:
        embed.set_footer(text=card.footer)
    return embed


def message_embeds(cards: Sequence[Card]) -> list[discord.Embed]:
    """The embeds for one message: at most 10, 6,000 characters in all, every part in limits."""
    embeds = [card_embed(c) for c in fit_message(list(cards))]
    problems = embed_problems(embeds)
    if problems:  # render.make_card/fit_message guarantee this; a failure here is a bug there
        raise ValueError("cards exceed Discord's limits: " + "; ".join(problems))
    return embeds


def embed_problems(embeds: Sequence[discord.Embed]) -> list[str]:
    """Every Discord limit the embeds break (empty when they would be accepted)."""
    out: list[str] = []
    if len(embeds) > EMBEDS_MAX:
        out.append(f"{len(embeds)} embeds > {EMBEDS_MAX}")
    total = 0
    for i, e in enumerate(embeds):
        total += len(e)
        if e.title and len(e.title) > TITLE_MAX:
            out.append(f"embed {i} title {len(e.title)} > {TITLE_MAX}")
        if e.description and len(e.description) > DESCRIPTION_MAX:
            out.append(f"embed {i} description {len(e.description)} > {DESCRIPTION_MAX}")
        if len(e.fields) > FIELDS_MAX:
            out.append(f"embed {i} has {len(e.fields)} fields > {FIELDS_MAX}")
        for j, f in enumerate(e.fields):
            if not f.name or not f.value:
                out.append(f"embed {i} field {j} is empty")
            elif len(f.value) > FIELD_VALUE_MAX or len(f.name) > FIELD_NAME_MAX:
                out.append(f"embed {i} field {j} name/value {len(f.name)}/{len(f.value)} too long")
        if e.author.name and len(e.author.name) > AUTHOR_MAX:
            out.append(f"embed {i} author {len(e.author.name)} > {AUTHOR_MAX}")
        if e.footer.text and len(e.footer.text) > FOOTER_MAX:
            out.append(f"embed {i} footer {len(e.footer.text)} > {FOOTER_MAX}")
    if total > EMBED_TOTAL_MAX:
        out.append(f"embeds total {total} > {EMBED_TOTAL_MAX}")
    return out
