"""When digests run: daily or weekly at a local time in an IANA zone, or instantly on new coverage.

Slots are computed in the subscription's own zone and returned in UTC, so 09:00 Berlin stays
09:00 on both sides of a DST change. Two edge cases, decided once here:

- a local time that doesn't exist (02:30 on a spring-forward night) runs at the first valid
  instant after the gap (03:00 local), not at the 03:30 Python's ``fold=0`` arithmetic gives;
- a local time that happens twice (01:30 on a fall-back night) runs once, at the first
  occurrence (``fold=0``), because each local date yields exactly one slot.

``due_slot`` collapses any number of missed slots into one, so a bot that was down for three
days posts one catch-up digest, not three.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

Kind = Literal["daily", "weekly", "instant"]
KINDS: tuple[Kind, ...] = ("daily", "weekly", "instant")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\s*$", re.IGNORECASE)


class ScheduleError(ValueError):
    """An option that can't make a schedule; the message says which and how to fix it."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A digest's rhythm; ``weekday`` (0 = Monday) only for weekly ones."""

    kind: Kind
    at: time = time(9, 0)
    timezone: str = "UTC"
    weekday: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ScheduleError(f"schedule must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.kind == "weekly" and self.weekday not in range(7):
            raise ScheduleError("a weekly schedule needs a weekday (monday … sunday)")
        zone(self.timezone)  # validates

    @classmethod
    def parse(
        cls,
        kind: str,
        at: str | None = None,
        timezone: str | None = None,
        weekday: str | int | None = None,
    ) -> Schedule:
        """Build from command options: ``("weekly", "9:30", "Europe/Berlin", "mon")``."""
        folded = kind.strip().casefold()
        if folded not in KINDS:
            raise ScheduleError(f"schedule must be one of {', '.join(KINDS)}, not “{kind}”")
        day = parse_weekday(weekday) if weekday is not None and weekday != "" else None
        if folded == "weekly" and day is None:
            raise ScheduleError("a weekly schedule needs a weekday (monday … sunday)")
        return cls(
            folded,  # type: ignore[arg-type]
            parse_time(at) if at else time(9, 0),
            canonical_timezone(timezone or "UTC"),
            day if folded == "weekly" else None,
        )

    # ------------------------------------------------------------------------- slots
    @property
    def instant(self) -> bool:
        """Instant alerts have no slots: corpus changes trigger them."""
        return self.kind == "instant"

    def slot_on(self, day: date) -> datetime | None:
        """The UTC instant of this schedule's slot on local date ``day``, if it has one."""
        if self.kind == "instant" or (self.kind == "weekly" and day.weekday() != self.weekday):
            return None
        return local_instant(day, self.at, zone(self.timezone))

    def next_run(self, after: datetime) -> datetime | None:
        """The first slot strictly after ``after`` (aware), in UTC; None for instant alerts."""
        if self.kind == "instant":
            return None
        start = after.astimezone(zone(self.timezone)).date() - timedelta(days=1)
        for offset in range(9):  # a weekly slot is at most 8 local dates away
            slot = self.slot_on(start + timedelta(days=offset))
            if slot is not None and slot > after:
                return slot
        raise AssertionError("unreachable: every week has a slot")  # pragma: no cover

    def previous_run(self, at: datetime) -> datetime | None:
        """The last slot at or before ``at`` (aware), in UTC; None for instant alerts."""
        if self.kind == "instant":
            return None
        start = at.astimezone(zone(self.timezone)).date() + timedelta(days=1)
        for offset in range(9):
            slot = self.slot_on(start - timedelta(days=offset))
            if slot is not None and slot <= at:
                return slot
        raise AssertionError("unreachable: every week has a slot")  # pragma: no cover

    def due_slot(self, last_run: datetime | None, now: datetime) -> datetime | None:
        """The slot to run now, if one passed since ``last_run``: the latest, however many.

        Missed slots collapse into this one: the caller runs one digest and records ``now`` as
        its last run, so the earlier missed slots are never run separately.
        """
        slot = self.previous_run(now)
        if slot is None or (last_run is not None and slot <= last_run):
            return None
        return slot

    def describe(self) -> str:
        """For people: "daily at 09:00 (Europe/Berlin)", "instant"."""
        if self.kind == "instant":
            return "instant"
        when = f"at {self.at:%H:%M} ({self.timezone})"
        if self.kind == "weekly":
            assert self.weekday is not None
            return f"weekly on {WEEKDAYS[self.weekday].capitalize()} {when}"
        return f"daily {when}"


