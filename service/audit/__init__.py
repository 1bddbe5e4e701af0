"""The audit area: the auditor's export of the event log and the state rows (docs/audit.md).

Its layers: ``api`` (the ``GET /audit/export`` route) and ``storage`` (the SQL export) over
``app`` (the use case) over ``ports`` (the exporter's Protocol). Only the wiring
(``service.bootstrap``, ``service.cli``, ``service.api.app``) imports them. The import-linter
contracts of the areas in ``pyproject.toml`` hold both rules.
"""
