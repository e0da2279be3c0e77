"""End to end through Discord's protocol: simulated users against the real bot, via the stub.

    .venv/bin/python bench/e2e.py --seconds 10 --users 20 --rate 200
    .venv/bin/python bench/e2e.py --rate 0          # closed loop: as fast as the bot answers

The stub (tests/discord_stub: REST + gateway on 127.0.0.1) and the simulated users run in this
process; the bot runs as ``coverage-bot run`` in a subprocess, pointed at the stub with
DISCORD_API_BASE / DISCORD_GATEWAY_URL / DISCORD_TOKEN — the production binary, its own
process and core, exactly as behind a Discord proxy.

Each of ``--users`` concurrent users sends one interaction at a time, paced so all together
offer ``--rate`` per second: slash commands with the questions of bench/questions.yaml (all
six lookups plus /latest), autocomplete while "typing" a question, and "Next" on its own search
pages. Each user speaks for a pool of Discord accounts, so no account exceeds the bot's
per-user cooldown (5 per 15 s): 200/s is many people, not one person 200 times.

Latency is from the stub dispatching INTERACTION_CREATE to the bot's callback arriving at the
stub (what Discord's 3-second deadline measures). Late: > 3 s, or refused by the stub's
deadline. Failed: no callback, a rejected request, an error or cooldown answer.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import yaml  # noqa: E402
from quality import VECTOR_CACHE  # noqa: E402  (the word table bench/quality.py distils)

from bot.engine.minilm_int8 import GRAPH_VERSION  # noqa: E402
from tests.discord_stub import DiscordStub, SentMessage, StubUser  # noqa: E402

TARGET_RATE = 200.0
TARGET_P99_MS = 30.0
LATE_S = 3.0
COOLDOWN_RATE, COOLDOWN_PER = 5, 15.0  # bot.app's per-user budget
LOOKUPS = ("summary", "source", "related", "search", "ask", "coverage")


@dataclass
class Results:
    """What every interaction did."""

    latencies: list[float] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    late: int = 0
    failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)

    def fail(self, why: str) -> None:
        """Count one failure and why."""
        self.failed += 1
        self.failures[why] += 1


@dataclass
class Workload:
    """Questions to ask and the search result messages each account can page through."""

    questions: list[tuple[str, str]]
    pages: dict[int, SentMessage] = field(default_factory=dict)


def load_questions() -> list[tuple[str, str]]:
    data = yaml.safe_load((ROOT / "bench" / "questions.yaml").read_text(encoding="utf-8"))
    out = [(q["command"], q["question"]) for q in data["questions"] if q["command"] in LOOKUPS]
    return out or [("summary", "clearview ice contract"), ("ask", "How much is ICE paying?")]


def corpus_paths() -> list[str]:
    paths = [str(ROOT / "seeds")]
    shared = ROOT.parent / "shared" / "corpus" / "smartable"
    if shared.is_dir():
        paths.append(str(shared))
    return paths


async def one_interaction(
    stub: DiscordStub, user: StubUser, work: Workload, results: Results, rng: random.Random
) -> None:
    """Send one interaction as ``user`` and record how it went."""
    roll = rng.random()
    command, question = rng.choice(work.questions)
    page_msg = work.pages.get(user.id)
    if roll < 0.08 and page_msg is not None:
        kind = "click next"
        nxt = next(
            (
                c
                for c in page_msg.walk_components()
                if c.get("custom_id", "").endswith(":next") and not c.get("disabled")
            ),
            None,
        )
        if nxt is None:
            work.pages.pop(user.id, None)
            kind, command = "/latest", "latest"
            handle = await stub.invoke("latest", {}, user=user)
        else:
            handle = await stub.click(page_msg, nxt["custom_id"], user=user)
    elif roll < 0.30:
        kind = "autocomplete"
        typed = question[: rng.randint(3, max(3, min(len(question), 24)))]
        handle = await stub.autocomplete_interaction(
            command, {"query": typed}, focused="query", user=user
        )
    elif roll < 0.35:
        kind, command = "/latest", "latest"
        handle = await stub.invoke("latest", {}, user=user)
    else:
        kind = f"/{command}"
        handle = await stub.invoke(command, {"query": question[:200]}, user=user)
    results.kinds[kind] += 1
    try:
        body = await handle.response(timeout=LATE_S + 5)
    except AssertionError:
        late = [r for r in stub.requests_to("POST", "/callback$") if r.code == 10062]
        if late:
            results.late += 1
        results.fail("no callback")
        return
    elapsed = asyncio.get_running_loop().time() - handle.created
    results.latencies.append(elapsed)
    if elapsed > LATE_S:
        results.late += 1
    data = body.get("data") or {}
    if body["type"] == 8:
        return
    if body["type"] in (5, 6):  # deferred: the answer follows as an edit
        try:
            await handle.message(timeout=10)
        except AssertionError:
            results.fail("deferred, never answered")
            return
        data = (handle.original.data if handle.original else {}) or {}
    content = data.get("content") or ""
    if "Slow down" in content:
        results.fail("cooldown")
    elif "Something went wrong" in content or not data.get("embeds"):
        results.fail(f"error answer: {content[:60]!r}")
    elif command == "search" and body["type"] == 4:
        msg = handle.original
        if msg is not None and any(c.endswith(":next") for c in msg.custom_ids):
            work.pages[user.id] = msg
    elif kind == "click next" and handle.original is not None:
        work.pages[user.id] = handle.original


async def simulated_user(
    stub: DiscordStub,
    accounts: list[StubUser],
    work: Workload,
    results: Results,
    interval: float,
    begin: float,
    until: float,
    seed: int,
) -> None:
    """One person at a keyboard, speaking for ``accounts`` in turn, every ``interval`` s."""
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    nxt = begin + rng.random() * interval
    turn = 0
    while True:
        if interval:
            delay = nxt - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            nxt += interval
        if loop.time() >= until:
            return
        await one_interaction(stub, accounts[turn % len(accounts)], work, results, rng)
        turn += 1


async def start_bot(
    stub: DiscordStub, workdir: Path, profile: str | None
) -> asyncio.subprocess.Process:
    # The word table and the sentence model's graph a bot keeps beside its database, from the
    # benchmarks' own cache when they are there: as a bot restarted on its data folder has
    # them, not built (30-40 s of CPU) during the measurement.
    table = workdir / "coverage.db.vectors"
    table.mkdir(mode=0o700)
    graphs = f"minilm-int8-v{GRAPH_VERSION}-*.onnx"
    for cached in [*VECTOR_CACHE.glob("minilm-static*.npy"), *VECTOR_CACHE.glob(graphs)]:
        shutil.copy2(cached, table / cached.name)
    config = workdir / "config.toml"
    config.write_text(
        "[corpus]\n"
        f"paths = {json.dumps(corpus_paths())}\n"
        f"database = {json.dumps(str(workdir / 'coverage.db'))}\n"
        "watch = false\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "COVERAGE_BOT"))}
    env.update(stub.env, DISCORD_TOKEN=stub.token, COVERAGE_BOT_CONFIG=str(config))
    with open(workdir / "bot.log", "wb") as log:  # the child keeps its own descriptor
        profiler = ["-m", "cProfile", "-o", profile] if profile else []
        return await asyncio.create_subprocess_exec(
            sys.executable,
            *profiler,
            "-m",
            "bot.cli",
            "run",
            env=env,
            cwd=str(ROOT),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
        )


async def bench(args: argparse.Namespace) -> int:
    work = Workload(load_questions())
    with tempfile.TemporaryDirectory(prefix="coverage-e2e-") as tmp:
        workdir = Path(tmp)
        async with DiscordStub(default_timeout=10.0) as stub:
            # Enough accounts that no one of them goes over the per-user cooldown.
            rate = args.rate or 1000.0
            per_account = COOLDOWN_RATE / COOLDOWN_PER * 0.8
            accounts = [
                stub.add_user(f"user{i}") for i in range(int(rate / per_account) + args.users)
            ]
            started = time.perf_counter()
            bot = await start_bot(stub, workdir, args.profile_bot)
            try:
                await stub.wait_identified(timeout=300)
                warm = await stub.invoke("help", user=accounts[0])
                await warm.response(timeout=30)
                for command, question in work.questions[:10]:
                    h = await stub.invoke(command, {"query": question[:200]}, user=stub.owner)
                    await h.response(timeout=30)
                ready = time.perf_counter() - started
                # As a restarted bot runs: its articles' vectors kept, not filled meanwhile (a
                # first start fills the sentence model's at ~450-510 articles a second, once).
                filled = await _vectors_filled(stub, workdir / "bot.log")
                print(f"articles' vectors filled {filled - started:.1f} s after the start")
                # The stub stands in for Discord: its own GC pauses over the start-up heap
                # are not the bot's latency, so that heap is frozen (the bot does the same).
                gc.collect()
                gc.freeze()
                proc = psutil.Process(bot.pid)
                proc.cpu_percent(None)
                own = psutil.Process()
                own.cpu_percent(None)
                results = Results()
                loop = asyncio.get_running_loop()
                begin = loop.time()
                until = begin + args.seconds
                interval = args.users / args.rate if args.rate else 0.0
                shares = [accounts[i :: args.users] for i in range(args.users)]
                await asyncio.gather(
                    *(
                        simulated_user(
                            stub, shares[i], work, results, interval, begin, until, seed=i
                        )
                        for i in range(args.users)
                    )
                )
                wall = args.seconds  # users stop sending at the end of the window
                bot_cpu, stub_cpu = proc.cpu_percent(None), own.cpu_percent(None)
                rejected = [r for r in stub.rejections if r.code != 10062]
                for r in rejected:
                    results.fail(f"rejected {r.method} {r.route} {r.status}")
            finally:
                bot.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(bot.wait(), 20)
                except TimeoutError:
                    bot.kill()
        articles = _articles_in_log(workdir / "bot.log")
    report(args, results, wall, ready, bot_cpu, stub_cpu, articles)
    # Closed loop saturates the bot on purpose: only late and failed answers count there.
    ok = (
        (not args.rate or len(results.latencies) / wall >= TARGET_RATE)
        and (not args.rate or _p(results.latencies, 99) * 1000 <= TARGET_P99_MS)
        and results.late == 0
        and results.failed == 0
    )
    return 0 if ok else 1


async def _vectors_filled(stub: DiscordStub, log: Path, timeout: float = 300.0) -> float:
    """When the bot has logged the end of each of its fills of articles' vectors.

    How many there are (the word table's, the sentence model's) is read off ``/corpus stats``
    once: one per store there that is not off.
    """
    stats = await stub.invoke("corpus stats", user=stub.owner)
    reply = await stats.message(timeout=30)
    fields = {f["name"]: f["value"] for f in reply.embeds[0].get("fields", [])}
    stores = ("Article meanings", "Sentence model")
    wanted = sum(1 for name in stores if name in fields and not fields[name].startswith("off"))
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        if text.count("article meanings: ") >= wanted:
            return time.perf_counter()
        await asyncio.sleep(0.2)  # a bench reading the bot's log as an operator would
    raise TimeoutError("the articles' vectors were not filled in time")


def _articles_in_log(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    for line in text.splitlines():
        if "corpus ready:" in line:
            return line.split("corpus ready:", 1)[1].strip()
    return "?"


def _p(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def report(
    args: argparse.Namespace,
    r: Results,
    wall: float,
    ready: float,
    bot_cpu: float,
    stub_cpu: float,
    articles: str,
) -> None:
    n = len(r.latencies)
    rate = n / wall if wall else 0.0
    p50, p99 = _p(r.latencies, 50) * 1000, _p(r.latencies, 99) * 1000

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    mode = f"offered {args.rate:.0f}/s" if args.rate else "closed loop (as fast as answered)"
    print(f"e2e: {args.users} users, {args.seconds:.0f} s, {mode}; corpus: {articles}")
    print(f"bot ready in {ready:.1f} s (process start, corpus, engine, login, gateway)")
    print(
        f"  {'interactions/s':<16} {rate:>9.1f}   target >= {TARGET_RATE:.0f}   "
        f"{verdict(rate >= TARGET_RATE) if args.rate else '(max)'}"
    )
    print(f"  {'p50 ms':<16} {p50:>9.2f}")
    print(
        f"  {'p99 ms':<16} {p99:>9.2f}   target <= {TARGET_P99_MS:.0f}    "
        f"{verdict(p99 <= TARGET_P99_MS) if args.rate else '(saturated)'}"
    )
    print(f"  {'max ms':<16} {max(r.latencies, default=0) * 1000:>9.2f}")
    print(f"  {'late (> 3 s)':<16} {r.late:>9d}   target 0       {verdict(r.late == 0)}")
    print(f"  {'failed':<16} {r.failed:>9d}   target 0       {verdict(r.failed == 0)}")
    print(f"  interactions: {n} — " + ", ".join(f"{k} {v}" for k, v in r.kinds.most_common()))
    if r.failures:
        print("  failures: " + ", ".join(f"{k} ×{v}" for k, v in r.failures.most_common()))
    if r.latencies:
        print(
            f"  mean {statistics.mean(r.latencies) * 1000:.2f} ms; "
            f"CPU: bot process {bot_cpu:.0f}%, stub + users {stub_cpu:.0f}% "
            f"(of one core; {psutil.cpu_count()} cores)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to drive (10)")
    parser.add_argument("--users", type=int, default=20, help="concurrent users (20)")
    parser.add_argument(
        "--rate",
        type=float,
        default=TARGET_RATE,
        help="interactions/s offered in all (200); 0 = closed loop, as fast as answered",
    )
    parser.add_argument(
        "--profile-bot", metavar="PATH", help="run the bot under cProfile, stats written to PATH"
    )
    args = parser.parse_args()
    code = asyncio.run(bench(args))
    if args.profile_bot:
        import pstats

        pstats.Stats(args.profile_bot).sort_stats("tottime").print_stats(25)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
