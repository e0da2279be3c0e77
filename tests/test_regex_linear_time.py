"""Every regex in ``bot/`` (and ``cogs/``) stays fast on hostile text (issue 12).

The corpus is untrusted, and Python's ``re`` backtracks while holding the GIL: one pattern
that is quadratic or cubic on some input (``" -" * 3000`` took ``_CUT_TAIL`` over 120 s)
freezes the engine thread and the event loop with it. So every compiled pattern the code can
reach is found here rather than listed by hand: module globals, and whatever they hold
(tuples, dicts, classes, instances, function defaults and closures); regexes written inline in
functions, and those of a module whose optional dependency is missing, are compiled from the
source. Each is run on adversarial inputs of up to 64 K characters: runs of every ASCII
punctuation mark and several kinds of white space, alternating separators, long words and digit
runs, punctuation runs ending in a letter, URL- and Markdown-ish runs, unicode, random mixes.

A call over ``BUDGET`` (50 ms) fails, naming the pattern, the input and the call. Time is what
is being tested, so it is measured; to keep a loaded machine from failing it, a slow call is
retried once and only a call slow twice counts. Each input grows from 256 to 65,536 characters
and stops growing at the first size that is too slow, so a cubic pattern costs seconds here,
not hours. The ~60 default inputs keep this file near 20 s of CPU; ``REGEX_SWEEP=full`` runs
~250 of them.
"""

from __future__ import annotations

import ast
import functools
import importlib
import os
import pkgutil
import random
import re
import string
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "cogs")
BUDGET = 0.050  # seconds per call
SMALLEST, LARGEST = 256, 65_536  # characters
# A step up in size multiplies a cubic pattern's time by 64 (×4) or 4096 (×16): the bigger
# step is taken only when even that would stay under ``HANG`` seconds.
HANG = 2.0
MAX_FAILURES = 2  # slow inputs reported per pattern before its other inputs are skipped
FULL_SWEEP = os.environ.get("REGEX_SWEEP") == "full"
_REGEX_FUNCS = {"compile", "search", "match", "fullmatch", "sub", "subn", "split", "findall"}
_REGEX_FUNCS |= {"finditer"}
# Position of the flags argument of each ``re`` function, when it is given positionally.
_FLAGS_AT = {"compile": 1, "search": 2, "match": 2, "fullmatch": 2, "findall": 2}
_FLAGS_AT |= {"finditer": 2, "split": 3, "sub": 4, "subn": 4}

# Patterns reached through these containers belong to PyYAML (its implicit resolvers), which
# only ever calls ``.match`` on them (as ``SafeLoader.resolve`` does): only that is timed.
ANCHORED_CONTAINERS = ("bot.corpus.yamlsafe._BY_FIRST", "bot.corpus.yamlsafe._WILDCARD")

# Known super-linear patterns in modules outside this change, with the linear rewrite to use.
# Strict: once a pattern is fixed its entry must go, so the list never outlives the problem.
KNOWN_SLOW: dict[str, str] = {}


# --- Finding every pattern -----------------------------------------------------------------
def _modules() -> tuple[list[types.ModuleType], list[Path]]:
    """Every module of the packages, and the files of those needing a package not installed.

    An optional dependency (an extra one module needs) must not hide the others; the regexes
    of such a module are compiled from its source instead (``_source_patterns``).
    """
    modules: list[types.ModuleType] = []
    unimportable: list[Path] = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, package_name + "."):
            try:
                modules.append(importlib.import_module(info.name))
            except ModuleNotFoundError as exc:
                if (exc.name or "").split(".")[0] in PACKAGES:
                    raise
                unimportable.append(ROOT / (info.name.replace(".", "/") + ".py"))
    return modules, unimportable


def _ours(obj: object) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return isinstance(module, str) and module.split(".")[0] in PACKAGES


