"""CAdES validation data and archive time-stamps: levels LT and LTA (ETSI EN 319 122-1 §5.5,
§6.3; RFC 5652 §10.2.1, RFC 5940).

Validation data -- evidence for ``gateway.trust.revocation`` and ``chain.assess_certificate``,
which authenticate every item against the issuer it speaks for (carrying a value proves
nothing by itself); an unreadable item is no evidence and is left out with a warning (unsigned
data must not turn a valid signature into a failed one):

* ``SignedData.certificates`` and the ``certificate-values`` unsigned attribute
  (id-aa-ets-certValues, EN 319 122-1 §5.5.1): certificates that may complete a path;
* ``SignedData.crls`` (RevocationInfoChoices): CertificateLists, and ``other`` entries of format
  id-ri-ocsp-response (an OCSPResponse, RFC 5940 §3) or id-pkix-ocsp-basic (a
  BasicOCSPResponse, as some signers write it);
* the ``revocation-values`` unsigned attribute (id-aa-ets-revocationValues, EN 319 122-1
  §5.5.2): ``crlVals [0]`` and ``ocspVals [1]`` (BasicOCSPResponses); ``otherRevVals`` ignored.

Archive time-stamps -- ``archive-time-stamp-v3`` (0.4.0.1733.2.4, EN 319 122-1 §5.5.3). Each
value is a time-stamp token whose SignerInfo carries exactly one ``ats-hash-index-v3``
(0.4.0.19122.1.5) or ``ats-hash-index`` (0.4.0.1733.2.5, TS 101 733 v2.2.1) unsigned attribute.
Its message imprint is over the concatenation of:

1. the DER encoding of ``encapContentInfo.eContentType``;
2. the hash of the signed content (the eContent octets, or the detached content), with the
   imprint's own hash algorithm;
3. ``version``, ``sid``, ``digestAlgorithm``, ``signedAttrs`` (with its [0] tag),
   ``signatureAlgorithm`` and ``signature`` of the SignerInfo, as encoded;
4. the hash index value, as encoded in the token.

The hash index lists, with its ``hashIndAlgorithm`` (SHA-256 when absent), the hash of every
``CertificateChoices`` of ``SignedData.certificates``, of every ``RevocationInfoChoice`` of
``SignedData.crls`` and of every unsigned attribute value (v3: of the attribute type's DER then
the value's DER; the older index: of the whole Attribute) present when the token was made. Every
listed hash must still be found in the signature -- otherwise data the time-stamp covered was
changed or removed: HASH_FAILURE, and the token proves nothing. Items not listed were added
later (a later archive time-stamp, renewed validation data) and are not covered.

A valid archive time-stamp proves that the signature, its signature time-stamps and its
validation data existed at its genTime: the signature time-stamps are then validated at that
time (EN 319 102-1 §5.6.2.1, past signature validation), so one whose unit's certificate has
since expired or been revoked still proves the signing time. Likewise an archive time-stamp
that fails at the validation time is judged again at the genTime of a valid later archive
time-stamp whose index lists it (the renewal chain of EN 319 122-1 §5.5.3).

``archive-time-stamp-v2`` (1.2.840.113549.1.9.16.2.48, RFC 5126 / TS 101 733 §6.4.1, CAdES-A as
older national tools make it) is validated too. It has no hash index: its imprint is over the
concatenation of the ``encapContentInfo`` element, the detached content (when ``eContent`` is
absent), the ``certificates`` [0] and ``crls`` [1] fields when present, and the SignerInfo's
fields ``version`` to ``signature`` followed by the unsigned attributes that precede the time-stamp
attribute, in order, as ``[1]`` with its tag and length (TS 101 733 v2.2.1) or -- the reading of
v1.8.3 Annex K, which TS 101 733 v2.2.1 Annex K note 3 says to accept as well -- without them.
Fields are hashed as received (DER is required of signed attributes); a BER encapContentInfo
(``openssl cms -stream``) is tried as received, then with definite lengths. Any change to what it covers (content, carried validation data, the order or value of
an earlier unsigned attribute) is a HASH_FAILURE of its imprint; attributes added after it are not
covered. A later v2 or v3 archive time-stamp that covers an earlier v2 renews it. The v1
``archive-time-stamp`` (RFC 3126) is named in the warnings, not validated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from asn1crypto import algos, core, parser
from cryptography import x509
from cryptography.x509 import ocsp

from gateway.signatures import crypto
from gateway.signatures.cms import (
    PARSE_ERRORS,
    embedded_certificates,
    encoded_elements,
    load_signed_data,
    present,
    revocation_lists,
)
from gateway.signatures.findings import FormatError
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import Finding, SubIndication, TimestampKind, TimestampReport
from gateway.signatures.timestamps import failed_timestamp, validate_timestamp
from gateway.signatures.tst_der import read_token
from gateway.trust.certificates import TrustStore
from gateway.trust.revocation import RevocationValues, load_ocsp_response

CERTIFICATE_VALUES = "1.2.840.113549.1.9.16.2.23"
REVOCATION_VALUES = "1.2.840.113549.1.9.16.2.24"
ARCHIVE_TIME_STAMP_V3 = "0.4.0.1733.2.4"
ATS_HASH_INDEX = "0.4.0.1733.2.5"
ATS_HASH_INDEX_V3 = "0.4.0.19122.1.5"
OCSP_RESPONSE_FORMAT = "1.3.6.1.5.5.7.16.2"
"""id-ri-ocsp-response (RFC 5940 §3): the other revocation info is an OCSPResponse."""
OCSP_BASIC_FORMAT = "1.3.6.1.5.5.7.48.1.1"
"""id-pkix-ocsp-basic: a BasicOCSPResponse."""
ARCHIVE_TIME_STAMP_V2 = "1.2.840.113549.1.9.16.2.48"
ARCHIVE_TIME_STAMPS = (ARCHIVE_TIME_STAMP_V2, ARCHIVE_TIME_STAMP_V3)
OLD_ARCHIVE_TIME_STAMPS = {
    "1.2.840.113549.1.9.16.2.27": "archive-time-stamp (v1, RFC 3126)",
}

INDEX_MISMATCH = Finding(
    SubIndication.HASH_FAILURE,
    "Data the archive time-stamp covers (its ats-hash-index) was changed or removed",
)

MAX_VALIDATION_VALUES = 256
"""Certificates plus revocation values one signature may carry (beyond: FORMAT_FAILURE)."""


@dataclass(frozen=True, slots=True)
class ValidationData:
    """What a CAdES signature carries for its chain and revocation decisions."""

    certificates: tuple[x509.Certificate, ...] = ()
    revocation: RevocationValues = field(default_factory=RevocationValues)


def _der(tag: int, contents: bytes) -> bytes:
    length = len(contents)
    if length < 0x80:
        return bytes([tag, length]) + contents
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + contents


def _ocsp_from_basic(basic: bytes) -> ocsp.OCSPResponse:
    """An OCSPResponse (status successful) around a BasicOCSPResponse, as RFC 6960 §4.2.1
    wraps it, so that ``cryptography`` reads it like any other response."""
    response_bytes = _der(0x30, _der(0x06, bytes.fromhex("2b0601050507300101")) + _der(0x04, basic))
    return load_ocsp_response(_der(0x30, b"\x0a\x01\x00" + _der(0xA0, response_bytes)))


class _Elements(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    """A SEQUENCE OF read element by element, each kept as received."""

    _child_spec = core.Any


def _sequence_elements(encoded: bytes, limit: int) -> list[bytes]:
    outer = _Elements.load(encoded, strict=True)
    if outer.tag != 16:
        raise ValueError("not a SEQUENCE")
    return encoded_elements(outer.contents, limit)


def _unsigned_attributes(signer_info: Any) -> list[tuple[str, bytes, Any]]:
    """(dotted type, type DER, values SET) of every unsigned attribute, in order."""
    unsigned = signer_info["unsigned_attrs"]
    if not present(unsigned):
        return []
    return [
        (attribute["type"].dotted, attribute["type"].dump(), attribute["values"])
        for attribute in unsigned
    ]


def validation_data(
    signed_data: Any, signer_info: Any, *, warnings: list[str], max_values: int
) -> ValidationData:
    """The certificates and revocation values of the SignedData and of ``signer_info``'s
    unsigned attributes (rules in the module docstring); FormatError beyond ``max_values``."""
    certificates: list[x509.Certificate] = []
    crls: list[x509.CertificateRevocationList] = []
    responses: list[ocsp.OCSPResponse] = []

    def crl(encoded: bytes) -> None:
        try:
            crls.append(x509.load_der_x509_crl(encoded))
        except ValueError:
            warnings.append("A carried CRL cannot be read: ignored")

    def response(encoded: bytes, basic: bool) -> None:
        try:
            responses.append(_ocsp_from_basic(encoded) if basic else load_ocsp_response(encoded))
        except ValueError:
            warnings.append("A carried OCSP response cannot be read: ignored")

    def count() -> None:
        if len(certificates) + len(crls) + len(responses) > max_values:
            raise FormatError("The signature carries too many validation values")

    try:
        certificates.extend(item.certificate for item in embedded_certificates(signed_data))
        count()
        revocation_choices = signed_data["crls"]
        if present(revocation_choices):
            for entry in encoded_elements(revocation_choices.contents, max_values + 1):
                _revocation_choice(entry, crl, response, warnings)
                count()
    except PARSE_ERRORS:
        warnings.append("The SignedData certificates or CRLs are malformed; ignored")
    try:
        for dotted, _, values in _unsigned_attributes(signer_info):
            if dotted == CERTIFICATE_VALUES:
                for value in encoded_elements(values.contents, 2):
                    for encoded in _sequence_elements(value, max_values + 1):
                        loaded = crypto.load_certificate(encoded)
                        if loaded is None:
                            warnings.append("A carried certificate cannot be read: ignored")
                        else:
                            certificates.append(loaded)
                        count()
            elif dotted == REVOCATION_VALUES:
                for value in encoded_elements(values.contents, 2):
                    _revocation_values(value, crl, response, max_values)
                    count()
    except PARSE_ERRORS:
        warnings.append("The certificate-values or revocation-values attribute is malformed")
    return ValidationData(tuple(certificates), RevocationValues(tuple(crls), tuple(responses)))


def _revocation_choice(
    entry: bytes,
    crl: Callable[[bytes], None],
    response: Callable[[bytes, bool], None],
    warnings: list[str],
) -> None:
    if entry[:1] == b"\x30":
        crl(entry)
        return
    if entry[:1] != b"\xa1":  # [1] IMPLICIT OtherRevocationInfoFormat
        warnings.append("A RevocationInfoChoice of an unknown kind was ignored")
        return
    fields = encoded_elements(_Elements.load(b"\x30" + entry[1:], strict=True).contents, 3)
    if len(fields) != 2:
        raise ValueError("OtherRevocationInfoFormat has two fields")
    kind = core.ObjectIdentifier.load(fields[0], strict=True).dotted
    if kind == OCSP_RESPONSE_FORMAT:
        response(fields[1], False)
    elif kind == OCSP_BASIC_FORMAT:
        response(fields[1], True)
    else:
        warnings.append(f"Other revocation information of format {kind} was ignored")


def _revocation_values(
    value: bytes,
    crl: Callable[[bytes], None],
    response: Callable[[bytes, bool], None],
    max_values: int,
) -> None:
    """RevocationValues ::= SEQUENCE { crlVals [0] EXPLICIT SEQUENCE OF CertificateList
    OPTIONAL, ocspVals [1] EXPLICIT SEQUENCE OF BasicOCSPResponse OPTIONAL, otherRevVals [2]
    ... OPTIONAL } (RFC 5126 §6.3.4, an EXPLICIT TAGS module)."""
    for tag, item in revocation_lists(value, max_values + 1):
        if tag == 0:
            crl(item)
        else:
            response(item, True)


# --- archive-time-stamp-v3 -----------------------------------------------------------------------


def unvalidated_archive_attributes(signer_info: Any) -> list[str]:
    """Warnings naming the older archive time-stamps present, which are not validated."""
    try:
        found = [OLD_ARCHIVE_TIME_STAMPS.get(dotted) for dotted, _, _ in
                 _unsigned_attributes(signer_info)]  # fmt: skip
    except PARSE_ERRORS:
        return []
    return [f"Not validated (reported only): {name}" for name in dict.fromkeys(found) if name]


def archive_timestamps(
    signed_data: Any,
    signer_info: Any,
    content: bytes | None,
    *,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
    data: ValidationData,
    document: bytes = b"",
) -> tuple[TimestampReport, ...]:
    """Validate every archive-time-stamp-v3 and archive-time-stamp-v2 of ``signer_info`` at
    ``now`` (``content``: the signed content, attached or detached; None when it is not
    available; ``document``: the ContentInfo as received, when known)."""
    try:
        attributes = _unsigned_attributes(signer_info)
        tokens = [
            (dotted, type_der, position, token)
            for position, (dotted, type_der, values) in enumerate(attributes)
            if dotted in ARCHIVE_TIME_STAMPS
            for token in encoded_elements(values.contents, policy.max_timestamps)
        ][: policy.max_timestamps]
    except PARSE_ERRORS:
        return (
            failed_timestamp(
                TimestampKind.ARCHIVE_TIMESTAMP,
                b"",
                "The archive time-stamp attribute is malformed",
            ),
        )
    if not tokens:
        return ()
    try:
        covered = _Covered.of(signed_data, signer_info, attributes, document)
    except PARSE_ERRORS:
        return tuple(
            failed_timestamp(
                TimestampKind.ARCHIVE_TIMESTAMP, token, "The archived signature is malformed"
            )
            for _, _, _, token in tokens
        )
    reports: list[TimestampReport] = []
    checks: dict[int, _Archive] = {}
    for position, (dotted, _, attribute_position, token) in enumerate(tokens):
        try:
            if dotted == ARCHIVE_TIME_STAMP_V3:
                checks[position] = _imprint_input(token, covered, content)
            else:
                checks[position] = _imprint_input_v2(token, covered, attribute_position, content)
        except FormatError as exc:
            reports.append(failed_timestamp(TimestampKind.ARCHIVE_TIMESTAMP, token, exc.message))
            continue
        except PARSE_ERRORS:
            reports.append(
                failed_timestamp(
                    TimestampKind.ARCHIVE_TIMESTAMP, token, "The archive time-stamp is malformed"
                )
            )
            continue
        reports.append(checks[position].validate(now, policy, trust, data))
    # Past validation of archive time-stamps (EN 319 102-1 §5.6.2.1): a valid later one that
    # covers an earlier one proves that one existed at its genTime, where it is judged again
    # (its unit's certificate may have expired since). Each pass can only add proofs.
    for _ in range(len(checks)):
        renewed = False
        for position, check in checks.items():
            if reports[position].passed:
                continue
            _, type_der, _, token = tokens[position]
            proofs = [
                report.generation_time
                for later, report in enumerate(reports)
                if report.passed
                and report.generation_time is not None
                and later in checks
                and later != position
                and checks[later].covers(type_der, token)
            ]
            if proofs and min(proofs) < now:
                report = check.validate(min(proofs), policy, trust, data)
                renewed = renewed or report.passed
                reports[position] = report
        if not renewed:
            break
    return tuple(reports)


@dataclass(frozen=True, slots=True)
class _Archive:
    """One archive time-stamp ready to validate: its token, imprint input and hash index."""

    token: bytes
    imprint_of: Callable[[str], bytes]
    intact: bool
    """Every hash its index lists is still found in the signature."""
    listed_unsigned: frozenset[bytes]
    index_hash: Callable[[bytes], bytes]
    version: str
    """The hash index type (v3), or ARCHIVE_TIME_STAMP_V2 (no index)."""
    attributes: tuple[bytes, ...]
    """Every unsigned Attribute as encoded (v2: those before its own attribute)."""

    def covers(self, type_der: bytes, value: bytes) -> bool:
        """Whether this time-stamp covers the unsigned attribute value ``value`` of type
        ``type_der`` (v3: its index lists it; v2: it is in an attribute before this one)."""
        if self.version == ARCHIVE_TIME_STAMP_V2:
            return any(value in attribute and type_der in attribute
                       for attribute in self.attributes)  # fmt: skip
        if self.version == ATS_HASH_INDEX_V3:
            return self.index_hash(type_der + value) in self.listed_unsigned
        return any(
            self.index_hash(attribute) in self.listed_unsigned
            for attribute in self.attributes
            if value in attribute
        )

    def validate(
        self, at: datetime, policy: SignaturePolicy, trust: TrustStore, data: ValidationData
    ) -> TimestampReport:
        report = validate_timestamp(
            self.token,
            kind=TimestampKind.ARCHIVE_TIMESTAMP,
            imprint_of=self.imprint_of,
            trust=trust,
            policy=policy,
            now=at,
            revocation_values=data.revocation,
            carried=data.certificates,
        )
        if not self.intact:
            # Something the index lists is gone or altered: the covered data is not what was
            # stamped, whatever the imprint says (EN 319 122-1 §5.5.3).
            report = replace(report, findings=(INDEX_MISMATCH, *report.findings))
        return report


@dataclass(frozen=True, slots=True)
class _Covered:
    """The encodings an archive time-stamp covers, as received."""

    content_type: bytes
    encap_content_info: bytes | None
    """The encapContentInfo element (archive-time-stamp-v2; None if unreadable) as asn1crypto
    holds it: as received for DER, with definite lengths for BER."""
    received_encap_content_info: bytes | None
    """The encapContentInfo element exactly as received, when it differs (BER)."""
    detached: bool
    """No eContent: the signed content is external."""
    signed_data_fields: bytes
    """The certificates [0] and crls [1] fields of the SignedData as received, when present."""
    signer_fields: bytes
    certificates: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    unsigned: tuple[tuple[bytes, bytes], ...]
    """(attribute type DER, value DER) for every unsigned attribute value."""
    attributes: tuple[bytes, ...]
    """Every unsigned Attribute as encoded (what the older ats-hash-index hashes)."""
    archive_times: tuple[tuple[datetime | None, ...] | None, ...]
    """Per unsigned attribute: the genTime of each token of an archive time-stamp (v2 or v3;
    None where unreadable), None for any other attribute."""

    @classmethod
    def of(
        cls,
        signed_data: Any,
        signer_info: Any,
        attributes: list[tuple[str, bytes, Any]],
        document: bytes = b"",
    ) -> _Covered:
        fields = encoded_elements(signer_info.contents, 8)
        # version, sid, digestAlgorithm, [0] signedAttrs, signatureAlgorithm, signature,
        # [1] unsignedAttrs: everything but the unsigned attributes.
        signer_fields = b"".join(field for field in fields if field[:1] != b"\xa1")
        certificates = signed_data["certificates"]
        crls = signed_data["crls"]
        unsigned = tuple(
            (type_der, value)
            for _, type_der, values in attributes
            for value in encoded_elements(values.contents, 1 << 16)
        )
        whole = signer_info["unsigned_attrs"]
        # version, digestAlgorithms, encapContentInfo, [0] certificates, [1] crls, signerInfos;
        # only archive-time-stamp-v2 needs them as received, so they do not fail v3.
        try:
            signed_fields: list[bytes] | None = encoded_elements(signed_data.contents, 7)
        except PARSE_ERRORS:
            signed_fields = None
        if signed_fields is not None and len(signed_fields) < 4:
            signed_fields = None
        # Only a v2 archive time-stamp needs the others' genTimes (and the received encoding).
        with_v2 = any(dotted == ARCHIVE_TIME_STAMP_V2 for dotted, _, _ in attributes)
        received = _received_encap_content_info(document) if with_v2 else None
        encapsulated = signed_data["encap_content_info"]
        return cls(
            content_type=encapsulated["content_type"].dump(),
            encap_content_info=None if signed_fields is None else signed_fields[2],
            received_encap_content_info=received,
            detached=not present(encapsulated["content"]),
            signed_data_fields=b"".join(
                item for item in (signed_fields or [])[3:] if item[:1] in (b"\xa0", b"\xa1")
            ),
            signer_fields=signer_fields,
            certificates=tuple(
                encoded_elements(certificates.contents, 1 << 16) if present(certificates) else ()
            ),
            crls=tuple(encoded_elements(crls.contents, 1 << 16) if present(crls) else ()),
            unsigned=unsigned,
            attributes=tuple(encoded_elements(whole.contents, 1 << 16) if present(whole) else ()),
            archive_times=tuple(
                tuple(_stamped_imprint(token)[2] for token in encoded_elements(values.contents, 64))
                if dotted in ARCHIVE_TIME_STAMPS and with_v2
                else None
                for dotted, _, values in attributes
            ),
        )


def _hash_index(token: bytes) -> tuple[str, bytes]:
    """The token's one hash index attribute: (its type, its value as encoded)."""
    signed_data = load_signed_data(token)
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        raise FormatError("The archive time-stamp token must have one signer")
    found = [
        (dotted, value)
        for dotted, _, values in _unsigned_attributes(signer_infos[0])
        if dotted in (ATS_HASH_INDEX_V3, ATS_HASH_INDEX)
        for value in encoded_elements(values.contents, 2)
    ]
    if len(found) != 1:
        raise FormatError("The archive time-stamp token must carry exactly one ats-hash-index")
    return found[0]


