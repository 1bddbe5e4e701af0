"""Settings of the service (environment prefix ``TRACECERT_``); built once and passed down."""

from __future__ import annotations

import math
import string
from pathlib import Path

from pydantic import Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chain.config import ChainSettings
from chain.contracts.certificate_registry import MAX_CLAIM_BATCH
from service.api.networks import Network, parse_networks
from service.factory.domain.labels import MAX_LABELS_PER_FILE
from service.kernel.errors import TracecertError
from service.kernel.gs1 import normalise_company_prefix, validate_resolver

#: The pepper every dev checkout shares. Refused outside dev mode.
PLACEHOLDER_PEPPER = "dev-only-pepper-change-me"
#: The code secret every dev checkout shares. Refused outside dev mode.
PLACEHOLDER_CODE_SECRET = "dev-only-code-secret-change-me"
#: The wallet key-encryption key every dev checkout shares. Refused outside dev mode.
PLACEHOLDER_WALLET_KEK = "dev-only-wallet-kek-change-me"
#: GS1's own example company prefix (GS1 General Specifications); set the brand's real one.
EXAMPLE_COMPANY_PREFIX = "0614141"
#: Outside dev mode a secret must hold at least this many distinct characters...
MIN_SECRET_DISTINCT_CHARS = 12
#: ...and at least this many bits by a generous estimate (length x log2 of the alphabet its
#: characters are drawn from): 32 random bytes in hex or base64 pass, a word or a repeat does not.
MIN_SECRET_BITS = 128


def estimated_secret_bits(value: str) -> float:
    """Length times log2 of the alphabet the characters come from (lower, upper, digits,
    punctuation, other); an upper bound on what a person-chosen value holds, so only a
    floor to refuse the obviously weak ones."""
    pool = 0
    if any(c in string.ascii_lowercase for c in value):
        pool += 26
    if any(c in string.ascii_uppercase for c in value):
        pool += 26
    if any(c in string.digits for c in value):
        pool += 10
    if any(c in string.punctuation for c in value):
        pool += len(string.punctuation)
    if any(c not in string.printable for c in value):
        pool += 100
    return len(value) * math.log2(pool) if pool > 1 else 0.0


def weak_secret_reason(value: str) -> str | None:
    """Why ``value`` is too weak to be a secret outside dev mode, or None."""
    distinct = len(set(value))
    if distinct < MIN_SECRET_DISTINCT_CHARS:
        return (
            f"it has {distinct} distinct characters (at least {MIN_SECRET_DISTINCT_CHARS} needed)"
        )
    if estimated_secret_bits(value) < MIN_SECRET_BITS:
        return (
            f"it holds an estimated {estimated_secret_bits(value):.0f} bits (at least 128 needed)"
        )
    return None


