"""One-ID's member graph: the older member survives a merge; merging then unmerging gives back
the members as they were, whatever merges came before or after; identifiers are checked and
normalised."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.touchpoints.domain.errors import InvalidIdentityError
from service.touchpoints.domain.identities import MemberGraph, identifier, shared_devices

SUBJECTS = [f"account:{c}" for c in "abcdefg"]


def graph() -> MemberGraph:
    g = MemberGraph()
    for n, s in enumerate(SUBJECTS):
        g.add(s, (f"2026-01-0{n + 1}", f"log:{n}"))
    return g


def roots(g: MemberGraph) -> dict[str, str]:
    return {s: g.root(s) for s in SUBJECTS}


pairs = st.lists(st.tuples(st.sampled_from(SUBJECTS), st.sampled_from(SUBJECTS)), max_size=12)


def test_the_older_member_survives_and_keeps_what_it_absorbed():
    g = graph()
    merged = g.merge("log:10", "account:c", "account:a", "phone")
    assert merged is not None and (merged.survivor, merged.merged) == ("account:a", "account:c")
    g.merge("log:11", "account:d", "account:c", "wechat")  # c is part of a: d joins a
    assert g.part_of("account:a") == ["account:a", "account:c", "account:d"]
    assert g.merge("log:12", "account:d", "account:a", "again") is None  # one already
    g.unmerge("log:10")
    assert g.root("account:c") == "account:c" and g.root("account:d") == "account:a"


@settings(max_examples=300, deadline=None)
@given(pairs, st.tuples(st.sampled_from(SUBJECTS), st.sampled_from(SUBJECTS)), pairs)
def test_merge_then_unmerge_gives_back_the_original_members(before, merge, after):
    g = graph()
    for n, (a, b) in enumerate(before):
        g.merge(f"log:{100 + n}", a, b, "before")
    original = roots(g)
    kept = copy.deepcopy(g)
    made = g.merge("log:999", *merge, "under test")
    if made is None:
        assert roots(g) == original
        return
    assert (
        g.root(merge[0])
        == g.root(merge[1])
        == min((original[merge[0]], original[merge[1]]), key=lambda s: g.since[s])
    )
    g.unmerge("log:999")
    assert roots(g) == original and g.absorbed_by == kept.absorbed_by
    # And undoing every merge in any order leaves every member alone.
    for n, (a, b) in enumerate(after):
        g.merge(f"log:{500 + n}", a, b, "after")
    for merge_id in sorted(g.merges, reverse=True):
        g.unmerge(merge_id)
    assert all(g.root(s) == s for s in SUBJECTS)


def test_identifiers_are_checked_and_normalised():
    assert identifier("wallet", "0x" + "AB" * 20).value == "0x" + "ab" * 20
    assert identifier("external:wechat_openid", "oX1-abc").kind == "external:wechat_openid"
    for kind, value in (("external:WeChat", "x"), ("external:mall", "has space"),
                        ("wallet", "0x12"), ("device", "abc"), ("fax", "1")):  # fmt: skip
        with pytest.raises(InvalidIdentityError):
            identifier(kind, value)


def test_a_device_seen_with_more_members_than_a_household_links_nobody():
    seen = {"tablet": ["a", "b", "c", "d"], "phone": ["a"], "family": ["a", "b", "a"]}
    assert shared_devices(seen, 3) == {"tablet"}
