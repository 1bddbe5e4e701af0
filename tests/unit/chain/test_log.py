"""RFC 6962 event-log tree: known answers from transparency-dev/merkle, plus properties."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.log import (
    EMPTY_ROOT,
    LogFrontier,
    LogTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# The standard test leaves and roots (transparency-dev/merkle testonly/constants.go, the same
# as certificate-transparency-go's merkletree tests).
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
LEAF_HASHES_HEX = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
# (leaf index, tree size, proof) from transparency-dev/merkle proof/verify_test.go (its leaf
# numbers are 1-based; converted to 0-based indices here).
INCLUSION_KATS = [
    (0, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (5, 8, ["bc1a0643", "ca854ea1", "d37ee418"]),
    (2, 3, ["fac54203"]),
    (1, 5, ["6e340b9c", "5f083f0a", "bc1a0643"]),
]
FULL = {
    "96a296d2": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf2": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "bc1a0643": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca854ea1": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "fac54203": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "6e340b9c": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "0ebc5d34": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "b08693ec": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
}
CONSISTENCY_KATS = [
    (1, 1, []),
    (1, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (6, 8, ["0ebc5d34", "ca854ea1", "d37ee418"]),
    (2, 5, ["5f083f0a", "bc1a0643"]),
    (6, 7, ["0ebc5d34", "b08693ec", "d37ee418"]),
]
HASHES = [leaf_hash(leaf) for leaf in LEAVES]


def _hashes(short: list[str]) -> list[bytes]:
    return [bytes.fromhex(FULL[s]) for s in short]


def test_leaf_hash_prefixes_zero_byte_and_matches_known_leaf_hashes() -> None:
    assert [h.hex() for h in HASHES] == LEAF_HASHES_HEX
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()


def test_node_hash_prefixes_one_byte() -> None:
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


@pytest.mark.parametrize("size", range(9))
def test_root_matches_known_answer_for_sizes_0_to_8(size: int) -> None:
    assert root(HASHES[:size]).hex() == ROOTS[size]


def test_empty_root_is_sha256_of_nothing() -> None:
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_appending_leaves_one_by_one_gives_the_known_roots_for_every_size() -> None:
    tree = LogTree()
    for size, h in enumerate(HASHES, start=1):
        tree.append(h)
        assert tree.root().hex() == ROOTS[size]
    assert [tree.root(size).hex() for size in range(9)] == [ROOTS[s] for s in range(9)]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION_KATS)
def test_inclusion_proof_matches_known_answer(index: int, size: int, expected: list[str]) -> None:
    proof = inclusion_proof(HASHES, index, size)
    assert proof == _hashes(expected)
    assert verify_inclusion(HASHES[index], index, size, proof, bytes.fromhex(ROOTS[size]))


def test_inclusion_proof_of_the_only_leaf_is_empty_and_verifies() -> None:
    assert inclusion_proof(HASHES, 0, 1) == []
    assert verify_inclusion(HASHES[0], 0, 1, [], HASHES[0])


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY_KATS)
def test_consistency_proof_matches_known_answer(old: int, new: int, expected: list[str]) -> None:
    proof = consistency_proof(HASHES, old, new)
    assert proof == _hashes(expected)
    old_root, new_root = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    assert verify_consistency(old, new, old_root, new_root, proof)


Probe = tuple[int, int, bytes, bytes, list[bytes]]


def _inclusion_corruptions(
    index: int, size: int, proof: list[bytes], rt: bytes, leaf: bytes
) -> Iterator[Probe]:
    """The corruptions transparency-dev's verifier tests apply; none may verify."""
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    yield index - 1, size, rt, leaf, proof
    yield index + 1, size, rt, leaf, proof
    yield index ^ 2, size, rt, leaf, proof
    yield index, size * 2, rt, leaf, proof
    yield index, size // 2, rt, leaf, proof
    yield index, size, rt, b"WrongLeaf", proof
    yield index, size, EMPTY_ROOT, leaf, proof
    yield index, size, some, leaf, proof
    yield index, size, rt, leaf, [*proof, b""]
    yield index, size, rt, leaf, [*proof, rt]
    yield index, size, rt, leaf, [b"", *proof]
    yield index, size, rt, leaf, [rt, *proof]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        yield index, size, rt, leaf, flipped
    if proof:
        yield index, size, rt, leaf, proof[:-1]
    if len(proof) > 1:
        yield index, size, rt, leaf, [proof[0], some, *proof[1:]]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION_KATS)
def test_corrupted_inclusion_proofs_never_verify(
    index: int, size: int, expected: list[str]
) -> None:
    proof = _hashes(expected)
    rt = bytes.fromhex(ROOTS[size])
    for i, s, r, leaf, p in _inclusion_corruptions(index, size, proof, rt, HASHES[index]):
        assert not verify_inclusion(leaf, i, s, p, r), (i, s, r.hex(), leaf.hex(), len(p))


@pytest.mark.parametrize(("old", "new", "expected"), [k for k in CONSISTENCY_KATS if k[2]])
def test_corrupted_consistency_proofs_never_verify(old: int, new: int, expected: list[str]) -> None:
    proof = _hashes(expected)
    r1, r2 = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((old, new, r1, r2, flipped))
    for s1, s2, a, b, p in probes:
        assert not verify_consistency(s1, s2, a, b, p), (s1, s2, len(p))


