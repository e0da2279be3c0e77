"""Shared pytest set-up: the loopback Discord stub and a small corpus on disk, for every module."""

pytest_plugins = ["tests.discord_stub.fixtures", "tests.corpus_fixtures"]
