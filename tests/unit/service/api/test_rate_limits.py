"""Token buckets per key, with bounded memory."""

import pytest

from service.api.rate_limits import Rate, TokenBuckets


def test_a_burst_is_granted_then_requests_wait_for_the_refill():
    buckets = TokenBuckets(Rate(per_minute=30, burst=20))
    assert [buckets.take("d", 100.0) for _ in range(20)] == [0.0] * 20
    assert buckets.take("d", 100.0) == pytest.approx(2.0)  # one token every 2 s
    assert buckets.take("d", 101.0) == pytest.approx(1.0)  # a refused request takes nothing
    assert buckets.take("d", 102.0) == 0.0
    assert buckets.take("d", 102.0) > 0.0


def test_keys_have_buckets_of_their_own():
    buckets = TokenBuckets(Rate(per_minute=60, burst=1))
    assert buckets.take("a", 0.0) == 0.0 and buckets.take("b", 0.0) == 0.0
    assert buckets.take("a", 0.0) == pytest.approx(1.0)


def test_idle_buckets_are_dropped_once_full_again_and_memory_stays_bounded():
    buckets = TokenBuckets(Rate(per_minute=60, burst=10), max_keys=100)
    for n in range(1000):
        buckets.take(n, 0.0)
    assert len(buckets) == 100  # the least recently used went
    buckets.take("late", 10.0)  # ten seconds refill a burst of ten: every other one is full
    assert len(buckets) == 1


def test_dropping_a_full_bucket_forgets_nothing():
    buckets = TokenBuckets(Rate(per_minute=60, burst=2))
    buckets.take("a", 0.0)
    buckets.take("a", 0.0)
    assert buckets.take("a", 0.5) > 0.0
    buckets.take("b", 2.5)  # "a" is full again by now, and dropped
    assert len(buckets) == 1
    assert buckets.take("a", 2.5) == 0.0 and buckets.take("a", 2.5) == 0.0
    assert buckets.take("a", 2.5) > 0.0


def test_a_rate_of_zero_is_no_limit():
    buckets = TokenBuckets(Rate(per_minute=0, burst=0))
    assert all(buckets.take("a", 0.0) == 0.0 for _ in range(1000)) and len(buckets) == 0


@pytest.mark.parametrize(("per_minute", "burst"), [(-1, 1), (10, 0)])
def test_a_rate_is_refused_when_it_cannot_be(per_minute, burst):
    with pytest.raises(ValueError):
        Rate(per_minute, burst)
