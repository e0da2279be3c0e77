"""Schedules: local times across DST, weekly slots, and one catch-up for any number of misses."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.digests.schedule import (
    Schedule,
    ScheduleError,
    canonical_timezone,
    parse_time,
    parse_weekday,
    timezone_choices,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def runs(schedule: Schedule, start: datetime, count: int) -> list[datetime]:
    out, moment = [], start
    for _ in range(count):
        moment = schedule.next_run(moment)
        assert moment is not None
        out.append(moment)
    return out


@pytest.mark.parametrize(
    ("zone", "start", "expected_utc_hours"),
    [
        # Berlin springs forward on 2024-03-31 (CET+1 → CEST+2) and falls back on 2024-10-27.
        ("Europe/Berlin", utc(2024, 3, 29, 12), [8, 7, 7]),
        ("Europe/Berlin", utc(2024, 10, 25, 12), [7, 8, 8]),
        # New York: 2024-03-10 (EST-5 → EDT-4) and 2024-11-03.
        ("America/New_York", utc(2024, 3, 8, 18), [14, 13, 13]),
        ("America/New_York", utc(2024, 11, 1, 18), [13, 14, 14]),
    ],
)
def test_daily_nine_oclock_stays_local_across_dst(
    zone: str, start: datetime, expected_utc_hours: list[int]
) -> None:
    schedule = Schedule("daily", time(9, 0), zone)
    slots = runs(schedule, start, 3)
    assert [s.hour for s in slots] == expected_utc_hours
    for slot in slots:
        local = slot.astimezone(ZoneInfo(zone))
        assert (local.hour, local.minute) == (9, 0)
    assert [s.date() for s in slots] == [start.date() + timedelta(days=d) for d in (1, 2, 3)]


def test_nonexistent_spring_forward_time_runs_at_the_end_of_the_gap() -> None:
    # 02:30 does not exist in Berlin on 2024-03-31: the clock jumps 02:00 → 03:00 CEST.
    schedule = Schedule("daily", time(2, 30), "Europe/Berlin")
    before, day, after = runs(schedule, utc(2024, 3, 29, 12), 3)
    assert before == utc(2024, 3, 30, 1, 30)  # 02:30 CET
    assert day == utc(2024, 3, 31, 1, 0)  # 03:00 CEST, the first valid instant
    assert day.astimezone(BERLIN).strftime("%H:%M %Z") == "03:00 CEST"
    assert after == utc(2024, 4, 1, 0, 30)  # 02:30 CEST
    ny = Schedule("daily", time(2, 15), "America/New_York")
    assert ny.next_run(utc(2024, 3, 10, 0)) == utc(2024, 3, 10, 7, 0)  # 03:00 EDT


def test_ambiguous_fall_back_time_runs_once_at_its_first_occurrence() -> None:
    # 01:30 happens twice in New York on 2024-11-03 (EDT, then EST).
    schedule = Schedule("daily", time(1, 30), "America/New_York")
    first, second, third = runs(schedule, utc(2024, 11, 2, 12), 3)
    assert first == utc(2024, 11, 3, 5, 30)  # 01:30 EDT (fold=0)
    assert second == utc(2024, 11, 4, 6, 30)  # the next day, not 01:30 EST an hour later
    assert third == utc(2024, 11, 5, 6, 30)
    # Asking between the two occurrences still doesn't yield the second one.
    assert schedule.next_run(utc(2024, 11, 3, 6, 0)) == second
    berlin = Schedule("daily", time(2, 30), "Europe/Berlin")
    assert runs(berlin, utc(2024, 10, 26, 12), 2) == [
        utc(2024, 10, 27, 0, 30),
        utc(2024, 10, 28, 1, 30),
    ]


def test_weekly_monday_across_dst() -> None:
    schedule = Schedule.parse("weekly", "09:00", "Europe/Berlin", "monday")
    slots = runs(schedule, utc(2024, 3, 20, 12), 3)
    assert slots == [utc(2024, 3, 25, 8), utc(2024, 4, 1, 7), utc(2024, 4, 8, 7)]
    assert all(s.astimezone(BERLIN).weekday() == 0 for s in slots)
    # On the Monday itself: before 09:00 it is today, after it next week.
    assert schedule.next_run(utc(2024, 4, 1, 6, 59)) == utc(2024, 4, 1, 7)
    assert schedule.next_run(utc(2024, 4, 1, 7)) == utc(2024, 4, 8, 7)


def test_due_slot_collapses_missed_slots_into_one() -> None:
    schedule = Schedule("daily", time(9, 0), "Europe/Berlin")
    last = utc(2024, 3, 1, 8)  # the 09:00 CET slot of March 1st ran
    assert schedule.due_slot(last, utc(2024, 3, 1, 20)) is None
    # Down across two slots (March 2nd and 3rd): one due slot, the latest.
    now = utc(2024, 3, 3, 10)
    assert schedule.due_slot(last, now) == utc(2024, 3, 3, 8)
    # Once handled at ``now`` nothing else is due until the next slot.
    assert schedule.due_slot(now, now + timedelta(hours=5)) is None
    assert schedule.due_slot(now, utc(2024, 3, 4, 8)) == utc(2024, 3, 4, 8)


def test_instant_has_no_slots() -> None:
    schedule = Schedule.parse("instant")
    assert schedule.next_run(utc(2024, 1, 1)) is None
    assert schedule.due_slot(None, utc(2024, 1, 1)) is None
    assert schedule.describe() == "instant"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", time(9)),
        ("9:30", time(9, 30)),
        ("21", time(21)),
        ("9pm", time(21)),
        ("12am", time(0)),
    ],
)
def test_parse_time(text: str, expected: time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("bad", ["25:00", "9:75", "nine", "", "13pm"])
def test_parse_time_refuses_what_is_not_a_time(bad: str) -> None:
    with pytest.raises(ScheduleError, match="time"):
        parse_time(bad)


def test_parse_errors_say_what_to_fix() -> None:
    with pytest.raises(ScheduleError, match="weekday"):
        Schedule.parse("weekly", "09:00", "UTC")
    with pytest.raises(ScheduleError, match="IANA"):
        Schedule.parse("daily", "09:00", "Mars/Olympus")
    with pytest.raises(ScheduleError, match="one of daily, weekly, instant"):
        Schedule.parse("hourly")
    assert parse_weekday("Tue") == 1
    assert canonical_timezone("europe/berlin") == "Europe/Berlin"
    assert Schedule.parse("Daily", "7:05", "utc").describe() == "daily at 07:05 (UTC)"


def test_timezone_autocomplete() -> None:
    assert timezone_choices("europe/ber")[0] == "Europe/Berlin"
    assert "America/New_York" in timezone_choices("new y")
    assert "Asia/Tokyo" in timezone_choices("tokyo")
    assert len(timezone_choices("a")) == 25
    assert timezone_choices("")[0] == "UTC"
