"""The journey's pure rules: causes ordered by time, source and position; the earliest cause of
a stage wins whatever order the reaches come in; a subject's stage is the last it reached;
loyalty; subjects never carry personal data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from service.touchpoints.domain.journey import (
    STAGES,
    Cause,
    Source,
    Stage,
    account_subject,
    current_stage,
    device_subject,
    earlier,
    is_loyal,
    wallet_subject,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_causes_order_by_time_then_source_then_position():
    assert Cause(T0, Source.SCANS, 1) < Cause(T0 + timedelta(seconds=1), Source.LOG, 0)
    assert Cause(T0, Source.LOG, 9) < Cause(T0, Source.SCANS, 1)
    assert Cause(T0, Source.LOG, 1) < Cause(T0, Source.LOG, 2)
    assert Cause(T0, Source.LOG, 7).ref() == "log:7"
    assert Cause(T0, Source.SCANS, 12).ref() == "scans:12"


def test_a_stage_takes_a_cause_only_when_it_is_the_first_or_earlier():
    kept = Cause(T0, Source.LOG, 5)
    assert earlier(None, kept)
    assert earlier(kept, Cause(T0, Source.LOG, 4))
    assert not earlier(kept, kept)  # the same reach again changes nothing
    assert not earlier(kept, Cause(T0 + timedelta(hours=1), Source.SCANS, 1))


causes = st.builds(
    Cause,
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(list(Source)),
    st.integers(min_value=0, max_value=10**9),
)


@given(st.lists(st.tuples(st.sampled_from(STAGES), causes), max_size=30), st.randoms())
def test_the_journey_is_the_same_whatever_order_its_reaches_come_in(reaches, rnd):
    def apply(order: list[tuple[Stage, Cause]]) -> dict[Stage, Cause]:
        reached: dict[Stage, Cause] = {}
        for stage, cause in order:
            if earlier(reached.get(stage), cause):
                reached[stage] = cause
        return reached

    shuffled = list(reaches)
    rnd.shuffle(shuffled)
    assert apply(reaches) == apply(shuffled) == apply(reaches + shuffled)


def test_a_subjects_stage_is_the_last_of_the_playbooks_stages_it_reached():
    c = Cause(T0, Source.LOG, 1)
    assert current_stage({}) is None
    assert current_stage({Stage.DISCOVER: c}) is Stage.DISCOVER
    assert current_stage({Stage.CONVERT: c, Stage.DISCOVER: c}) is Stage.CONVERT
    assert current_stage({Stage.LOYAL: c, Stage.ACTIVATE: c}) is Stage.LOYAL
    assert list(STAGES) == [
        Stage.DISCOVER,
        Stage.ACTIVATE,
        Stage.CONVERT,
        Stage.USE_SHARE,
        Stage.LOYAL,
    ]


def test_a_second_certificate_is_loyalty_from_another_batch_or_a_month_later():
    assert is_loyal("b1", T0, "b2", T0)
    assert not is_loyal("b1", T0, "b1", T0 + timedelta(days=29))
    assert is_loyal("b1", T0, "b1", T0 + timedelta(days=30))


def test_subjects_name_an_account_a_wallet_or_a_keyed_device_hash_only():
    assert account_subject("acc_123") == "account:acc_123"
    assert wallet_subject("0xAbC") == "wallet:0xabc"
    assert device_subject(bytes(range(16))) == "device:" + bytes(range(16)).hex()
