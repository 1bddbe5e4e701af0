"""The event log's Merkle tree: RFC 6962 hashing with SHA-256, inclusion and consistency proofs.

Trees are built as in RFC 6962 section 2.1 (``MTH``, with the split at the largest power of two
smaller than the size), proofs as in sections 2.1.1 (``PATH``) and 2.1.2 (``PROOF``/``SUBPROOF``),
and proofs are checked with the verification algorithms of RFC 9162 sections 2.1.3.2 and
2.1.4.2.

Building level by level, pairing nodes left to right and carrying an unpaired last node up
unchanged, gives exactly ``MTH`` (the left part of every split is a perfect subtree), so a
:class:`LogTree` keeps the levels as lists and answers every root and proof for any size up to
its own from the perfect subtrees it holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "EMPTY_ROOT",
    "LogFrontier",
    "LogTree",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

#: ``MTH({})``: the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """Return ``SHA-256(0x00 || data)``, the RFC 6962 leaf hash."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return ``SHA-256(0x01 || left || right)``, the RFC 6962 interior node hash."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """Return the largest power of two ``k`` with ``k < n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class LogTree:
    """An append-only RFC 6962 tree over leaf hashes, answering for every size up to its own.

    Args:
        leaf_hashes: leaf hashes (``leaf_hash(entry)``), in log order.
    """

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[bytes(h) for h in leaf_hashes]]
        self._rebuild_from(0)

    def __len__(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash (O(log n) new perfect subtrees)."""
        self._levels[0].append(bytes(leaf))
        index = len(self._levels[0]) - 1
        level = 0
        # Only completed pairs produce perfect parents; promoted nodes are never stored.
        while index % 2 == 1:
            below = self._levels[level]
            if level + 1 == len(self._levels):
                self._levels.append([])
            self._levels[level + 1].append(node_hash(below[index - 1], below[index]))
            index //= 2
            level += 1

    def _rebuild_from(self, level: int) -> None:
        del self._levels[level + 1 :]
        below = self._levels[level]
        while len(below) > 1:
            h = hashlib.sha256
            parents = [
                h(b"\x01" + a + b).digest() for a, b in zip(below[0::2], below[1::2], strict=False)
            ]
            self._levels.append(parents)
            below = parents

    def _mth(self, lo: int, hi: int) -> bytes:
        """``MTH(D[lo:hi])`` from the stored perfect subtrees (``lo < hi <= len``)."""
        width = hi - lo
        if width & (width - 1) == 0 and lo % width == 0:
            level = width.bit_length() - 1
            return self._levels[level][lo >> level]
        k = _largest_power_of_two_below(width)
        return node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= len(self):
            raise ValueError(f"size {size} is outside 0..{len(self)}")

    def root(self, size: int | None = None) -> bytes:
        """Return ``MTH`` of the first ``size`` leaves (all when ``None``).

        Raises:
            ValueError: if ``size`` exceeds the tree.
        """
        size = len(self) if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._mth(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return ``PATH(index, D[0:size])`` (RFC 6962 section 2.1.1), bottom-up.

        Raises:
            ValueError: if ``index >= size`` or ``size`` exceeds the tree.
        """
        size = len(self) if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is outside 0..{size - 1}")
        return self._path(index, 0, size)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = _largest_power_of_two_below(hi - lo)
        if m < k:
            return [*self._path(m, lo, lo + k), self._mth(lo + k, hi)]
        return [*self._path(m - k, lo + k, hi), self._mth(lo, lo + k)]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Return ``PROOF(old_size, D[0:new_size])`` (RFC 6962 section 2.1.2).

        The proof is empty when ``old_size`` is 0 or equal to ``new_size``.

        Raises:
            ValueError: if ``old_size > new_size`` or ``new_size`` exceeds the tree.
        """
        new_size = len(self) if new_size is None else new_size
        self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise ValueError(f"old size {old_size} is outside 0..{new_size}")
        if old_size in (0, new_size):
            return []
        return self._subproof(old_size, 0, new_size, True)

    def _subproof(self, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if complete else [self._mth(lo, hi)]
        k = _largest_power_of_two_below(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, complete), self._mth(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self._mth(lo, lo + k)]


class LogFrontier:
    """The right edge of an RFC 6962 tree: the roots of its perfect subtrees, largest first.

    Appending a leaf and computing the root cost O(log n) time, and the frontier holds
    O(log n) hashes, so a log of any length is folded once and then only as it grows. ``MTH``
    splits at the largest power of two below the size, so the root is the frontier folded from
    the right: ``node_hash(left, right)`` with the smaller subtree on the right.
    """

    def __init__(self) -> None:
        self._nodes: list[tuple[int, bytes]] = []  # (height, subtree root), largest first
        self._size = 0
        self._last: bytes | None = None

    def __len__(self) -> int:
        return self._size

    @property
    def last_leaf(self) -> bytes | None:
        """The last leaf folded in (to check that a stored log still begins as this one)."""
        return self._last

    @property
    def subtrees(self) -> list[bytes]:
        """The roots of the perfect subtrees, largest first (one per set bit of the size):
        all a verifier needs to go on folding leaves from this size (the audit export)."""
        return [node for _, node in self._nodes]

    def append(self, leaf: bytes) -> None:
        node, height = bytes(leaf), 0
        nodes = self._nodes
        while nodes and nodes[-1][0] == height:
            node = node_hash(nodes.pop()[1], node)
            height += 1
        nodes.append((height, node))
        self._size += 1
        self._last = bytes(leaf)

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Append many leaf hashes; the same as appending each, several times faster.

        Runs of leaves that start at a multiple of a power of two at least that long form
        perfect subtrees: those are hashed level by level (one comprehension per level) and
        added whole, instead of merging the edge one leaf at a time."""
        position, count = 0, len(leaves)
        while position < count:
            size, remaining = self._size, count - position
            # The largest perfect subtree that may start here: aligned, and no longer than left.
            height = remaining.bit_length() - 1
            if size:
                height = min(height, (size & -size).bit_length() - 1)
            if height < 4:
                self.append(leaves[position])
                position += 1
                continue
            width = 1 << height
            level = [bytes(leaf) for leaf in leaves[position : position + width]]
            h = hashlib.sha256
            while len(level) > 1:  # a power of two long: every node has a pair
                pairs = zip(level[0::2], level[1::2], strict=True)
                level = [h(b"\x01" + a + b).digest() for a, b in pairs]
            self._add_subtree(height, level[0])
            self._size += width
            self._last = bytes(leaves[position + width - 1])
            position += width

    def _add_subtree(self, height: int, node: bytes) -> None:
        """Add a perfect subtree at the edge (every node there is at least as high)."""
        nodes = self._nodes
        while nodes and nodes[-1][0] == height:
            node = node_hash(nodes.pop()[1], node)
            height += 1
        nodes.append((height, node))

    def root(self) -> bytes:
        """``MTH`` of every leaf appended (``EMPTY_ROOT`` when none)."""
        if not self._nodes:
            return EMPTY_ROOT
        acc = self._nodes[-1][1]
        for _, left in reversed(self._nodes[:-1]):
            acc = node_hash(left, acc)
        return acc


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the RFC 6962 Merkle tree hash of ``leaf_hashes`` (``EMPTY_ROOT`` when empty).

    Args:
        leaf_hashes: leaf hashes in log order.

    Returns:
        The 32-byte root.
    """
    return LogTree(leaf_hashes).root()


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """Return the audit path of leaf ``index`` in the tree of the first ``size`` leaves.

    Args:
        leaf_hashes: leaf hashes in log order (at least ``size`` of them).
        index: 0-based leaf index.
        size: tree size.

    Returns:
        ``PATH(index, D[0:size])``, bottom-up.

    Raises:
        ValueError: if ``index >= size`` or ``size > len(leaf_hashes)``.
    """
    if size > len(leaf_hashes):
        raise ValueError(f"size {size} exceeds the {len(leaf_hashes)} leaves given")
    return LogTree(leaf_hashes[:size]).inclusion_proof(index, size)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """Return the proof that the tree of ``old_size`` leaves is a prefix of ``new_size``.

    Args:
        leaf_hashes: leaf hashes in log order (at least ``new_size`` of them).
        old_size: the earlier size.
        new_size: the later size.

    Returns:
        ``PROOF(old_size, D[0:new_size])``; empty when ``old_size`` is 0 or ``new_size``.

    Raises:
        ValueError: if ``old_size > new_size`` or ``new_size > len(leaf_hashes)``.
    """
    if new_size > len(leaf_hashes):
        raise ValueError(f"size {new_size} exceeds the {len(leaf_hashes)} leaves given")
    return LogTree(leaf_hashes[:new_size]).consistency_proof(old_size, new_size)


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Verify an inclusion proof (RFC 9162 section 2.1.3.2).

    Args:
        leaf_hash: the leaf's hash.
        index: its 0-based index.
        size: the tree size the proof is for.
        proof: the audit path, bottom-up.
        root: the tree's root at ``size``.

    Returns:
        True if the proof shows the leaf at ``index`` in the tree with ``root``.
    """
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(bytes(p), r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, bytes(p))
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Verify a consistency proof (RFC 9162 section 2.1.4.2).

    Trivial cases: equal sizes need an empty proof and equal roots; ``old_size == 0`` needs an
    empty proof and ``old_root == EMPTY_ROOT`` (every tree extends the empty one).

    Args:
        old_size: the earlier tree size.
        new_size: the later tree size.
        old_root: the root at ``old_size``.
        new_root: the root at ``new_size``.
        proof: the consistency proof.

    Returns:
        True if the tree at ``new_size`` extends the tree at ``old_size``.
    """
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = [bytes(c) for c in proof]
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
