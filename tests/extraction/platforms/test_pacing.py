"""The request pacer: RingCX allows 3 requests/60 s and 9/15 min per sub-account (§1.7)."""

from __future__ import annotations

import pytest

from extraction.platforms.engage.transport import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture(autouse=True)
def _fresh_history():
    Pacer.forget()
    yield
    Pacer.forget()


def test_requests_are_spaced_evenly_so_no_window_is_exceeded():
    clock = FakeClock()
    pacer = Pacer([[3, 60], [9, 900]], clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(12):
        pacer.wait("sub-1")
        times.append(clock.now)

    assert clock.slept == [100.0] * 11  # 900 s / 9 is stricter than 60 s / 3
    for i in range(len(times)):
        assert sum(1 for t in times if times[i] - 60 < t <= times[i]) <= 3
        assert sum(1 for t in times if times[i] - 900 < t <= times[i]) <= 9


def test_keys_are_paced_separately_and_idle_time_counts():
    clock = FakeClock()
    pacer = Pacer([[3, 60]], clock=clock, sleep=clock.sleep)
    pacer.wait("sub-1")
    pacer.wait("sub-2")
    assert clock.slept == []
    clock.now += 15
    assert pacer.delay("sub-1") == pytest.approx(5.0)


def test_no_limits_means_no_waiting():
    clock = FakeClock()
    pacer = Pacer([], clock=clock, sleep=clock.sleep)
    for _ in range(50):
        pacer.wait("sub-1")
    assert clock.slept == []
