from pathlib import Path

import pytest
from pydantic import ValidationError

from service.config import PLACEHOLDER_PEPPER, Settings


def test_database_and_chain_state_default_to_the_data_dir(monkeypatch):
    monkeypatch.delenv("TRACECERT_DATABASE_URL", raising=False)
    monkeypatch.delenv("CHAIN_STATE_DIR", raising=False)
    settings = Settings(data_dir=Path("/srv/tc"))
    assert settings.database_url == "sqlite:////srv/tc/tracecert.db"
    assert settings.chain.state_dir == Path("/srv/tc/chain")


def test_placeholder_pepper_is_refused_outside_dev_mode():
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(dev_mode=False)
    assert Settings(dev_mode=True).api_key_pepper.get_secret_value() == PLACEHOLDER_PEPPER


PRODUCTION = {
    "dev_mode": False,
    "api_key_pepper": "s3cret-pepper-of-some-length",
    "code_secret": "another-s3cret-of-some-length",
    "wallet_kek": "a-third-s3cret-of-some-length",
    "otp_sender": "webhook",
    "otp_webhook_url": "https://sms-gateway.internal/send",
}


def test_real_secrets_and_a_code_gateway_are_accepted_outside_dev_mode():
    settings = Settings(**PRODUCTION)  # type: ignore[arg-type]
    assert settings.pepper == b"s3cret-pepper-of-some-length"
    assert settings.code_secret_bytes == b"another-s3cret-of-some-length"
    assert settings.wallet_kek_bytes == b"a-third-s3cret-of-some-length"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"wallet_kek": None}, "TRACECERT_WALLET_KEK is the development placeholder"),
        ({"wallet_kek": "short"}, "TRACECERT_WALLET_KEK must be at least 16"),
        ({"otp_sender": "log"}, "writes sign-in codes to the log"),
        ({"otp_sender": "carrier-pigeon"}, "TRACECERT_OTP_SENDER is log or webhook"),
        ({"otp_webhook_url": "sms-gateway"}, "TRACECERT_OTP_WEBHOOK_URL"),
        ({"claim_batch_max": 0}, "TRACECERT_CLAIM_BATCH_MAX"),
        ({"claim_batch_max": 129}, "TRACECERT_CLAIM_BATCH_MAX is between 1 and 128"),
        ({"claim_batch_max": 500}, "TRACECERT_CLAIM_BATCH_MAX is between 1 and 128"),
    ],
)
def test_unsafe_consumer_settings_are_refused_outside_dev_mode(change, message):
    values = {**PRODUCTION, **change}
    values = {k: v for k, v in values.items() if v is not None}
    with pytest.raises(ValidationError, match=message):
        Settings(**values)  # type: ignore[arg-type]


def test_the_placeholder_code_secret_is_refused_outside_dev_mode():
    with pytest.raises(ValidationError, match="TRACECERT_CODE_SECRET"):
        Settings(dev_mode=False, api_key_pepper="s3cret-pepper-of-some-length")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="at least 16"):
        Settings(code_secret="short")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("resolver_url", "ftp://id.example.com"),
        ("resolver_url", "https://id.example.com/path"),
        ("resolver_url", "https://bad host"),
        ("resolver_url", "https://id.example.com:99999"),
        ("gs1_company_prefix", "12345"),
        ("gs1_company_prefix", "06141A1"),
    ],
)
def test_bad_resolver_or_company_prefix_is_refused(field, value):
    with pytest.raises(ValidationError):
        Settings(**{field: value})


def test_resolver_url_is_normalised():
    assert Settings(resolver_url="https://ID.Brand.Example/").resolver_url == (
        "https://id.brand.example"
    )


def test_short_peppers_and_bad_page_sizes_are_refused():
    with pytest.raises(ValidationError):
        Settings(api_key_pepper="short")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Settings(default_page_size=1000, max_page_size=10)


def test_settings_read_the_tracecert_prefix(monkeypatch):
    monkeypatch.setenv("TRACECERT_PORT", "9123")
    monkeypatch.setenv("TRACECERT_MAX_BATCH_ITEMS", "7")
    settings = Settings()
    assert settings.port == 9123 and settings.max_batch_items == 7


def test_health_limits_default_to_strict_and_refuse_negative_values(monkeypatch):
    settings = Settings()
    assert (
        settings.health_max_in_flight_age_s,
        settings.health_max_nonce_gap,
        settings.health_max_confirmed_missing,
    ) == (300.0, 0, 0)
    monkeypatch.setenv("TRACECERT_HEALTH_MAX_NONCE_GAP", "-1")
    with pytest.raises(ValidationError, match="HEALTH_MAX_NONCE_GAP"):
        Settings()


def test_the_claim_batch_may_be_as_large_as_the_registry_takes():
    assert Settings(**{**PRODUCTION, "claim_batch_max": 128}).claim_batch_max == 128  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("chain_read_ttl_s", -1.0),
        ("chain_read_ttl_s", 301.0),
        ("database_busy_timeout_s", 0.0),
        ("database_busy_timeout_s", 601.0),
    ],
)
def test_a_chain_read_ttl_or_busy_timeout_out_of_range_is_refused(field, value):
    with pytest.raises(ValidationError, match=field.upper()):
        Settings(**{field: value})


