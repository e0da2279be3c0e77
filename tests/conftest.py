"""Shared pytest set-up: the loopback Discord stub's fixtures, for every test module."""

pytest_plugins = ["tests.discord_stub.fixtures"]