def _imprint_input(token: bytes, covered: _Covered, content: bytes | None) -> _Archive:
    """The imprint, under a named hash, of what the token must cover (module docstring), and
    what its index lists."""
    version, index_value = _hash_index(token)
    items = _sequence_elements(index_value, 5)
    if len(items) == 4:
        algorithm = algos.DigestAlgorithm.load(items[0], strict=True)["algorithm"].native
        lists = items[1:]
    elif len(items) == 3:
        algorithm, lists = "sha256", items
    else:
        raise FormatError("The ats-hash-index is malformed")
    if content is None:
        raise FormatError("The signed content an archive time-stamp covers is not available")
    index_hash = _hasher(algorithm)
    listed = [
        [
            core.OctetString.load(item, strict=True).native
            for item in _sequence_elements(part, 1 << 16)
        ]
        for part in lists
    ]
    unsigned = (
        [index_hash(type_der + value) for type_der, value in covered.unsigned]
        if version == ATS_HASH_INDEX_V3
        else [index_hash(attribute) for attribute in covered.attributes]
    )
    present_now = (
        {index_hash(item) for item in covered.certificates},
        {index_hash(item) for item in covered.crls},
        set(unsigned),
    )
    intact = all(
        all(value in found for value in wanted)
        for wanted, found in zip(listed, present_now, strict=True)
    )

    def imprint(hash_name: str) -> bytes:
        octets = (
            covered.content_type
            + crypto.digest(hash_name, content)
            + covered.signer_fields
            + index_value
        )
        return crypto.digest(hash_name, octets)

    return _Archive(
        token=token,
        imprint_of=imprint,
        intact=intact,
        listed_unsigned=frozenset(listed[2]),
        index_hash=index_hash,
        version=version,
        attributes=covered.attributes,
    )


