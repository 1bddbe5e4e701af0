"""Batch trees: sorted-pair keccak, OpenZeppelin MerkleProof compatible."""

from __future__ import annotations

import time

import pytest
from eth_abi.abi import encode
from eth_hash.auto import keccak as reference_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import _keccak
from chain.merkle import (
    BatchTree,
    hash_pair,
    item_leaf,
    item_leaves,
    keccak256,
    proof_positions,
    verify_proof,
)

BATCH = bytes.fromhex("11" * 32)


def _leaves(n: int) -> list[bytes]:
    return [item_leaf(BATCH, i, i.to_bytes(32, "big")) for i in range(n)]


def _reference_root(leaves: list[bytes]) -> bytes:
    """An independent oracle: recursive halving with odd nodes promoted, hashed with eth_hash."""
    layer = list(leaves)
    while len(layer) > 1:
        nxt = []
        for i in range(0, len(layer) - 1, 2):
            a, b = sorted((layer[i], layer[i + 1]))
            nxt.append(bytes(reference_keccak(a + b)))
        if len(layer) % 2:
            nxt.append(layer[-1])
        layer = nxt
    return layer[0]


@pytest.mark.parametrize("hasher", ["safe-pysha3", "pycryptodome-raw", "eth-hash"])
def test_every_keccak_backend_gives_the_reference_digest(hasher: str) -> None:
    factories = {
        "safe-pysha3": _keccak._pysha3,
        "pycryptodome-raw": _keccak._pycryptodome_raw,
        "eth-hash": _keccak._eth_hash,
    }
    try:
        h = factories[hasher]()
    except ImportError:
        pytest.skip(f"{hasher} is not installed")
    for data in (b"", b"abc", bytes(range(200)), b"\xff" * 136, b"\x01" * 137):
        assert h(data) == bytes(reference_keccak(data))


def test_module_keccak_is_keccak256_not_sha3() -> None:
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


def test_item_leaf_is_double_keccak_of_abi_encoded_record() -> None:
    item = bytes.fromhex("22" * 32)
    inner = reference_keccak(encode(["bytes32", "uint256", "bytes32"], [BATCH, 7, item]))
    assert item_leaf(BATCH, 7, item) == bytes(reference_keccak(inner))


def test_item_leaves_equals_item_leaf_one_by_one() -> None:
    items = [(i * 977, bytes([i]) * 32) for i in range(20)]
    assert item_leaves(BATCH, items) == [item_leaf(BATCH, t, h) for t, h in items]


@pytest.mark.parametrize(
    ("batch_id", "token_id", "item_hash"),
    [(b"\x00" * 31, 1, b"\x00" * 32), (b"\x00" * 32, -1, b"\x00" * 32), (b"\x00" * 32, 1, b"")],
)
def test_item_leaf_refuses_malformed_input(
    batch_id: bytes, token_id: int, item_hash: bytes
) -> None:
    with pytest.raises(ValueError):
        item_leaf(batch_id, token_id, item_hash)
    with pytest.raises(ValueError):
        item_leaves(batch_id, [(token_id, item_hash)])


def test_hash_pair_is_commutative() -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    assert hash_pair(a, b) == hash_pair(b, a) == bytes(reference_keccak(a + b))


def test_single_leaf_tree_has_the_leaf_as_root_and_an_empty_proof() -> None:
    tree = BatchTree(_leaves(1))
    assert tree.root == tree.leaf(0)
    assert tree.proof(0) == []
    assert verify_proof([], tree.root, tree.leaf(0))


def test_empty_tree_is_refused_like_the_contract_does() -> None:
    with pytest.raises(ValueError):
        BatchTree([])


def test_leaf_of_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError):
        BatchTree([b"\x00" * 31])


