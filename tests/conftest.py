"""Shared pytest wiring: chain fixtures (py-evm, anvil) and database fixtures (SQLite, PG)."""

pytest_plugins = ["tests.fixtures.chain", "tests.fixtures.db"]
