"""The WS-Security gate: nothing reaches service code unless this says who signed what (DESIGN §5).

Entry points: :meth:`WsSecurityGate.verify` takes an envelope the WSGI layer already parsed with
``gateway.xmlsafe.parse_xml`` (so the same tree can go on to Spyne: parse once);
:meth:`WsSecurityGate.verify_bytes` parses with the policy's limits first. The WSGI layer::

    envelope = parse_xml(body, max_bytes=policy.max_message_bytes, max_depth=policy.max_depth)
    verified = gate.verify(envelope)        # raises a GatewayError -> one SOAP fault
    # hand `envelope` (same tree) to Spyne; bench/wssec_verify.py's PreParsedSoap11 shows how

Parse and verify in the same thread (a WSGI request thread does both): see the ``#default``
note in ``gateway.wssec.signature``. The gate never mutates the tree.

Order of checks (cheap and structural first; one public-key operation before any large
canonicalisation; the only write -- the replay nonce -- last, after everything verified):

1. Envelope of an enabled SOAP version with exactly one Header and one Body, nothing else.
   Every header block addressed to us (no actor/role, or ``next``/``ultimateReceiver``) and
   marked ``mustUnderstand`` must be one we process -- only ``wsse:Security`` -- or the answer
   is a ``soap:MustUnderstand`` fault naming it (SOAP 1.1 §4.2.3, SOAP 1.2 §5.2.3, WS-I BP
   R1025/R1027). Blocks for another actor are not ours and are left alone.
2. Exactly one ``wsse:Security`` addressed to us in the Header (one for another
   ``actor``/``role`` does not count: WSS 1.1 §6.1); in it at most one ``wsu:Timestamp``
   (BSP R3227), exactly one ``ds:Signature``.
3. Id index of the whole document (duplicates refused), signature structure and allow-lists,
   references resolved.
4. XSW defence: the signature must designate the very Body element child of the Envelope and the
   very Timestamp element child of the Security header -- object identity, not Id strings.
5. Timestamp freshness on the official clock.
6. KeyInfo -> SecurityTokenReference -> BinarySecurityToken -> X.509 certificate (or, for an
   IssuerSerial, SKI, ThumbprintSHA1 or X509v3 KeyIdentifier reference, the certificate
   *enrolled* for a principal that it names: ``wssec/enrolled.py``); trust path, validity,
   revocation, key usage; principal mapping (decoding and mapping memoised per certificate).
7. SignatureValue, then every Reference digest.
8. Replay nonce remembered until the message could no longer be accepted anyway
   (``min(Expires, Created + timestamp_ttl)``).

Every failure is a ``GatewayError`` (``InvalidRequest``, ``InvalidSecurity``,
``AuthenticationError``, ``MessageExpired``, ``LimitExceeded``) with a stable ``code`` and a
message that names no internal detail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from cryptography import x509
from lxml import etree

from gateway import namespaces as ns
from gateway.domain.clock import Clock
from gateway.domain.principal import Principal
from gateway.errors import GatewayError, InvalidRequest, InvalidSecurity, MustUnderstand
from gateway.trust.algorithms import SignatureAlgorithm
from gateway.trust.certificates import TrustStore, check_signing_usage
from gateway.trust.principals import principal_from_certificate
from gateway.wssec.enrolled import EnrolledCertificates, resolve, unknown
from gateway.wssec.policy import SoapVersion, WsSecurityPolicy
from gateway.wssec.replay import NonceStore, replay_digest
from gateway.wssec.signature import parse_signature, verify_signature
from gateway.wssec.timestamp import check_timestamp
from gateway.wssec.tokens import (
    CertificateReference,
    PublicKey,
    ReferenceKind,
    decode_x509_token,
    find_signing_token,
)
from gateway.xmlsafe import parse_xml
from gateway.xmlsig.names import SIGNATURE
from gateway.xmlsig.references import IdIndex

SECURITY = ns.qname(ns.WSSE, "Security")
TIMESTAMP = ns.qname(ns.WSU, "Timestamp")

TOKEN_CACHE_SIZE = 1024


class VerifiedRequest(NamedTuple):
    """What the gate established about one request; service code uses only this.

    A NamedTuple, like the gate's other per-request values (``signature.SignedReference``):
    immutable, and several times cheaper to build than a frozen dataclass.
    """

    principal: Principal
    certificate: x509.Certificate
    envelope: etree._Element
    header: etree._Element
    """The envelope's one ``Header`` element (the one holding the verified Security header)."""
    body: etree._Element
    """The exact signed ``Body`` element of the envelope (hand this, not a re-lookup, onwards)."""
    timestamp_created: datetime
    timestamp_expires: datetime
    signed_ids: tuple[str, ...]
    signed_elements: tuple[etree._Element, ...]
    soap_version: SoapVersion
    signature_algorithm: SignatureAlgorithm


