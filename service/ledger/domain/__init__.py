"""The ledger's pure rules and values: the outbox's writes, errors and events."""