def _children(obj: object) -> Iterator[tuple[str, object]] | None:
    """What ``obj`` holds that may hold a pattern, by name suffix; None for a leaf."""
    if isinstance(obj, tuple | list):
        return ((f"[{i}]", x) for i, x in enumerate(obj))
    if isinstance(obj, set | frozenset):
        return (("{…}", x) for x in obj)
    if isinstance(obj, dict | types.MappingProxyType):
        return ((f"[{k!r}]", x) for k, v in obj.items() for x in (k, v))
    if isinstance(obj, functools.partial):
        return iter([(".func", obj.func), (".args", obj.args), (".keywords", obj.keywords)])
    if isinstance(obj, staticmethod | classmethod):
        return iter([(".__func__", obj.__func__)])
    if isinstance(obj, property):
        return iter([(".fget", obj.fget), (".fset", obj.fset)])
    if isinstance(obj, type):
        return ((f".{k}", v) for k, v in vars(obj).items()) if _ours(obj) else None
    if isinstance(obj, types.FunctionType | functools._lru_cache_wrapper):
        if not _ours(obj):
            return None
        cells = []
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                cells.append(cell.cell_contents)
            except ValueError:  # a cell not filled yet
                continue
        return iter(
            [
                (".__defaults__", getattr(obj, "__defaults__", None)),
                (".__kwdefaults__", getattr(obj, "__kwdefaults__", None)),
                (".__closure__", cells),
                (".__wrapped__", getattr(obj, "__wrapped__", None)),
            ]
        )
    if _ours(type(obj)):
        attrs = dict(getattr(obj, "__dict__", {}))
        for klass in type(obj).__mro__:
            for slot in getattr(klass, "__slots__", ()):
                if hasattr(obj, slot):
                    attrs[slot] = getattr(obj, slot)
        return ((f".{k}", v) for k, v in attrs.items())
    return None


def _walk(
    obj: object,
    name: str,
    found: dict[tuple[str, int], tuple[str, re.Pattern[str]]],
    seen: set[int],
    depth: int = 0,
) -> None:
    """Record every pattern reachable from ``obj`` under the first name it is reached by."""
    if isinstance(obj, re.Pattern):
        found.setdefault((obj.pattern, obj.flags), (name, obj))
        return
    if depth > 6 or id(obj) in seen or isinstance(obj, str | bytes | int | float):
        return
    seen.add(id(obj))
    for suffix, child in _children(obj) or ():
        if child is not None:
            _walk(child, name + suffix, found, seen, depth + 1)


def _source_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _re_calls(tree: ast.AST) -> Iterator[tuple[ast.Call, bool]]:
    """``re.<function>(…)`` calls in a module, each with whether it sits inside a function."""

    def visit(node: ast.AST, inside: bool) -> Iterator[tuple[ast.Call, bool]]:
        if isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "re"
                and func.attr in _REGEX_FUNCS
            ):
                yield node, inside
        nested = inside or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, nested)

    yield from visit(tree, False)


def _flags(call: ast.Call) -> int | None:
    """The literal flags of a ``re`` call (0 when none), None when they are computed."""
    assert isinstance(call.func, ast.Attribute)
    at = _FLAGS_AT[call.func.attr]
    node: ast.expr | None = call.args[at] if len(call.args) > at else None
    for keyword in call.keywords:
        if keyword.arg == "flags":
            node = keyword.value
    if node is None:
        return 0

    def value(expr: ast.expr) -> int | None:
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            flag = getattr(re, expr.attr, None) if expr.value.id == "re" else None
            return int(flag) if isinstance(flag, re.RegexFlag) else None
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
            left, right = value(expr.left), value(expr.right)
            return None if left is None or right is None else left | right
        return None

    return value(node)


def _literal(call: ast.Call) -> re.Pattern[str] | None:
    """The pattern of a ``re`` call compiled from the source, if it is a literal."""
    first = call.args[0] if call.args else None
    flags = _flags(call)
    if isinstance(first, ast.Constant) and isinstance(first.value, str) and flags is not None:
        return re.compile(first.value, flags)
    return None


def _source_patterns(unimportable: list[Path]) -> tuple[dict[str, re.Pattern[str]], list[str]]:
    """Regexes only the source shows (compiled here), and those this test cannot compile.

    Those are the ones written inside functions (compiled on each call, so no module holds
    them) and every one of a module that could not be imported.
    """
    found: dict[str, re.Pattern[str]] = {}
    unseen: list[str] = []
    for path in _source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "re":
                unseen.append(f"{where}:{node.lineno}: 'from re import …' hides regex calls")
        for call, inside in _re_calls(tree):
            if not inside and path not in unimportable:
                continue  # compiled at import and found among the module's globals
            pattern = _literal(call)
            if pattern is None:
                unseen.append(f"{where}:{call.lineno}: a regex this test cannot compile")
            else:
                found[f"{where}:{call.lineno}"] = pattern
    return found, unseen


