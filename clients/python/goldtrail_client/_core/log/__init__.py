# Generated from app/ledger/log/__init__.py by tools/client_core.py: do not edit.
"""The transparency log: the Merkle tree, signed checkpoints and the service key's history.

* ``merkle`` — RFC 9162 §2.1 hashing, inclusion and consistency proofs, compact ranges
  (docs/PROTOCOL.md §8, §10; vectors in §12 "The log").
* ``note`` — C2SP ``signed-note`` and ``tlog-checkpoint``: checkpoints signed by the
  service (§9).
* ``service_keys`` — which service key signed which position, followed through
  rotations (§19).

Imports only the primitives beside it (``app.ledger.canonical``, ``keys``, ``records``…),
never provenance or documents.
"""
