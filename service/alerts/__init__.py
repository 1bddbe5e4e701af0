"""Alerts: the diversions, counterfeits and integrity findings the brand and its partners are
warned of, raised by the channel, consumer scans and the ledger's integrity pass, and
handled (acknowledged, resolved) at one desk. Other areas raise them only through
``service.alerts.interface``."""
