"""The one composition root: builds everything from ``Settings``.

``cli.py`` and the WSGI entry point both call ``build``; nothing is built at import time, and
nothing below this module reads configuration or the environment.

Everything is built lazily, and the heavy libraries (SQLAlchemy's ORM, Spyne, pyHanko's signers,
reportlab) are imported by the method that builds what needs them: ``gateway validate`` asks for
``signature_validation()`` only and never pays for the database or the SOAP stack, and
``gateway --help`` imports none of this (tests/unit/test_cli_imports.py guards it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from gateway.config import Settings
from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import Clock, SystemClock
from gateway.domain.deadlines import DeadlinePolicy
from gateway.domain.outages import OutagePolicy
from gateway.domain.rates import Rate
from gateway.errors import InvalidRequest

if TYPE_CHECKING:
    from lxml import etree
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from gateway.services.access import AccessService
    from gateway.services.enrolment import EnrolmentService
    from gateway.services.events import EventsService
    from gateway.services.issuing import IssuingService
    from gateway.services.mandates import MandateRegistry
    from gateway.services.notifications import ByteQuota, NotificationQueries
    from gateway.services.outages import OutageService
    from gateway.services.ports import UnitOfWork
    from gateway.services.publishing import PublishingService
    from gateway.services.receipts import ReceiptService
    from gateway.services.representation import RepresentationService
    from gateway.services.rights import RightsCache
    from gateway.services.rotation import RotationService
    from gateway.services.sweeping import SweepService
    from gateway.services.validation import SignatureValidation
    from gateway.signatures import LocalTimeStampAuthority, SignaturePolicy
    from gateway.soap.application import ResponseSigner
    from gateway.soap.limits import ContentByteLimits, PrincipalLimits
    from gateway.soap.wsgi import GatewayFront
    from gateway.store.buckets import SharedBuckets
    from gateway.store.limits import SqlRateLimitOverrides
    from gateway.store.paging import AudienceMemo
    from gateway.trust.certificates import TrustStore
    from gateway.wssec import WsSecurityPolicy
    from gateway.wssec.response import BodyCanonicalForm
    from gateway.wssec.signing_keys import Announcement, PrivateKey, SigningKeys


def _rights_cache() -> RightsCache:
    from gateway.services.rights import RightsCache

    return RightsCache()


def _audience_memo() -> AudienceMemo:
    from gateway.store.paging import AudienceMemo

    return AudienceMemo()


@dataclass(frozen=True)
class Container:
    """Everything a command or the server needs, built once per process."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)

    @cached_property
    def engine(self) -> Engine:
        from gateway.store.engine import create_engine_for

        return create_engine_for(self.settings.effective_database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        from gateway.store.engine import session_factory

        return session_factory(self.engine)

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return build_calendar(self.settings)

    @cached_property
    def deadline_policy(self) -> DeadlinePolicy:
        return build_deadline_policy(self.settings)

    @cached_property
    def rights_cache(self) -> RightsCache:
        return _rights_cache()

    @cached_property
    def audience_memo(self) -> AudienceMemo:
        return _audience_memo()

    def unit_of_work(self) -> UnitOfWork:
        from gateway.store.unit_of_work import SqlUnitOfWork

        return SqlUnitOfWork(self.sessions, self.mandate_registry_start, self.audience_memo)

    @property
    def mandate_registry_start(self) -> datetime | None:
        start = self.settings.mandate_registry_start
        if start is None:
            return None
        # The official zone, without building the holiday calendar (the registry commands and
        # every unit of work need this, not the holidays).
        return datetime.combine(start, time(0), tzinfo=ZoneInfo(self.settings.timezone))

    @property
    def uow_factory(self) -> Callable[[], UnitOfWork]:
        return self.unit_of_work

    def publishing(self) -> PublishingService:
        from gateway.services.publishing import PublishingService

        return PublishingService(self.uow_factory, self.clock, self.calendar, self.deadline_policy,
                                 self.settings.max_document_bytes)

    def issuing(self) -> IssuingService:
        from gateway.services.issuing import IssuingService

        return IssuingService(self.uow_factory, self.clock, self.publishing(),
                              self.settings.cursor_secret, self._server_seal,
                              self.calendar.timezone)

    def _server_seal(self) -> tuple[Any, Any, Any] | None:
        """The server's signing key and certificate and the local TSA, when configured: loaded
        only when needed (``IssuingService.evidence``), never by registry commands."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        key_path, cert_path = self.settings.effective_server_key, self.settings.effective_server_cert
        if not key_path.is_file() or not cert_path.is_file():
            return None
        return (serialization.load_pem_private_key(key_path.read_bytes(), password=None),
                x509.load_pem_x509_certificate(cert_path.read_bytes()),
                self.time_stamp_authority())

    def enrolment(self) -> EnrolmentService:
        from gateway.services.enrolment import EnrolmentService

        return EnrolmentService(self.uow_factory, self.clock, self.trust_store(),
                                min_rsa_key_bits=self.ws_policy().min_rsa_key_bits)

    def events(self) -> EventsService:
        from gateway.domain.callbacks import CallbackPolicy
        from gateway.domain.events import RetryPolicy
        from gateway.services.events import EventsService

        settings = self.settings
        return EventsService(
            self.uow_factory, self.clock,
            CallbackPolicy.parse(settings.events_allowed_callbacks, settings.events_allow_http),
            source=(settings.public_url or f"http://{settings.bind}").rstrip("/"),
            retry=RetryPolicy(max_attempts=settings.events_max_attempts,
                              base=timedelta(seconds=settings.events_retry_base_seconds)),
            lease=timedelta(seconds=settings.events_lease_seconds))

    def sweeper(self) -> SweepService:
        from gateway.services.sweeping import SweepService

        return SweepService(self.uow_factory, self.clock)

    def outages(self) -> OutageService:
        from gateway.services.outages import OutageService

        return OutageService(self.uow_factory, self.clock, self.calendar, self.deadline_policy)

    def upgrade_database(self) -> None:
        from gateway.store.migrate import upgrade

        upgrade(self.engine)

    def queries(self, byte_quota: ByteQuota | None = None) -> NotificationQueries:
        """Reading notifications; ``byte_quota`` charges the document bytes each download
        releases (the server's ``content_byte_limits``; none for commands)."""
        from gateway.services.notifications import NotificationQueries

        return NotificationQueries(self.uow_factory, self.clock, self.calendar,
                                   self.settings.cursor_secret, self.settings.max_page_size,
                                   self.rights_cache, self.settings.max_contents_bytes,
                                   byte_quota=byte_quota)

    def representation(self) -> RepresentationService:
        from gateway.services.representation import RepresentationService

        return RepresentationService(self.uow_factory, self.clock)

    def access(self) -> AccessService:
        from gateway.services.access import AccessService

        return AccessService(self.uow_factory, self.clock)

    def mandates(self) -> MandateRegistry:
        from gateway.services.mandates import MandateRegistry

        return MandateRegistry(self.uow_factory, self.clock, self.mandate_registry_start)

    def trust_store(self) -> TrustStore:
        from gateway.trust.certificates import TrustStore

        trust_dir = self.settings.effective_trust_dir
        if not trust_dir.is_dir() or not (
                any(trust_dir.glob("*.pem")) or any(trust_dir.glob("tl/*.pem"))):
            raise InvalidRequest(
                f"no trusted CA certificates in {trust_dir}: run 'gateway pki demo' for a demo "
                "PKI or set GATEWAY_TRUST_DIR", code="NO_TRUST_ANCHORS")
        return TrustStore.from_directory(trust_dir, self.settings.effective_crl_dir)

    def ws_policy(self) -> WsSecurityPolicy:
        from gateway.wssec.policy import WsSecurityPolicy

        settings = self.settings
        return WsSecurityPolicy(
            timestamp_ttl=settings.timestamp_ttl, future_skew=settings.future_skew,
            max_message_bytes=settings.max_message_bytes,
        )

    def signature_validation(self, trust: TrustStore | None = None) -> SignatureValidation:
        from gateway.services.validation import SignatureValidation

        return SignatureValidation(signature_policy(self.ws_policy(), self.settings),
                                   trust or self.trust_store(), self.clock,
                                   self.settings.max_validation_documents)

    def receipts(self, trust: TrustStore | None = None) -> ReceiptService:
        """Signed acknowledgements are judged by the validation policy, whole-document only
        (the receipt is one element); receipts are signed with the server key when present (the
        one ``signing_keys`` picks by the clock), and PDF receipts are time-stamped by the local
        TSA when it is configured."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        from gateway.services.receipts import ReceiptService

        key_path, cert_path = self.settings.effective_server_key, self.settings.effective_server_cert
        key = cert = None
        if key_path.is_file() and cert_path.is_file():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        policy = replace(signature_policy(self.ws_policy(), self.settings),
                         require_whole_document=True)
        # Receipts and justificantes follow the response-signing rotation (``pki rotate``).
        keys = self.signing_keys if self.settings.sign_responses and key is not None else None

        def credentials_at(now: datetime) -> tuple[PrivateKey, x509.Certificate]:
            assert keys is not None
            credential = keys.at(now)
            return credential.key, credential.certificate

        return ReceiptService(self.uow_factory, self.clock, self.calendar, policy,
                              trust or self.trust_store(), key, cert,  # type: ignore[arg-type]
                              tsa=self.time_stamp_authority(),
                              verification_url=self.verification_url(),
                              rights=self.rights_cache,
                              credentials_at=credentials_at if keys is not None else None)

    def verification_url(self) -> str:
        """The public verification page, as printed on justificantes."""
        base = self.settings.public_url or f"http://{self.settings.bind}"
        return base.rstrip("/") + "/verify"

    def time_stamp_authority(self) -> LocalTimeStampAuthority | None:
        """The local RFC 3161 TSA when its certificate and key are configured, else None."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        from gateway.signatures.tsa import LocalTimeStampAuthority

        cert_path, key_path = self.settings.effective_tsa_cert, self.settings.effective_tsa_key
        if not cert_path.is_file() or not key_path.is_file():
            return None
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        return LocalTimeStampAuthority(key, cert, self.clock)  # type: ignore[arg-type]

    def wsgi_app(self) -> GatewayFront:
        """The complete WSGI application: gate, Spyne services, faults, health, metrics."""
        from gateway.signatures.tsa import tsa_wsgi_app
        from gateway.soap.application import GatewayWsgiApplication
        from gateway.soap.context import SoapDependencies, activate_invitations_on_call
        from gateway.soap.contract import PORTS, WSCN_PORTS, port_application
        from gateway.soap.issuer_service import DOCUMENT_CONTENT
        from gateway.soap.limits import SourceLimits
        from gateway.soap.metrics import GatewayMetrics
        from gateway.soap.refusals import UnauthenticatedRefusals
        from gateway.soap.wsgi import GatewayFront
        from gateway.soap.xop import XopLimits
        from gateway.store.enrolled import SqlEnrolledCertificates
        from gateway.store.replay import SqlNonceStore, SqlRefusalAudit, SqlRefusalSummaryAudit
        from gateway.web.public import PublicPolicy, PublicVerification
        from gateway.wssec.gate import WsSecurityGate

        settings = self.settings
        trust = self.trust_store()
        gate = WsSecurityGate(self.ws_policy(), trust, SqlNonceStore(self.sessions), self.clock,
                              enrolled=SqlEnrolledCertificates(self.sessions))
        signer = self._response_signer()
        # WSCN-era clients do not process response security: sign, but do not mark it
        # mustUnderstand on that port (docs/WSCN.md, "Client behaviour to respect").
        lenient_signer = self._response_signer(must_understand=False)
        signers = {name: lenient_signer if port in WSCN_PORTS else signer
                   for port, name in PORTS.items()}
        deps = SoapDependencies(
            queries=self.queries(self.content_byte_limits().charger),
            representation=self.representation(), clock=self.clock,
            official_zone=self.calendar.timezone, receipts=(receipts := self.receipts(trust)),
            access=self.access(), events=(events := self.events()),
            server_certificates=self.server_certificates(),
        )
        validation = self.signature_validation(trust)
        issuing = self.issuing()
        services = {
            name: GatewayWsgiApplication(port_application(
                port, notification=deps, validation=validation, receipts=deps.receipts,
                issuing=issuing, events=events,
                response_signer=signers[name],
                strict_wsi_status=settings.strict_wsi_fault_status))
            for port, name in PORTS.items()
        }
        for service in services.values():
            activate_invitations_on_call(service.app, deps.access)
        metrics = GatewayMetrics(event_queue=events.queue)
        return GatewayFront(
            services=services, gate=gate, response_signer=signer, port_signers=signers,
            audit_refusal=SqlRefusalAudit(self.sessions, self.clock),
            health=self.database_is_up, metrics=metrics,
            max_message_bytes=settings.max_message_bytes,
            strict_wsi_status=settings.strict_wsi_fault_status,
            tsa=tsa_wsgi_app(tsa) if (tsa := self.time_stamp_authority()) else None,
            public=PublicVerification.build(receipts, self.calendar.timezone, PublicPolicy(
                trusted_proxies=settings.trusted_proxies)),
            junk=UnauthenticatedRefusals(
                SqlRefusalSummaryAudit(self.sessions, self.clock),
                lambda code: metrics.unauthenticated_refusals.labels(code).inc(),
                pending=metrics.refusal_summary_pending),
            source_limits=SourceLimits(Rate(settings.unauthenticated_rate_per_second,
                                            settings.unauthenticated_burst)),
            principal_limits=self.principal_limits(),
            retry_after_seconds=settings.retry_after_seconds,
            public_url=settings.public_url, trusted_proxies=settings.trusted_proxies,
            server_certificates=self.server_certificates(),
            xop_parents={PORTS["issuer-service"]: DOCUMENT_CONTENT},
            xop_limits=XopLimits(settings.max_message_bytes, settings.max_document_bytes,
                                 settings.max_upload_bytes),
        )

    def principal_limits(self) -> PrincipalLimits:
        """Per-principal rates: settings per kind, overrides in the database, buckets shared by
        this host's workers in ``<data_dir>/run/rate-buckets.sqlite3``."""
        from gateway.soap.limits import PrincipalLimits
        from gateway.store.limits import SqlRateLimitOverrides

        settings = self.settings
        return PrincipalLimits(
            Rate(settings.rate_per_second, settings.rate_burst),
            {kind.upper(): Rate(*rate) for kind, rate in settings.rate_per_kind.items()},
            SqlRateLimitOverrides(self.sessions).all,
            self.shared_buckets,
        )

    @cached_property
    def shared_buckets(self) -> SharedBuckets:
        """This host's token buckets, shared by its workers (``<data_dir>/run``)."""
        from gateway.store.buckets import SharedBuckets

        return SharedBuckets(self.settings.data_dir / "run" / "rate-buckets.sqlite3")

    def content_byte_limits(self) -> ContentByteLimits:
        """Document bytes per hour per principal: settings per kind, overrides in the database,
        byte buckets in the host's shared file."""
        from gateway.soap.limits import ContentByteLimits
        from gateway.store.limits import SqlRateLimitOverrides

        settings = self.settings
        return ContentByteLimits(
            settings.content_bytes_per_hour,
            {kind.upper(): per_hour for kind, per_hour in settings.content_bytes_per_kind.items()},
            SqlRateLimitOverrides(self.sessions).bytes_all, self.shared_buckets)

    def rate_limit_overrides(self) -> SqlRateLimitOverrides:
        from gateway.store.limits import SqlRateLimitOverrides

        return SqlRateLimitOverrides(self.sessions)

    def database_is_up(self) -> bool:
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    @cached_property
    def signing_keys(self) -> SigningKeys | None:
        """The configured server certificate and key, and those ``gateway pki rotate``
        scheduled (read from the database every few seconds); None when responses go unsigned."""
        from gateway.store.server_certificates import SqlServerCertificates
        from gateway.wssec.signing_keys import SigningKeys, load_credential

        settings = self.settings
        key_path, cert_path = settings.effective_server_key, settings.effective_server_cert
        if not settings.sign_responses:
            return None
        if not key_path.is_file() or not cert_path.is_file():
            raise InvalidRequest(
                f"response signing is on but {key_path} or {cert_path} is missing "
                "(set GATEWAY_SIGN_RESPONSES=false to run unsigned)", code="NO_SERVER_KEY")
        return SigningKeys(load_credential(cert_path.read_bytes(), key_path),
                           SqlServerCertificates(self.sessions).all)

    def server_certificates(self) -> Callable[[], Announcement] | None:
        """What ``GetServerCertificates`` and ``GET /server-certificates`` publish now."""
        keys, clock = self.signing_keys, self.clock
        if keys is None:
            return None
        return lambda: keys.announcement(clock.now())

    def rotation(self) -> RotationService:
        from gateway.services.rotation import RotationService
        from gateway.store.server_certificates import SqlServerCertificates

        return RotationService(SqlServerCertificates(self.sessions), self.clock)

    def _response_signer(self, *, must_understand: bool = True) -> ResponseSigner | None:
        from gateway.wssec.response import sign_response

        keys = self.signing_keys
        if keys is None:
            return None
        clock = self.clock

        def sign(envelope: etree._Element, *,
                 body_canonical: BodyCanonicalForm | None = None) -> None:
            # The key is chosen by the clock for each response: a scheduled rotation takes
            # effect at its instant in every worker (``wssec.signing_keys``).
            credential = keys.at(clock.now())
            sign_response(envelope, credential.key, credential.certificate, clock,
                          body_canonical=body_canonical, must_understand=must_understand)

        return sign

    def dispose(self) -> None:
        if "engine" in self.__dict__:  # never build an engine only to dispose of it
            self.engine.dispose()


SERVER_MODULES = (
    "holidays", "sqlalchemy.orm", "cryptography.x509", "gateway.services.access",
    "gateway.services.issuing",
    "gateway.services.mandates", "gateway.services.notifications", "gateway.services.outages",
    "gateway.services.publishing", "gateway.services.receipts",
    "gateway.services.representation", "gateway.services.rights", "gateway.services.sweeping",
    "gateway.services.validation", "gateway.signatures", "gateway.soap.application",
    "gateway.soap.context", "gateway.soap.contract", "gateway.soap.limits", "gateway.soap.metrics",
    "gateway.soap.refusals", "gateway.soap.wsgi", "gateway.store.buckets", "gateway.store.limits",
    "gateway.store.engine", "gateway.store.migrate", "gateway.store.paging",
    "gateway.store.replay", "gateway.store.server_certificates", "gateway.store.unit_of_work",
    "gateway.web.public", "gateway.wssec", "gateway.wssec.signing_keys",
)
"""What ``wsgi_app`` and the services it wires import when they are built."""


def import_server_modules() -> None:
    """Import, without building anything, every module the server builds from.

    The gunicorn master calls this (``gateway.wsgi`` does, on import) so the modules are loaded
    once before it forks, frozen there and shared by the workers (``gateway.process_memory``);
    the commands leave it alone and import only what they build.
    """
    import importlib

    for name in SERVER_MODULES:
        importlib.import_module(name)


def signature_policy(ws_policy: WsSecurityPolicy, settings: Settings) -> SignaturePolicy:
    """Signatures in documents are judged by the algorithms and key sizes that authenticate
    requests (one policy, configured once); documents are bounded by the message size."""
    from gateway.signatures.policy import SignaturePolicy

    return SignaturePolicy.from_allow_lists(
        ws_policy.signature_algorithms, ws_policy.digest_algorithms,
        min_rsa_key_bits=ws_policy.min_rsa_key_bits, check_revocation=ws_policy.check_revocation,
        require_revocation_info=ws_policy.require_revocation_info,
        max_document_bytes=settings.max_message_bytes,
        weak_algorithms_until=settings.weak_algorithms_until,
    )


def build_calendar(settings: Settings) -> WorkingCalendar:
    """National (optionally regional) holidays from the ``holidays`` package plus configured days.

    The lookup expands to new years on demand, so deadlines in later years keep working.
    """
    import holidays

    lookup = holidays.country_holidays(
        settings.holiday_country, subdiv=settings.holiday_subdivision
    )
    return WorkingCalendar(
        timezone=ZoneInfo(settings.timezone),
        holidays=lookup,
        extra_holidays=frozenset(settings.extra_holidays),
    )


def build_deadline_policy(settings: Settings) -> DeadlinePolicy:
    return DeadlinePolicy(
        natural_days=settings.deadline_days,
        outages=OutagePolicy(
            enabled=settings.outage_extension, minimum_overlap=settings.outage_minimum
        ),
    )


def build(settings: Settings, *, clock: Clock | None = None) -> Container:
    """The container for ``settings``; what it holds is built on first use."""
    return Container(settings=settings.with_secrets(), clock=clock or SystemClock())