def _received_encap_content_info(document: bytes) -> bytes | None:
    """The encapContentInfo of the ContentInfo ``document`` exactly as encoded (asn1crypto
    re-encodes indefinite lengths), or None when ``document`` is not given or unreadable."""
    if not document:
        return None
    try:
        content_info = encoded_elements(parser.parse(encoded_elements(document, 1)[0])[4], 2)
        signed_data = encoded_elements(parser.parse(content_info[1])[4], 1)[0]
        fields = encoded_elements(parser.parse(signed_data)[4], 3)
    except PARSE_ERRORS:
        return None
    return fields[2] if len(fields) == 3 else None


def _imprint_input_v2(
    token: bytes, covered: _Covered, position: int, content: bytes | None
) -> _Archive:
    """What an archive-time-stamp-v2 attribute at ``position`` among the unsigned attributes
    covers (module docstring). Which unsigned attributes it covers is read two ways -- those
    encoded before it, or (a DER-sorted SET loses the order they were added in) every one but
    the archive time-stamps not older than it, as EU DSS reads it -- each with and without the
    [1] tag and length: the reading the token's imprint matches is kept."""
    if covered.detached and content is None:
        raise FormatError("The signed content an archive time-stamp covers is not available")
    if covered.encap_content_info is None:
        raise FormatError("The SignedData fields an archive time-stamp covers cannot be read")
    encodings = [covered.encap_content_info]
    received = covered.received_encap_content_info
    if received is not None and received != covered.encap_content_info:
        encodings.insert(0, received)
    rest = (
        (content if covered.detached and content is not None else b"")
        + covered.signed_data_fields
        + covered.signer_fields
    )
    hash_name, stamped, generated = _stamped_imprint(token)
    older = tuple(
        attribute
        for index, attribute in enumerate(covered.attributes)
        if index != position and _older_than(covered.archive_times[index], generated)
    )

    def octets(encap: bytes, attributes: tuple[bytes, ...], tagged: bool) -> bytes:
        joined = b"".join(attributes)
        # v2.2.1: [1] with its tag and length; v1.8.3 Annex K: the attributes alone
        return encap + rest + (_der(0xA1, joined) if tagged else joined)

    # Built one at a time: ``rest`` may hold a large detached content.
    readings = [
        (encap, attributes, tagged)
        for encap in encodings
        for attributes in dict.fromkeys((covered.attributes[:position], older))
        for tagged in (True, False)
    ]
    try:
        matches = [crypto.digest(hash_name, octets(*reading)) == stamped for reading in readings]
    except crypto.UnknownAlgorithm:  # validate_timestamp reports the unknown algorithm
        matches = []
    chosen = next((r for r, match in zip(readings, matches, strict=False) if match), readings[0])
    encap, attributes, tagged = chosen
    return _Archive(
        token=token,
        imprint_of=lambda name: crypto.digest(name, octets(encap, attributes, tagged)),
        intact=True,
        listed_unsigned=frozenset(),
        index_hash=functools.partial(crypto.digest, "sha256"),
        version=ARCHIVE_TIME_STAMP_V2,
        attributes=attributes,
    )