def test_the_chain_read_ttl_and_busy_timeout_default_to_a_few_seconds_and_thirty():
    settings = Settings()
    assert (settings.chain_read_ttl_s, settings.database_busy_timeout_s) == (5.0, 30.0)
    assert Settings(chain_read_ttl_s=0).chain_read_ttl_s == 0  # a read on every scan


def test_a_dev_clock_offset_is_refused_outside_dev_mode_and_never_goes_back():
    assert Settings(dev_clock_offset_s=172800).dev_clock_offset_s == 172800
    with pytest.raises(ValidationError, match="dev mode only"):
        Settings(**{**PRODUCTION, "dev_clock_offset_s": 60})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="only moves forward"):
        Settings(dev_clock_offset_s=-60)
    assert Settings(**PRODUCTION).dev_clock_offset_s == 0  # type: ignore[arg-type]


def test_a_settings_error_never_prints_the_value_it_refused(monkeypatch):
    monkeypatch.setenv("TRACECERT_WALLET_KEK", "tail-of-the-kek-XYZZY")
    monkeypatch.setenv("TRACECERT_CLONE_WINDOW_H", "not-a-number-XYZZY")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "XYZZY" not in str(refused.value)
    assert "input_value" not in str(refused.value)


def test_the_otp_webhook_url_is_a_secret():
    settings = Settings(**PRODUCTION)  # type: ignore[arg-type]
    assert "sms-gateway" not in repr(settings)
    assert settings.otp_webhook_url.get_secret_value() == "https://sms-gateway.internal/send"


def test_an_http_otp_webhook_is_refused_outside_dev_mode_only():
    http = "http://sms-gateway.internal/send"
    with pytest.raises(ValidationError, match="use an https:// gateway"):
        Settings(**{**PRODUCTION, "otp_webhook_url": http})  # type: ignore[arg-type]
    dev = Settings(otp_sender="webhook", otp_webhook_url=http)  # type: ignore[arg-type]
    assert dev.otp_webhook_url.get_secret_value() == http


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("api_key_pepper", "a" * 16, "TRACECERT_API_KEY_PEPPER is too weak.*1 distinct"),
        ("code_secret", "abababababababababab", "TRACECERT_CODE_SECRET is too weak.*2 distinct"),
        ("wallet_kek", "abcdefghijklmnopq", "TRACECERT_WALLET_KEK is too weak.*estimated 80 bits"),
        (
            "wallet_kek",
            "s3cret-pepper-of-some-length",
            "PEPPER and TRACECERT_WALLET_KEK are the same",
        ),
    ],
)
def test_low_entropy_or_shared_secrets_are_refused_outside_dev_mode(field, value, message):
    with pytest.raises(ValidationError, match=message):
        Settings(**{**PRODUCTION, field: value})  # type: ignore[arg-type]


def test_one_value_for_all_three_secrets_is_refused_outside_dev_mode_and_allowed_in_dev():
    same = "Zx8#qL2!vR7@mK4$wT9%"
    with pytest.raises(ValidationError, match="are the same value"):
        Settings(**{**PRODUCTION, "api_key_pepper": same, "code_secret": same, "wallet_kek": same})  # type: ignore[arg-type]
    assert Settings(api_key_pepper=same, code_secret=same, wallet_kek=same).dev_mode  # type: ignore[arg-type]


def test_random_32_byte_secrets_pass(monkeypatch):
    import base64
    import secrets

    values = {
        "api_key_pepper": secrets.token_hex(32),
        "code_secret": base64.b64encode(secrets.token_bytes(32)).decode(),
        "wallet_kek": secrets.token_urlsafe(32),
    }
    assert Settings(**{**PRODUCTION, **values}).wallet_kek_bytes == values["wallet_kek"].encode()  # type: ignore[arg-type]


def test_sign_in_code_limits_default_and_refuse_nonsense():
    settings = Settings()
    assert (
        settings.otp_max_per_network_per_hour,
        settings.otp_budget_per_hour,
        settings.otp_budget_per_day,
    ) == (10, 500, 5000)
    for bad in (
        {"otp_max_per_network_per_hour": 0},
        {"otp_budget_per_hour": 0},
        {"otp_budget_per_hour": 600, "otp_budget_per_day": 500},
    ):
        with pytest.raises(ValidationError, match="TRACECERT_OTP_"):
            Settings(**bad)  # type: ignore[arg-type]


def test_trusted_proxies_are_parsed_once_and_follow_a_copy_that_changes_them():
    settings = Settings(trusted_proxies="10.0.0.0/8, 127.0.0.1")
    assert [str(n) for n in settings.proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
    assert settings.proxies is settings.proxies  # kept, not parsed per request
    moved = settings.model_copy(update={"trusted_proxies": "192.168.0.0/16"})
    assert [str(n) for n in moved.proxies] == ["192.168.0.0/16"]
    assert [str(n) for n in settings.proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
