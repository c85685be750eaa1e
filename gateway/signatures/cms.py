"""CMS SignedData signer verification (RFC 5652 §5.4, §5.6; ESS RFC 2634 / RFC 5035).

One implementation serves three callers: CAdES signatures, the CMS container inside a PDF
signature (whose "content" is the ``/ByteRange`` digest) and RFC 3161 time-stamp tokens (whose
content is the DER TSTInfo). What it checks for one SignerInfo:

* the signer's certificate, found among the SignedData certificates by ``sid`` (issuer and
  serial, or subject key identifier) -- otherwise NO_SIGNING_CERTIFICATE_FOUND;
* with signed attributes: exactly one content-type (equal to eContentType) and one
  message-digest (equal to the content's digest: HASH_FAILURE; content absent:
  SIGNED_DATA_NOT_FOUND), signing-time at most once; the signature is over the DER SET OF
  attributes. Without signed attributes the signature is over the content digest itself;
* the signature value with the signer's key (SIG_CRYPTO_FAILURE);
* the ESS signing-certificate-v2 (or v1) attribute: the first ESSCertID must be the signer's
  certificate, by hash and, when present, issuer and serial (NO_SIGNING_CERTIFICATE_FOUND);
* the digest and signature algorithms against the policy (CRYPTO_CONSTRAINTS_FAILURE).

asn1crypto parses lazily, so malformed input can surface anywhere while fields are read; every
asn1crypto/ValueError-class error is turned into :class:`FormatError` at this seam.

Leniency (issue 13, point 2), only where the cryptographic meaning is unambiguous, each path
named in the signature's warnings: BER (indefinite-length) encodings as ``openssl cms -stream``
writes them; zero octets after the ContentInfo (a fixed-size buffer; anything else after it is
FORMAT_FAILURE); a certificate in BER or with octets after its three fields, re-encoded in DER
(what its issuer signed, and what an ESS reference hashes); RSA PKCS#1 v1.5 with SHA-3 (NIST
OIDs), ECDSA in the plain ``r || s`` form of BSI TR-03111 and EdDSA (RFC 8419).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# tsp registers the ESS signing-certificate(-v2) attribute types with asn1crypto's cms, which
# does not know them otherwise: read by name below, they were found only when another module
# happened to import tsp first.
from asn1crypto import cms, core, parser
from asn1crypto import tsp as _tsp  # noqa: F401
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from gateway.signatures import crypto
from gateway.signatures.findings import Findings, FormatError, Step
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import SubIndication
from gateway.trust.memo import IdentityMemo

PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)
"""What asn1crypto raises on malformed input (it has no exception hierarchy of its own)."""

ContentDigest = Callable[[str], bytes | None]
"""Digest of the signed content with the named hash, or None when the content is not available."""


@dataclass(frozen=True, slots=True)
class CmsSigner:
    """What one SignerInfo established (findings are added to the caller's collector)."""

    certificate: x509.Certificate | None
    embedded_certificates: tuple[x509.Certificate, ...]
    digest_algorithm: str
    signature_algorithm: str
    signature_value: bytes
    content_digest: bytes | None
    signing_time: datetime | None
    signing_certificate_reference: bool


BER_NOTE = "The CMS is BER-encoded (indefinite lengths); read as BER"
PADDING_NOTE = "Zero padding after the CMS object was ignored"
CERTIFICATE_NOTE = "A certificate not in DER (BER or trailing octets) was re-encoded in DER"

_RSA_SHA3 = {
    "2.16.840.1.101.3.4.3.13": "sha3_224",
    "2.16.840.1.101.3.4.3.14": "sha3_256",
    "2.16.840.1.101.3.4.3.15": "sha3_384",
    "2.16.840.1.101.3.4.3.16": "sha3_512",
}
"""id-rsassa-pkcs1-v1_5-with-sha3-* (NIST CSOR), which asn1crypto does not name."""

_ECDSA_PLAIN = {
    "0.4.0.127.0.7.1.1.4.1.1": "sha1",
    "0.4.0.127.0.7.1.1.4.1.2": "sha224",
    "0.4.0.127.0.7.1.1.4.1.3": "sha256",
    "0.4.0.127.0.7.1.1.4.1.4": "sha384",
    "0.4.0.127.0.7.1.1.4.1.5": "sha512",
    "0.4.0.127.0.7.1.1.4.1.8": "sha3_224",
    "0.4.0.127.0.7.1.1.4.1.9": "sha3_256",
    "0.4.0.127.0.7.1.1.4.1.10": "sha3_384",
    "0.4.0.127.0.7.1.1.4.1.11": "sha3_512",
}
"""ecdsa-plain-* (BSI TR-03111 §5.2.1): the signature value is ``r || s``, not a DER SEQUENCE."""


def _encoded_length(data: bytes) -> int:
    """Octets taken by the one BER/DER object at the start of ``data``."""
    if len(data) > 2 and data[0] & 0x1F != 0x1F and data[1] != 0x80:
        # Definite length with a one-octet tag: read it from the header, without asn1crypto
        # slicing (copying) a multi-megabyte content just to measure it.
        if data[1] < 0x80:
            return 2 + data[1]
        count = data[1] & 0x7F
        if count <= 8 and len(data) >= 2 + count:
            return 2 + count + int.from_bytes(data[2 : 2 + count], "big")
    _, _, _, header, contents, trailer = parser.parse(data)
    return len(header) + len(contents) + len(trailer)


def encoded_elements(contents: bytes, limit: int) -> list[bytes]:
    """The encodings of the BER/DER elements that make up ``contents`` (a SET's), at most
    ``limit`` of them, each as received -- so that one unreadable value does not hide the
    others."""
    elements: list[bytes] = []
    while contents and len(elements) < limit:
        length = _encoded_length(contents)
        elements.append(contents[:length])
        contents = contents[length:]
    return elements


def sequence_elements(encoded: bytes, limit: int) -> list[bytes]:
    """The encodings of the elements of the SEQUENCE ``encoded`` (at most ``limit``), each as
    received; ValueError when ``encoded`` is not exactly one SEQUENCE."""
    class_, constructed, tag, _, contents, trailer = parser.parse(encoded, strict=True)
    if (class_, constructed, tag) != (0, 1, 16) or trailer:
        raise ValueError("not a SEQUENCE")
    return encoded_elements(contents, limit)


def revocation_lists(encoded: bytes, limit: int) -> Iterator[tuple[int, bytes]]:
    """``(0, CRL)`` and ``(1, OCSP)`` encodings of a ``SEQUENCE { [0] EXPLICIT SEQUENCE OF CRL
    OPTIONAL, [1] EXPLICIT SEQUENCE OF OCSP OPTIONAL, [2] ... OPTIONAL }``: the shape shared by
    CAdES RevocationValues (RFC 5126 §6.3.4, basic OCSP responses) and Adobe's
    RevocationInfoArchival (whole OCSP responses). Other fields are skipped; at most ``limit``
    items per list; ValueError on a malformed structure."""
    for member in sequence_elements(encoded, 4):
        class_, _, tag, _, contents, _ = parser.parse(member, strict=True)
        if class_ != 2 or tag not in (0, 1):
            continue
        inner = encoded_elements(contents, 2)
        if len(inner) != 1:
            raise ValueError("an EXPLICIT field holds one value")
        for item in sequence_elements(inner[0], limit):
            yield tag, item


def load_signed_data(
    data: bytes, notes: list[str] | None = None, *, content_info: Any | None = None
) -> Any:
    """Parse a ContentInfo holding SignedData; :class:`FormatError` otherwise.

    Lenient paths taken (BER, zero padding) are appended to ``notes``. ``content_info``: the
    asn1crypto ContentInfo a reader already loaded from exactly ``data`` (parsed once, the same
    checks).
    """
    try:
        length = _encoded_length(data)
        if length < len(data):
            if data[length:].strip(b"\x00"):
                raise FormatError("The CMS object is followed by other data")
            if notes is not None:
                notes.append(PADDING_NOTE)
            data = data[:length]
        if len(data) > 1 and data[1] == 0x80 and notes is not None:
            notes.append(BER_NOTE)
        if content_info is None or content_info.dump() != data:
            content_info = cms.ContentInfo.load(data, strict=True)
        if oid_name(content_info["content_type"]) != "signed_data":
            raise FormatError("The CMS object is not SignedData")
        signed_data = content_info["content"]
        oid_name(signed_data["encap_content_info"]["content_type"])  # force parsing
        if len(signed_data["signer_infos"]) == 0:
            raise FormatError("The CMS SignedData has no signer")
    except PARSE_ERRORS as exc:
        raise FormatError("The data is not a well-formed CMS SignedData structure") from exc
    return signed_data


def oid_name(value: Any) -> str:
    """An asn1crypto ObjectIdentifier's ``native`` name (``sha256``, ``tst_info``), memoised by
    its type and encoding: asn1crypto decodes the dotted form anew for every parsed object."""
    key = (type(value), value.contents)
    name = _OID_NAMES.get(key)
    if name is None:
        name = value.native
        if len(key[1]) <= 64:  # real OIDs are a few octets; hostile ones are not kept
            if len(_OID_NAMES) >= _OID_NAMES_MAX:
                _OID_NAMES.clear()
            _OID_NAMES[key] = name
    return name


_OID_NAMES: dict[tuple[type, bytes], str] = {}
_OID_NAMES_MAX = 512


def present(value: Any) -> bool:
    """Whether an OPTIONAL asn1crypto field is there (without parsing it, unlike ``.native``)."""
    return not isinstance(value, core.Void)


@dataclass(frozen=True, slots=True)
class _Embedded:
    asn1: Any
    certificate: x509.Certificate
    der: bytes
    """As received: taken before asn1crypto parses (and may re-encode) anything inside."""


def _reencoded(asn1_cert: Any) -> tuple[Any, bytes] | None:
    """A certificate rebuilt in DER from its three fields, or None when they do not parse."""
    try:
        rebuilt = asn1_x509.Certificate(
            {
                "tbs_certificate": asn1_x509.TbsCertificate.load(
                    asn1_cert["tbs_certificate"].dump(force=True)
                ),
                "signature_algorithm": asn1_cert["signature_algorithm"].copy(),
                "signature_value": asn1_cert["signature_value"].copy(),
            }
        )
        der: bytes = rebuilt.dump(force=True)
        return asn1_x509.Certificate.load(der, strict=True), der
    except PARSE_ERRORS:
        return None


def embedded_certificates(signed_data: Any, notes: list[str] | None = None) -> list[_Embedded]:
    """The X.509 certificates of a SignedData (re-encoded in DER when needed: see ``notes``).

    Memoised by the encoding of the whole ``certificates`` field (bounded): every token of a
    time-stamping unit carries the same. A hit yields the same certificates, each with an
    asn1crypto object of its own (those parse lazily and are not shared between threads).
    """
    certificates = signed_data["certificates"]
    if not present(certificates):
        return []
    encoded = certificates.dump()
    known = _EMBEDDED.get(encoded)
    if known is None:
        found = _embedded(certificates)
        known = tuple((item.certificate, item.der, reencoded) for item, reencoded in found)
        if len(encoded) <= _EMBEDDED_MAX_BYTES:
            if len(_EMBEDDED) >= _EMBEDDED_MAX:
                _EMBEDDED.clear()
            _EMBEDDED[encoded] = known
        embedded = [item for item, _ in found]
    else:
        embedded = [
            _Embedded(asn1_x509.Certificate.load(der), certificate, der)
            for certificate, der, _ in known
        ]
    if notes is not None and CERTIFICATE_NOTE not in notes and any(
        reencoded for _, _, reencoded in known
    ):
        notes.append(CERTIFICATE_NOTE)
    return embedded


_EMBEDDED: dict[bytes, tuple[tuple[x509.Certificate, bytes, bool], ...]] = {}
_EMBEDDED_MAX = 256
_EMBEDDED_MAX_BYTES = 32 * 1024


def _embedded(certificates: Any) -> list[tuple[_Embedded, bool]]:
    """Each certificate with whether it had to be re-encoded."""
    found: list[tuple[_Embedded, bool]] = []
    for choice in certificates:
        if choice.name != "certificate":
            continue
        asn1_cert = choice.chosen
        der = asn1_cert.dump()
        certificate = crypto.load_certificate(der)
        reencoded = False
        if certificate is None:
            rebuilt = _reencoded(asn1_cert)
            if rebuilt is not None:
                certificate = crypto.load_certificate(rebuilt[1])
                if certificate is not None:
                    asn1_cert, der = rebuilt
                    reencoded = True
        if certificate is not None:  # an unparsable certificate cannot be the signer's anyway
            found.append((_Embedded(asn1_cert, certificate, der), reencoded))
    return found


_SAME_NAMES: dict[tuple[bytes, bytes], bool] = {}
_SAME_NAMES_MAX = 512
_ISSUER_DER: IdentityMemo[bytes] = IdentityMemo(512)
"""A certificate's issuer name as ``cryptography`` encodes it (encoded anew on every read)."""


def _same_name(first: Any, second: Any) -> bool:
    # Identical encodings first (also without the explicit tag a GeneralName puts on a
    # Name); RFC 5280 §7.1 comparison (asn1crypto's, slow) only if not,
    # memoised by the two encodings (bounded: emptied when full).
    key = (first.dump(), second.dump())
    if key[0] == key[1] or first.untag().dump() == second.untag().dump():
        return True
    if getattr(first, "chosen", None) is not None and getattr(second, "chosen", None) is not None \
            and first.chosen.dump() == second.chosen.dump():  # the RDNSequence itself
        return True
    if len(key[0]) + len(key[1]) > 8192:  # hostile sizes are compared, not kept
        return bool(first == second)
    known = _SAME_NAMES.get(key)
    if known is None:
        if len(_SAME_NAMES) >= _SAME_NAMES_MAX:
            _SAME_NAMES.clear()
        known = _SAME_NAMES[key] = bool(first == second)
    return known


def _issued_by(name: Any, item: _Embedded) -> bool:
    """Whether the asn1crypto ``name`` is ``item``'s issuer: its DER against the certificate's
    issuer as ``cryptography`` encodes it first (no parse), RFC 5280 comparison otherwise."""
    encoded = name.dump()
    if getattr(name, "explicit", None):  # a GeneralName's [4] EXPLICIT Name: its inner DER
        encoded = parser.parse(encoded)[4]
    certificate = item.certificate
    if encoded == _ISSUER_DER.get((certificate,), lambda: certificate.issuer.public_bytes()):
        return True
    return _same_name(name, item.asn1.issuer)


def _find_signer(signer_info: Any, embedded: list[_Embedded]) -> _Embedded | None:
    sid = signer_info["sid"]
    if not embedded:
        _names(sid, None)  # a malformed identifier is still FORMAT_FAILURE, as on a miss
        return None
    encoded = sid.dump()
    for item in embedded:
        key = (encoded, item.der)
        names = _SID_MATCHES.get(key)
        if names is None:
            names = _names(sid, item)
            if len(encoded) <= 1024 and len(item.der) <= 16 * 1024:  # hostile sizes not kept
                if len(_SID_MATCHES) >= _SID_MATCHES_MAX:
                    _SID_MATCHES.clear()
                _SID_MATCHES[key] = names
        if names:
            return item
    return None


_SID_MATCHES: dict[tuple[bytes, bytes], bool] = {}
"""Whether a SignerIdentifier names a certificate, by both encodings (bounded)."""
_SID_MATCHES_MAX = 512


def _names(sid: Any, item: _Embedded | None) -> bool:
    """Whether the SignerIdentifier ``sid`` names ``item`` (issuer and serial, or subject key
    identifier); its fields are read first, so that a malformed one raises whatever ``item``."""
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"]
        serial = sid.chosen["serial_number"].native
        return (
            item is not None
            and item.certificate.serial_number == serial
            and _issued_by(issuer, item)
        )
    if sid.name == "subject_key_identifier":
        key_id = sid.chosen.native
        return item is not None and bool(item.asn1.key_identifier == key_id)
    return False


_AttributeIndex = dict[bytes, list[Any]]
"""Attributes by the encoded OID of their type (one pass over a SignerInfo's attributes, with
no OID decoding)."""
_ATTRIBUTE_KEYS: dict[str, bytes] = {}


def _attribute_index(attributes: Any) -> _AttributeIndex:
    index: _AttributeIndex = {}
    for attribute in attributes:
        index.setdefault(attribute["type"].contents, []).append(attribute)
    return index


def _attribute_key(name: str) -> bytes:
    key = _ATTRIBUTE_KEYS.get(name)
    if key is None:
        key = _ATTRIBUTE_KEYS[name] = cms.CMSAttributeType(name).contents
    return key


def _single_attribute(index: _AttributeIndex, name: str) -> Any | None:
    """The one value of attribute ``name``; FormatError when repeated or multi-valued."""
    found = index.get(_attribute_key(name), [])
    if not found:
        return None
    if len(found) > 1 or len(found[0]["values"]) != 1:
        raise FormatError(f"The {name.replace('_', '-')} attribute must have exactly one value")
    return found[0]["values"][0]


@dataclass(frozen=True, slots=True)
class _Mechanism:
    key_kind: str
    hash_name: str
    pss_salt: int | None = None
    ecdsa_raw: bool = False

    @property
    def name(self) -> str:
        variant = "pss-" if self.pss_salt is not None else "plain-" if self.ecdsa_raw else ""
        return f"{self.key_kind}-{variant}{self.hash_name}"


def _signature_mechanism(signer_info: Any, digest_name: str) -> _Mechanism:
    """Key type, hash and variant (PSS salt, plain ECDSA) of the SignerInfo's algorithm
    (memoised by its encoding: every token of a time-stamping unit names the same one)."""
    algorithm = signer_info["signature_algorithm"]
    key = (algorithm.dump(), digest_name)
    known = _MECHANISMS.get(key)
    if known is None:
        known = _mechanism_of(algorithm, digest_name)
        if len(key[0]) <= 256:  # real AlgorithmIdentifiers are tens of octets
            if len(_MECHANISMS) >= _MECHANISMS_MAX:
                _MECHANISMS.clear()
            _MECHANISMS[key] = known
    return known


_MECHANISMS: dict[tuple[bytes, str], _Mechanism] = {}
_MECHANISMS_MAX = 256


def _mechanism_of(algorithm: Any, digest_name: str) -> _Mechanism:
    dotted = algorithm["algorithm"].dotted
    if dotted in _RSA_SHA3:
        return _Mechanism("rsa", _RSA_SHA3[dotted])
    if dotted in _ECDSA_PLAIN:
        return _Mechanism("ecdsa", _ECDSA_PLAIN[dotted], ecdsa_raw=True)
    kind = algorithm.signature_algo
    if kind == "rsassa_pkcs1v15":
        key_kind, salt = "rsa", None
    elif kind == "rsassa_pss":
        parameters = algorithm["parameters"]
        mgf_hash = parameters["mask_gen_algorithm"]["parameters"]["algorithm"].native
        if mgf_hash != parameters["hash_algorithm"]["algorithm"].native:
            raise FormatError("RSASSA-PSS with a different MGF1 hash is not supported")
        key_kind, salt = "rsa", int(parameters["salt_length"].native)
    elif kind == "ecdsa":
        key_kind, salt = "ecdsa", None
    elif kind in ("ed25519", "ed448"):
        # RFC 8419 §3: pure EdDSA over the signed attributes; the hash is the curve's own.
        return _Mechanism(kind, "sha512" if kind == "ed25519" else "shake256")
    else:
        return _Mechanism(kind, digest_name)
    try:
        hash_name = algorithm.hash_algo
    except ValueError:
        hash_name = digest_name  # rsaEncryption / id-ecPublicKey: the digest algorithm applies
    return _Mechanism(key_kind, hash_name, salt)


def _judge_value_and_content(
    findings: Findings, valid: bool, computed: bytes | None, message_digest: bytes | None
) -> None:
    """The signature value's verdict, then the content's against the message-digest attribute
    (none: nothing to compare), for both the full and the prepared (time-stamp) signer paths."""
    if not valid:
        findings.add(
            Step.CRYPTO, SubIndication.SIG_CRYPTO_FAILURE, "The signature value does not verify"
        )
    if computed is None:
        findings.add(
            Step.CRYPTO,
            SubIndication.SIGNED_DATA_NOT_FOUND,
            "The signed content is not in the signature and was not supplied",
        )
    elif message_digest is not None and not hmac.compare_digest(computed, message_digest):
        findings.add(
            Step.CRYPTO, SubIndication.HASH_FAILURE, "The signed content has been modified"
        )


def _judge_reference(policy: SignaturePolicy, findings: Findings, reference: bool) -> None:
    """Without a signed reference to the signer's certificate, not CAdES (when the policy asks)."""
    if (
        not reference
        and policy.require_signing_certificate_reference
        and not findings.has(SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
    ):
        findings.add(
            Step.IDENTIFICATION,
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            "No signed attribute binds the signer's certificate (not a CAdES signature)",
        )


def _judge_algorithms(
    policy: SignaturePolicy,
    findings: Findings,
    digest_name: str,
    key_kind: str,
    hash_name: str,
    mechanism: str,
) -> None:
    """CRYPTO_CONSTRAINTS_FAILURE for algorithms the policy refuses. A refused hash -- of the
    signed attributes and message digest (``digest_name``) or of the signature (``hash_name``)
    -- is added by name, so the policy's dates may excuse it with a proof of existence
    (``Findings.excuse_weak``); a refused key family (DSA) is refused outright."""
    digest_allowed = policy.allows_digest(digest_name) or (
        # RFC 8419 §2.3 fixes SHAKE256 (512-bit output) for Ed448.
        key_kind == "ed448" and digest_name in ("shake256", "shake256_len")
    )
    signature_allowed = policy.allows_signature(key_kind, hash_name)
    if digest_allowed and signature_allowed:
        return
    message = f"The algorithm {mechanism} (digest {digest_name}) is not accepted"
    if not signature_allowed and not policy.allows_signature(key_kind, "sha256"):
        findings.add(Step.ACCEPTANCE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE, message)
        return
    refused: tuple[str, ...] = (digest_name,) if not digest_allowed else ()
    if not signature_allowed and hash_name not in refused:
        refused += (hash_name,)
    for name in refused:
        findings.add_weak_algorithm(name, message)


@dataclass(frozen=True, slots=True)
class _EssMatch:
    """What the first ESSCertID of a signing-certificate(-v2) value says of one certificate."""

    hash_name: str
    known_algorithm: bool
    matches: bool


_ESS_MATCHES: dict[tuple[bytes, bool, bytes], _EssMatch] = {}
_ESS_MATCHES_MAX = 256


def _ess_match(value: Any, v1: bool, signer: _Embedded) -> _EssMatch:
    """Whether ``value`` references ``signer``'s certificate; memoised by the encodings of both
    (the same unit's certificate and reference come back in every time-stamp token it makes).
    FormatError when the value lists no certificate."""
    key = (value.dump(), v1, signer.der)
    known = _ESS_MATCHES.get(key)
    if known is not None:
        return known
    certs = value["certs"]
    if len(certs) == 0:
        raise FormatError("The signing-certificate attribute is empty")
    first = certs[0]
    hash_name = "sha1" if v1 else first["hash_algorithm"]["algorithm"].native
    try:
        expected = crypto.digest(hash_name, signer.der)
    except crypto.UnknownAlgorithm:
        known = _EssMatch(hash_name, known_algorithm=False, matches=False)
    else:
        matches = hmac.compare_digest(expected, first["cert_hash"].native)
        issuer_serial = first["issuer_serial"]
        if matches and present(issuer_serial):
            serial = signer.certificate.serial_number
            matches = issuer_serial["serial_number"].native == serial and any(
                general_name.name == "directory_name" and _issued_by(general_name.chosen, signer)
                for general_name in issuer_serial["issuer"]
            )
        known = _EssMatch(hash_name, known_algorithm=True, matches=matches)
    if len(key[0]) + len(key[2]) <= 32 * 1024:  # hostile sizes are not kept
        if len(_ESS_MATCHES) >= _ESS_MATCHES_MAX:
            _ESS_MATCHES.clear()
        _ESS_MATCHES[key] = known
    return known


def _check_ess_reference(
    signed_attrs: _AttributeIndex,
    signer: _Embedded,
    policy: SignaturePolicy,
    findings: Findings,
) -> bool:
    """Check ESS signing-certificate(-v2); True when one is present and matches."""
    referenced = False
    for name, v1 in (("signing_certificate_v2", False), ("signing_certificate", True)):
        value = _single_attribute(signed_attrs, name)
        if value is None:
            continue
        referenced = True
        if not _judge_ess_match(_ess_match(value, v1, signer), v1, policy, findings):
            return False
    return referenced


def _judge_ess_match(
    match: _EssMatch, v1: bool, policy: SignaturePolicy, findings: Findings
) -> bool:
    """Findings for one signing-certificate(-v2) reference; False when it names another
    certificate (the others are then not looked at)."""
    if v1:
        findings.warnings.append("signing-certificate v1 references the certificate by SHA-1")
    if not match.known_algorithm:
        findings.add(
            Step.ACCEPTANCE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            "The signing-certificate reference uses an unknown digest algorithm",
        )
        return True
    if not match.matches:
        findings.add(
            Step.IDENTIFICATION,
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            "The signed signing-certificate reference does not match the signer's certificate",
        )
        return False
    if not v1 and not policy.allows_digest(match.hash_name):
        findings.add_weak_algorithm(
            match.hash_name,
            f"The signing-certificate reference uses {match.hash_name}, which is not accepted",
        )
    return True


def verify_signer(
    signed_data: Any,
    signer_info: Any,
    *,
    content_digest: ContentDigest,
    policy: SignaturePolicy,
    findings: Findings,
    counter_signature: bool = False,
) -> CmsSigner:
    """Verify one SignerInfo (rules in the module docstring); add what fails to ``findings``.

    ``counter_signature``: the SignerInfo is a countersignature attribute's value (RFC 5652
    §11.4), whose content is the parent's signature value and which has no content-type.
    """
    try:
        return _verify_signer(
            signed_data, signer_info, content_digest, policy, findings, counter_signature
        )
    except PARSE_ERRORS as exc:
        raise FormatError("The CMS signer information is malformed") from exc


def _verify_signer(
    signed_data: Any,
    signer_info: Any,
    content_digest: ContentDigest,
    policy: SignaturePolicy,
    findings: Findings,
    counter_signature: bool,
) -> CmsSigner:
    # The signed attributes' bytes as received, before any parsing: asn1crypto normalises some
    # values it parses (algorithm parameters) and would then re-encode on dump().
    signed_attrs = signer_info["signed_attrs"]
    has_signed_attrs = present(signed_attrs)
    received_attrs: bytes = signed_attrs.dump() if has_signed_attrs else b""
    embedded = embedded_certificates(signed_data, findings.warnings)
    certificates = tuple(item.certificate for item in embedded)
    digest_name = oid_name(signer_info["digest_algorithm"]["algorithm"])
    signature_value = signer_info["signature"].native
    signing_time: datetime | None = None
    message_digest: Any | None = None
    index = _attribute_index(signed_attrs) if has_signed_attrs else {}
    if has_signed_attrs:
        time_value = _single_attribute(index, "signing_time")
        if time_value is not None:
            signing_time = time_value.native
        content_type = _single_attribute(index, "content_type")
        message_digest = _single_attribute(index, "message_digest")
        if counter_signature:
            if message_digest is None:
                raise FormatError("A counter-signature's signed attributes need message-digest")
            if content_type is not None:
                findings.warnings.append(
                    "The counter-signature carries a content-type attribute (RFC 5652 §11.4)"
                )
        elif content_type is None or message_digest is None:
            raise FormatError("Signed attributes must include content-type and message-digest")
        elif oid_name(content_type) != oid_name(signed_data["encap_content_info"]["content_type"]):
            raise FormatError("The content-type attribute does not match the encapsulated content")
    signer = _find_signer(signer_info, embedded)
    if signer is None:
        findings.add(
            Step.IDENTIFICATION,
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            "The signer's certificate is not in the signature",
        )
        return CmsSigner(
            None, certificates, digest_name, "", signature_value, None, signing_time, False
        )
    certificate = signer.certificate
    chosen = _signature_mechanism(signer_info, digest_name)
    key_kind, hash_name, mechanism = chosen.key_kind, chosen.hash_name, chosen.name
    try:
        computed = content_digest(digest_name)
    except crypto.UnknownAlgorithm:
        findings.add(
            Step.ACCEPTANCE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            "The signature uses an unknown digest algorithm",
        )
        return CmsSigner(
            certificate,
            certificates,
            digest_name,
            mechanism,
            signature_value,
            None,
            signing_time,
            False,
        )
    if has_signed_attrs:
        signed_octets = b"\x31" + received_attrs[1:]  # RFC 5652 §5.4: DER SET OF, not [0]
        valid = crypto.verify(
            certificate.public_key(),
            signature_value,
            signed_octets,
            key_kind=key_kind,
            hash_name=hash_name,
            pss_salt_length=chosen.pss_salt,
            ecdsa_raw=chosen.ecdsa_raw,
        )
    elif computed is not None and key_kind in ("ed25519", "ed448"):
        # RFC 8419 §3.1: without signed attributes EdDSA signs the content itself, which this
        # engine holds only as digests. Cannot be checked here: not a forgery either.
        findings.add(
            Step.ACCEPTANCE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            "EdDSA without signed attributes cannot be verified from the content's digest",
        )
        valid = True
    elif computed is not None:
        valid = hash_name == digest_name and crypto.verify(
            certificate.public_key(),
            signature_value,
            computed,
            key_kind=key_kind,
            hash_name=hash_name,
            pss_salt_length=chosen.pss_salt,
            ecdsa_raw=chosen.ecdsa_raw,
            prehashed=True,
        )
    else:
        valid = True  # nothing to verify against: SIGNED_DATA_NOT_FOUND below says why
    _judge_value_and_content(
        findings, valid, computed, None if message_digest is None else message_digest.native
    )
    reference = False
    if has_signed_attrs:
        reference = _check_ess_reference(index, signer, policy, findings)
    _judge_reference(policy, findings, reference)
    _judge_algorithms(policy, findings, digest_name, key_kind, hash_name, mechanism)
    return CmsSigner(
        certificate,
        certificates,
        digest_name,
        mechanism,
        signature_value,
        computed,
        signing_time,
        reference,
    )


@dataclass(frozen=True, slots=True)
class SignerParts:
    """One SignerInfo with signed attributes, as a strict DER reader found it (``tst_der``):
    each field the encoding as received. Its content-type attribute already equals
    eContentType, and the attributes that are read occur once with one value each."""

    certificates: bytes
    """The SignedData's ``[0] certificates`` element."""
    sid: bytes
    digest_algorithm: str
    signed_attributes: bytes
    """The ``[0] signedAttrs`` element (signed as a DER SET OF)."""
    message_digest: bytes
    signing_time: datetime | None
    signing_certificate_references: tuple[tuple[bool, bytes], ...]
    """``(v1, value)`` of signing-certificate-v2 then signing-certificate, those present."""
    signature_algorithm: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class PreparedSigner:
    """A :class:`SignerParts` with the memoised answers its checks need (``prepare_signer``)."""

    parts: SignerParts
    known: tuple[tuple[x509.Certificate, bytes, bool], ...]
    signer: _Embedded | None
    mechanism: _Mechanism | None
    references: tuple[tuple[bool, _EssMatch], ...]


def prepare_signer(parts: SignerParts) -> PreparedSigner | None:
    """The answers :func:`verify_prepared_signer` needs that asn1crypto objects would give
    (the embedded certificates, which of them ``sid`` names, the signature mechanism, what the
    ESS references say of it), taken from the memos that :func:`verify_signer` fills, keyed by
    the same encodings; None when one is not there yet (the caller then takes
    :func:`verify_signer`, which computes and keeps it)."""
    known = _EMBEDDED.get(parts.certificates)
    if not known:
        return None  # none: verify_signer also checks the identifier's form
    signer: _Embedded | None = None
    for certificate, der, _ in known:
        names = _SID_MATCHES.get((parts.sid, der))
        if names is None:
            return None
        if names:
            signer = _Embedded(None, certificate, der)
            break
    if signer is None:
        return PreparedSigner(parts, known, None, None, ())
    mechanism = _MECHANISMS.get((parts.signature_algorithm, parts.digest_algorithm))
    references = []
    for v1, value in parts.signing_certificate_references:
        match = _ESS_MATCHES.get((value, v1, signer.der))
        if match is None:
            return None
        references.append((v1, match))
    if mechanism is None:
        return None
    return PreparedSigner(parts, known, signer, mechanism, tuple(references))


def verify_prepared_signer(
    prepared: PreparedSigner,
    *,
    content_digest: ContentDigest,
    policy: SignaturePolicy,
    findings: Findings,
) -> CmsSigner:
    """:func:`verify_signer` for a SignerInfo read by a strict DER reader: the same checks, in
    the same order, with the same findings."""
    parts, signer = prepared.parts, prepared.signer
    if CERTIFICATE_NOTE not in findings.warnings and any(
        reencoded for _, _, reencoded in prepared.known
    ):
        findings.warnings.append(CERTIFICATE_NOTE)
    certificates = tuple(certificate for certificate, _, _ in prepared.known)
    digest_name = parts.digest_algorithm
    if signer is None or prepared.mechanism is None:
        findings.add(
            Step.IDENTIFICATION,
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            "The signer's certificate is not in the signature",
        )
        return CmsSigner(
            None, certificates, digest_name, "", parts.signature, None, parts.signing_time, False
        )
    chosen = prepared.mechanism
    key_kind, hash_name, mechanism = chosen.key_kind, chosen.hash_name, chosen.name
    try:
        computed = content_digest(digest_name)
    except crypto.UnknownAlgorithm:
        findings.add(
            Step.ACCEPTANCE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            "The signature uses an unknown digest algorithm",
        )
        return CmsSigner(
            signer.certificate,
            certificates,
            digest_name,
            mechanism,
            parts.signature,
            None,
            parts.signing_time,
            False,
        )
    valid = crypto.verify(
        signer.certificate.public_key(),
        parts.signature,
        b"\x31" + parts.signed_attributes[1:],  # RFC 5652 §5.4: DER SET OF, not [0]
        key_kind=key_kind,
        hash_name=hash_name,
        pss_salt_length=chosen.pss_salt,
        ecdsa_raw=chosen.ecdsa_raw,
    )
    _judge_value_and_content(findings, valid, computed, parts.message_digest)
    reference = bool(prepared.references) and all(
        _judge_ess_match(match, v1, policy, findings) for v1, match in prepared.references
    )
    _judge_reference(policy, findings, reference)
    _judge_algorithms(policy, findings, digest_name, key_kind, hash_name, mechanism)
    return CmsSigner(
        signer.certificate,
        certificates,
        digest_name,
        mechanism,
        parts.signature,
        computed,
        parts.signing_time,
        reference,
    )
