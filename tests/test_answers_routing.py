"""Plain messages (DMs, console) are routed to the command a person means."""

from __future__ import annotations

import pytest

from bot.answers import parse_request


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("who reported the ICE facial recognition deal first?", "coverage"),
        ("Which outlets covered the Clearview contract", "coverage"),
        ("how many outlets wrote about the Portland ban", "coverage"),
        ("How much is ICE paying Clearview?", "ask"),
        ("who is Clearview's CEO?", "ask"),
        ("summary clearview ice", "summary"),
        ("/source verge clearview", "source"),
    ],
)
def test_plain_text_goes_to_the_command_a_person_means(text: str, command: str) -> None:
    assert parse_request(text)[0] == command
