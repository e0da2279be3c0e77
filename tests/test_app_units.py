"""The Discord app's pure parts: embeds within limits, request parsing, cooldowns, errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import discord
import pytest
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.answers import name_choices, parse_day, parse_request
from bot.app import (
    FriendlyError,
    UserCooldown,
    intents,
    interaction_options,
    use_endpoints,
    user_message,
)
from bot.config import DiscordSettings
from bot.discord_embeds import card_embed, embed_problems, message_embeds
from bot.render import Card, CardField, escape, make_card


def test_giant_cards_become_embeds_within_every_limit() -> None:
    text = escape("**x** @everyone [a](javascript:alert(1)) " * 2000)
    cards = [
        make_card(
            text,
            text,
            url="javascript:alert(1)",
            thumbnail="ftp://example.com/x.png",
            fields=[(text, text)] * 40,
            footer=text,
            author=text,
        )
        for _ in range(14)
    ]
    embeds = message_embeds(cards)
    assert embed_problems(embeds) == []
    assert len(embeds) <= 10 and sum(len(e) for e in embeds) <= 6000
    for e in embeds:
        assert e.url is None and e.thumbnail.url is None  # non-http(s) dropped
        assert len(e.title or "") <= 256 and len(e.fields) <= 25


def test_embed_problems_names_each_broken_limit() -> None:
    bad = discord.Embed(title="t" * 300, description="d" * 5000)
    bad.add_field(name="n", value="v" * 2000)
    bad.set_footer(text="f" * 3000)
    problems = " ".join(embed_problems([bad] * 11))
    for part in (
        "11 embeds",
        "title 300",
        "description 5000",
        "1/2000",
        "footer 3000",
        "total",
    ):
        assert part in problems


def test_card_embed_keeps_every_part() -> None:
    card = Card(
        title="T",
        description="D",
        url="https://example.com/a",
        footer="why",
        thumbnail="https://example.com/a.png",
        author="Outlet",
        fields=(CardField("F", "V", inline=True),),
        timestamp=datetime(2020, 8, 14, 17, 42, tzinfo=UTC),
    )
    data = card_embed(card).to_dict()
    assert data["title"] == "T" and data["url"] == "https://example.com/a"
    assert data["author"] == {"name": "Outlet"} and data["footer"] == {"text": "why"}
    assert data["thumbnail"] == {"url": "https://example.com/a.png"}
    assert data["fields"] == [{"name": "F", "value": "V", "inline": True}]
    assert data["timestamp"].startswith("2020-08-14T17:42")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How much is ICE paying Clearview?", ("ask", "How much is ICE paying Clearview?")),
        ("summary clearview", ("summary", "clearview")),
        ("/coverage  ice contract ", ("coverage", "ice contract")),
        ("Source: the verge", ("source", "the verge")),
        ("help", ("help", "")),
        ("latest", ("latest", "")),
        ("/nope x", ("nope", "x")),
        ("summarize this", ("ask", "summarize this")),
    ],
)
def test_parse_request(text: str, expected: tuple[str, str]) -> None:
    assert parse_request(text) == expected


def test_parse_day_periods() -> None:
    assert parse_day("2020-08-14") == datetime(2020, 8, 14, tzinfo=UTC)
    assert parse_day("2020-08", end=True) == datetime(2020, 8, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_day("2020", end=True).month == 12
    assert parse_day("2020-08-14T10:00:00Z") == datetime(2020, 8, 14, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="2020-08-14"):
        parse_day("last tuesday")


def test_name_choices_prefix_then_fuzzy() -> None:
    names = ["The Verge", "Business Insider", "Engadget", "VentureBeat", "TechCrunch"]
    assert name_choices(names, "verg") == ["The Verge"]
    assert name_choices(names, "tech")[0] == "TechCrunch"
    assert name_choices(names, "") == names
    assert name_choices(names, "enagdget") == ["Engadget"]  # a typo still finds it
    assert len(name_choices([f"n{i}" for i in range(60)], "n")) == 25


def test_user_cooldown_is_per_user() -> None:
    cooldown = UserCooldown(rate=2, per=60)
    assert cooldown.hit(1) is None and cooldown.hit(1) is None
    limited = cooldown.hit(1)
    assert isinstance(limited, app_commands.CommandOnCooldown) and 0 < limited.retry_after <= 60
    assert cooldown.hit(2) is None
    assert (
        user_message(limited)
        == f"Slow down a little — try again in {math.ceil(limited.retry_after)} s."
    )


def test_user_messages_are_plain_words() -> None:
    assert user_message(FriendlyError("No.")) == "No."
    assert user_message(app_commands.NoPrivateMessage()) == "That command only works in a server."
    assert "Manage Server" in (
        user_message(app_commands.MissingPermissions(["manage_guild"])) or ""
    )
    assert user_message(RuntimeError("boom")) is None  # ours: logged, not shown


def test_interaction_options_flatten_for_logs() -> None:
    data = {
        "name": "corpus",
        "options": [{"name": "errors", "type": 1, "options": [{"name": "page", "value": 2}]}],
    }
    assert interaction_options(data) == "errors page=2"
    assert interaction_options({"custom_id": "abc:next"}) == "custom_id='abc:next'"
    assert interaction_options(None) == ""


def test_endpoints_and_intents(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Route, "BASE", Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
    use_endpoints(
        DiscordSettings(
            api_base="http://127.0.0.1:9/api/v10/", gateway_url="ws://127.0.0.1:9/gateway"
        )
    )
    assert Route.BASE == "http://127.0.0.1:9/api/v10"
    assert yarl.URL("ws://127.0.0.1:9/gateway") == DiscordWebSocket.DEFAULT_GATEWAY
    wanted = intents()
    assert wanted.value == discord.Intents(guilds=True, dm_messages=True).value
    assert not wanted.message_content and not wanted.guild_messages and not wanted.members