@dataclass(frozen=True, slots=True)
class _TokenVerdict:
    """Everything about one token that depends only on the certificate (memoised)."""

    certificate: x509.Certificate
    public_key: PublicKey
    fingerprint: str
    principal: Principal | None
    refusal: GatewayError | None


_ENVELOPES = {
    ns.qname(version.envelope_namespace, "Envelope"): (
        version,
        ns.qname(version.envelope_namespace, "Header"),
        ns.qname(version.envelope_namespace, "Body"),
    )
    for version in SoapVersion
}


def _envelope_parts(
    envelope: etree._Element, policy: WsSecurityPolicy
) -> tuple[SoapVersion, etree._Element, etree._Element]:
    known = _ENVELOPES.get(envelope.tag) if isinstance(envelope.tag, str) else None
    if known is None:
        if isinstance(envelope.tag, str) and etree.QName(envelope).localname == "Envelope":
            raise InvalidRequest(
                "This endpoint does not accept this SOAP envelope version",
                code="SOAP_VERSION_MISMATCH",
            )
        raise InvalidRequest("The message is not a SOAP envelope", code="NOT_SOAP_ENVELOPE")
    version, header_tag, body_tag = known
    if version not in policy.soap_versions:
        raise InvalidRequest(
            "This endpoint does not accept this SOAP envelope version",
            code="SOAP_VERSION_MISMATCH",
        )
    if len(envelope) == 2:  # the usual shape, with no comment or PI to filter out
        header, body = envelope[0], envelope[1]
        if header.tag == header_tag and body.tag == body_tag:
            return version, header, body
    children = [child for child in envelope if isinstance(child.tag, str)]
    if len(children) == 2 and children[0].tag == header_tag and children[1].tag == body_tag:
        return version, children[0], children[1]
    if len(children) == 1 and children[0].tag == body_tag:
        raise InvalidSecurity("The message has no security header", code="SECURITY_HEADER_MISSING")
    raise InvalidRequest(
        "The Envelope must hold exactly one Header followed by exactly one Body",
        code="ENVELOPE_STRUCTURE",
    )


_UNDERSTOOD = frozenset({SECURITY})
"""Header blocks the gateway processes (everything else marked mustUnderstand is refused)."""

_OUR_ACTORS = {
    SoapVersion.SOAP11: (ns.qname(ns.SOAP11_ENV, "actor"), ns.qname(ns.SOAP11_ENV, "mustUnderstand"),
                         frozenset({"", "http://schemas.xmlsoap.org/soap/actor/next"}),
                         frozenset({"1", "true"})),
    SoapVersion.SOAP12: (ns.qname(ns.SOAP12_ENV, "role"), ns.qname(ns.SOAP12_ENV, "mustUnderstand"),
                         frozenset({"", "http://www.w3.org/2003/05/soap-envelope/role/next",
                                    "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"}),
                         frozenset({"1", "true"})),
}


