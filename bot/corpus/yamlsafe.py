"""Safe YAML loading: the libyaml C loader when present, and no alias bombs either way."""

from __future__ import annotations

import re
from typing import Any

import yaml

try:  # libyaml makes cold ingest several times faster; the pure loader is the same grammar.
    SafeLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - wheels ship libyaml on every platform we run on
    SafeLoader = yaml.SafeLoader

# Coverage records never use anchors; a few are harmless, thousands are an attack.
MAX_ALIASES = 100
_ALIAS = re.compile(r"(?:^|[\s\[{,:-])\*[^\s,\]}]+")


class YAMLProblem(ValueError):
    """YAML that could not be loaded; ``line`` is 1-based within the text given, when known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def load(text: str) -> Any:
    """Load one YAML document safely, or raise ``YAMLProblem`` with a line number."""
    docs = load_all(text)
    if len(docs) > 1:
        raise YAMLProblem(f"{len(docs)} YAML documents where one was expected")
    return docs[0] if docs else None


def load_all(text: str) -> list[Any]:
    """Load every document of a YAML stream safely."""
    if "*" in text and "&" in text:
        _refuse_alias_bombs(text)
    try:
        return list(yaml.load_all(text, Loader=SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YAMLProblem(f"malformed YAML: {reason or exc}", line) from None
    except yaml.YAMLError as exc:
        raise YAMLProblem(f"malformed YAML: {exc}") from None
    except RecursionError:
        raise YAMLProblem("malformed YAML: nested too deeply") from None


def _refuse_alias_bombs(text: str) -> None:
    """Count alias events before constructing anything, so expansion never starts."""
    if len(_ALIAS.findall(text)) <= MAX_ALIASES:
        return
    aliases = 0
    try:
        for event in yaml.parse(text, Loader=SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    line = event.start_mark.line + 1 if event.start_mark else None
                    raise YAMLProblem(
                        f"YAML alias bomb refused: more than {MAX_ALIASES} aliases", line
                    )
    except yaml.YAMLError:
        return  # the real load reports the syntax error with its line