@functools.cache
def _discover() -> tuple[dict[str, re.Pattern[str]], tuple[str, ...]]:
    found: dict[tuple[str, int], tuple[str, re.Pattern[str]]] = {}
    seen: set[int] = set()
    modules, unimportable = _modules()
    for module in modules:
        for key, value in vars(module).items():
            if isinstance(value, types.ModuleType):
                continue
            if (isinstance(value, type) or callable(value)) and getattr(
                value, "__module__", None
            ) != module.__name__:
                continue  # imported from elsewhere: walked where it is defined, if ours
            _walk(value, f"{module.__name__}.{key}", found, seen)
    from_source, unseen = _source_patterns(unimportable)
    for name, pattern in from_source.items():
        found.setdefault((pattern.pattern, pattern.flags), (name, pattern))
    return {name: pattern for name, pattern in found.values()}, tuple(unseen)


def patterns() -> dict[str, re.Pattern[str]]:
    """Every regex the packages can run, by the name it is first reached by."""
    return _discover()[0]


# --- Hostile inputs ------------------------------------------------------------------------
def _run(unit: str, size: int, tail: str = "x") -> str:
    """``unit`` repeated to ``size`` characters, ending in ``tail`` (a match that fails late)."""
    body = unit * (size // len(unit) + 1)
    return body[: max(0, size - len(tail))] + tail


# The default inputs; the full sweep adds the rest of each family.
_WHITESPACE = " \t\n\xa0\u2028"
_SEPARATORS = (" -", ". ", "!?", ", ", "... ", "\n\n", "\n- ")
_WORDS = ("a", "A", "é", "中", "A-", "A.", "Aa of ", "who ")
_FIGURES = ("1", "1,", "1.", "1 ")
_MARKUP = ("<http://a", "@1", "\\x", "[a](", "\n#")
_MIX_ALPHABETS = (string.printable + "éß中’“”…—–\xa0\u2028",)
if FULL_SWEEP:
    _WHITESPACE += "\r\x0b\x0c\x1c\x85\u1680\u2003\u2029\u3000"
    _SEPARATORS += (
        "? ", "! ", "; ", ": ", " –", " —", "…", " …", ". .", "’ ", ".”", ".\n", " \n",
        "\n ", "\r\n", "\n-", "\n1.", "-\n", "\n\t", " \t", "\xa0 ",
    )  # fmt: skip
    _WORDS += (
        "É", "ß", "İ", "ǅ", "Ab", "aB", "word ", "Word ", "WORD ", "Aa-", "A'", "A’", "a’",
        "A. ", "a.", "U.S. ", "Mr. ", "e.g. ", "Inc. ", "Aa & ", "of ", "of A ", "in ", "in A ",
        "in the ", "which outlets ", "how ", "how many ", "the ", "for ", "for years ",
        "a year ", "once a ", "here's why ", "_", "a_", "A\t", "A  ",
    )  # fmt: skip
    _FIGURES += (
        "$1", "$ 1", "€1,", "1,000 ", "1-", "1/", "1:", "12 ", "1.5%", "$1 million ",
        "1 million dollars ", "2020 ", "2020-", "10 years ", "10-day ", "Jan. 1", "May 1 ",
        "US 1", "1e", "0x", "0b1", "1_", "-1", "+1", "12:30:", "1 percent ",
    )  # fmt: skip
    _MARKUP += (
        "http://", "http://a", "https://a.b/", "<https://", "a.b", "a/", "/amp", "?a=", "&a=",
        "#", "@", "@everyone ", "*a ", "&a ", "!!", "](", "<", "<t:", ">", "`", "~", "_*",
        "\\", "\\\\x", "|", "{", "[", "]", ":'", "- ", "+ ", "-#", "#\n", "\n1.", "1.\n",
        "  #",
    )  # fmt: skip
    _MIX_ALPHABETS += (
        "Aa .!?\n-",
        string.punctuation + " ",
        string.ascii_letters + string.punctuation + " \n",
        "1,.$ million",
    )


def hostile_inputs(size: int) -> Iterator[tuple[str, str]]:
    """(name, text) pairs of ``size`` characters that make backtracking regexes explode."""
    for mark in string.punctuation:
        yield f"{mark!r} run + 'x'", _run(mark, size)
        if FULL_SWEEP:
            yield f"'A' + {mark!r} run", "A" + _run(mark, size - 1, tail="")
    for space in _WHITESPACE:
        yield f"{space!r} run + 'x'", _run(space, size)
    for space in " \n" if not FULL_SWEEP else _WHITESPACE:
        yield f"'Ab' + {space!r} run + 'x'", "Ab" + _run(space, size - 2)
    for unit in (*_SEPARATORS, *_WORDS, *_FIGURES, *_MARKUP):
        yield f"{unit!r} repeated + 'x'", _run(unit, size)
    for seed, alphabet in enumerate(_MIX_ALPHABETS):
        rng = random.Random(seed)
        yield f"random mix {seed}", "".join(rng.choice(alphabet) for _ in range(size))


@functools.cache
def _inputs(size: int) -> list[tuple[str, str]]:
    return list(hostile_inputs(size))


# --- Timing ----------------------------------------------------------------------------------
Timings = dict[str, float]


def _anchored(pattern: re.Pattern[str], text: str) -> Timings:
    """PyYAML's resolvers as it uses them: ``match`` (and ``fullmatch``, as strict)."""
    return {
        "match": _seconds(pattern.match, text),
        "fullmatch": _seconds(pattern.fullmatch, text),
    }


def _every_way(pattern: re.Pattern[str], text: str) -> Timings:
    """``search``, ``finditer``, ``sub`` and ``match`` on ``text``.

    ``search`` is timed as a ``finditer``'s first step, which is the same scan (both are
    ``SRE_Scanner.search``), and the iteration then goes on to the end: one pass instead of
    two over 64 K characters for each of ~90 patterns and ~60 inputs.
    """
    matches = pattern.finditer(text)
    start = time.perf_counter()
    next(matches, None)
    first = time.perf_counter()
    for _ in matches:
        pass
    end = time.perf_counter()
    return {
        "search": first - start,
        "finditer": end - start,
        "sub": _seconds(functools.partial(pattern.sub, ""), text),
        "match": _seconds(pattern.match, text),
    }


def _seconds(call: Callable[[str], object], text: str) -> float:
    start = time.perf_counter()
    call(text)
    return time.perf_counter() - start


def slow_calls(name: str, pattern: re.Pattern[str]) -> list[str]:
    """The calls on ``pattern`` that took over ``BUDGET`` twice in a row, described.

    Each input grows from ``SMALLEST`` to ``LARGEST`` characters and stops at the first size
    where a call is slow (a bigger one would only be slower).
    """
    timed = _anchored if name.startswith(ANCHORED_CONTAINERS) else _every_way
    failures: list[str] = []
    for index in range(len(_inputs(SMALLEST))):
        size = SMALLEST
        while True:
            label, text = _inputs(size)[index]
            timings = timed(pattern, text)
            if max(timings.values()) > BUDGET:
                timings = timed(pattern, text)  # once more: the machine may have been busy
            slow = [(use, took) for use, took in timings.items() if took > BUDGET]
            if slow:
                use, took = slow[0]
                failures.append(
                    f"{name} = re.compile({pattern.pattern!r}): .{use}() on {label} "
                    f"({len(text):,} chars) took {took * 1000:.0f} ms"
                )
                break
            if size >= LARGEST:
                break
            step = 16 if max(timings.values()) * 16**3 < HANG else 4
            size = min(LARGEST, size * step)
        if len(failures) >= MAX_FAILURES:
            failures.append(f"{name}: its other inputs were skipped")
            break
    return failures


def _cases() -> list[object]:
    return [
        pytest.param(
            name,
            id=name,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_SLOW[name])]
            if name in KNOWN_SLOW
            else [],
        )
        for name in sorted(patterns())
    ]


