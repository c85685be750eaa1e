"""The one Settings object.

Read once (``Settings.from_env()``), validated here, then passed to ``bootstrap``; nothing else
reads the environment. Every variable is ``GATEWAY_*``; an optional ``GATEWAY_CONFIG_FILE`` names
a file of ``KEY=value`` lines read first, which the environment overrides.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from gateway.errors import InvalidRequest

DEFAULT_DATA_DIR = Path("var")


@dataclass(frozen=True)
class Settings:
    """Everything the gateway can be configured with, with safe defaults."""

    data_dir: Path = DEFAULT_DATA_DIR
    """Where the embedded database, demo PKI and generated secrets live."""

    database_url: str = ""
    """SQLAlchemy URL; empty means SQLite at ``<data_dir>/gateway.db`` (WAL mode)."""

    timezone: str = "Europe/Madrid"
    """Official time zone: deadlines and working days are reckoned in it."""

    deadline_days: int = 10
    """Natural days after availability before a notification is deemed rejected (EXPIRED)."""

    holiday_country: str = "ES"
    """Country of the national holiday calendar (``holidays`` package)."""

    holiday_subdivision: str | None = None
    """Optional region for regional holidays (e.g. ``MD``); national only when unset."""

    extra_holidays: tuple[date, ...] = ()
    """Further non-working days (comma-separated ISO dates in ``GATEWAY_EXTRA_HOLIDAYS``)."""

    outage_extension: bool = True
    """Whether recorded service outages extend the deadlines of items they overlapped."""

    outage_minimum: timedelta = timedelta(hours=1)
    """An outage overlapping an item's window by less than this does not extend it."""

    cursor_secret: bytes = b""
    """HMAC key for listing cursors; shared by every host. Empty: generated into data_dir."""

    max_page_size: int = 1000
    """Largest ``pageSize`` ListNotifications accepts."""

    max_contents_bytes: int = 4 * 1024 * 1024
    """Document bytes one GetContents answer carries at most (the rest is DEFERRED): what a
    worker thread holds, plus its base64, per bulk download."""

    mandate_registry_start: date | None = date(2016, 10, 2)
    """Mandates given before this day (00:00 official time) are void: the registry of mandates
    did not exist yet (Law 39/2015 created it; in force 2 October 2016). ``none`` disables it."""

    pki_dir: Path | None = None
    """Root of a PKI laid out like ``gateway pki demo`` writes it; default ``<data_dir>/pki``."""

    trust_dir: Path | None = None
    """Directory of trusted CA certificates (PEM); default ``<pki_dir>/trust``."""

    crl_dir: Path | None = None
    """Directory of CRLs (PEM or DER); default ``<pki_dir>/crl`` if it exists."""

    server_cert: Path | None = None
    """Server certificate used to sign responses; default ``<pki_dir>/server/cert.pem``."""

    server_key: Path | None = None
    """Server private key; default ``<pki_dir>/server/key.pem``."""

    tsa_cert: Path | None = None
    """Certificate of the local RFC 3161 time-stamping unit; default ``<pki_dir>/tsa/cert.pem``.
    When it and its key exist, the gateway signs at level T without network and answers
    time-stamp queries at ``POST /tsa``."""

    tsa_key: Path | None = None
    """Private key of the local time-stamping unit; default ``<pki_dir>/tsa/key.pem``."""

    sign_responses: bool = True
    """Sign every response (Timestamp + Body) when a server key is available."""

    timestamp_ttl: timedelta = timedelta(seconds=300)
    """Oldest accepted request, from its wsu:Created (WSS4J timeStampTTL)."""

    future_skew: timedelta = timedelta(seconds=60)
    """How far in the future a request's wsu:Created may be (clock skew)."""

    max_message_bytes: int = 10 * 1024 * 1024
    """Largest request body accepted; larger ones get a LimitExceeded fault (HTTP 413)."""

    max_document_bytes: int = 256 * 1024 * 1024
    """Largest document an issuer may publish (``PublishNotifications``, ``gateway import``);
    documents above the message cap travel as MTOM attachments."""

    max_upload_bytes: int = 1024 * 1024 * 1024
    """Largest MTOM (multipart/related) request body to ``IssuerService``: the envelope and
    every attachment together. Attachments are spooled to disk, not held in memory."""

    max_validation_documents: int = 20
    """Documents one ValidateSignatures call may carry (each a full validation); more get a
    LimitExceeded fault (TOO_MANY_DOCUMENTS). The message size bounds their bytes."""

    weak_algorithms_until: tuple[tuple[str, datetime], ...] = ()
    """Hash algorithms refused today but accepted in signed documents proven (by a time-stamp) to
    exist before a date (``GATEWAY_WEAK_ALGORITHMS_UNTIL=sha1=2016-01-01T00:00:00Z``, comma
    separated); ``SignaturePolicy.weak_algorithms_until``. The WS-Security gate never uses it."""

    strict_wsi_fault_status: bool = False
    """Send every SOAP fault with HTTP 500 (WS-I BP R1126) instead of a status by error class
    (``GATEWAY_FAULT_HTTP_STATUS=500``; default ``by-class``)."""

    bind: str = "127.0.0.1:8080"
    """Address ``gateway serve`` listens on."""

    public_url: str = ""
    """Base URL people reach the gateway at (``GATEWAY_PUBLIC_URL``): justificantes print
    ``<public_url>/verify`` and its QR code, and the published WSDL advertises
    ``<public_url>/<Service>``. Empty: ``http://<bind>`` for justificantes, and for the WSDL the
    address the request came to (forwarded by a trusted proxy, see ``trusted_proxies``)."""

    trusted_proxies: tuple[str, ...] = ()
    """Reverse proxies (addresses or CIDR networks, ``GATEWAY_TRUSTED_PROXIES`` comma separated)
    whose ``X-Real-IP`` header names the client: the public routes' per-address rate limit keys
    on it; and whose ``X-Forwarded-Proto``/``X-Forwarded-Host`` make the WSDL's address when
    ``public_url`` is empty. Empty: the peer address and the request's own Host, always."""

    workers: int = 2
    """Gunicorn worker processes for ``gateway serve``."""

    header_timeout_seconds: int = 10
    """Deadline for a client to send a request's line and headers, from its first byte or from
    the accepted connection (``gateway.connections``: the slow-header and idle defence)."""

    request_timeout_seconds: int = 30
    """Deadline for a whole request (headers and body); a slower one is closed unanswered."""

    keepalive_seconds: int = 5
    """How long an idle kept-alive connection may wait for its next request."""

    accept_backlog: int = 128
    """The listening socket's accept queue (connections the kernel holds before a worker takes
    them); beyond it the kernel refuses or drops new connections."""

    max_connections_per_worker: int = 1000
    """Open connections one worker holds (reading, serving or kept alive) before it stops
    accepting; the rest wait in the accept queue."""

    rate_per_second: float = 20.0
    """Signed requests per second allowed to one principal (token bucket refill); per kind
    overrides in ``rate_per_kind``, per principal in ``gateway limits set``."""

    rate_burst: int = 40
    """Requests one principal may send at once above its rate (token bucket size)."""

    rate_per_kind: Mapping[str, tuple[float, int]] = field(default_factory=dict)
    """(rate, burst) per principal kind, e.g. ``GATEWAY_RATE_LIMIT_ENTITY=50/100`` (kinds: PERSON, ENTITY, REPRESENTATIVE)."""

    content_bytes_per_hour: int = 8 * 2**30
    """Document bytes one principal may download per hour (GetContent, GetContents, streamed
    downloads, WSCN verNotificacionAceptada): an hour's allowance at once, refilled evenly.
    Per kind in ``content_bytes_per_kind``, per principal in ``gateway limits set
    --bytes-per-hour``."""

    content_bytes_per_kind: Mapping[str, int] = field(default_factory=dict)
    """Bytes per hour per principal kind, e.g. ``GATEWAY_CONTENT_BYTES_PER_HOUR_PERSON=1073741824``."""

    unauthenticated_rate_per_second: float = 50.0
    """Requests per second one source address may send before the gate (per worker)."""

    unauthenticated_burst: int = 100
    """Burst of the per-source-address limit."""

    retry_after_seconds: int = 5
    """``Retry-After`` sent with SERVICE_UNAVAILABLE (database unreachable)."""

    events_allowed_callbacks: str = ""
    """Where event callbacks may point (``GATEWAY_EVENTS_ALLOWED_CALLBACKS``): comma-separated
    host names, addresses and CIDR networks (``gateway.domain.callbacks``). Empty: no
    subscription can be made (no callback is ever contacted)."""

    events_allow_http: bool = False
    """Let callbacks use plain ``http`` (loopback receivers in labs and tests); default https
    only."""

    events_max_attempts: int = 12
    """Attempts after which an event delivery is dead-lettered (``gateway subscriptions
    redeliver`` sends it again)."""

    events_retry_base_seconds: float = 2.0
    """First back-off step after a failed delivery; it doubles per attempt (jittered, capped at
    an hour)."""

    events_lease_seconds: int = 60
    """How long a claimed delivery is held by the process sending it; if that process dies, the
    delivery is sent again after this."""

    events_ca_file: Path | None = None
    """Extra CA certificates (PEM) trusted for https callbacks, besides the system's."""

    extra: Mapping[str, str] = field(default_factory=dict)
    """Unrecognised ``GATEWAY_*`` keys, kept so later components can read their own."""

    @property
    def effective_pki_dir(self) -> Path:
        return self.pki_dir or self.data_dir / "pki"

    @property
    def effective_trust_dir(self) -> Path:
        return self.trust_dir or self.effective_pki_dir / "trust"

    @property
    def effective_crl_dir(self) -> Path | None:
        crl_dir = self.crl_dir or self.effective_pki_dir / "crl"
        return crl_dir if crl_dir.is_dir() else None

    @property
    def effective_server_cert(self) -> Path:
        return self.server_cert or self.effective_pki_dir / "server" / "cert.pem"

    @property
    def effective_server_key(self) -> Path:
        return self.server_key or self.effective_pki_dir / "server" / "key.pem"

    @property
    def effective_tsa_cert(self) -> Path:
        return self.tsa_cert or self.effective_pki_dir / "tsa" / "cert.pem"

    @property
    def effective_tsa_key(self) -> Path:
        return self.tsa_key or self.effective_pki_dir / "tsa" / "key.pem"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.db').as_posix()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        values: dict[str, str] = {}
        config_file = env.get("GATEWAY_CONFIG_FILE")
        if config_file:
            values.update(_read_config_file(Path(config_file)))
        values.update({k: v for k, v in env.items() if k.startswith("GATEWAY_")})
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        consumed: set[str] = {"GATEWAY_CONFIG_FILE"}

        def get(name: str) -> str | None:
            consumed.add(f"GATEWAY_{name}")
            value = values.get(f"GATEWAY_{name}")
            return value.strip() if value is not None and value.strip() != "" else None

        changes: dict[str, object] = {}
        if (v := get("DATA_DIR")) is not None:
            changes["data_dir"] = Path(v)
        if (v := get("DATABASE_URL")) is not None:
            changes["database_url"] = v
        if (v := get("TIMEZONE")) is not None:
            changes["timezone"] = _timezone(v)
        if (v := get("DEADLINE_DAYS")) is not None:
            changes["deadline_days"] = _positive_int("GATEWAY_DEADLINE_DAYS", v)
        if (v := get("HOLIDAY_COUNTRY")) is not None:
            changes["holiday_country"] = v.upper()
        if (v := get("HOLIDAY_SUBDIVISION")) is not None:
            changes["holiday_subdivision"] = v.upper()
        if (v := get("EXTRA_HOLIDAYS")) is not None:
            changes["extra_holidays"] = _dates("GATEWAY_EXTRA_HOLIDAYS", v)
        if (v := get("OUTAGE_EXTENSION")) is not None:
            changes["outage_extension"] = _boolean("GATEWAY_OUTAGE_EXTENSION", v)
        if (v := get("OUTAGE_MINIMUM_MINUTES")) is not None:
            minutes = _positive_int("GATEWAY_OUTAGE_MINIMUM_MINUTES", v)
            changes["outage_minimum"] = timedelta(minutes=minutes)
        if (v := get("CURSOR_SECRET")) is not None:
            changes["cursor_secret"] = v.encode()
        if (v := get("MANDATE_REGISTRY_START")) is not None:
            changes["mandate_registry_start"] = (
                None if v.lower() == "none"
                else _dates("GATEWAY_MANDATE_REGISTRY_START", v)[0])
        if (v := get("MAX_PAGE_SIZE")) is not None:
            changes["max_page_size"] = _positive_int("GATEWAY_MAX_PAGE_SIZE", v)
        if (v := get("MAX_CONTENTS_BYTES")) is not None:
            changes["max_contents_bytes"] = _positive_int("GATEWAY_MAX_CONTENTS_BYTES", v)
        for name in ("PKI_DIR", "TRUST_DIR", "CRL_DIR", "SERVER_CERT", "SERVER_KEY", "TSA_CERT",
                     "TSA_KEY"):
            if (v := get(name)) is not None:
                changes[name.lower()] = Path(v)
        if (v := get("SIGN_RESPONSES")) is not None:
            changes["sign_responses"] = _boolean("GATEWAY_SIGN_RESPONSES", v)
        if (v := get("TIMESTAMP_TTL_SECONDS")) is not None:
            changes["timestamp_ttl"] = timedelta(
                seconds=_positive_int("GATEWAY_TIMESTAMP_TTL_SECONDS", v))
        if (v := get("FUTURE_SKEW_SECONDS")) is not None:
            changes["future_skew"] = timedelta(
                seconds=_positive_int("GATEWAY_FUTURE_SKEW_SECONDS", v))
        if (v := get("MAX_MESSAGE_BYTES")) is not None:
            changes["max_message_bytes"] = _positive_int("GATEWAY_MAX_MESSAGE_BYTES", v)
        for name in ("max_document_bytes", "max_upload_bytes"):
            if (v := get(name.upper())) is not None:
                changes[name] = _positive_int(f"GATEWAY_{name.upper()}", v)
        if (v := get("MAX_VALIDATION_DOCUMENTS")) is not None:
            changes["max_validation_documents"] = _positive_int(
                "GATEWAY_MAX_VALIDATION_DOCUMENTS", v)
        if (v := get("WEAK_ALGORITHMS_UNTIL")) is not None:
            changes["weak_algorithms_until"] = _dated_algorithms(v)
        if (v := get("FAULT_HTTP_STATUS")) is not None:
            if v not in ("by-class", "500"):
                raise InvalidRequest("GATEWAY_FAULT_HTTP_STATUS is by-class or 500",
                                     field="GATEWAY_FAULT_HTTP_STATUS")
            changes["strict_wsi_fault_status"] = v == "500"
        if (v := get("BIND")) is not None:
            changes["bind"] = v
        if (v := get("PUBLIC_URL")) is not None:
            changes["public_url"] = v
        if (v := get("TRUSTED_PROXIES")) is not None:
            changes["trusted_proxies"] = _networks("GATEWAY_TRUSTED_PROXIES", v)
        if (v := get("WORKERS")) is not None:
            changes["workers"] = _positive_int("GATEWAY_WORKERS", v)
        for name in ("header_timeout_seconds", "request_timeout_seconds", "keepalive_seconds",
                     "accept_backlog", "max_connections_per_worker", "rate_burst",
                     "unauthenticated_burst", "retry_after_seconds"):
            key = name.upper()
            if (v := get(key)) is not None:
                changes[name] = _positive_int(f"GATEWAY_{key}", v)
        for name in ("rate_per_second", "unauthenticated_rate_per_second"):
            key = name.upper()
            if (v := get(key)) is not None:
                changes[name] = _positive_float(f"GATEWAY_{key}", v)
        if (v := get("CONTENT_BYTES_PER_HOUR")) is not None:
            changes["content_bytes_per_hour"] = _positive_int("GATEWAY_CONTENT_BYTES_PER_HOUR", v)
        bytes_per_kind: dict[str, int] = {}
        for key in [k for k in values if k.startswith("GATEWAY_CONTENT_BYTES_PER_HOUR_")]:
            consumed.add(key)
            bytes_per_kind[key.removeprefix("GATEWAY_CONTENT_BYTES_PER_HOUR_").upper()] = \
                _positive_int(key, values[key].strip())
        if bytes_per_kind:
            changes["content_bytes_per_kind"] = bytes_per_kind
        if (v := get("EVENTS_ALLOWED_CALLBACKS")) is not None:
            changes["events_allowed_callbacks"] = v
        if (v := get("EVENTS_ALLOW_HTTP")) is not None:
            changes["events_allow_http"] = _boolean("GATEWAY_EVENTS_ALLOW_HTTP", v)
        if (v := get("EVENTS_MAX_ATTEMPTS")) is not None:
            changes["events_max_attempts"] = _positive_int("GATEWAY_EVENTS_MAX_ATTEMPTS", v)
        if (v := get("EVENTS_RETRY_BASE_SECONDS")) is not None:
            changes["events_retry_base_seconds"] = _positive_float(
                "GATEWAY_EVENTS_RETRY_BASE_SECONDS", v)
        if (v := get("EVENTS_LEASE_SECONDS")) is not None:
            changes["events_lease_seconds"] = _positive_int("GATEWAY_EVENTS_LEASE_SECONDS", v)
        if (v := get("EVENTS_CA_FILE")) is not None:
            changes["events_ca_file"] = Path(v)
        per_kind: dict[str, tuple[float, int]] = {}
        for key in [k for k in values if k.startswith("GATEWAY_RATE_LIMIT_")]:
            consumed.add(key)
            per_kind[key.removeprefix("GATEWAY_RATE_LIMIT_")] = parse_rate(key, values[key])
        if per_kind:
            changes["rate_per_kind"] = per_kind
        extra = {k: v for k, v in values.items() if k not in consumed}
        return cls(extra=extra, **changes)  # type: ignore[arg-type]

    def with_secrets(self) -> Settings:
        """Fill secrets left empty from ``data_dir`` (created once, then reused by every run)."""
        if self.cursor_secret:
            return self
        return replace(self, cursor_secret=_persistent_secret(self.data_dir / "cursor.key"))


