# Generated from app/ledger/log/merkle.py by tools/client_core.py: do not edit.
"""Merkle tree hashing and proofs, exactly as RFC 9162 §2.1 defines them.

Leaves are hashed as SHA-256(0x00 || entry) and interior nodes as
SHA-256(0x01 || left || right) (§2.1.1). Trees are read through *perfect
subtrees*: the node ``(level, index)`` is the hash of the ``2**level`` leaves
starting at ``index * 2**level``. A log stores each perfect subtree once, when it
is completed, so that any root and any proof need only O(log n) stored hashes.
The proof functions take a ``get(level, index)`` callback for those hashes;
``nodes_for_*`` say in advance which ones they will ask for, so a caller can
fetch them in one query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

from ..errors import LedgerError

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "InvalidProof",
    "NodeGetter",
    "NodeId",
    "completed_nodes",
    "consistency_proof",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "nodes_for_append",
    "nodes_for_consistency",
    "nodes_for_inclusion",
    "nodes_for_ranges",
    "nodes_for_root",
    "range_hash",
    "reference_root",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

NodeId = tuple[int, int]
NodeGetter = Callable[[int, int], bytes]

EMPTY_ROOT = hashlib.sha256(b"").digest()


class InvalidProof(LedgerError):
    """A Merkle proof does not lead to the claimed root."""


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d(0)}) = SHA-256(0x00 || d(0))."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x01 || MTH(left) || MTH(right))."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1), the k of RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


def reference_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) by the RFC's recursive definition, over leaf *entries*. For tests."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = _split(len(leaves))
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def _perfect_subtrees(start: int, end: int) -> list[NodeId]:
    """[start, end) as aligned perfect subtrees, left to right, largest first."""
    nodes: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start % (1 << level):
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def _range_hash(start: int, end: int, get: NodeGetter) -> bytes:
    """MTH(D[start:end]) for a range the RFC recursion produces (start aligned to its split)."""
    hashes = [get(level, index) for level, index in _perfect_subtrees(start, end)]
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def root(size: int, get: NodeGetter) -> bytes:
    """The tree head of the first ``size`` leaves."""
    return EMPTY_ROOT if size == 0 else _range_hash(0, size, get)


def inclusion_proof(index: int, size: int, get: NodeGetter) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, deepest sibling first."""
    return [_range_hash(low, high, get) for low, high in inclusion_ranges(index, size)]


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The hashes of PATH(index, D[size]) (RFC 9162 §2.1.3.1) as the leaf ranges [low, high)
    each is the Merkle tree hash of, deepest first.

    Proofs of many leaves in one tree share most of these ranges; a document that
    proves many entries carries each range's hash once (a node table).
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    start, end = 0, size
    siblings: list[tuple[int, int]] = []
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            siblings.append((start + k, end))
            end = start + k
        else:
            siblings.append((start, start + k))
            start += k
    return list(reversed(siblings))


def range_hash(low: int, high: int, get: NodeGetter) -> bytes:
    """MTH(D[low:high]) of a range ``inclusion_ranges`` names, from stored perfect subtrees."""
    return _range_hash(low, high, get)


def nodes_for_ranges(ranges: Iterable[tuple[int, int]]) -> set[NodeId]:
    """The stored perfect subtrees the hashes of ``ranges`` are made of."""
    return {node for low, high in ranges for node in _perfect_subtrees(low, high)}


def consistency_proof(old: int, new: int, get: NodeGetter) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1, for 0 < m <= n."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    parts: list[tuple[int, int]] = []
    start, end, m, complete = 0, new, old, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                parts.append((start, end))
            break
        k = _split(n)
        if m <= k:
            parts.append((start + k, end))
            end = start + k
        else:
            parts.append((start, start + k))
            start += k
            m -= k
            complete = False
    return [_range_hash(low, high, get) for low, high in reversed(parts)]


def _recording(proof: Callable[[NodeGetter], object]) -> set[NodeId]:
    wanted: set[NodeId] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return EMPTY_ROOT

    proof(record)
    return wanted


def nodes_for_root(size: int) -> set[NodeId]:
    return set(_perfect_subtrees(0, size))


def nodes_for_inclusion(index: int, size: int) -> set[NodeId]:
    return _recording(lambda get: inclusion_proof(index, size, get))


