"""Settings of the service (environment prefix ``TRACECERT_``); built once and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chain.config import ChainSettings
from chain.contracts.certificate_registry import MAX_CLAIM_BATCH
from service.domain.errors import TracecertError
from service.domain.gs1 import normalise_company_prefix, validate_resolver
from service.domain.labels import MAX_LABELS_PER_FILE
from service.domain.networks import Network, parse_networks

#: The pepper every dev checkout shares. Refused outside dev mode.
PLACEHOLDER_PEPPER = "dev-only-pepper-change-me"
#: The code secret every dev checkout shares. Refused outside dev mode.
PLACEHOLDER_CODE_SECRET = "dev-only-code-secret-change-me"
#: The wallet key-encryption key every dev checkout shares. Refused outside dev mode.
PLACEHOLDER_WALLET_KEK = "dev-only-wallet-kek-change-me"
#: GS1's own example company prefix (GS1 General Specifications); set the brand's real one.
EXAMPLE_COMPANY_PREFIX = "0614141"


class Settings(BaseSettings):
    """Where the data lives, how the API listens, and the limits it enforces."""

    model_config = SettingsConfigDict(env_prefix="TRACECERT_", extra="ignore")

    data_dir: Path = Path("data")
    #: Defaults to ``sqlite:///<data_dir>/tracecert.db``.
    database_url: str = ""
    #: SQLite: how long a write waits for the write lock another process holds before the
    #: request answers 503 ``database_unavailable``.
    database_busy_timeout_s: float = 30.0
    host: str = "127.0.0.1"
    port: int = 8000
    dev_mode: bool = True
    api_key_pepper: SecretStr = SecretStr(PLACEHOLDER_PEPPER)
    log_anchor_interval_s: float = 30.0
    sender_poll_interval_s: float = 0.5
    #: Background workers (sender, log anchorer); tests drive the steps by hand instead.
    workers_enabled: bool = True
    #: Keys of PIN hashes and of sealed PIN seeds derive from it (HKDF); keep it secret.
    code_secret: SecretStr = SecretStr(PLACEHOLDER_CODE_SECRET)
    #: Consumer wallet keys are sealed (AES-256-GCM) under a key derived from it; keep it in a
    #: KMS or secret store, apart from the database.
    wallet_kek: SecretStr = SecretStr(PLACEHOLDER_WALLET_KEK)
    #: Where one-time sign-in codes go: ``log`` (dev mode only) or ``webhook``.
    otp_sender: str = "log"
    #: The SMS/email gateway that receives ``{"channel", "destination", "code"}`` (webhook).
    otp_webhook_url: str = ""
    #: Claims arriving within this window share one ``claimBatch`` transaction.
    claim_batch_window_s: float = 1.0
    #: At most this many claims per transaction; the registry takes at most ``MAX_CLAIM_BATCH``
    #: (128) in one ``claimBatch``, which keeps the worst case near 11.6M gas.
    claim_batch_max: int = 100
    #: Suspected clone (``service.domain.scans``): a genuine code's consumer scans from more
    #: than ``clone_max_regions`` distinct prefectures or ``clone_max_devices`` distinct
    #: devices within ``clone_window_h`` hours. A flag that informs; it never stops a claim.
    clone_max_regions: int = 3
    clone_max_devices: int = 5
    clone_window_h: float = 168.0
    #: Scans kept in memory until the scan log writes them (every ~100 ms); past this many
    #: (the database away for a while) they go to the spill file under ``data_dir``.
    scan_log_buffer: int = 50_000
    #: Where item QR codes point: ``<resolver_url>/01/<gtin>/10/<lot>/21/<serial>``.
    resolver_url: str = "https://id.tracecert.example"
    #: SSCC company prefix for brands that have not registered their own.
    gs1_company_prefix: str = EXAMPLE_COMPANY_PREFIX
    max_body_bytes: int = 2_000_000
    #: Slow clients (``service.api.limits.server_config``): a request's headers must arrive
    #: within this many seconds of its first byte (or of the connection) ...
    header_timeout_s: float = Field(default=10.0, gt=0, le=600)
    #: ... and its body within this many seconds of its headers; then the connection closes.
    body_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    #: An idle keep-alive connection closes after this many seconds.
    keep_alive_timeout_s: float = Field(default=5.0, gt=0, le=600)
    #: Connections and requests served at once; past it, new requests answer 503.
    max_concurrency: int = Field(default=200, ge=1, le=100_000)
    #: Consumer sessions: an access token (JWT) lasts this long; the page refreshes it with
    #: the session's rotating refresh token, which lasts ``consumer_refresh_ttl_s``.
    consumer_session_ttl_s: int = Field(default=3600, ge=60, le=86_400)
    consumer_refresh_ttl_s: int = Field(default=30 * 86_400, ge=3600, le=90 * 86_400)
    #: The scanner page's device session (POST /scanner/sessions) lasts this long (12 h: a
    #: shift); then the page asks for the API key again. At most a week.
    scanner_session_ttl_s: int = Field(default=12 * 3600, ge=60, le=7 * 86_400)
    #: Most labels one label file (GET /batches/{id}/labels.pdf) may hold; more answers 422
    #: ``too_many_labels`` (ask for a range). At most ``MAX_LABELS_PER_FILE``.
    label_max_count: int = Field(default=10_000, ge=1, le=MAX_LABELS_PER_FILE)
    #: Label files made at once per process; another request answers 503 ``printer_busy``.
    label_max_parallel: int = Field(default=2, ge=1, le=64)
    #: Largest batch a factory may plan (codes are generated in one transaction).
    max_batch_items: int = 1_000_000
    #: How long this process may keep API keys, organisations, sites and territories it read
    #: (another process's change, e.g. a key revoked from the CLI, is seen within this time).
    reference_cache_ttl_s: float = 5.0
    #: How long a scan may rely on what the chain said of a batch (root, item count, recall):
    #: the longest a recall made on chain stays unseen. One node read per batch per interval.
    chain_read_ttl_s: float = 5.0
    #: Dev mode only: the service's clock runs this many seconds ahead of the wall clock, so a
    #: demo or a test reaches a due date (a foreclosure) without waiting or editing the
    #: database. The chain keeps its own time (see docs/certificates.md).
    dev_clock_offset_s: float = 0.0
    default_page_size: int = 50
    max_page_size: int = 500
    #: /health turns degraded when the oldest chain write in flight went out longer ago than
    #: this, when more nonces than ``health_max_nonce_gap`` are missing below the lowest one
    #: in flight, or when more confirmed writes than ``health_max_confirmed_missing`` are not
    #: on the chain.
    health_max_in_flight_age_s: float = 300.0
    health_max_nonce_gap: int = 0
    health_max_confirmed_missing: int = 0
    #: Reverse proxies in front of the service (comma-separated addresses or CIDR networks):
    #: only a request from one of these has its client read from ``X-Forwarded-For``.
    trusted_proxies: str = ""
    chain: ChainSettings = Field(default_factory=ChainSettings)

    @model_validator(mode="after")
    def _fill_and_check(self) -> Settings:
        if "state_dir" not in self.chain.model_fields_set:
            # The managed devnet's state lives with the rest of the data.
            self.chain.state_dir = self.data_dir / "chain"
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'tracecert.db'}"
        if not self.dev_mode and self.api_key_pepper.get_secret_value() == PLACEHOLDER_PEPPER:
            raise ValueError(
                "TRACECERT_API_KEY_PEPPER is the development placeholder; set a secret pepper "
                "(at least 32 random bytes) outside dev mode"
            )
        if not self.dev_mode and self.code_secret.get_secret_value() == PLACEHOLDER_CODE_SECRET:
            raise ValueError(
                "TRACECERT_CODE_SECRET is the development placeholder; set a secret "
                "(at least 32 random bytes) outside dev mode"
            )
        if not self.dev_mode and self.wallet_kek.get_secret_value() == PLACEHOLDER_WALLET_KEK:
            raise ValueError(
                "TRACECERT_WALLET_KEK is the development placeholder; set a secret "
                "(at least 32 random bytes) outside dev mode"
            )
        if len(self.wallet_kek.get_secret_value()) < 16:
            raise ValueError("TRACECERT_WALLET_KEK must be at least 16 characters")
        if self.otp_sender not in ("log", "webhook"):
            raise ValueError("TRACECERT_OTP_SENDER is log or webhook")
        if self.otp_sender == "log" and not self.dev_mode:
            raise ValueError(
                "TRACECERT_OTP_SENDER=log writes sign-in codes to the log; outside dev mode "
                "set TRACECERT_OTP_SENDER=webhook and TRACECERT_OTP_WEBHOOK_URL"
            )
        if self.otp_sender == "webhook" and not self.otp_webhook_url.startswith(
            ("https://", "http://")
        ):
            raise ValueError("TRACECERT_OTP_WEBHOOK_URL must be an http(s) URL")
        if not 1 <= self.claim_batch_max <= MAX_CLAIM_BATCH:
            raise ValueError(
                f"TRACECERT_CLAIM_BATCH_MAX is between 1 and {MAX_CLAIM_BATCH}, the most claims "
                "the registry's claimBatch takes"
            )
        if len(self.code_secret.get_secret_value()) < 16:
            raise ValueError("TRACECERT_CODE_SECRET must be at least 16 characters")
        scheme, _, host = self.resolver_url.rstrip("/").partition("://")
        if scheme not in ("https", "http") or not host or "/" in host:
            raise ValueError("TRACECERT_RESOLVER_URL is https://<host>[:port], without a path")
        self.resolver_url = f"{scheme}://{validate_resolver(host)}"
        try:
            normalise_company_prefix(self.gs1_company_prefix)
        except TracecertError as exc:
            raise ValueError(f"TRACECERT_GS1_COMPANY_PREFIX: {exc.detail}") from exc
        if len(self.api_key_pepper.get_secret_value()) < 16:
            raise ValueError("TRACECERT_API_KEY_PEPPER must be at least 16 characters")
        if self.clone_max_regions < 1 or self.clone_max_devices < 1 or self.clone_window_h <= 0:
            raise ValueError(
                "TRACECERT_CLONE_MAX_REGIONS and _MAX_DEVICES are at least 1, and "
                "TRACECERT_CLONE_WINDOW_H is positive"
            )
        if not 0 <= self.chain_read_ttl_s <= 300:
            raise ValueError(
                "TRACECERT_CHAIN_READ_TTL_S is between 0 and 300 seconds (it bounds how long "
                "a recall made on chain may stay unseen by scans)"
            )
        if not 0 < self.database_busy_timeout_s <= 600:
            raise ValueError("TRACECERT_DATABASE_BUSY_TIMEOUT_S is between 0 and 600 seconds")
        if self.scan_log_buffer < 1:
            raise ValueError("TRACECERT_SCAN_LOG_BUFFER is at least 1")
        if (
            self.health_max_in_flight_age_s <= 0
            or self.health_max_nonce_gap < 0
            or self.health_max_confirmed_missing < 0
        ):
            raise ValueError(
                "TRACECERT_HEALTH_MAX_IN_FLIGHT_AGE_S is positive; TRACECERT_HEALTH_MAX_NONCE_GAP "
                "and TRACECERT_HEALTH_MAX_CONFIRMED_MISSING are at least 0"
            )
        if self.dev_clock_offset_s and not self.dev_mode:
            raise ValueError(
                "TRACECERT_DEV_CLOCK_OFFSET_S moves the service's clock, for demos and tests in "
                "dev mode only; unset it outside dev mode"
            )
        if not 0 <= self.dev_clock_offset_s <= 10 * 365 * 86400:
            raise ValueError(
                "TRACECERT_DEV_CLOCK_OFFSET_S is between 0 and 10 years in seconds: the clock "
                "only moves forward (the chain checks deadlines the service signs against its "
                "own time)"
            )
        try:
            parse_networks(self.trusted_proxies)
        except TracecertError as exc:
            raise ValueError(f"TRACECERT_TRUSTED_PROXIES: {exc.detail}") from exc
        if not 0 < self.default_page_size <= self.max_page_size:
            raise ValueError("need 0 < default_page_size <= max_page_size")
        return self

    @property
    def proxies(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def pepper(self) -> bytes:
        return self.api_key_pepper.get_secret_value().encode("utf-8")

    @property
    def wallet_kek_bytes(self) -> bytes:
        return self.wallet_kek.get_secret_value().encode("utf-8")

    @property
    def code_secret_bytes(self) -> bytes:
        return self.code_secret.get_secret_value().encode("utf-8")