def local_instant(day: date, at: time, tz: zoneinfo.ZoneInfo) -> datetime:
    """``day`` at wall time ``at`` in ``tz`` as a UTC instant, DST gaps and folds resolved.

    ``fold=0`` picks the first of two occurrences. For a wall time in a gap, ``fold=0``
    applies the offset from before the transition, landing as far past the gap's start as the
    wall time was past it; we want the gap's end instead, found by bisecting between the two
    readings (``fold=1`` lands before the transition, ``fold=0`` after it).
    """
    wall = datetime.combine(day, at, tzinfo=tz)
    late = wall.astimezone(UTC)
    if late.astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return late
    early = wall.replace(fold=1).astimezone(UTC)
    after_offset = late.astimezone(tz).utcoffset()
    # Transitions fall on whole seconds: offset(low) is the old one, offset(high) the new one.
    low, high = int(early.timestamp()), int(late.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(tz).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def parse_time(text: str) -> time:
    """``"09:00"``, ``"9:30"``, ``"21"``, ``"9pm"`` → a time of day; raises ``ScheduleError``."""
    match = _TIME.match(text)
    if match is None:
        raise ScheduleError(f"time must look like 09:00 (24-hour), not “{text}”")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    suffix = (match.group(3) or "").lower()
    if suffix:
        if not 1 <= hour <= 12:
            raise ScheduleError(f"“{text}” is not a time of day")
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59:
        raise ScheduleError(f"“{text}” is not a time of day")
    return time(hour, minute)


def parse_weekday(value: str | int) -> int:
    """``"monday"``, ``"Mon"``, ``0`` → 0 (Monday) … 6 (Sunday)."""
    if isinstance(value, int):
        if value in range(7):
            return value
        raise ScheduleError("weekday must be 0 (Monday) to 6 (Sunday)")
    folded = value.strip().casefold()
    for number, name in enumerate(WEEKDAYS):
        if len(folded) >= 2 and name.startswith(folded):
            return number
    raise ScheduleError(f"weekday must be one of {', '.join(WEEKDAYS)}, not “{value}”")


@functools.lru_cache(maxsize=512)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone named ``name``; raises ``ScheduleError`` naming the problem."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"“{name}” is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)"
        ) from None


@functools.cache
def all_timezones() -> tuple[str, ...]:
    """Every IANA zone this system knows, sorted (read once: it scans the tz database)."""
    return tuple(sorted(zoneinfo.available_timezones()))


def canonical_timezone(name: str) -> str:
    """The zone's proper spelling when typed in another case ("europe/berlin")."""
    stripped = name.strip()
    if stripped.casefold() == "utc":
        return "UTC"
    for known in all_timezones():
        if known.casefold() == stripped.casefold():
            zone(known)
            return known
    zone(stripped)  # raises with a helpful message, or accepts a zone only the file knows
    return stripped


def timezone_choices(current: str, limit: int = 25) -> list[str]:
    """Autocomplete for a timezone option: prefix matches, then matches anywhere, by name."""
    text = current.strip().casefold().replace(" ", "_")
    zones = all_timezones()
    if not text:
        popular = ("UTC", "Europe/London", "Europe/Berlin", "America/New_York")
        return [z for z in popular if z in zones or z == "UTC"][:limit]
    # One pass, each zone in its first group only (list membership tests made it quadratic).
    starts, city, inside = [], [], []
    for zone_name in zones:
        key = zone_name.casefold()
        if key.startswith(text):
            starts.append(zone_name)
        elif key.rsplit("/", 1)[-1].startswith(text):
            city.append(zone_name)
        elif text in key:
            inside.append(zone_name)
    return (starts + city + inside)[:limit]
