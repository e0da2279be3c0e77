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
    # Seconds without a corpus change after which a large corpus's whole story grouping is kept
    # on disk only, its groups answering (``Engine.rest_stories``); -1 keeps it in memory.
    rest_stories_after_s: int = 300


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    """How the bot reaches Discord; the token normally comes from ``DISCORD_TOKEN``."""

    token: str = field(default="", repr=False)
    api_base: str = ""
    gateway_url: str = ""
    guild_ids: tuple[int, ...] = ()
    owner_ids: tuple[int, ...] = ()
    # Servers whose members with Manage Server may run /corpus: the operator's own. Manage
    # Server anywhere else is a stranger's server that added the bot.
    admin_guild_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    """What log lines may hold: queries are personal, so they are left out unless asked for."""

    queries: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the app reads from configuration."""

    corpus: CorpusSettings = field(default_factory=CorpusSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
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
            raise ConfigError(f"{source}: config file does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    unknown = set(data) - {"corpus", "discord", "logging"}
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}")
    corpus = _section(CorpusSettings, data.get("corpus", {}), "corpus", source)
    discord = _section(DiscordSettings, data.get("discord", {}), "discord", source)
    logs = _section(LoggingSettings, data.get("logging", {}), "logging", source)
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
    where = source or "settings"
    if corpus.max_file_bytes <= 0:
        raise ConfigError(f"{where}: corpus.max_file_bytes must be a positive number of bytes")
    if corpus.watch_debounce_ms < 0:
        raise ConfigError(f"{where}: corpus.watch_debounce_ms must be 0 or more")
    if corpus.rest_stories_after_s < -1:
        raise ConfigError(f"{where}: corpus.rest_stories_after_s must be -1 (never) or more")
    if not corpus.paths or not all(corpus.paths):
        raise ConfigError(f"{where}: corpus.paths must name at least one folder or file")
    if not corpus.database:
        raise ConfigError(f"{where}: corpus.database must be a file path")
    return Settings(corpus=corpus, discord=discord, logging=logs, source=source)


def _section(cls: type[_S], raw: Any, name: str, source: str | None) -> _S:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(
                f"{source}: unknown key {name}.{key} (known: {', '.join(sorted(known))})"
            )
        annotation = str(known[key].type)
        values[key] = _checked(annotation, value, f"{source}: {name}.{key}")
    return cls(**values)


def _checked(annotation: str, value: Any, what: str) -> Any:
    """``value`` checked against its field's annotation; TOML lists become tuples."""
    if annotation.startswith("tuple"):
        items = value if isinstance(value, list) else [value]
        if "int" in annotation:
            # Discord ids: TOML integers, or strings of digits as copied from the client.
            if not all(_is_int(v) or (isinstance(v, str) and v.isdigit()) for v in items):
                raise ConfigError(f"{what} must be a list of numeric ids")
            return tuple(int(v) for v in items)
        if not all(isinstance(v, str) for v in items):
            raise ConfigError(f"{what} must be a list of text")
        return tuple(items)
    if annotation == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{what} must be true or false")
    elif annotation == "int":
        if not _is_int(value):
            raise ConfigError(f"{what} must be a whole number")
    elif not isinstance(value, str):
        raise ConfigError(f"{what} must be text")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
