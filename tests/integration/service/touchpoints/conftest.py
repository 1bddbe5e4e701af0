"""The HTTP tests' shared fixtures (a channel of sites and partners, the recorded OTPs), for the
touchpoints' tests."""

from tests.integration.service.api.conftest import channel, otp  # noqa: F401
