"""XAdES validation data and archive time-stamps: levels LT and LTA (ETSI EN 319 132-1 §5.5 and
§6; XAdES 1.4.1 §8.2 and 1.3.2 §7.7).

* ``RevocationValues`` (EN 319 132-1 §5.5.2), under UnsignedSignatureProperties or inside a
  ``xades141:TimeStampValidationData``: ``CRLValues/EncapsulatedCRLValue`` (DER CRLs) and
  ``OCSPValues/EncapsulatedOCSPValue`` (DER OCSPResponse). They are evidence for
  ``gateway.trust.revocation``, which authenticates each item against the issuer it speaks for:
  carrying a value proves nothing by itself. An unreadable value is no evidence: ignored with a
  warning (unsigned data must not turn a valid signature into a failed one).
* ``ArchiveTimeStamp`` -- ``xades141:ArchiveTimeStamp`` (1.4.1, EN 319 132-1) or the 1.3.2 form
  in the XAdES namespace itself -- with an ``EncapsulatedTimeStamp``. Its message imprint covers,
  canonicalised with its ``ds:CanonicalizationMethod`` (C14N 1.0 when absent) and concatenated
  (EN 319 132-1 §5.5.2.2, the "not distributed" case):

  1. the output of every ``ds:Reference`` of SignedInfo, in order (a node-set canonicalised);
  2. ``ds:SignedInfo``, ``ds:SignatureValue`` and ``ds:KeyInfo`` (when present);
  3. every unsigned signature property before this time-stamp, in document order;
  4. every ``ds:Object`` of the signature except the one holding QualifyingProperties (1.3.2
     form: and except those a Reference designates by Id).

  A token whose imprint does not match that is HASH_FAILURE (and no proof of anything); the
  distributed case (``xades:Include``) and XMLTimeStamp are reported as not supported.

A valid archive time-stamp proves that the signature, its time-stamps and its validation data
existed at its genTime: the signature time-stamps are then validated at that time rather than at
the validation time (EN 319 102-1 §5.6.2.1, past signature validation), so one whose unit's
certificate has since expired or been revoked still proves the signing time.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.x509 import ocsp
from lxml import etree

from gateway import namespaces as ns
from gateway.signatures import crypto
from gateway.signatures.detached import DetachedDocument, document_for
from gateway.signatures.findings import FormatError
from gateway.signatures.nodeset import NodeSet, WorkBudget
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import TimestampKind, TimestampReport
from gateway.signatures.timestamps import failed_timestamp, validate_timestamp
from gateway.signatures.transforms import DEFAULT_C14N, c14n_method
from gateway.signatures.xmldsig import (
    ReferenceOctets,
    SignatureStructure,
    base64_text,
    canonical_octets,
    elements,
    resolve,
    transformed_octets,
)
from gateway.trust.certificates import TrustStore
from gateway.trust.revocation import RevocationValues, load_crl, load_ocsp_response
from gateway.xmlsig.references import IdIndex

_DS = f"{{{ns.DS}}}"
_X141 = f"{{{ns.XADES141}}}"


def _unsigned_signature_properties(
    qualifying: etree._Element | None, xades: str
) -> etree._Element | None:
    if qualifying is None:
        return None
    return qualifying.find(f"{xades}UnsignedProperties/{xades}UnsignedSignatureProperties")


NOT_VALIDATED = {
    "SigAndRefsTimeStamp": "XAdES-X time-stamp (SigAndRefsTimeStamp)",
    "SigAndRefsTimeStampV2": "XAdES-X time-stamp (SigAndRefsTimeStampV2)",
    "RefsOnlyTimeStamp": "XAdES-X time-stamp (RefsOnlyTimeStamp)",
    "RefsOnlyTimeStampV2": "XAdES-X time-stamp (RefsOnlyTimeStampV2)",
    "AttrAuthoritiesCertValues": "attribute authorities' certificates (AttrAuthoritiesCertValues)",
    "AttributeRevocationValues": "attribute certificates' revocation values",
    "AllDataObjectsTimeStamp": "content time-stamp (AllDataObjectsTimeStamp)",
    "IndividualDataObjectsTimeStamp": "content time-stamp (IndividualDataObjectsTimeStamp)",
}
"""Qualifying properties this engine does not validate: each one found is reported (a warning
naming it), never silently taken as checked."""
_NOT_VALIDATED_TAGS = tuple(f"{{*}}{name}" for name in NOT_VALIDATED)
"""Those names in any namespace (libxml2 filters the walk; ``{*}`` matches elements only)."""


def unvalidated_properties(qualifying: etree._Element | None) -> list[str]:
    """Warnings naming the qualifying properties present that are not validated."""
    if qualifying is None:
        return []
    found = []
    for element in qualifying.iter(*_NOT_VALIDATED_TAGS):  # in document order
        what = NOT_VALIDATED[etree.QName(element).localname]
        if what not in found:
            found.append(what)
    return [f"Not validated (reported only): {what}" for what in found]


def revocation_values(
    qualifying: etree._Element | None, xades: str, *, max_values: int, warnings: list[str]
) -> RevocationValues:
    """The CRLs and OCSP responses the signature carries (not authenticated here); unreadable
    ones are left out with a warning."""
    properties = _unsigned_signature_properties(qualifying, xades)
    if properties is None:
        return RevocationValues()
    containers = properties.findall(f"{xades}RevocationValues") + properties.findall(
        f"{_X141}TimeStampValidationData/{xades}RevocationValues"
    )
    crls: list[x509.CertificateRevocationList] = []
    responses: list[ocsp.OCSPResponse] = []
    for container in containers:
        for element in container.iterfind(f"{xades}CRLValues/{xades}EncapsulatedCRLValue"):
            try:
                crls.append(load_crl(base64_text(element, "EncapsulatedCRLValue")))
            except (FormatError, ValueError):
                warnings.append("A carried CRL (EncapsulatedCRLValue) cannot be read: ignored")
        for element in container.iterfind(f"{xades}OCSPValues/{xades}EncapsulatedOCSPValue"):
            try:
                responses.append(load_ocsp_response(base64_text(element, "EncapsulatedOCSPValue")))
            except (FormatError, ValueError):
                warnings.append(
                    "A carried OCSP response (EncapsulatedOCSPValue) cannot be read: ignored"
                )
        if len(crls) + len(responses) > max_values:
            raise FormatError("The signature carries too many revocation values")
    return RevocationValues(tuple(crls), tuple(responses))


def archive_timestamps(
    qualifying: etree._Element | None,
    xades: str,
    structure: SignatureStructure,
    root: etree._Element,
    index: IdIndex,
    detached: Sequence[DetachedDocument],
    *,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
    revocation: RevocationValues,
    carried: tuple[x509.Certificate, ...],
    budget: WorkBudget | None = None,
    reference_octets: ReferenceOctets | None = None,
) -> tuple[TimestampReport, ...]:
    """Validate every ArchiveTimeStamp of the signature at ``now``; ``reference_octets``: what the
    references yielded when their digests were checked (not computed again)."""
    properties = _unsigned_signature_properties(qualifying, xades)
    if properties is None or qualifying is None:
        return ()
    children = elements(properties)
    stamps = [
        (position, child)
        for position, child in enumerate(children)
        if child.tag in (f"{_X141}ArchiveTimeStamp", f"{xades}ArchiveTimeStamp")
    ]
    reports = []
    for position, stamp in stamps[: policy.max_timestamps]:
        token_element = stamp.find(f"{xades}EncapsulatedTimeStamp")
        if token_element is None:
            reports.append(
                failed_timestamp(
                    TimestampKind.ARCHIVE_TIMESTAMP,
                    b"",
                    "Only an EncapsulatedTimeStamp archive time-stamp is supported",
                )
            )
            continue
        try:
            token = base64_text(token_element, "EncapsulatedTimeStamp")
        except FormatError as exc:  # unsigned: the stamp fails, not the signature
            reports.append(failed_timestamp(TimestampKind.ARCHIVE_TIMESTAMP, b"", exc.message))
            continue
        if stamp.find(f"{xades}Include") is not None:
            reports.append(
                failed_timestamp(
                    TimestampKind.ARCHIVE_TIMESTAMP,
                    token,
                    "The distributed archive time-stamp (Include) is not supported",
                )
            )
            continue
        try:
            octets = archive_input(
                stamp,
                children[:position],
                qualifying,
                xades,
                structure,
                root,
                index,
                detached,
                policy,
                budget,
                reference_octets,
            )
        except FormatError as exc:
            reports.append(failed_timestamp(TimestampKind.ARCHIVE_TIMESTAMP, token, exc.message))
            continue
        reports.append(
            validate_timestamp(
                token,
                kind=TimestampKind.ARCHIVE_TIMESTAMP,
                imprint_of=functools.partial(crypto.digest, data=octets),
                trust=trust,
                policy=policy,
                now=now,
                revocation_values=revocation,
                carried=carried,
            )
        )
    return tuple(reports)


def archive_input(
    stamp: etree._Element,
    before: list[etree._Element],
    qualifying: etree._Element,
    xades: str,
    structure: SignatureStructure,
    root: etree._Element,
    index: IdIndex,
    detached: Sequence[DetachedDocument],
    policy: SignaturePolicy,
    budget: WorkBudget | None,
    octets: ReferenceOctets | None = None,
) -> bytes:
    """The octets an ArchiveTimeStamp's imprint covers (rules in the module docstring);
    ``before`` are the unsigned signature properties that precede ``stamp``."""
    method_element = stamp.find(f"{_DS}CanonicalizationMethod")
    method = DEFAULT_C14N if method_element is None else c14n_method(method_element)

    def canonical(element: etree._Element) -> bytes:
        return canonical_octets(element, method, with_comments=method.with_comments)

    parts: list[bytes] = []
    external = [ref for ref in structure.references if not ref.is_same_document]
    for reference in structure.references:
        kept = None if octets is None else octets.get(reference, method)
        if kept is not None:
            parts.append(kept)
            continue
        data: NodeSet | bytes
        if reference.is_same_document:
            target = resolve(reference, root, index)
            data = NodeSet(root, target.element, with_comments=target.keep_comments, budget=budget)
        else:
            document = document_for(reference.uri, detached, len(external))
            if document is None:
                raise FormatError("The detached data an archive time-stamp covers is missing")
            data = document.content
        parts.append(
            transformed_octets(
                reference,
                data,
                structure.element,
                max_depth=policy.max_xml_depth,
                node_set_method=method,
            )
        )
    parts.append(canonical(structure.signed_info))
    parts.append(canonical(structure.signature_value_element))
    if structure.key_info is not None:
        parts.append(canonical(structure.key_info))
    parts.extend(canonical(element) for element in before)
    referenced = {
        (reference.uri or "")[1:]
        for reference in structure.references
        if (reference.uri or "").startswith("#")
    }
    xades_132_form = stamp.tag == f"{xades}ArchiveTimeStamp"
    for obj in structure.objects:
        if any(child is qualifying for child in elements(obj)):
            continue
        if xades_132_form and (obj.get("Id") or "") in referenced:
            continue
        parts.append(canonical(obj))
    return b"".join(parts)
