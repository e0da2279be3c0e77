"""Settings: defaults, the config file, environment overrides, and one clear line when wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.config import ConfigError, CorpusSettings, DiscordSettings, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


@pytest.fixture(autouse=True)
def no_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test where no config.toml lies around."""
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    settings = load_settings(env={})
    assert settings == Settings(CorpusSettings(), DiscordSettings(), source=None)
    assert settings.corpus.paths == ("seeds",)
    assert settings.corpus.database == "data/coverage.db"
    assert settings.corpus.max_file_bytes == 5 * 1024 * 1024
    assert settings.corpus.watch is True
    assert settings.discord.token == ""


def test_example_file_documents_every_key_with_its_default() -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert set(data["corpus"]) == set(CorpusSettings.__dataclass_fields__)
    assert set(data["discord"]) == set(DiscordSettings.__dataclass_fields__)
    settings = load_settings(EXAMPLE, env={})
    assert settings.corpus == CorpusSettings()
    assert settings.discord == DiscordSettings()


def test_values_from_config_toml_in_the_working_directory(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        [corpus]
        paths = ["coverage", "more"]
        database = "state/cache.db"
        max_file_bytes = 1024
        watch = false
        watch_debounce_ms = 50
        rest_stories_after_s = -1

        [discord]
        token = "from-file"
        guild_ids = [123, "456"]
        owner_ids = 789
        """,
    )
    settings = load_settings(env={})
    assert settings.source == "config.toml"
    assert settings.corpus == CorpusSettings(
        paths=("coverage", "more"),
        database="state/cache.db",
        max_file_bytes=1024,
        watch=False,
        watch_debounce_ms=50,
        rest_stories_after_s=-1,
    )
    assert settings.discord.token == "from-file"
    assert settings.discord.guild_ids == (123, 456)
    assert settings.discord.owner_ids == (789,)


def test_single_path_may_be_a_string(tmp_path: Path) -> None:
    write(tmp_path, '[corpus]\npaths = "coverage"\n')
    assert load_settings(env={}).corpus.paths == ("coverage",)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    write(tmp_path, '[discord]\ntoken = "file"\napi_base = "http://file"\n')
    settings = load_settings(
        env={
            "DISCORD_TOKEN": "env-token",
            "DISCORD_API_BASE": "http://127.0.0.1:9999/api",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9999/gateway",
        }
    )
    assert settings.discord.token == "env-token"
    assert settings.discord.api_base == "http://127.0.0.1:9999/api"
    assert settings.discord.gateway_url == "ws://127.0.0.1:9999/gateway"


def test_empty_environment_values_do_not_erase_the_file(tmp_path: Path) -> None:
    write(tmp_path, '[discord]\ntoken = "file"\n')
    assert load_settings(env={"DISCORD_TOKEN": ""}).discord.token == "file"


def test_token_is_kept_out_of_repr() -> None:
    settings = load_settings(env={"DISCORD_TOKEN": "s3cret-token"})
    assert "s3cret-token" not in repr(settings)


def test_coverage_bot_config_names_the_file(tmp_path: Path) -> None:
    other = write(tmp_path, '[corpus]\ndatabase = "elsewhere.db"\n', name="other.toml")
    write(tmp_path, '[corpus]\ndatabase = "ignored.db"\n')
    settings = load_settings(env={"COVERAGE_BOT_CONFIG": str(other)})
    assert settings.corpus.database == "elsewhere.db"
    assert settings.source == str(other)


def test_explicit_path_beats_the_environment(tmp_path: Path) -> None:
    chosen = write(tmp_path, '[corpus]\ndatabase = "chosen.db"\n', name="chosen.toml")
    env_file = write(tmp_path, '[corpus]\ndatabase = "env.db"\n', name="env.toml")
    settings = load_settings(chosen, env={"COVERAGE_BOT_CONFIG": str(env_file)})
    assert settings.corpus.database == "chosen.db"


def test_reads_the_real_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "from-os-environ")
    monkeypatch.delenv("COVERAGE_BOT_CONFIG", raising=False)
    assert load_settings().discord.token == "from-os-environ"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[corpus]\npats = []\n", "unknown key corpus.pats (known: database, max_file_bytes"),
        ("[corpuses]\n", "unknown section(s) corpuses"),
        ("corpus = 3\n", "[corpus] must be a table"),
        ('[corpus]\nmax_file_bytes = "big"\n', "corpus.max_file_bytes must be a whole number"),
        ("[corpus]\nmax_file_bytes = true\n", "corpus.max_file_bytes must be a whole number"),
        ("[corpus]\nmax_file_bytes = 0\n", "corpus.max_file_bytes must be a positive number"),
        ("[corpus]\nwatch = 1\n", "corpus.watch must be true or false"),
        ("[corpus]\nwatch_debounce_ms = -5\n", "corpus.watch_debounce_ms must be 0 or more"),
        ("[corpus]\nrest_stories_after_s = -2\n", "corpus.rest_stories_after_s must be -1"),
        ("[corpus]\npaths = [1, 2]\n", "corpus.paths must be a list of text"),
        ("[corpus]\npaths = []\n", "corpus.paths must name at least one folder"),
        ('[corpus]\ndatabase = ""\n', "corpus.database must be a file path"),
        ("[corpus]\ndatabase = 5\n", "corpus.database must be text"),
        ('[discord]\nguild_ids = ["general"]\n', "discord.guild_ids must be a list of numeric ids"),
        ("[discord]\nowner_ids = [true]\n", "discord.owner_ids must be a list of numeric ids"),
        ("[discord]\ntoken = 5\n", "discord.token must be text"),
        ("[corpus\n", "not valid TOML: Expected ']'"),
    ],
)
def test_bad_config_names_the_file_key_and_fix(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(env={})
    assert message in str(info.value)
    assert str(info.value).startswith("config.toml")
    assert "\n" not in str(info.value).strip()


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"COVERAGE_BOT_CONFIG": str(tmp_path / "nope.toml")})


def test_settings_are_frozen() -> None:
    settings = load_settings(env={})
    with pytest.raises(AttributeError):
        settings.corpus.database = "x"  # type: ignore[misc]