class Settings(BaseSettings):
    """Where the data lives, how the API listens, and the limits it enforces."""

    #: A settings error never prints the value it refused (a secret's tail, e.g.).
    model_config = SettingsConfigDict(
        env_prefix="TRACECERT_", extra="ignore", hide_input_in_errors=True
    )

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
    #: Seconds the touchpoints' projector waits between passes once it has caught up.
    touchpoints_interval_s: float = 1.0
    #: Seconds between runs of the points' expiry job (expired awards, storage anniversaries).
    points_expiry_interval_s: float = 3600.0
    #: Seconds between runs of the anti-farming screening (pending awards released, held or
    #: forfeited); an award waits at most about this long before it can be spent.
    risk_screen_interval_s: float = 30.0
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
    #: A secret: its query string often carries the gateway's credentials.
    otp_webhook_url: SecretStr = SecretStr("")
    #: Sign-in codes: at most this many an hour to addresses asked for from one client
    #: network (IPv4 /24, IPv6 /48; see ``trusted_proxies``), and at most these many overall
    #: an hour and a day (what the SMS/email gateway may cost). Beyond: 429 with Retry-After.
    otp_max_per_network_per_hour: int = 10
    otp_budget_per_hour: int = 500
    otp_budget_per_day: int = 5000
    #: Claims arriving within this window share one ``claimBatch`` transaction.
    claim_batch_window_s: float = 1.0
    #: At most this many claims per transaction; the registry takes at most ``MAX_CLAIM_BATCH``
    #: (128) in one ``claimBatch``, which keeps the worst case near 11.6M gas.
    claim_batch_max: int = 100
    #: Suspected clone (``service.consumer.domain.scans``): a genuine code's consumer scans from
    #: more than ``clone_max_regions`` distinct prefectures or ``clone_max_devices`` distinct
    #: devices within ``clone_window_h`` hours. A flag that informs; it never stops a claim.
    clone_max_regions: int = 3
    clone_max_devices: int = 5
    clone_window_h: float = 168.0
    #: ... and only when those sightings span at least this many minutes (issue 12): a burst
    #: of forged scans in one moment is not evidence.
    clone_min_span_min: float = 30.0
    #: Rate limits of the public scan endpoints (Digital Link, /items/{serial}/verify, the
    #: scan page): token buckets per device (its cookie, or the keyed hash of its address and
    #: user agent) and per client network, in this process (issue 18: shared across workers
    #: later). ``0`` per minute turns a limit off (benchmarks that hammer from one address).
    scan_device_per_min: float = 30.0
    scan_device_burst: int = 20
    scan_network_per_min: float = 300.0
    scan_network_burst: int = 100
    #: Diversion from anonymous consumer scans needs sightings out of territory from at least
    #: this many distinct client networks (a signed-in member's scan counts by itself).
    diversion_min_networks: int = 2
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
    #: Channel scans (``POST /scans``) run at most this many at once, the others waiting in
    #: arrival order (``service.api.lanes``); 0: automatic (1 on SQLite, which writes one
    #: transaction at a time; 4 on PostgreSQL).
    write_lane: int = Field(default=0, ge=0, le=256)
    #: Consumer scans that must wait (on the chain or to write an alert; all of them on
    #: PostgreSQL) run at most this many at once, the others waiting in arrival order; 0:
    #: automatic (2 on SQLite, 4 on PostgreSQL).
    verify_lane: int = Field(default=0, ge=0, le=256)
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
    #: ``trusted_proxies`` parsed once (every scan reads it), with the text it was parsed from.
    _proxies: tuple[str, tuple[Network, ...]] = PrivateAttr(default=("", ()))
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
        webhook = self.otp_webhook_url.get_secret_value()
        if self.otp_sender == "webhook" and not webhook.startswith(("https://", "http://")):
            raise ValueError("TRACECERT_OTP_WEBHOOK_URL must be an http(s) URL")
        if self.otp_sender == "webhook" and not self.dev_mode and webhook.startswith("http://"):
            raise ValueError(
                "TRACECERT_OTP_WEBHOOK_URL is http://, which sends sign-in codes in clear; "
                "use an https:// gateway outside dev mode"
            )
        if not self.dev_mode:
            self._refuse_weak_secrets()
        if (
            self.otp_max_per_network_per_hour < 1
            or not 1 <= self.otp_budget_per_hour <= self.otp_budget_per_day
        ):
            raise ValueError(
                "TRACECERT_OTP_MAX_PER_NETWORK_PER_HOUR and TRACECERT_OTP_BUDGET_PER_HOUR are at "
                "least 1, and TRACECERT_OTP_BUDGET_PER_DAY is at least the hourly budget"
            )
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
        if not 0 <= self.clone_min_span_min <= self.clone_window_h * 60:
            raise ValueError(
                "TRACECERT_CLONE_MIN_SPAN_MIN is between 0 and the clone window "
                "(TRACECERT_CLONE_WINDOW_H) in minutes"
            )
        for name in ("device", "network"):
            if getattr(self, f"scan_{name}_per_min") < 0 or getattr(self, f"scan_{name}_burst") < 1:
                raise ValueError(
                    f"TRACECERT_SCAN_{name.upper()}_PER_MIN is at least 0 (0: no limit) and "
                    f"TRACECERT_SCAN_{name.upper()}_BURST at least 1"
                )
        if self.diversion_min_networks < 1:
            raise ValueError("TRACECERT_DIVERSION_MIN_NETWORKS is at least 1")
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
            self._proxies = (self.trusted_proxies, parse_networks(self.trusted_proxies))
        except TracecertError as exc:
            raise ValueError(f"TRACECERT_TRUSTED_PROXIES: {exc.detail}") from exc
        if not 0 < self.default_page_size <= self.max_page_size:
            raise ValueError("need 0 < default_page_size <= max_page_size")
        return self

    def _refuse_weak_secrets(self) -> None:
        secrets = {
            "TRACECERT_API_KEY_PEPPER": self.api_key_pepper.get_secret_value(),
            "TRACECERT_CODE_SECRET": self.code_secret.get_secret_value(),
            "TRACECERT_WALLET_KEK": self.wallet_kek.get_secret_value(),
        }
        for name, value in secrets.items():
            reason = weak_secret_reason(value)
            if reason is not None:
                raise ValueError(
                    f"{name} is too weak outside dev mode: {reason}; set at least 32 random "
                    "bytes, e.g. from `openssl rand -base64 32`"
                )
        names = list(secrets)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                if secrets[first] == secrets[second]:
                    raise ValueError(
                        f"{first} and {second} are the same value; each must be a secret of "
                        "its own, so that one leaked does not give away the other"
                    )

    @property
    def proxies(self) -> tuple[Network, ...]:
        text, parsed = self._proxies
        if text != self.trusted_proxies:  # changed by a copy that skipped the validator
            parsed = parse_networks(self.trusted_proxies)
            self._proxies = self.trusted_proxies, parsed
        return parsed

    @property
    def pepper(self) -> bytes:
        return self.api_key_pepper.get_secret_value().encode("utf-8")

    @property
    def wallet_kek_bytes(self) -> bytes:
        return self.wallet_kek.get_secret_value().encode("utf-8")

    @property
    def code_secret_bytes(self) -> bytes:
        return self.code_secret.get_secret_value().encode("utf-8")