def _read_config_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRequest(f"cannot read config file {path}: {exc.strerror}") from exc
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise InvalidRequest(f"{path}:{number}: expected KEY=value")
        values[key.strip()] = value.strip()
    return values


def _networks(name: str, raw: str) -> tuple[str, ...]:
    networks = tuple(part.strip() for part in raw.split(",") if part.strip())
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise InvalidRequest(f"{name}: {network!r} is not an address or network",
                                 field=name) from exc
    return networks


def parse_rate(name: str, raw: str) -> tuple[float, int]:
    """``RATE/BURST`` (requests per second, bucket size), e.g. ``50/100``."""
    rate, sep, burst = raw.partition("/")
    if not sep:
        raise InvalidRequest(f"{name} is RATE/BURST, e.g. 20/40", field=name)
    return _positive_float(name, rate), _positive_int(name, burst)


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be a positive number", field=name) from exc
    if not value > 0 or value == float("inf"):
        raise InvalidRequest(f"{name} must be a positive number", field=name)
    return value


def _dated_algorithms(raw: str) -> tuple[tuple[str, datetime], ...]:
    """``sha1=2016-01-01T00:00:00Z,sha224=...`` -> ((name, aware instant), ...)."""
    dated = []
    for item in raw.split(","):
        name, _, when = item.strip().partition("=")
        try:
            instant = datetime.fromisoformat(when.strip())
        except ValueError:
            instant = None
        if not name.strip() or instant is None or instant.tzinfo is None:
            raise InvalidRequest("GATEWAY_WEAK_ALGORITHMS_UNTIL is name=ISO-8601 instant with a "
                                 "time zone, comma separated", field="GATEWAY_WEAK_ALGORITHMS_UNTIL")
        dated.append((name.strip().lower(), instant))
    return tuple(dated)


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be a whole number, got {raw!r}", field=name) from exc
    if value <= 0:
        raise InvalidRequest(f"{name} must be positive, got {value}", field=name)
    return value


def _boolean(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise InvalidRequest(f"{name} must be true or false, got {raw!r}", field=name)


def _dates(name: str, raw: str) -> tuple[date, ...]:
    try:
        return tuple(sorted({date.fromisoformat(p.strip()) for p in raw.split(",") if p.strip()}))
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be ISO dates separated by commas", field=name) from exc


def _timezone(raw: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidRequest(f"unknown time zone {raw!r}", field="GATEWAY_TIMEZONE") from exc
    return raw


def _persistent_secret(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    # O_EXCL: two processes starting at once agree on the first secret written.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    return secret