def test_trivial_consistency_cases() -> None:
    some = HASHES[3]
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, bytes.fromhex(ROOTS[5]), [])
    assert verify_consistency(3, 3, some, some, [])
    assert not verify_consistency(3, 3, some, HASHES[4], [])  # equal sizes, different roots
    assert not verify_consistency(3, 3, some, some, [EMPTY_ROOT])  # needless proof
    assert not verify_consistency(0, 5, some, bytes.fromhex(ROOTS[5]), [])  # not the empty root
    assert not verify_consistency(2, 1, some, some, [])  # time travel


def test_inclusion_proof_rejects_index_outside_tree() -> None:
    with pytest.raises(ValueError):
        inclusion_proof(HASHES, 8, 8)
    with pytest.raises(ValueError):
        inclusion_proof(HASHES, 0, 9)
    assert not verify_inclusion(HASHES[0], 0, 0, [], EMPTY_ROOT)


def test_consistency_proof_rejects_shrinking_tree() -> None:
    with pytest.raises(ValueError):
        consistency_proof(HASHES, 5, 4)


# ------------------------------------------------------------------------------- properties
def _reference_mth(hashes: list[bytes]) -> bytes:
    """MTH straight from RFC 6962 section 2.1, recursively, as an independent oracle."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(_reference_mth(hashes[:k]), _reference_mth(hashes[k:]))


leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True)


@settings(max_examples=60, deadline=None)
@given(leaf_lists)
def test_root_equals_recursive_rfc6962_definition(entries: list[bytes]) -> None:
    hashes = [leaf_hash(e) for e in entries]
    assert root(hashes) == _reference_mth(hashes)


@settings(max_examples=60, deadline=None)
@given(leaf_lists, st.data())
def test_every_inclusion_proof_verifies_and_any_mutation_fails(
    entries: list[bytes], data: st.DataObject
) -> None:
    hashes = [leaf_hash(e) for e in entries]
    tree = LogTree(hashes)
    size = data.draw(st.integers(1, len(hashes)))
    rt = tree.root(size)
    for index in range(size):
        proof = tree.inclusion_proof(index, size)
        assert verify_inclusion(hashes[index], index, size, proof, rt)
        if proof:
            at = data.draw(st.integers(0, len(proof) - 1))
            bit = data.draw(st.integers(0, 255))
            mutated = list(proof)
            byte = bit // 8
            flipped = mutated[at][byte] ^ (1 << (bit % 8))
            mutated[at] = mutated[at][:byte] + bytes([flipped]) + mutated[at][byte + 1 :]
            assert not verify_inclusion(hashes[index], index, size, mutated, rt)
            assert not verify_inclusion(hashes[index], index, size, proof[:-1], rt)
        if size > 1:
            assert not verify_inclusion(hashes[index], (index + 1) % size, size, proof, rt)


@settings(max_examples=60, deadline=None)
@given(leaf_lists, st.data())
def test_every_consistency_proof_verifies_and_any_mutation_fails(
    entries: list[bytes], data: st.DataObject
) -> None:
    hashes = [leaf_hash(e) for e in entries]
    tree = LogTree(hashes)
    new = data.draw(st.integers(1, len(hashes)))
    new_root = tree.root(new)
    for old in range(0, new + 1):
        proof = tree.consistency_proof(old, new)
        assert proof == consistency_proof(hashes, old, new)
        assert verify_consistency(old, new, tree.root(old), new_root, proof)
        if proof:
            at = data.draw(st.integers(0, len(proof) - 1))
            mutated = list(proof)
            mutated[at] = bytes([mutated[at][0] ^ 1]) + mutated[at][1:]
            assert not verify_consistency(old, new, tree.root(old), new_root, mutated)
            assert not verify_consistency(old, new, tree.root(old), new_root, proof[:-1])


@settings(max_examples=30, deadline=None)
@given(leaf_lists)
def test_appending_equals_building_at_once(entries: list[bytes]) -> None:
    hashes = [leaf_hash(e) for e in entries]
    grown = LogTree()
    for h in hashes:
        grown.append(h)
    built = LogTree(hashes)
    for size in range(len(hashes) + 1):
        assert grown.root(size) == built.root(size) == _reference_mth(hashes[:size])


# ----------------------------------------------------------------------------- frontier
@given(st.integers(0, 300))
def test_the_frontier_root_is_the_tree_root_at_every_size(size):
    leaves = [leaf_hash(n.to_bytes(4, "big")) for n in range(size)]
    frontier = LogFrontier()
    assert frontier.root() == EMPTY_ROOT
    for n, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        assert len(frontier) == n
        assert frontier.root() == root(leaves[:n])
    assert frontier.last_leaf == (leaves[-1] if leaves else None)


@given(st.lists(st.integers(0, 700), max_size=8))
def test_extending_in_runs_of_any_length_gives_the_roots_of_appending_one_by_one(runs):
    leaves = [leaf_hash(n.to_bytes(4, "big")) for n in range(sum(runs))]
    frontier, done = LogFrontier(), 0
    for run in runs:
        frontier.extend(leaves[done : done + run])
        done += run
        assert len(frontier) == done
        assert frontier.root() == root(leaves[:done])
        assert frontier.last_leaf == (leaves[done - 1] if done else None)


def test_the_frontier_holds_only_logarithmically_many_nodes():
    frontier = LogFrontier()
    frontier.extend([leaf_hash(n.to_bytes(4, "big")) for n in range(1023)])
    assert len(frontier._nodes) == 10  # 1023 = 0b1111111111: one perfect subtree per bit
