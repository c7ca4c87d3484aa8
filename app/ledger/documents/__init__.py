"""Documents a holder verifies offline: exports, genealogies, passports, receipts, credentials.

* ``checks`` — the checks every document shares: chain links, registry keys, receipts,
  service-key history and inclusion in a checkpoint (docs/PROTOCOL.md §3–§6, §10, §19).
* ``export`` — a lot export (§6, §11).
* ``receipts`` — a log receipt (§10).
* ``genealogy`` — a genealogy export and the bundle a passport carries (§15).
* ``passport`` — the green passport, versions 1 and 2 (§16, §18).
* ``credentials`` — the passport as a W3C VC 2.0 with ``eddsa-jcs-2022`` (§17).

The top floor of the core: it may import the log, provenance and the primitives.
"""