def nodes_for_consistency(old: int, new: int) -> set[NodeId]:
    return _recording(lambda get: consistency_proof(old, new, get))


def nodes_for_append(index: int) -> list[NodeId]:
    """The stored left siblings that appending leaf ``index`` completes parents with."""
    needed = []
    level = 0
    while (index >> level) & 1:
        needed.append((level, (index >> level) - 1))
        level += 1
    return needed


def completed_nodes(index: int, leaf: bytes, get: NodeGetter) -> list[tuple[NodeId, bytes]]:
    """The perfect subtrees completed by appending ``leaf`` at ``index``, bottom up."""
    nodes = [((0, index), leaf)]
    current = leaf
    for level, left_index in nodes_for_append(index):
        current = node_hash(get(level, left_index), current)
        nodes.append(((level + 1, (left_index + 1) >> 1), current))
    return nodes


def verify_inclusion(
    *, leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """RFC 9162 §2.1.3.2. Returns if ``leaf`` is at ``index`` of the tree; else InvalidProof."""
    if not 0 <= index < size:
        raise InvalidProof(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise InvalidProof("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("inclusion proof is shorter than the tree is deep")
    if r != root_hash:
        raise InvalidProof("inclusion proof does not lead to the root hash")


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2. Returns if the old tree is a prefix of the new; else InvalidProof."""
    if not 0 < old_size <= new_size:
        raise InvalidProof(f"no consistency between sizes {old_size} and {new_size}")
    if old_size == new_size:
        if proof:
            raise InvalidProof("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise InvalidProof("two different roots for the same size: the log forked")
        return
    if not proof:
        raise InvalidProof("empty consistency proof")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProof("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("consistency proof is too short")
    if fr != old_root:
        raise InvalidProof("consistency proof does not lead to the old root")
    if sr != new_root:
        raise InvalidProof("consistency proof does not lead to the new root")


class CompactRange:
    """The right edge of a growing tree: O(log n) perfect subtrees, for streaming audits."""

    def __init__(self) -> None:
        self.size = 0
        self._edge: list[tuple[int, bytes]] = []

    @classmethod
    def from_edge(cls, size: int, nodes: Mapping[NodeId, bytes]) -> CompactRange:
        """The range of a tree of ``size`` leaves from its perfect subtrees (``nodes_for_root``).

        Raises KeyError naming a node that ``nodes`` lacks.
        """
        compact = cls()
        compact.size = size
        compact._edge = [
            (level, nodes[(level, index)]) for level, index in _perfect_subtrees(0, size)
        ]
        return compact

    def copy(self) -> CompactRange:
        other = CompactRange()
        other.size = self.size
        other._edge = list(self._edge)
        return other

    def append(self, leaf: bytes) -> list[tuple[NodeId, bytes]]:
        """Add a leaf; returns the perfect subtrees it completed, bottom up."""
        index = self.size
        completed = [((0, index), leaf)]
        level, current = 0, leaf
        while self._edge and self._edge[-1][0] == level:
            _, left = self._edge.pop()
            current = node_hash(left, current)
            level += 1
            completed.append(((level, index >> level), current))
        self._edge.append((level, current))
        self.size += 1
        return completed

    def append_subtree(self, level: int, value: bytes) -> list[tuple[NodeId, bytes]]:
        """Add the perfect subtree of ``2**level`` leaves whose hash is ``value`` (the range's
        size must be a multiple of that); returns it and the subtrees it completed."""
        if self.size % (1 << level):
            raise ValueError(f"a subtree of level {level} cannot start at leaf {self.size}")
        last = self.size + (1 << level) - 1
        completed = [((level, last >> level), value)]
        current = value
        while self._edge and self._edge[-1][0] == level:
            _, left = self._edge.pop()
            current = node_hash(left, current)
            level += 1
            completed.append(((level, last >> level), current))
        self._edge.append((level, current))
        self.size = last + 1
        return completed

    def edge(self) -> list[tuple[int, bytes]]:
        """The range's perfect subtrees, left to right, as (level, hash)."""
        return list(self._edge)

    def root(self) -> bytes:
        if not self._edge:
            return EMPTY_ROOT
        result = self._edge[-1][1]
        for _, left in reversed(self._edge[:-1]):
            result = node_hash(left, result)
        return result
