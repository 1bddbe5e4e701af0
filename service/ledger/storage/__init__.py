"""The ledger's storage: its rows, the outbox and its transaction store, the sender's lease, the
registry of confirmation handlers, the event log's anchors and checks."""
