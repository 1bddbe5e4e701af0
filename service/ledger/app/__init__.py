"""The ledger's use cases: the event log (status, entries, proofs, anchoring, the integrity
pass, who may read what) and the health of the chain and its sender."""
