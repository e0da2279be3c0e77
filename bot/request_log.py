"""What a log line says about a request: who and which command; what was asked only by choice.

Queries are personal (what someone wanted to know, sometimes about themselves), and logs are
kept, shipped and shared far more loosely than the database. So by default a failed request is
logged by its user id and command alone, and the query and options join them only when the
operator turns ``[logging] queries`` on. Every place that logs a request (the app's error
funnel, DMs, autocomplete) goes through ``RequestLog.describe``: the choice is made here once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestLog:
    """Describes requests for log lines; ``queries`` puts the query and options in them."""

    queries: bool = False

    def describe(
        self, command: str, user_id: int | None, *, query: str | None = None, options: str = ""
    ) -> str:
        """``/ask by user 42``, plus ``query='…'`` and ``(options: …)`` when queries are on."""
        line = f"{command} by user {user_id if user_id is not None else 'unknown'}"
        if not self.queries:
            return line
        if query is not None:
            line += f" query={query[:200]!r}"
        if options:
            line += f" (options: {options})"
        return line
