"""Shared pytest wiring: chain fixtures (py-evm, anvil) and database fixtures (SQLite, PG), and
the Hypothesis profile every property test runs under."""

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.fixtures.chain", "tests.fixtures.db"]

# The suite runs two workers on a two-core machine next to anvil and PostgreSQL: how fast an
# example is drawn or run says nothing about whether the property holds, and the timing checks
# failed CI once (an EPCIS document strategy took 1.3 s to draw its first example under load).
# Properties still fail on any counterexample.
settings.register_profile("tracecert", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tracecert")
