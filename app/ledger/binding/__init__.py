"""Binding a passport to the physical piece: NFC tags, claim codes, bars (docs/PROTOCOL.md §21).

* ``sun`` — NTAG 424 DNA Secure Unique NFC messages (NXP AN12196): the per-tap
  PICCData decryption and SDMMAC check, the per-tag keys diversified from a master key,
  and a tag simulator that writes real SUN URLs;
* ``claims`` — one-time claim codes: their commitments and the claim record the service
  signs.

Imports only the shared primitives beside it, never the log, provenance or documents.
"""
