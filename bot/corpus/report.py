"""The corpus report that ``coverage-bot check`` prints and ``/corpus stats`` summarises."""

from __future__ import annotations

from typing import Any

from bot.corpus.merge import CorpusSnapshot
from bot.corpus.model import Problem


def report_json(snapshot: CorpusSnapshot) -> dict[str, Any]:
    """The machine-readable report, in the shape the README documents."""
    census = snapshot.census()
    first, last = census.first, census.last
    return {
        "files": len(snapshot.files),
        "articles": len(snapshot.articles),
        "related_merged": snapshot.related_merged,
        "duplicates_merged": snapshot.duplicates_merged,
        "outlets": dict(census.outlet_counts().most_common()),
        "first_published": first.isoformat() if first else None,
        "last_published": last.isoformat() if last else None,
        "errors": [_problem(p) for p in snapshot.errors],
        "warnings": [_problem(p) for p in snapshot.warnings],
    }


def _problem(p: Problem) -> dict[str, Any]:
    return {"path": p.path, "line": p.line, "reason": p.reason}


def report_text(snapshot: CorpusSnapshot, top: int = 10) -> str:
    """The human-readable report: totals, top outlets, date range, then every problem."""
    census = snapshot.census()
    first, last, counts = census.first, census.last, census.outlet_counts()
    lines = [
        f"files read:         {len(snapshot.files)}",
        f"articles:           {len(snapshot.articles)}",
        f"related merged:     {snapshot.related_merged}",
        f"duplicates merged:  {snapshot.duplicates_merged}",
        f"outlets:            {len(counts)}",
    ]
    lines += [f"  {n:>5}  {name}" for name, n in counts.most_common(top)]
    if first and last:
        lines.append(f"published:          {first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} UTC")
    else:
        lines.append("published:          no dates")
    errors, warnings = snapshot.errors, snapshot.warnings
    lines.append(f"errors:             {len(errors)}")
    lines += [f"  {p}" for p in errors]
    lines.append(f"warnings:           {len(warnings)}")
    lines += [f"  {p}" for p in warnings]
    return "\n".join(lines)
