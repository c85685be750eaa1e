"""The report as ETSI TS 119 102-2 XML (``ValidationReport``, namespace v1.2.1).

A subset comparable to EU DSS's ETSI report, in schema order:

* per signature a ``SignatureValidationReport``: ``SignatureIdentifier`` (digest of the signature
  value, the value, ``HashOnly``/``DocHashOnly`` false, ``DAIdentifier``), ``ValidationTimeInfo``
  (validation time, best signature time with its proof), ``SignersDocument`` (digest of the first
  signed data object, references to all), ``SignatureAttributes`` (signing time, signing
  certificate, policy identifier, time-stamps, byte range), ``SignerInformation``,
  ``SignatureValidationProcess`` (Basic, or LTVM when a time-stamp was used) and
  ``SignatureValidationStatus`` (main and sub indication URIs; the certificate chain, the
  revocation time and every finding's message as associated report data);
* ``SignatureValidationObjects``: certificates (Base64 DER), time-stamps (token, POE, the time
  each was judged at as its ``ValidationTimeInfo``, and their own status) and signed data
  objects (digest).

Ids are NCNames derived from positions and fingerprints, unique within one report.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lxml import etree

from gateway import namespaces as ns
from gateway.signatures import crypto

if TYPE_CHECKING:
    from gateway.signatures.report import (
        CertificateInfo,
        Finding,
        SignatureReport,
        SubIndication,
        TimestampReport,
        ValidationReport,
    )

VALIDATION_REPORT_NS = ns.ETSI_VALIDATION_REPORT
"""ETSI TS 119 102-2 v1.2.1 (to move into ``gateway.namespaces`` as ``ETSI_VR``)."""

_POE_VALIDATION = "urn:etsi:019102:poetype:validation"
_PROCESS_BASIC = "urn:etsi:019102:validationprocess:Basic"
_PROCESS_LTVM = "urn:etsi:019102:validationprocess:LTVM"
_OBJECT_CERTIFICATE = "urn:etsi:019102:validationObject:certificate"
_OBJECT_TIMESTAMP = "urn:etsi:019102:validationObject:timestamp"
_OBJECT_SIGNED_DATA = "urn:etsi:019102:validationObject:signedData"
_FINDING_TYPE = "urn:notess:gateway:signature-validation:finding"


def _vr(
    parent: etree._Element, local: str, text: str | None = None, **attributes: str
) -> etree._Element:
    element = etree.SubElement(parent, f"{{{VALIDATION_REPORT_NS}}}{local}", attributes)
    if text is not None:
        element.text = text
    return element


def _ds(
    parent: etree._Element, local: str, text: str | None = None, **attributes: str
) -> etree._Element:
    element = etree.SubElement(parent, ns.qname(ns.DS, local), attributes)
    if text is not None:
        element.text = text
    return element


def _time(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _digest_alg_and_value(parent: etree._Element, hash_name: str, value: bytes) -> None:
    container = _vr(parent, "DigestAlgAndValue")
    _ds(container, "DigestMethod", Algorithm=crypto.XML_DIGEST_URIS.get(hash_name, hash_name))
    _ds(container, "DigestValue", _b64(value))


class _Objects:
    """The SignatureValidationObjects being collected, deduplicated by id."""

    def __init__(self) -> None:
        self.root = etree.Element(f"{{{VALIDATION_REPORT_NS}}}SignatureValidationObjects")
        self._seen: set[str] = set()

    def certificate(self, info: CertificateInfo) -> str:
        identifier = f"C-{info.sha256[:32].upper()}"
        if identifier not in self._seen:
            self._seen.add(identifier)
            element = _vr(self.root, "ValidationObject", id=identifier)
            _vr(element, "ObjectType", _OBJECT_CERTIFICATE)
            _vr(_vr(element, "ValidationObjectRepresentation"), "base64", _b64(info.der))
        return identifier

    def timestamp(self, identifier: str, timestamp: TimestampReport) -> None:
        self._seen.add(identifier)
        element = _vr(self.root, "ValidationObject", id=identifier)
        _vr(element, "ObjectType", _OBJECT_TIMESTAMP)
        _vr(_vr(element, "ValidationObjectRepresentation"), "base64", _b64(timestamp.token))
        if timestamp.passed and timestamp.generation_time is not None:
            poe = _vr(element, "POE")
            _vr(poe, "POETime", _time(timestamp.generation_time))
            _vr(poe, "TypeOfProof", _POE_VALIDATION)
        report = _vr(element, "ValidationReport")
        if timestamp.validation_time is not None:
            # The time the token was judged at (a later proof's, or today's: past_or_present).
            time_info = _vr(report, "ValidationTimeInfo")
            _vr(time_info, "ValidationTime", _time(timestamp.validation_time))
            best = _vr(time_info, "BestSignatureTime")
            _vr(best, "POETime", _time(timestamp.validation_time))
            _vr(best, "TypeOfProof", _POE_VALIDATION)
        if timestamp.tsa is not None:
            information = _vr(report, "SignerInformation")
            _vr(information, "SignerCertificate", VOReference=self.certificate(timestamp.tsa))
            _vr(information, "Signer", timestamp.tsa.subject)
        _status(report, timestamp.indication.uri, timestamp.sub_indication, timestamp.findings)

    def signed_data(self, identifier: str, hash_name: str, digest: bytes) -> None:
        self._seen.add(identifier)
        element = _vr(self.root, "ValidationObject", id=identifier)
        _vr(element, "ObjectType", _OBJECT_SIGNED_DATA)
        _digest_alg_and_value(_vr(element, "ValidationObjectRepresentation"), hash_name, digest)


def _status(
    parent: etree._Element,
    main_uri: str,
    sub_indication: SubIndication | None,
    findings: tuple[Finding, ...],
    chain_ids: tuple[str, ...] = (),
    revocation: tuple[str, datetime] | None = None,
) -> None:
    status = _vr(parent, "SignatureValidationStatus")
    _vr(status, "MainIndication", main_uri)
    if sub_indication is not None:
        _vr(status, "SubIndication", sub_indication.uri)
    if not (chain_ids or revocation or findings):
        return
    data = _vr(status, "AssociatedValidationReportData")
    if chain_ids:
        chain = _vr(data, "CertificateChain")
        _vr(chain, "SigningCertificate", VOReference=chain_ids[0])
        for identifier in chain_ids[1:-1]:
            _vr(chain, "IntermediateCertificate", VOReference=identifier)
        if len(chain_ids) > 1:
            _vr(chain, "TrustAnchor", VOReference=chain_ids[-1])
    if revocation is not None:
        information = _vr(data, "RevocationStatusInformation")
        _vr(information, "ValidationObjectId", VOReference=revocation[0])
        _vr(information, "RevocationTime", _time(revocation[1]))
    if findings:
        additional = _vr(data, "AdditionalValidationReportData")
        for finding in findings:
            entry = _vr(additional, "ReportData")
            _vr(entry, "Type", f"{_FINDING_TYPE}:{finding.sub_indication.value}")
            _vr(entry, "Value", finding.message)


def _signature(
    parent: etree._Element,
    position: int,
    signature: SignatureReport,
    validation_time: datetime,
    objects: _Objects,
) -> None:
    report = _vr(parent, "SignatureValidationReport")
    identifier = _vr(report, "SignatureIdentifier", id=f"S-{position}")
    if signature.signature_value:
        _digest_alg_and_value(
            identifier, "sha256", crypto.digest("sha256", signature.signature_value)
        )
        _ds(identifier, "SignatureValue", _b64(signature.signature_value))
    _vr(identifier, "HashOnly", "false")
    _vr(identifier, "DocHashOnly", "false")
    _vr(identifier, "DAIdentifier", signature.identifier)

    timestamp_ids = [f"T-{position}-{index}" for index in range(1, len(signature.timestamps) + 1)]
    time_info = _vr(report, "ValidationTimeInfo")
    _vr(time_info, "ValidationTime", _time(validation_time))
    best = _vr(time_info, "BestSignatureTime")
    poe = signature.proof_of_existence
    _vr(best, "POETime", _time(poe or validation_time))
    _vr(best, "TypeOfProof", _POE_VALIDATION)
    if poe is not None:
        for timestamp, timestamp_id in zip(signature.timestamps, timestamp_ids, strict=True):
            if timestamp.passed and timestamp.generation_time == poe:
                _vr(best, "POEObject", VOReference=timestamp_id)
                break

    # A Manifest entry whose data does not match (XMLDSig §5.1) is not a signer's document.
    signed_data = [item for item in signature.signed_data_objects if item.intact]
    data_ids = [f"D-{position}-{index}" for index in range(1, len(signed_data) + 1)]
    if signed_data:
        signers_document = _vr(report, "SignersDocument")
        first = signed_data[0]
        _digest_alg_and_value(signers_document, first.digest_algorithm, first.digest)
        _vr(signers_document, "SignersDocumentRef", VOReference=" ".join(data_ids))
        for item, data_id in zip(signed_data, data_ids, strict=True):
            objects.signed_data(data_id, item.digest_algorithm, item.digest)

    chain_ids = tuple(objects.certificate(info) for info in signature.certificate_chain)
    signer_id = objects.certificate(signature.signer) if signature.signer is not None else None
    attributes = _vr(report, "SignatureAttributes")
    if signature.claimed_signing_time is not None:
        signed = (
            "false"
            if signature.format is not None and signature.format.value == "PAdES"
            else "true"
        )
        _vr(
            _vr(attributes, "SigningTime", Signed=signed),
            "Time",
            _time(signature.claimed_signing_time),
        )
    if signature.signing_certificate_reference and signer_id is not None:
        _vr(
            _vr(attributes, "SigningCertificate", Signed="true"),
            "AttributeObject",
            VOReference=signer_id,
        )
    if signature.signature_policy_identifier is not None:
        _vr(
            _vr(attributes, "SigPolicyIdentifier", Signed="true"),
            "SigPolicyId",
            signature.signature_policy_identifier,
        )
    # Schema order: SignatureTimeStamp elements come before DocTimeStamp ones.
    for kind, local in (
        ("SIGNATURE_TIMESTAMP", "SignatureTimeStamp"),
        ("DOCUMENT_TIMESTAMP", "DocTimeStamp"),
    ):
        for timestamp, timestamp_id in zip(signature.timestamps, timestamp_ids, strict=True):
            if timestamp.kind.value == kind and timestamp.generation_time is not None:
                element = _vr(attributes, local, Signed="false")
                _vr(element, "AttributeObject", VOReference=timestamp_id)
                _vr(element, "TimeStampValue", _time(timestamp.generation_time))
    for item in signature.signed_data_objects:
        if item.byte_range:
            _vr(
                attributes,
                "ByteRange",
                " ".join(str(value) for value in item.byte_range),
                Signed="true",
            )

    if signer_id is not None and signature.signer is not None:
        information = _vr(report, "SignerInformation")
        _vr(information, "SignerCertificate", VOReference=signer_id)
        _vr(information, "Signer", signature.signer.subject)
    process = _vr(report, "SignatureValidationProcess")
    _vr(
        process,
        "SignatureValidationProcessID",
        _PROCESS_LTVM if signature.proof_of_existence is not None else _PROCESS_BASIC,
    )
    revocation = None
    if signature.revocation_time is not None and signer_id is not None:
        revocation = (signer_id, signature.revocation_time)
    _status(
        report,
        signature.indication.uri,
        signature.sub_indication,
        signature.findings,
        chain_ids,
        revocation,
    )
    for timestamp, timestamp_id in zip(signature.timestamps, timestamp_ids, strict=True):
        objects.timestamp(timestamp_id, timestamp)


def render_validation_report(report: ValidationReport) -> bytes:
    """Serialise ``report`` as a TS 119 102-2 ``ValidationReport`` document (UTF-8)."""
    root = etree.Element(
        f"{{{VALIDATION_REPORT_NS}}}ValidationReport",
        nsmap={"vr": VALIDATION_REPORT_NS, "ds": ns.DS},
    )
    objects = _Objects()
    for position, signature in enumerate(report.signatures, start=1):
        _signature(root, position, signature, report.validation_time, objects)
    if len(objects.root):
        root.append(objects.root)
    rendered: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return rendered