@pytest.mark.parametrize("name", _cases())
def test_regex_stays_fast_on_hostile_text(name: str) -> None:
    failures = slow_calls(name, patterns()[name])
    assert not failures, "super-linear regex:\n" + "\n".join(failures)


# --- The harness sees everything ---------------------------------------------------------------
def test_every_module_level_regex_is_timed() -> None:
    """Each module-level ``re.compile`` of a literal is among the patterns timed."""
    timed = {(p.pattern, p.flags) for p in patterns().values()}
    missing = []
    compiled = 0
    for path in _source_files():
        for call, inside in _re_calls(ast.parse(path.read_text(encoding="utf-8"))):
            pattern = _literal(call)
            if inside or pattern is None:
                continue
            compiled += 1
            if (pattern.pattern, pattern.flags) not in timed:
                missing.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert compiled > 40
    assert missing == []
    assert len(patterns()) > 60


def test_no_regex_is_hidden_from_the_harness() -> None:
    """A regex built at run time inside a function can't be timed: hoist it to module level."""
    assert _discover()[1] == ()


def test_known_slow_patterns_exist() -> None:
    """Every ``KNOWN_SLOW`` entry names a pattern that is still there."""
    assert set(KNOWN_SLOW) <= set(patterns())


def test_the_harness_catches_a_quadratic_regex() -> None:
    """A known-quadratic pattern fails the check quickly, so a pass means something."""
    started = time.perf_counter()
    failures = slow_calls("example", re.compile(r"[.!?]+(?=\s)"))
    assert "'!' run + 'x'" in failures[0]
    assert time.perf_counter() - started < 30
