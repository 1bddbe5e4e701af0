"""An outage is logged once when it starts, as a count while it lasts, once when it ends."""

import logging

import pytest

from service.kernel.outages import OutageMonitor


class Outage(Exception):
    pass


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks():
    return Ticks()


@pytest.fixture
def monitor(ticks):
    return OutageMonitor(
        "database",
        lambda exc: isinstance(exc, Outage),
        report_every_s=10.0,
        settle_s=1.0,
        ticks=ticks,
    )


def lines(caplog):
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "tracecert.outage"]


def test_a_bug_is_not_an_outage_and_is_left_to_its_caller(monitor, caplog):
    assert monitor.failed(ValueError("bug"), "GET /x") is False
    assert lines(caplog) == [] and not monitor.active


def test_an_outage_under_load_logs_one_line_a_count_every_interval_and_one_at_the_end(
    monitor, ticks, caplog
):
    caplog.set_level(logging.INFO)
    for _ in range(25):  # 2.5 s of failures, 10 a second
        assert monitor.failed(Outage("connection refused"), "POST /claims")
        monitor.succeeded()  # a request that began before the outage ends well: not the end
        ticks.now += 0.1
    ticks.now += 8.0
    monitor.failed(Outage("connection refused"), "worker")  # 10.5 s in: the count
    monitor.succeeded()
    ticks.now += 0.5
    monitor.succeeded()  # 0.5 s after the last failure: too soon to say
    assert monitor.active
    ticks.now += 0.5
    monitor.succeeded()
    monitor.succeeded()
    assert not monitor.active
    assert lines(caplog) == [
        (
            "ERROR",
            "database unavailable (Outage at POST /claims: connection refused); "
            "answering 503 until it is back",
        ),
        (
            "WARNING",
            "database still unavailable after 10 s: 26 failures (26 since the last report)",
        ),
        ("WARNING", "database available again after 10.5 s; 26 failures during the outage"),
    ]
    assert (monitor.outages, monitor.failures) == (1, 26)


def test_the_status_says_whether_an_outage_goes_on(monitor, ticks):
    assert monitor.status() == {"outage": False, "outage_s": None, "failures": 0}
    monitor.failed(Outage(), "x")
    ticks.now += 3.0
    monitor.failed(Outage(), "x")
    assert monitor.status() == {"outage": True, "outage_s": 3.0, "failures": 2}


def test_a_second_outage_is_logged_again(monitor, ticks, caplog):
    for _ in range(2):
        monitor.failed(Outage("down"), "x")
        ticks.now += 2.0
        monitor.succeeded()
    assert [level for level, _ in lines(caplog)] == ["ERROR", "WARNING", "ERROR", "WARNING"]
    assert monitor.outages == 2
