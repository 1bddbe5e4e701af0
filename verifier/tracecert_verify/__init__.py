"""tracecert-verify: check a tracecert audit export against the chain, trusting no server.

It reads only the export directory and a JSON-RPC endpoint; it imports nothing of the service
(an import-linter contract and a test hold this). Start at ``cli.py``; the checks are in
``log.py`` (the event log), ``batches.py`` (batches, items, certificates) and ``replay.py``
(state derived from the log against the state rows).
"""

EXIT_OK = 0
EXIT_UNANCHORED_TAIL = 10
EXIT_MISMATCH = 20
EXIT_CANNOT_CHECK = 30