def _older_than(times: tuple[datetime | None, ...] | None, generated: datetime | None) -> bool:
    """Whether an unsigned attribute counts as older than an archive time-stamp made at
    ``generated``: any attribute that is not an archive time-stamp; an archive time-stamp only
    if all its tokens are readable and were made before."""
    if times is None:
        return True
    return generated is not None and all(time is not None and time < generated for time in times)


def _stamped_imprint(token: bytes) -> tuple[str, bytes | None, datetime | None]:
    """(hash name, hashedMessage, genTime) of the token's TSTInfo (parts unreadable: SHA-256,
    None -- the token's own validation reports them)."""
    parts = read_token(token)  # the plain DER layout without asn1crypto (same values)
    if parts is not None:
        return parts.imprint_algorithm, parts.hashed_message, parts.generation_time
    try:
        info = load_signed_data(token)["encap_content_info"]["content"].parsed
        imprint = info["message_imprint"]
        name = imprint["hash_algorithm"]["algorithm"].native
        value = imprint["hashed_message"].native
        generated = info["gen_time"].native
    except (*PARSE_ERRORS, FormatError):
        return "sha256", None, None
    return (
        name if isinstance(name, str) else "sha256",
        value if isinstance(value, bytes) else None,
        generated if isinstance(generated, datetime) and generated.tzinfo else None,
    )


def _hasher(algorithm: str) -> Callable[[bytes], bytes]:
    try:
        crypto.digest(algorithm, b"")
    except crypto.UnknownAlgorithm as exc:
        raise FormatError(f"The ats-hash-index uses an unknown algorithm ({algorithm})") from exc
    return functools.partial(crypto.digest, algorithm)