@pytest.mark.parametrize("size", [*range(1, 18), 100, 1000])
def test_every_proof_verifies_and_root_matches_oracle(size: int) -> None:
    leaves = _leaves(size)
    tree = BatchTree(leaves)
    assert tree.root == _reference_root(leaves)
    assert len(tree) == size
    for i, leaf in enumerate(leaves):
        proof = tree.proof(i)
        assert len(proof) <= max(1, (size - 1).bit_length())
        assert verify_proof(proof, tree.root, leaf)


@pytest.mark.parametrize("size", [2, 3, 5, 8, 17])
def test_mutated_proofs_and_foreign_leaves_fail(size: int) -> None:
    leaves = _leaves(size)
    tree = BatchTree(leaves)
    outsider = item_leaf(BATCH, 10_000, b"\x99" * 32)
    for i, leaf in enumerate(leaves):
        proof = tree.proof(i)
        assert not verify_proof(proof, tree.root, outsider)
        for j in range(len(proof)):
            mutated = list(proof)
            mutated[j] = bytes([mutated[j][0] ^ 1]) + mutated[j][1:]
            assert not verify_proof(mutated, tree.root, leaf)
        if proof:
            assert not verify_proof(proof[:-1], tree.root, leaf)
            assert not verify_proof([*proof, proof[0]], tree.root, leaf)


def test_proof_index_out_of_range_raises() -> None:
    tree = BatchTree(_leaves(3))
    with pytest.raises(IndexError):
        tree.proof(3)
    with pytest.raises(IndexError):
        tree.proof(-1)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=64, unique=True))
def test_any_leaves_every_proof_verifies(leaves: list[bytes]) -> None:
    tree = BatchTree(leaves)
    assert tree.root == _reference_root(leaves)
    for i, leaf in enumerate(leaves):
        assert verify_proof(tree.proof(i), tree.root, leaf)


@pytest.mark.slow
def test_million_leaf_tree_builds_in_a_few_seconds() -> None:
    leaves = [i.to_bytes(32, "big") for i in range(1_000_000)]
    started = time.perf_counter()
    tree = BatchTree(leaves)
    elapsed = time.perf_counter() - started
    assert verify_proof(tree.proof(765_432), tree.root, leaves[765_432])
    assert verify_proof(tree.proof(999_999), tree.root, leaves[999_999])
    assert len(tree.proof(0)) == 20  # ceil(log2(1,000,000))
    # ~2 s with safe-pysha3, ~3.5 s with pycryptodome's raw keccak on the 2-core CI machine.
    assert elapsed < 15, f"building 1,000,000 leaves took {elapsed:.1f} s"


@pytest.mark.parametrize("size", [*range(1, 71), 1000])
def test_proof_positions_read_from_stored_levels_give_the_proof(size: int) -> None:
    tree = BatchTree(_leaves(size))
    levels = tree.levels()
    for i in range(size):
        positions = proof_positions(i, size)
        assert [levels[level][position] for level, position in positions] == tree.proof(i)
        assert all(position < len(levels[level]) for level, position in positions)


def test_levels_run_from_the_leaves_to_the_root() -> None:
    leaves = _leaves(5)
    tree = BatchTree(leaves)
    assert [len(level) for level in tree.levels()] == [5, 3, 2, 1]
    assert tree.levels()[0] == leaves
    assert tree.levels()[-1] == [tree.root]


def test_proof_positions_skip_the_level_where_a_node_is_promoted() -> None:
    # 5 leaves: leaf 4 has no sibling at level 0 (promoted), nor at level 1 (3 nodes, node 2)
    assert proof_positions(4, 5) == [(2, 0)]
    assert proof_positions(0, 5) == [(0, 1), (1, 1), (2, 1)]
    assert proof_positions(0, 1) == []


@pytest.mark.parametrize(("index", "leaf_count"), [(-1, 3), (3, 3), (10, 3), (0, 0), (0, -1)])
def test_proof_positions_out_of_range_raise(index: int, leaf_count: int) -> None:
    with pytest.raises(IndexError, match="out of range"):
        proof_positions(index, leaf_count)
