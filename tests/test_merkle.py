"""RFC 9162 Merkle hashing and proofs: CT reference vectors, a naive reference, an attacker."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ledger.log.merkle import (
    EMPTY_ROOT,
    CompactRange,
    InvalidProof,
    completed_nodes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_for_consistency,
    nodes_for_inclusion,
    reference_root,
    root,
    verify_consistency,
    verify_inclusion,
)

# The Certificate Transparency reference tree (certificate-transparency, merkle_tree_test).
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
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [  # (leaf index, tree size, proof)
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        3,
        8,
        [
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
]


def store(entries: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Perfect subtrees as a log stores them, built by appending leaf after leaf."""
    nodes: dict[tuple[int, int], bytes] = {}
    for index, entry in enumerate(entries):
        for node, value in completed_nodes(index, leaf_hash(entry), lambda lv, ix: nodes[(lv, ix)]):
            nodes[node] = value
    return nodes


def getter(nodes: dict[tuple[int, int], bytes]):  # type: ignore[no-untyped-def]
    return lambda level, index: nodes[(level, index)]


def test_empty_tree_is_the_hash_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root(0, getter({})) == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_ct_reference_roots(size: int) -> None:
    assert reference_root(LEAVES[:size]).hex() == ROOTS[size - 1]
    assert root(size, getter(store(LEAVES))).hex() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_ct_inclusion_vectors(index: int, size: int, proof: list[str]) -> None:
    got = inclusion_proof(index, size, getter(store(LEAVES)))
    assert [p.hex() for p in got] == proof
    verify_inclusion(
        leaf=leaf_hash(LEAVES[index]),
        index=index,
        size=size,
        proof=got,
        root_hash=bytes.fromhex(ROOTS[size - 1]),
    )


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_ct_consistency_vectors(old: int, new: int, proof: list[str]) -> None:
    got = consistency_proof(old, new, getter(store(LEAVES)))
    assert [p.hex() for p in got] == proof
    verify_consistency(
        old_size=old,
        new_size=new,
        old_root=bytes.fromhex(ROOTS[old - 1]),
        new_root=bytes.fromhex(ROOTS[new - 1]),
        proof=got,
    )


def test_attacks_on_inclusion_proofs_fail() -> None:
    nodes = store(LEAVES)
    proof = inclusion_proof(5, 8, getter(nodes))
    good = {
        "leaf": leaf_hash(LEAVES[5]),
        "index": 5,
        "size": 8,
        "proof": proof,
        "root_hash": bytes.fromhex(ROOTS[7]),
    }
    verify_inclusion(**good)  # type: ignore[arg-type]
    flipped = bytearray(proof[1])
    flipped[0] ^= 1
    attacks = [
        {"proof": [proof[0], bytes(flipped), proof[2]]},  # a flipped bit
        {"proof": list(reversed(proof))},  # reordered
        {"proof": proof[:-1]},  # truncated
        {"proof": [*proof, proof[0]]},  # extended
        {"index": 4},  # another position
        {"size": 7, "root_hash": bytes.fromhex(ROOTS[6])},  # another tree
        {"index": 8},  # out of range
        {"leaf": leaf_hash(LEAVES[4])},  # another leaf
        {
            "leaf": node_hash(leaf_hash(LEAVES[4]), leaf_hash(LEAVES[5])),
            "index": 2,
            "proof": proof[1:],
        },  # second preimage: an inner node as a leaf
    ]
    for attack in attacks:
        with pytest.raises(InvalidProof):
            verify_inclusion(**{**good, **attack})  # type: ignore[arg-type]


def test_attacks_on_consistency_proofs_fail() -> None:
    nodes = store(LEAVES)
    proof = consistency_proof(3, 8, getter(nodes))
    good = {
        "old_size": 3,
        "new_size": 8,
        "old_root": bytes.fromhex(ROOTS[2]),
        "new_root": bytes.fromhex(ROOTS[7]),
        "proof": proof,
    }
    verify_consistency(**good)  # type: ignore[arg-type]
    for attack in (
        {"proof": proof[:-1]},
        {"proof": list(reversed(proof))},
        {"old_root": bytes.fromhex(ROOTS[3])},  # a forked old tree
        {"new_root": bytes.fromhex(ROOTS[6])},
        {"old_size": 4},
        {"proof": []},
        {"old_size": 0},
        {"old_size": 9},
    ):
        with pytest.raises(InvalidProof):
            verify_consistency(**{**good, **attack})  # type: ignore[arg-type]
    with pytest.raises(InvalidProof, match="forked"):
        verify_consistency(
            old_size=8,
            new_size=8,
            old_root=bytes.fromhex(ROOTS[7]),
            new_root=bytes.fromhex(ROOTS[6]),
            proof=[],
        )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_against_the_recursive_definition(entries: list[bytes], data: st.DataObject) -> None:
    nodes = store(entries)
    size = data.draw(st.integers(1, len(entries)))
    assert root(size, getter(nodes)) == reference_root(entries[:size])
    index = data.draw(st.integers(0, size - 1))
    path = inclusion_proof(index, size, getter(nodes))
    assert len(path) <= size.bit_length()
    assert set(nodes_for_inclusion(index, size)) <= set(nodes)
    verify_inclusion(
        leaf=leaf_hash(entries[index]),
        index=index,
        size=size,
        proof=path,
        root_hash=reference_root(entries[:size]),
    )
    old = data.draw(st.integers(1, size))
    proof = consistency_proof(old, size, getter(nodes))
    assert nodes_for_consistency(old, size) <= set(nodes)
    verify_consistency(
        old_size=old,
        new_size=size,
        old_root=reference_root(entries[:old]),
        new_root=reference_root(entries[:size]),
        proof=proof,
    )
    compact = CompactRange()
    for entry in entries[:size]:
        compact.append(leaf_hash(entry))
    assert compact.root() == reference_root(entries[:size])


def test_compact_range_completes_the_same_nodes_a_log_stores() -> None:
    compact = CompactRange()
    seen: dict[tuple[int, int], bytes] = {}
    for entry in LEAVES * 5:
        for node, value in compact.append(leaf_hash(entry)):
            seen[node] = value
    assert seen == store(LEAVES * 5)
