import pytest

from service.identity.domain import api_keys
from service.kernel.roles import Role


def test_generated_key_parses_and_matches_only_its_pepper():
    key_id, secret, full = api_keys.generate()
    assert api_keys.parse(full) == (key_id, secret)
    stored = api_keys.ApiKey(key_id, api_keys.digest(b"p" * 16, secret), Role.FACTORY, 1, None)  # type: ignore[arg-type]
    assert api_keys.matches(stored, b"p" * 16, secret)
    assert not api_keys.matches(stored, b"q" * 16, secret)
    tampered = secret[:-1] + ("B" if secret.endswith("A") else "A")
    assert not api_keys.matches(stored, b"p" * 16, tampered)


@pytest.mark.parametrize("bad", ["", "tc_", "tc_zz_" + "a" * 43, "Bearer x", "tc_" + "0" * 16])
def test_malformed_keys_do_not_parse(bad):
    assert api_keys.parse(bad) is None
