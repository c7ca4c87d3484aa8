"""Use cases: each validates, checks the rules and appends, in one transaction it owns."""
