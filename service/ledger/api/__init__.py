"""The ledger's routes: the service's health and chain, the event log's status, entries and
proofs."""
