"""Settings from ``config.toml`` and the environment, validated once at start-up.

Frozen dataclasses so nothing changes settings behind the app's back; every key is documented in
``config.example.toml``. A bad file raises ``ConfigError`` with one line saying what to fix.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

DEFAULT_CONFIG = "config.toml"
_S = TypeVar("_S")


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key and the fix."""


@dataclass(frozen=True, slots=True)
class CorpusSettings:
    """Where coverage lives and how it is read."""

    paths: tuple[str, ...] = ("seeds",)
    database: str = "data/coverage.db"
    max_file_bytes: int = 5 * 1024 * 1024
    watch: bool = True
    watch_debounce_ms: int = 200


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    """How the bot reaches Discord; the token normally comes from ``DISCORD_TOKEN``."""

    token: str = field(default="", repr=False)
    api_base: str = ""
    gateway_url: str = ""
    guild_ids: tuple[int, ...] = ()
    owner_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the app reads from configuration."""

    corpus: CorpusSettings = field(default_factory=CorpusSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    source: str | None = None


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read settings: ``path``, else ``$COVERAGE_BOT_CONFIG``, else ``config.toml`` if present.

    Environment variables override the file: ``DISCORD_TOKEN``, ``DISCORD_API_BASE``,
    ``DISCORD_GATEWAY_URL``.
    """
    env = dict(os.environ) if env is None else env
    chosen = path or env.get("COVERAGE_BOT_CONFIG")
    data: dict[str, Any] = {}
    source = None
    if chosen or Path(DEFAULT_CONFIG).exists():
        source = str(chosen or DEFAULT_CONFIG)
        try:
            with open(source, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {source} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {source} is not valid TOML: {exc}") from None
    unknown = set(data) - {"corpus", "discord"}
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}")
    corpus = _section(CorpusSettings, data.get("corpus", {}), "corpus", source)
    discord = _section(DiscordSettings, data.get("discord", {}), "discord", source)
    overrides = {
        "token": env.get("DISCORD_TOKEN"),
        "api_base": env.get("DISCORD_API_BASE"),
        "gateway_url": env.get("DISCORD_GATEWAY_URL"),
    }
    discord = DiscordSettings(
        **{
            f.name: overrides.get(f.name) or getattr(discord, f.name)
            for f in fields(DiscordSettings)
        }
    )
    if corpus.max_file_bytes <= 0:
        raise ConfigError("corpus.max_file_bytes must be a positive number of bytes")
    return Settings(corpus=corpus, discord=discord, source=source)


def _section(cls: type[_S], raw: Any, name: str, source: str | None) -> _S:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{source}: unknown key {name}.{key}")
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            if isinstance(value, str | int):
                value = [value]
            if not isinstance(value, list):
                raise ConfigError(f"{source}: {name}.{key} must be a list")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{source}: {name}.{key} must be true or false")
        elif not isinstance(value, type(default)):
            raise ConfigError(f"{source}: {name}.{key} must be {type(default).__name__}")
        values[key] = value
    return cls(**values)
