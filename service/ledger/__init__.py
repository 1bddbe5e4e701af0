"""The ledger: the event log and its anchoring, the outbox of chain writes with its sender and
confirmations, and the chain adapter. Other areas use it only through
``service.ledger.interface``."""
