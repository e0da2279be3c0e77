"""The corpus folder is untrusted: links out, FIFOs, devices, lying sizes and extensionless files
are reported and never read, and nothing in them becomes searchable.

Each test builds the folder an attacker (or an unlucky sync) would leave and checks what a user
sees: the problem list (``coverage-bot check``, ``/corpus errors``) and the answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.cli import main
from bot.corpus import safe_read
from bot.corpus.formats import parse_file
from bot.corpus.live import Corpus, CorpusChange
from bot.corpus.loader import CorpusLoader
from bot.corpus.merge import CorpusSnapshot

T = TypeVar("T")
TIMEOUT = 15  # seconds; only reached when a load blocks, i.e. on a regression
SECRET = "MTIzNDU2Nzg5.discord-token-quokka"
ROOT_LINE = "root:x:0:0"
OUTSIDE = safe_read.LINK_OUTSIDE
BROKEN = safe_read.LINK_BROKEN
FIFO = "a named pipe (FIFO), not a regular file; skipped"
LIMIT = 1024


def article(title: str, slug: str, body: str = "A body about quokkas and their habits.") -> str:
    return f"---\ntitle: {title}\nwebUrl: https://example.com/{slug}\n---\n{body}\n"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bot's folder, the working directory: its config (with the token) beside the corpus,
    one good article in it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text(
        "[corpus]\n"
        'paths = ["corpus"]\n'
        'database = "data/cache.db"\n'
        f"max_file_bytes = {LIMIT}\n"
        "[discord]\n"
        f'token = "{SECRET}"\n',
        encoding="utf-8",
    )
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "sub" / "real.md").write_text(article("Real story", "real"), encoding="utf-8")
    return tmp_path


def load(root: Path, *, max_bytes: int = LIMIT) -> CorpusSnapshot:
    loader = CorpusLoader([str(root)], root.parent / "cache.db", max_bytes=max_bytes)
    try:
        return loader.load()[0]
    finally:
        loader.close()


def problems(snapshot: CorpusSnapshot) -> set[tuple[str, str, str]]:
    """(file name inside the corpus, severity, reason) for every problem."""
    return {(p.path.rsplit("corpus/", 1)[-1], p.severity, p.reason) for p in snapshot.problems}


def all_text(snapshot: CorpusSnapshot) -> str:
    return "\n".join(f"{a.title}\n{a.excerpt}\n{a.body}" for a in snapshot.articles.values())


def cli(capsys: pytest.CaptureFixture[str], site: Path, *argv: str) -> tuple[int, str]:
    code = main(["--config", str(site / "config.toml"), *argv])
    return code, capsys.readouterr().out


def release(fifo: Path) -> None:
    """Open ``fifo`` for writing and close it: a reader stuck in ``open`` gets EOF and returns."""
    with contextlib.suppress(OSError):  # ENXIO: nobody is reading it, nothing to release
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def within(seconds: float, fn: Callable[[], T], fifo: Path) -> T:
    """``fn()`` in a thread, failing (not hanging) when it blocks on ``fifo`` past ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        release(fifo)
        thread.join(seconds)
        pytest.fail(f"loading blocked on {fifo.name} for {seconds} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


# -------------------------------------------------------------------------- links out of the root
def test_link_to_the_bots_config_is_reported_and_its_token_never_searchable(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (site / "corpus" / "notes.txt").symlink_to(site / "config.toml")
    code, out = cli(capsys, site, "check", "--json")
    report = json.loads(out)
    assert code == 0
    assert {"path": "corpus/notes.txt", "line": None, "reason": OUTSIDE} in report["errors"]
    assert report["articles"] == 1
    for query in ("discord token", SECRET, "corpus database max_file_bytes"):
        _, out = cli(capsys, site, "search", query, "--json")
        results = json.dumps(json.loads(out)["results"])
        assert SECRET not in results and "discord" not in results.lower()


def test_link_to_etc_passwd_is_reported_and_not_read(site: Path) -> None:
    (site / "corpus" / "passwd.txt").symlink_to("/etc/passwd")
    snapshot = load(site / "corpus")
    assert ("passwd.txt", "error", OUTSIDE) in problems(snapshot)
    assert ROOT_LINE not in all_text(snapshot)
    errors = [(p.path, p.line, p.reason) for p in snapshot.errors]  # what /corpus errors lists
    assert errors == [(f"{site / 'corpus'}/passwd.txt", None, OUTSIDE)]


def test_link_to_a_folder_outside_is_reported_and_not_walked(site: Path) -> None:
    outside = site / "elsewhere"
    outside.mkdir()
    (outside / "leak.md").write_text(article("Leaked outside story", "leak"), encoding="utf-8")
    (site / "corpus" / "more").symlink_to(outside)
    snapshot = load(site / "corpus")
    assert problems(snapshot) == {("more", "error", OUTSIDE)}
    assert "Leaked outside story" not in all_text(snapshot)


# ---------------------------------------------------------------------------- links inside the root
def test_links_inside_are_followed_and_each_file_is_read_once(site: Path) -> None:
    corpus = site / "corpus"
    (corpus / ".drafts").mkdir()
    (corpus / ".drafts" / "draft.md").write_text(article("Draft story", "draft"), "utf-8")
    (corpus / "latest.md").symlink_to(".drafts/draft.md")  # only reachable through the link
    (corpus / "alias.md").symlink_to("sub/real.md")  # real.md is read under its own name
    (corpus / "sub-again").symlink_to("sub")  # one folder linked twice...
    (corpus / "sub-third").symlink_to(corpus / "sub")  # ...and by absolute path
    snapshot = load(corpus)
    assert problems(snapshot) == set()
    assert {a.title for a in snapshot.articles.values()} == {"Real story", "Draft story"}
    assert sorted(p.rsplit("corpus/", 1)[-1] for p in snapshot.files) == [
        "latest.md",
        "sub/real.md",
    ]
    assert snapshot.duplicates_merged == 0


def test_link_loops_end_and_are_reported(site: Path) -> None:
    corpus = site / "corpus"
    (corpus / "loop1.md").symlink_to("loop2.md")
    (corpus / "loop2.md").symlink_to("loop1.md")
    (corpus / "sub" / "up").symlink_to("..")  # a folder loop: corpus/sub/up/sub/up/...
    (corpus / "self").symlink_to(".")
    (corpus / "gone.md").symlink_to("missing.md")
    snapshot = within(TIMEOUT, lambda: load(corpus), corpus / "none")
    assert problems(snapshot) == {
        ("loop1.md", "warning", BROKEN),
        ("loop2.md", "warning", BROKEN),
        ("gone.md", "warning", BROKEN),
    }
    assert sorted(p.rsplit("corpus/", 1)[-1] for p in snapshot.files) == [
        "gone.md",
        "loop1.md",
        "loop2.md",
        "sub/real.md",
    ]


# -------------------------------------------------------------------------- FIFOs and devices
def test_fifo_named_like_an_article_is_reported_not_opened(site: Path) -> None:
    corpus = site / "corpus"
    os.mkfifo(corpus / "pipe.txt")
    snapshot = within(TIMEOUT, lambda: load(corpus), corpus / "pipe.txt")
    assert problems(snapshot) == {("pipe.txt", "error", FIFO)}
    assert {a.title for a in snapshot.articles.values()} == {"Real story"}


def test_socket_is_reported_not_opened(site: Path) -> None:
    path = site / "corpus" / "s.md"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        snapshot = load(site / "corpus")
    assert ("s.md", "error", "a socket, not a regular file; skipped") in problems(snapshot)


def test_devices_are_refused_without_reading() -> None:
    for device in ("/dev/zero", "/dev/null"):
        with pytest.raises(safe_read.Refused, match="a character device, not a regular file"):
            safe_read.read_regular(device, LIMIT)


def test_link_to_dev_zero_is_reported_and_memory_stays_bounded(site: Path) -> None:
    """Run in a child with 2 GiB of address space: a regression fails there instead of OOM."""
    (site / "corpus" / "zero.txt").symlink_to("/dev/zero")
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "from bot.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    assert hard == resource.RLIM_INFINITY or hard >= 2 << 30
    done = subprocess.run(
        [sys.executable, "-c", code, "--config", "config.toml", "check", "--json"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == [{"path": "corpus/zero.txt", "line": None, "reason": OUTSIDE}]
    assert report["articles"] == 1


# ------------------------------------------------------------------------------ sizes
def test_file_over_the_limit_is_reported(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = article("Big story", "big", "quokka " * LIMIT)
    (site / "corpus" / "big.md").write_text(big, encoding="utf-8")
    code, out = cli(capsys, site, "check", "--json", "corpus", "--db", "c.db")
    size = len(big.encode())
    reason = f"file is {size:,} bytes, over the {LIMIT:,}-byte limit; skipped"
    assert json.loads(out)["errors"] == [{"path": "corpus/big.md", "line": None, "reason": reason}]
    assert code == 0


@pytest.fixture
def lying_size(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, int], None]:
    """Make every stat of one file say ``size``, as /proc files and files being written do."""

    def lie(path: Path, size: int) -> None:
        target = path.stat()
        key = (target.st_dev, target.st_ino)

        class Lying:
            st_size = size

            def __init__(self, real: os.stat_result) -> None:
                self._real = real

            def __getattr__(self, name: str) -> Any:
                return getattr(self._real, name)

        def wrap(real: Callable[..., os.stat_result]) -> Callable[..., Any]:
            def fake(*args: Any, **kwargs: Any) -> Any:
                st = real(*args, **kwargs)
                return Lying(st) if (st.st_dev, st.st_ino) == key else st

            return fake

        for name in ("stat", "lstat", "fstat"):
            monkeypatch.setattr(os, name, wrap(getattr(os, name)))

    return lie


def test_file_bigger_than_its_stat_says_is_reported_not_read_whole(
    site: Path, lying_size: Callable[[Path, int], None]
) -> None:
    grown = site / "corpus" / "grown.md"
    grown.write_text(article("Grown story", "grown", "quokka " * 3 * LIMIT), encoding="utf-8")
    lying_size(grown, 10)
    snapshot = load(site / "corpus")
    reason = f"file holds more than the {LIMIT:,}-byte limit though its size said 10 bytes; skipped"
    assert problems(snapshot) == {("grown.md", "error", reason)}
    assert "Grown story" not in all_text(snapshot)


def test_a_read_stops_one_byte_past_the_limit_whatever_the_size_said(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        reads.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counting_read)
    fd = os.open("/dev/zero", os.O_RDONLY)  # endless, and its size says 0
    try:
        assert len(safe_read.read_bounded(fd, 100_000, 0)) == 100_001
        assert len(safe_read.read_bounded(fd, 10, 1 << 30)) == 11  # a hint over the limit too
    finally:
        os.close(fd)
    assert sum(reads) == 100_012
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"x" * 5000)
        os.close(write_end)
        assert safe_read.read_bounded(read_end, 4999, 10) == b"x" * 5000
        assert safe_read.read_bounded(read_end, 4999, 10) == b""
    finally:
        os.close(read_end)


def test_file_exactly_at_the_limit_is_read(site: Path) -> None:
    text = article("Exact story", "exact")
    path = site / "corpus" / "exact.md"
    path.write_text(text + "q" * (LIMIT - len(text.encode())), encoding="utf-8")
    assert path.stat().st_size == LIMIT
    snapshot = load(site / "corpus")
    assert problems(snapshot) == set()
    assert "Exact story" in {a.title for a in snapshot.articles.values()}


# -------------------------------------------------------------------------- file types
def test_extensionless_files_are_not_read_and_reported_once_as_warnings(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = site / "corpus"
    (corpus / "NOTES").write_text(article("Extensionless story", "noext"), encoding="utf-8")
    (corpus / "LICENSE").write_text("MIT License\nPermission is hereby granted\n", "utf-8")
    (corpus / ".git").mkdir()
    (corpus / ".git" / "config").write_text("[core]\n", encoding="utf-8")
    (corpus / ".env").write_text(f"DISCORD_TOKEN={SECRET}\n", encoding="utf-8")
    snapshot = load(corpus)
    unsupported = "unsupported file type (no extension); skipped"
    assert problems(snapshot) == {
        ("NOTES", "warning", unsupported),
        ("LICENSE", "warning", unsupported),
    }
    assert not snapshot.errors  # so /corpus errors stays empty
    text = all_text(snapshot)
    assert "Extensionless story" not in text and "Permission" not in text and SECRET not in text
    code, out = cli(capsys, site, "check", "corpus", "--strict", "--db", "c.db")
    assert code == 0
    assert "  corpus/NOTES: unsupported file type (no extension); skipped" in out.splitlines()


def test_extensionless_file_is_never_opened(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = site / "corpus" / "README"
    path.write_text(article("Readme story", "readme"), encoding="utf-8")
    opened: list[str] = []
    real_open = os.open

    def watching_open(file: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(os.fsdecode(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", watching_open)
    result = parse_file(path, "corpus/README", LIMIT, safe_read.real_roots([str(site)]))
    assert result.articles == [] and opened == []


# ----------------------------------------------------------------------- at runtime: reload, watch
@contextlib.contextmanager
def released_after(fifo: Path) -> Iterator[None]:
    """Release ``fifo`` on the way out: a regression blocked on it fails instead of hanging."""
    try:
        yield
    finally:
        release(fifo)


async def test_fifo_and_links_appearing_at_runtime_do_not_hang_reload_or_refresh(
    site: Path,
) -> None:
    corpus = site / "corpus"
    loader = CorpusLoader([str(corpus)], site / "cache.db", max_bytes=LIMIT)
    live = Corpus(loader)
    try:
        await live.open()
        fifo = corpus / "pipe.txt"
        os.mkfifo(fifo)
        with released_after(fifo):
            change = await asyncio.wait_for(live.reload(), TIMEOUT)
        assert problems(change.snapshot) == {("pipe.txt", "error", FIFO)}

        os.mkfifo(corpus / "sub" / "pipe2.md")
        (corpus / "notes.txt").symlink_to(site / "config.toml")
        outside = site / "elsewhere"
        outside.mkdir()
        (outside / "leak.md").write_text(article("Leaked outside story", "leak"), "utf-8")
        (corpus / "more").symlink_to(outside)
        (corpus / "alias").symlink_to(corpus / "sub")
        paths = [
            corpus / "sub" / "pipe2.md",
            corpus / "notes.txt",
            corpus / "more",
            corpus / "more" / "leak.md",  # as a watcher following the link would report it
            corpus / "alias" / "real.md",
        ]
        with released_after(corpus / "sub" / "pipe2.md"):
            change = await asyncio.wait_for(live.refresh(map(str, paths)), TIMEOUT)
        assert problems(change.snapshot) == {
            ("pipe.txt", "error", FIFO),
            ("sub/pipe2.md", "error", FIFO),
            ("notes.txt", "error", OUTSIDE),
            ("more", "error", OUTSIDE),
        }
        text = all_text(change.snapshot)
        assert SECRET not in text and "Leaked outside story" not in text
        assert sorted(p.rsplit("corpus/", 1)[-1] for p in change.snapshot.files) == [
            "more",
            "notes.txt",
            "pipe.txt",
            "sub/pipe2.md",
            "sub/real.md",
        ]
        # A full scan finds the same: the watcher's path and the reload's agree.
        reloaded = await asyncio.wait_for(live.reload(), TIMEOUT)
        assert problems(reloaded.snapshot) == problems(change.snapshot)
        assert not reloaded.changes
    finally:
        loader.close()


async def test_watcher_survives_a_fifo_appearing(site: Path) -> None:
    corpus = site / "corpus"
    loader = CorpusLoader([str(corpus)], site / "cache.db", max_bytes=LIMIT)
    live = Corpus(loader)
    stop = asyncio.Event()
    fifo = corpus / "pipe.txt"
    try:
        await live.open()
        with live.subscribe() as queue, released_after(fifo):
            watcher = asyncio.create_task(live.watch(debounce_ms=20, stop=stop))
            await asyncio.wait_for(live.watching.wait(), TIMEOUT)
            os.mkfifo(fifo)
            staging = site / "staging.tmp"
            staging.write_text(article("After the pipe", "after"), encoding="utf-8")
            os.replace(staging, corpus / "after.md")
            change: CorpusChange = await asyncio.wait_for(queue.get(), TIMEOUT)
            while "After the pipe" not in {a.title for a in change.snapshot.articles.values()}:
                change = await asyncio.wait_for(queue.get(), TIMEOUT)
            assert ("pipe.txt", "error", FIFO) in problems(live.snapshot)
            stop.set()
            await asyncio.wait_for(watcher, TIMEOUT)
    finally:
        stop.set()
        loader.close()


def test_a_folder_swapped_for_a_link_out_between_listing_and_reading_is_refused(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "sub" / "a.txt").write_text("Outlet\nA fine article about ports.\n", "utf-8")
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "a.txt").write_text("Leak\nTOKEN=hunter2 leaked from outside.\n", "utf-8")
    roots = safe_read.real_roots([str(corpus)])
    target = safe_read.resolve(str(corpus / "sub" / "a.txt"), roots)  # listed while inside
    (corpus / "sub" / "a.txt").unlink()
    (corpus / "sub").rmdir()
    (corpus / "sub").symlink_to(secret, target_is_directory=True)  # swapped before the read
    with pytest.raises(safe_read.Refused, match="outside the corpus folders"):
        safe_read.read_regular(target, 1_000_000, roots)