def _ours(block: etree._Element, version: SoapVersion) -> bool:
    """Whether a header block is addressed to the gateway (the ultimate receiver)."""
    actor_attribute, _, ours, _ = _OUR_ACTORS[version]
    return (block.get(actor_attribute) or "").strip() in ours


def _check_must_understand(header: etree._Element, version: SoapVersion) -> None:
    _, must_attribute, _, true_values = _OUR_ACTORS[version]
    for block in header:
        if not isinstance(block.tag, str) or block.tag in _UNDERSTOOD:
            continue
        if (block.get(must_attribute) or "").strip() in true_values and _ours(block, version):
            raise MustUnderstand(f"header block {block.tag} was not understood",
                                 code="MUST_UNDERSTAND", field=block.tag)


def _security_parts(
    header: etree._Element, version: SoapVersion = SoapVersion.SOAP11,
) -> tuple[etree._Element, list[etree._Element], list[etree._Element]]:
    """Our one Security header block, its Timestamps and its Signatures (direct children)."""
    security: etree._Element | None = None
    for child in header:
        if child.tag == SECURITY and _ours(child, version):
            if security is not None:
                raise InvalidSecurity(
                    "The message has more than one security header",
                    code="SECURITY_HEADER_DUPLICATED",
                )
            security = child
    if security is None:
        raise InvalidSecurity("The message has no security header", code="SECURITY_HEADER_MISSING")
    timestamps: list[etree._Element] = []
    signatures: list[etree._Element] = []
    for child in security:
        tag = child.tag
        if tag == TIMESTAMP:
            timestamps.append(child)
        elif tag == SIGNATURE:
            signatures.append(child)
    return security, timestamps, signatures


