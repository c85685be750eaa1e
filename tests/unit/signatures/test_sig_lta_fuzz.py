"""The LT/LTA parsers and the trust package's new readers under fuzzing (issue 12).

* A valid XAdES with random unsigned validation data -- RevocationValues with random or broken
  CRL/OCSP values, TimeStampValidationData, ArchiveTimeStamps in both forms with random tokens,
  canonicalisation methods and Include elements -- and mutations of it: a report for the one
  signature, never an exception, never the internal-error branch. Unsigned data never makes the
  signature worse than its signed part: the entry is TOTAL_PASSED or names an unusable
  time-stamp, nothing else.
* OCSP responses: random bytes and byte-mutations of a real response are a ValueError or a
  response that authenticates or not -- never another exception.
* Trusted lists: random and mutated TS 119 612 documents are a TrustedList or a
  TrustedListError.
"""

from __future__ import annotations

import base64
import logging
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sig_unit_time import UNIT_NOW
from test_sig_transforms_fuzz import assert_reported

from gateway import namespaces as ns
from gateway.signatures import Indication, validate
from gateway.trust.revocation import load_ocsp_response, ocsp_evidence
from gateway.trust.trusted_lists import TrustedListError, parse_trusted_list

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
C14N_METHODS = [
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2006/12/xml-c14n11#WithComments",
    "urn:unknown",
]

INCLUDES = [
    '<xades:Include URI="#x"/>',
    '<xades:Include URI="#x" referencedData="true"/>',
    '<xades:Include URI=""/>',
    '<xades:Include URI="#"/>',
    "<xades:Include/>",
    '<xades:Include URI="https://example.org/data"/>',
    '<xades:Include URI="#xpointer(/)" referencedData="1"/>',
]
"""Distributed archive time-stamps: Includes that designate nothing usable."""


@st.composite
def base64_values(draw: st.DrawFn, tag: str) -> str:
    raw = draw(st.one_of(st.binary(max_size=200), st.just(b"\x30\x03\x0a\x01\x00")))
    text = base64.b64encode(raw).decode()
    text = draw(st.sampled_from([text, text[:-1], "!!" + text, "", text + "\n" + text]))
    return f"<xades:{tag}>{text}</xades:{tag}>"


@st.composite
def unsigned_data(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["revocation", "tsvd", "ats141", "ats132", "values"]))
        if kind in ("revocation", "tsvd"):
            crls = "".join(draw(st.lists(base64_values("EncapsulatedCRLValue"), max_size=2)))
            ocsps = "".join(draw(st.lists(base64_values("EncapsulatedOCSPValue"), max_size=2)))
            block = (
                f"<xades:RevocationValues><xades:CRLValues>{crls}</xades:CRLValues>"
                f"<xades:OCSPValues>{ocsps}</xades:OCSPValues></xades:RevocationValues>"
            )
            if kind == "tsvd":
                block = (
                    f'<xades141:TimeStampValidationData xmlns:xades141="{ns.XADES141}">'
                    f"{block}</xades141:TimeStampValidationData>"
                )
            parts.append(block)
        elif kind == "values":
            parts.append(
                "<xades:CertificateValues>"
                + draw(base64_values("EncapsulatedX509Certificate"))
                + "</xades:CertificateValues>"
            )
        else:
            tag = (
                f'xades141:ArchiveTimeStamp xmlns:xades141="{ns.XADES141}"'
                if kind == "ats141"
                else "xades:ArchiveTimeStamp"
            )
            close = "xades141:ArchiveTimeStamp" if kind == "ats141" else "xades:ArchiveTimeStamp"
            method = (
                f'<ds:CanonicalizationMethod Algorithm="{draw(st.sampled_from(C14N_METHODS))}"/>'
                if draw(st.booleans())
                else ""
            )
            include = "".join(draw(st.lists(st.sampled_from(INCLUDES), max_size=3)))
            token = draw(base64_values("EncapsulatedTimeStamp"))
            parts.append(f"<{tag}>{method}{include}{token}</{close}>")
    return "".join(parts)


def with_unsigned(signed: bytes, unsigned: str) -> bytes:
    block = (
        "<xades:UnsignedProperties><xades:UnsignedSignatureProperties>"
        f"{unsigned}</xades:UnsignedSignatureProperties></xades:UnsignedProperties>"
    )
    marker = b"</xades:SignedProperties>"
    assert signed.count(marker) == 1
    return signed.replace(marker, marker + block.encode())


@FUZZ
@given(data=st.data())
def test_random_validation_data_never_breaks_a_valid_signature(
    data, signed_samples, unit_pki, unit_policy, caplog
) -> None:
    document = with_unsigned(signed_samples["xades"], data.draw(unsigned_data()))
    with caplog.at_level(logging.ERROR, logger="gateway"):
        report = validate(document, policy=unit_policy, trust=unit_pki.trust, now=UNIT_NOW)
    assert_reported(report, caplog, signatures=1)
    entry = report.signatures[0]
    assert entry.indication is Indication.TOTAL_PASSED, report.to_json(indent=1)
    assert entry.level == "XAdES-BASELINE-B"


