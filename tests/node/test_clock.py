"""The clock: a node reads the time only from its context, so tests move time instead of waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from node.clock import ControlledClock, OffsetFileClock, SystemClock, make_clock, write_clock_offset
from node.settings import Settings


def close_to(moment: datetime, expected: datetime, slack_s: float = 5.0) -> bool:
    return abs((moment - expected).total_seconds()) < slack_s


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_controlled_clock_moves_forward_and_can_be_set() -> None:
    clock = ControlledClock()
    start = clock.now()
    moved = clock.advance(3600)
    assert moved - start >= timedelta(hours=1)
    assert clock.now() >= moved  # time flows on after a move
    target = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)
    clock.set(target)
    assert close_to(clock.now(), target)
    assert clock.now() >= target


def test_offset_file_clock_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "clock-offset"
    clock = OffsetFileClock(path)
    assert close_to(clock.now(), datetime.now(UTC))  # no file: real time
    write_clock_offset(path, 86400)
    assert close_to(clock.now(), datetime.now(UTC) + timedelta(days=1))
    write_clock_offset(path, 2 * 86400)  # re-read when the file changes
    assert close_to(clock.now(), datetime.now(UTC) + timedelta(days=2))
    path.write_text("not a number")
    assert close_to(clock.now(), datetime.now(UTC) + timedelta(days=2))  # keeps the last offset
    path.unlink()
    assert close_to(clock.now(), datetime.now(UTC))


def test_the_setting_selects_the_file_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(make_clock(None), SystemClock)
    monkeypatch.setenv("FEDSHARE_TEST_CLOCK_FILE", str(tmp_path / "clock-offset"))
    settings = Settings(data_dir=tmp_path)
    assert settings.test_clock_file == tmp_path / "clock-offset"
    clock = make_clock(settings.test_clock_file)
    assert isinstance(clock, OffsetFileClock)
