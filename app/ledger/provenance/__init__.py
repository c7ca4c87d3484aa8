"""Provenance: what the signed entries say about the gold, computed the same way by everyone.

* ``facts`` — an event's green facts: masses, fineness, places, certifications,
  documents, emissions (docs/PROTOCOL.md §14).
* ``transformations`` — splits, merges, melts and fabrication as signed bodies (§13).
* ``balance`` — the 34-digit mass balance and fine-gold arithmetic (§13.2).
* ``metrics`` — the replay of a lot's genealogy into its green metrics (§15.1, §15.2).
* ``summaries`` — the logged lot summaries that let a replay stop at one level (§18).

Imports only the primitives, never the log or documents: provenance is arithmetic over
entries, not proof.
"""