@FUZZ
@given(data=st.data())
def test_mutated_validation_data_is_reported(
    data, signed_samples, unit_pki, unit_policy, caplog
) -> None:
    document = bytearray(with_unsigned(signed_samples["xades"], data.draw(unsigned_data())))
    start = document.index(b"<xades:UnsignedProperties>")
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(start, len(document) - 1))
        document[position] = data.draw(st.sampled_from(b"<>/\"'=:#xA \n&;"))
    with caplog.at_level(logging.ERROR, logger="gateway"):
        report = validate(bytes(document), policy=unit_policy, trust=unit_pki.trust, now=UNIT_NOW)
    assert_reported(report, caplog, signatures=None)


_RESPONSES: dict[int, bytes] = {}


def _response(unit_pki) -> bytes:
    """One OCSP response per PKI (ECDSA signatures vary in length: drawing must not)."""
    if unit_pki.certificate.serial_number in _RESPONSES:
        return _RESPONSES[unit_pki.certificate.serial_number]
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=unit_pki.certificate,
        issuer=unit_pki.certificate,
        algorithm=hashes.SHA1(),
        cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=UNIT_NOW,
        next_update=UNIT_NOW + timedelta(days=1),
        revocation_time=None,
        revocation_reason=None,
    )
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, unit_pki.certificate)
    encoded = builder.sign(unit_pki.key, hashes.SHA256()).public_bytes(Encoding.DER)
    return _RESPONSES.setdefault(unit_pki.certificate.serial_number, encoded)


@FUZZ
@given(data=st.data())
def test_ocsp_readers_never_raise_anything_else(data, unit_pki) -> None:
    encoded = bytearray(
        data.draw(st.one_of(st.just(_response(unit_pki)), st.binary(max_size=300)))
    )
    for _ in range(data.draw(st.integers(0, 3))):
        if encoded:
            encoded[data.draw(st.integers(0, len(encoded) - 1))] = data.draw(st.integers(0, 255))
    try:
        response = load_ocsp_response(bytes(encoded))
    except ValueError:
        return
    anchor: x509.Certificate = unit_pki.trust.anchors[0]
    evidence = ocsp_evidence(response, unit_pki.certificate, anchor)  # lazily parsed fields too
    assert evidence is None or evidence.source == "OCSP"


TL = (
    '<tsl:TrustServiceStatusList xmlns:tsl="http://uri.etsi.org/02231/v2#">'
    "<tsl:SchemeInformation><tsl:TSLSequenceNumber>3</tsl:TSLSequenceNumber>"
    "<tsl:SchemeTerritory>es</tsl:SchemeTerritory>"
    "<tsl:ListIssueDateTime>2026-01-01T00:00:00Z</tsl:ListIssueDateTime>"
    "<tsl:NextUpdate><tsl:dateTime>2026-07-01T00:00:00Z</tsl:dateTime></tsl:NextUpdate>"
    "</tsl:SchemeInformation><tsl:TrustServiceProviderList><tsl:TrustServiceProvider>"
    '<tsl:TSPInformation><tsl:TSPName><tsl:Name xml:lang="en">P</tsl:Name></tsl:TSPName>'
    "</tsl:TSPInformation><tsl:TSPServices><tsl:TSPService><tsl:ServiceInformation>"
    "<tsl:ServiceTypeIdentifier>http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
    "</tsl:ServiceTypeIdentifier>"
    "<tsl:ServiceDigitalIdentity><tsl:DigitalId><tsl:X509Certificate>{certificate}"
    "</tsl:X509Certificate></tsl:DigitalId></tsl:ServiceDigitalIdentity>"
    "<tsl:ServiceStatus>http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"
    "</tsl:ServiceStatus><tsl:StatusStartingTime>2025-01-01T00:00:00Z</tsl:StatusStartingTime>"
    "</tsl:ServiceInformation></tsl:TSPService></tsl:TSPServices></tsl:TrustServiceProvider>"
    "</tsl:TrustServiceProviderList></tsl:TrustServiceStatusList>"
)


@FUZZ
@given(data=st.data())
def test_trusted_list_reader_never_raises_anything_else(data, unit_pki) -> None:
    certificate = base64.b64encode(unit_pki.certificate.public_bytes(Encoding.DER)).decode()
    document = bytearray(TL.format(certificate=certificate).encode())
    parsed = parse_trusted_list(bytes(document))
    assert parsed.territory == "ES" and len(parsed.services[0].certificates) == 1
    for _ in range(data.draw(st.integers(1, 5))):
        position = data.draw(st.integers(0, len(document) - 1))
        document[position] = data.draw(st.sampled_from(b"<>/\"'=:#xA0 \n&;-"))
    try:
        parse_trusted_list(bytes(document))
    except TrustedListError:
        pass
