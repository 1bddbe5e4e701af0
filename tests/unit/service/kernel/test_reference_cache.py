"""The per-process reference cache: TTL, forgetting on writes, misses never cached."""

from __future__ import annotations

import time

from service.kernel.storage.reference_cache import MISSING, ReferenceCache


def test_a_value_is_served_until_its_ttl_ends():
    cache = ReferenceCache(ttl_s=0.05)
    cache.put(("org", 1), "Brand")
    assert cache.get(("org", 1)) == "Brand"
    time.sleep(0.06)
    assert cache.get(("org", 1)) is MISSING


def test_forget_drops_an_entry_at_once():
    cache = ReferenceCache(ttl_s=60)
    cache.put(("key", "k"), "role")
    cache.forget(("key", "k"))
    assert cache.get(("key", "k")) is MISSING


def test_misses_are_never_cached_and_a_zero_ttl_caches_nothing():
    cache = ReferenceCache(ttl_s=60)
    cache.put(("site", 9), None)
    assert cache.get(("site", 9)) is MISSING
    off = ReferenceCache(ttl_s=0)
    off.put(("site", 9), "x")
    assert off.get(("site", 9)) is MISSING


def test_the_oldest_entries_go_first_when_full():
    cache = ReferenceCache(ttl_s=60, max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is MISSING and cache.get("a") == 1 and cache.get("c") == 3


def test_a_write_forgets_its_entry_again_when_it_commits():
    cache, pending = ReferenceCache(ttl_s=60), {}
    cache.put(("key", "k"), "active")
    cache.forget_until_commit(pending, ("key", "k"))
    assert cache.get(("key", "k")) is MISSING
    # Another request reads the row before the write commits and caches the old value.
    cache.put(("key", "k"), "active")
    cache.committed(pending)
    assert cache.get(("key", "k")) is MISSING
    assert pending == {}


def test_lookup_answers_the_value_or_none_without_the_adapters_marker():
    cache = ReferenceCache(ttl_s=0.05)
    cache.put(("session", "s"), True)
    cache.put(("org", 1), 0)
    assert cache.lookup(("session", "s")) is True
    assert cache.lookup(("org", 1)) == 0  # a falsy value is still a hit
    assert cache.lookup(("org", 2)) is None
    time.sleep(0.06)
    assert cache.lookup(("session", "s")) is None