class WsSecurityGate:
    """Verifies WS-Security X.509 requests (DESIGN.md §5). Thread-safe; build once per process."""

    def __init__(
        self,
        policy: WsSecurityPolicy,
        trust_store: TrustStore,
        nonce_store: NonceStore,
        clock: Clock,
        enrolled: EnrolledCertificates | None = None,
    ) -> None:
        self.policy = policy
        self.trust_store = trust_store
        self.nonce_store = nonce_store
        self.clock = clock
        self.enrolled = enrolled
        """Certificates that IssuerSerial/SKI/Thumbprint/X509KeyIdentifier references may name;
        None refuses those references (``KEY_INFO_UNSUPPORTED``)."""
        # Per-instance memo of token text -> decoded certificate, key usage and principal verdict.
        self._token_verdict = lru_cache(maxsize=TOKEN_CACHE_SIZE)(self._judge_token)

    def verify_bytes(self, data: bytes) -> VerifiedRequest:
        """Parse ``data`` with the policy's size and depth limits, then :meth:`verify` it."""
        envelope = parse_xml(
            data, max_bytes=self.policy.max_message_bytes, max_depth=self.policy.max_depth
        )
        return self.verify(envelope)

    def verify(
        self,
        envelope: etree._Element,
        admit: Callable[[etree._Element, Principal], None] | None = None,
    ) -> VerifiedRequest:
        """Verify an already parsed envelope; return what was verified or raise a GatewayError.

        ``admit`` (the transport's own checks of the signed Body and the verified principal, e.g.
        its rate limit and SOAPAction) runs once the signature is verified and before the nonce
        is recorded: a request it refuses leaves no trace but the audit event (DESIGN.md §5
        step 7).
        """
        policy = self.policy
        now = self.clock.now()
        soap_version, header, body = _envelope_parts(envelope, policy)
        _check_must_understand(header, soap_version)

        security, timestamps, signatures = _security_parts(header, soap_version)
        if len(timestamps) > 1:
            raise InvalidSecurity(
                "The security header has more than one Timestamp", code="TIMESTAMP_DUPLICATED"
            )
        if not timestamps and policy.require_timestamp:
            raise InvalidSecurity("The security header has no Timestamp", code="TIMESTAMP_REQUIRED")
        timestamp = timestamps[0] if timestamps else None
        if not signatures:
            raise InvalidSecurity("The message is not signed", code="SIGNATURE_MISSING")
        if len(signatures) > 1:
            raise InvalidSecurity(
                "The security header has more than one Signature", code="SIGNATURE_DUPLICATED"
            )

        index = IdIndex.build(envelope)
        parsed = parse_signature(signatures[0], index, policy)
        if not parsed.covers(body):
            raise InvalidSecurity("The SOAP Body is not signed", code="BODY_NOT_SIGNED")
        if timestamp is not None and not parsed.covers(timestamp):
            raise InvalidSecurity("The Timestamp is not signed", code="TIMESTAMP_NOT_SIGNED")

        if timestamp is not None:
            checked = check_timestamp(timestamp, now, policy)
            created, expires = checked.created, checked.expires
            remember_until = checked.acceptable_until
            nonce_created: datetime | None = created
        else:
            created, expires = now, now + policy.timestamp_ttl
            remember_until, nonce_created = expires, None

        token = find_signing_token(
            parsed.key_infos,
            security,
            index,
            require_bsp_token_types=policy.require_bsp_token_types,
        )
        if isinstance(token, CertificateReference):
            verdict = self._enrolled_verdict(token)
        else:
            verdict = self._token_verdict(token.text or "")
        self.trust_store.validate(
            verdict.certificate,
            now,
            fingerprint=verdict.fingerprint,
            check_revocation=policy.check_revocation,
            require_revocation_info=policy.require_revocation_info,
        )
        if verdict.refusal is not None:
            raise type(verdict.refusal)(verdict.refusal.message, code=verdict.refusal.code)
        assert verdict.principal is not None

        verified = verify_signature(parsed, verdict.public_key, policy)
        if admit is not None:
            admit(body, verdict.principal)

        if not self.nonce_store.remember(
            replay_digest(verified.signature_value, nonce_created), remember_until, now
        ):
            raise InvalidSecurity("The message has already been received", code="REPLAY_DETECTED")
        return VerifiedRequest(
            principal=verdict.principal,
            certificate=verdict.certificate,
            envelope=envelope,
            header=header,
            body=body,
            timestamp_created=created,
            timestamp_expires=expires,
            signed_ids=verified.signed_ids,
            signed_elements=verified.signed_elements,
            soap_version=soap_version,
            signature_algorithm=verified.signature_algorithm,
        )

    def _enrolled_verdict(self, reference: CertificateReference) -> _TokenVerdict:
        """The verdict on the enrolled certificate a non-token reference names (asked of the
        store at every request, so ``gateway certs revoke`` takes effect at once on every
        worker and host)."""
        if self.enrolled is None:
            raise InvalidSecurity(
                "This kind of key reference is not accepted", code="KEY_INFO_UNSUPPORTED")
        if reference.kind is ReferenceKind.X509_KEY_IDENTIFIER:
            verdict = self._token_verdict(reference.value)
            if not self.enrolled.enrolled(reference.kind, verdict.fingerprint):
                raise unknown()
            return verdict
        return self._token_verdict(resolve(reference, self.enrolled))

    def _judge_token(self, text: str) -> _TokenVerdict:
        """Decode a token and settle what depends on the certificate alone.

        Decoding failures raise (and are not memoised: lru_cache does not cache exceptions);
        key-usage and mapping refusals are memoised and raised after the trust check, so an
        untrusted certificate is reported as untrusted whatever its subject says.
        """
        token = decode_x509_token(text)
        principal: Principal | None = None
        refusal: GatewayError | None = None
        try:
            check_signing_usage(token.certificate, min_rsa_key_bits=self.policy.min_rsa_key_bits)
            principal = principal_from_certificate(token.certificate, fingerprint=token.fingerprint)
        except GatewayError as exc:
            refusal = type(exc)(exc.message, code=exc.code)
        return _TokenVerdict(
            certificate=token.certificate,
            public_key=token.public_key,
            fingerprint=token.fingerprint,
            principal=principal,
            refusal=refusal,
        )
