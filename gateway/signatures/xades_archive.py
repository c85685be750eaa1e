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

  A token whose imprint does not match that is HASH_FAILURE (and no proof of anything).
  The distributed case (``xades:Include``, XAdES 1.3.2 §7.7.1) covers the elements its Includes
  designate, in order (:func:`distributed_archive_input`); they must be the same elements as
  above, or the stamp proves nothing. XMLTimeStamp is reported as not supported.

A valid archive time-stamp proves that the signature, its time-stamps and its validation data
existed at its genTime: the signature time-stamps are then validated at that time rather than at
the validation time (EN 319 102-1 §5.6.2.1, past signature validation), so one whose unit's
certificate has since expired or been revoked still proves the signing time. Renewed archive
time-stamps (several, each covering the earlier ones and their ``TimeStampValidationData``) are
validated as a chain, last first (``timestamps.renewal_chain``): each earlier one at the time a
later valid one proves it existed, so the earliest valid one proves the signature.
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
from gateway.signatures.timestamps import failed_timestamp, renewal_chain, validate_timestamp
from gateway.signatures.transforms import DEFAULT_C14N, C14nMethod, c14n_method
from gateway.signatures.xmldsig import (
    Reference,
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
    """Validate every ArchiveTimeStamp of the signature, as a renewal chain
    (``timestamps.renewal_chain``): the last one at ``now``, each earlier one at the time the
    later ones prove it existed. ``reference_octets``: what the references yielded when their
    digests were checked (not transformed and canonicalised again)."""
    properties = _unsigned_signature_properties(qualifying, xades)
    if properties is None or qualifying is None:
        return ()
    children = elements(properties)
    stamps = [
        (position, child)
        for position, child in enumerate(children)
        if child.tag in (f"{_X141}ArchiveTimeStamp", f"{xades}ArchiveTimeStamp")
    ]

    def validate_at(found: tuple[int, etree._Element], at: datetime) -> TimestampReport:
        position, stamp = found
        return _archive_timestamp(
            stamp,
            children[:position],
            qualifying,
            xades,
            structure,
            root,
            index,
            detached,
            policy=policy,
            trust=trust,
            now=at,
            revocation=revocation,
            carried=carried,
            budget=budget,
            reference_octets=reference_octets,
        )

    return renewal_chain(stamps[: policy.max_timestamps], validate_at, now)


def _archive_timestamp(
    stamp: etree._Element,
    before: list[etree._Element],
    qualifying: etree._Element,
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
    budget: WorkBudget | None,
    reference_octets: ReferenceOctets | None = None,
) -> TimestampReport:
    """One ArchiveTimeStamp validated at ``now``; ``before`` are the unsigned signature
    properties that precede it."""
    token_element = stamp.find(f"{xades}EncapsulatedTimeStamp")
    if token_element is None:
        return failed_timestamp(
            TimestampKind.ARCHIVE_TIMESTAMP,
            b"",
            "Only an EncapsulatedTimeStamp archive time-stamp is supported",
        )
    try:
        token = base64_text(token_element, "EncapsulatedTimeStamp")
    except FormatError as exc:  # unsigned: the stamp fails, not the signature
        return failed_timestamp(TimestampKind.ARCHIVE_TIMESTAMP, b"", exc.message)
    distributed = stamp.find(f"{xades}Include") is not None
    try:
        if distributed:
            octets = distributed_archive_input(
                stamp, before, qualifying, xades, structure, root, index, detached, policy, budget
            )
        else:
            octets = archive_input(
                stamp,
                before,
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
        return failed_timestamp(TimestampKind.ARCHIVE_TIMESTAMP, token, exc.message)
    return validate_timestamp(
        token,
        kind=TimestampKind.ARCHIVE_TIMESTAMP,
        imprint_of=functools.partial(crypto.digest, data=octets),
        trust=trust,
        policy=policy,
        now=now,
        revocation_values=revocation,
        carried=carried,
    )


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

    parts = [
        _kept_or_computed(
            reference, octets, structure, root, index, detached, method, policy, budget
        )
        for reference in structure.references
    ]
    parts.append(canonical(structure.signed_info))
    parts.append(canonical(structure.signature_value_element))
    if structure.key_info is not None:
        parts.append(canonical(structure.key_info))
    parts.extend(canonical(element) for element in before)
    parts.extend(canonical(obj) for obj in _archived_objects(stamp, qualifying, xades, structure))
    return b"".join(parts)


def _kept_or_computed(
    reference: Reference,
    kept: ReferenceOctets | None,
    structure: SignatureStructure,
    root: etree._Element,
    index: IdIndex,
    detached: Sequence[DetachedDocument],
    method: C14nMethod,
    policy: SignaturePolicy,
    budget: WorkBudget | None,
) -> bytes:
    """A reference's output as its digest check kept it, else computed."""
    octets = None if kept is None else kept.get(reference, method)
    if octets is not None:
        return octets
    return _reference_octets(reference, structure, root, index, detached, method, policy, budget)


def _reference_octets(
    reference: Reference,
    structure: SignatureStructure,
    root: etree._Element,
    index: IdIndex,
    detached: Sequence[DetachedDocument],
    method: C14nMethod,
    policy: SignaturePolicy,
    budget: WorkBudget | None,
) -> bytes:
    """The output of one ds:Reference of SignedInfo (a node-set canonicalised with ``method``)."""
    data: NodeSet | bytes
    if reference.is_same_document:
        target = resolve(reference, root, index)
        data = NodeSet(root, target.element, with_comments=target.keep_comments, budget=budget)
    else:
        external = [ref for ref in structure.references if not ref.is_same_document]
        document = document_for(reference.uri, detached, len(external))
        if document is None:
            raise FormatError("The detached data an archive time-stamp covers is missing")
        data = document.content
    return transformed_octets(
        reference,
        data,
        structure.element,
        max_depth=policy.max_xml_depth,
        node_set_method=method,
    )


def _archived_objects(
    stamp: etree._Element,
    qualifying: etree._Element,
    xades: str,
    structure: SignatureStructure,
) -> list[etree._Element]:
    """The ds:Objects an archive time-stamp covers: all but the QualifyingProperties one (1.3.2
    form: and but those a Reference designates by Id)."""
    referenced = {
        (reference.uri or "")[1:]
        for reference in structure.references
        if (reference.uri or "").startswith("#")
    }
    xades_132_form = stamp.tag == f"{xades}ArchiveTimeStamp"
    return [
        obj
        for obj in structure.objects
        if not any(child is qualifying for child in elements(obj))
        and not (xades_132_form and (obj.get("Id") or "") in referenced)
    ]


def distributed_archive_input(
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
) -> bytes:
    """The octets a distributed ArchiveTimeStamp's imprint covers (XAdES 1.3.2 §7.1.4.3 and
    §7.7.1; the 1.4.1 element has the same type): for each ``xades:Include``, in order, the
    element its ``URI="#id"`` designates canonicalised with the stamp's method -- or, for a
    ds:Reference of SignedInfo with ``referencedData="true"``, that reference's output.

    Only an archive time-stamp that covers what the non-distributed one does proves the
    signature (and, renewed, the earlier stamps): its Includes must designate, in this order,
    every ds:Reference of SignedInfo (with referencedData), SignedInfo, SignatureValue, KeyInfo
    when present, every unsigned signature property before it and the archived ds:Objects.
    Anything else is a FORMAT_FAILURE of the stamp, never a partial proof."""
    method_element = stamp.find(f"{_DS}CanonicalizationMethod")
    method = DEFAULT_C14N if method_element is None else c14n_method(method_element)
    required: list[etree._Element] = [reference.element for reference in structure.references]
    required.append(structure.signed_info)
    required.append(structure.signature_value_element)
    if structure.key_info is not None:
        required.append(structure.key_info)
    required.extend(before)
    required.extend(_archived_objects(stamp, qualifying, xades, structure))
    includes = stamp.findall(f"{xades}Include")
    if len(includes) > len(required):
        raise FormatError("The archive time-stamp has more Include elements than it can cover")
    references = {id(reference.element): reference for reference in structure.references}
    parts: list[bytes] = []
    for include, expected in zip(includes, required, strict=False):
        uri = include.get("URI") or ""
        if not uri.startswith("#") or len(uri) < 2:
            raise FormatError("An archive time-stamp Include must designate an element by '#id'")
        target = index.elements.get(uri[1:])
        if target is not expected:
            raise FormatError(_INCOMPLETE)
        reference = references.get(id(target))
        if reference is not None:
            if include.get("referencedData") not in ("true", "1"):
                raise FormatError(
                    "An archive time-stamp Include of a ds:Reference must take its output "
                    "(referencedData='true')"
                )
            parts.append(
                _reference_octets(
                    reference, structure, root, index, detached, method, policy, budget
                )
            )
        else:
            parts.append(canonical_octets(target, method, with_comments=method.with_comments))
    if len(includes) < len(required):
        raise FormatError(_INCOMPLETE)
    return b"".join(parts)


_INCOMPLETE = (
    "The archive time-stamp's Include elements do not designate, in order, the signature, its "
    "unsigned properties before it and its Objects (XAdES 1.3.2 §7.7.1): it proves nothing"
)
