"""What an XML signature's references cover: resolve, transform and digest each one, and report
it (XMLDSig 1.1 §3.2.1 reference validation, §5.1 Manifest; ETSI EN 319 102-1 §5.2.8).

Every ``ds:Reference`` of SignedInfo, in order, becomes a :class:`SignedDataObject` naming the
element path it resolved to and its transforms; a mismatch is HASH_FAILURE; detached content
not supplied is SIGNED_DATA_NOT_FOUND.

A reference to a ``ds:Manifest`` (its Type, or the element it designates) is digested like any
other -- that is what core validation covers: the Manifest's DigestValues. Its own references
are then checked too, and reported after it, each naming the manifest (``manifest``) and whether
its data matches (``intact``). XMLDSig §5.1 leaves their failure to the application: here a
failed (or uncheckable) manifest entry is a warning naming it, never a silent pass, never the
signature's HASH_FAILURE, and it covers nothing (``covers_whole_document`` false). A manifest
inside a manifest is reported as an entry, not followed.

Coverage: ``covers_whole_document`` is true for ``URI=""``, a reference to the root element, the
signature's own Objects in an enveloping signature, or the detached content -- unless an XPath
transform left out more than ``ds:Signature`` elements.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, replace

from lxml import etree

from gateway import namespaces as ns
from gateway.signatures.detached import DetachedDocument, document_for
from gateway.signatures.findings import Findings, FormatError, Step
from gateway.signatures.nodeset import WorkBudget
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import SignedDataObject, SignedObjectKind, SubIndication
from gateway.signatures.xades_signer import SIGNED_PROPERTIES_TAGS, SIGNED_PROPERTIES_TYPES
from gateway.signatures.xmldsig import (
    MANIFEST,
    MANIFEST_TYPE,
    Digested,
    Reference,
    ReferenceOctets,
    SignatureStructure,
    element_path,
    elements,
    external_digest,
    parse_reference,
    resolve,
    same_document_digest,
)
from gateway.xmlsig.references import IdIndex

SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
"""The Type this engine writes (XAdES 1.3.2 on); any of ``SIGNED_PROPERTIES_TYPES`` is read."""
_REFERENCE = ns.qname(ns.DS, "Reference")

DetachedContent = bytes | Mapping[str, bytes] | None
"""What ``validate_xades`` takes as detached content: one data object, or data objects by name
(an ASiC container's entries), each turned into a ``detached.DetachedDocument``."""


@dataclass(frozen=True)
class _Context:
    structure: SignatureStructure
    root: etree._Element
    index: IdIndex
    detached: tuple[DetachedDocument, ...]
    external_references: int
    policy: SignaturePolicy
    text_heavy: bool
    budget: WorkBudget | None


def data_objects(
    structure: SignatureStructure,
    root: etree._Element,
    index: IdIndex,
    signed_properties: etree._Element | None,
    detached: tuple[DetachedDocument, ...],
    findings: Findings,
    policy: SignaturePolicy,
    text_heavy: bool,
    budget: WorkBudget | None = None,
    octets: ReferenceOctets | None = None,
) -> tuple[SignedDataObject, ...]:
    """Resolve and digest every reference of SignedInfo, then the entries of the Manifests
    they designate; with ``octets``, keep what each reference of SignedInfo yielded."""
    external = [reference for reference in structure.references if not reference.is_same_document]
    context = _Context(
        structure, root, index, detached, len(external), policy, text_heavy, budget
    )
    signed_properties_seen = False
    items: list[SignedDataObject] = []
    references_left = policy.max_references - len(structure.references)
    for reference in structure.references:
        hash_name = _hash_name(reference, findings, policy)
        manifest: etree._Element | None = None
        if reference.is_same_document:
            target = resolve(reference, root, index)
            if reference.type in SIGNED_PROPERTIES_TYPES or (
                target.element is not None and target.element.tag in SIGNED_PROPERTIES_TAGS
            ):
                if target.element is None or target.element is not signed_properties:
                    raise FormatError("A SignedProperties reference designates another element")
                signed_properties_seen = True
            if reference.element.get("URI") is None:
                findings.warnings.append(
                    "A reference without URI has the enveloped-signature transform: it was "
                    'taken as the whole document (URI="")'
                )
            scope = root if target.element is None else target.element
            if next(scope.iter(etree.Comment), None) is not None:
                # Same-document references never sign comments (XMLDSig §4.3.3.3): text split by
                # one reads differently to a naive consumer than to the signature.
                findings.warnings.append("A signed element contains comments, which are not signed")
            computed = same_document_digest(
                reference,
                target,
                root,
                structure.element,
                hash_name,
                max_depth=policy.max_xml_depth,
                text_heavy=text_heavy,
                budget=budget,
                octets=octets,
            )
            items.append(_same_document_object(reference, target.element, context, computed))
            if target.element is not None and target.element.tag == MANIFEST:
                manifest = target.element
            elif reference.type == MANIFEST_TYPE:
                # Type is advisory (XMLDSig §4.4.3.4): the digest still says what was signed.
                findings.warnings.append(
                    f"Reference {(reference.uri or '')[:100]!r} is typed Manifest but designates "
                    "another element; checked as a plain reference"
                )
        else:
            document = document_for(reference.uri, detached, len(external))
            if document is None:
                findings.add(
                    Step.CRYPTO,
                    SubIndication.SIGNED_DATA_NOT_FOUND,
                    "The detached content of reference "
                    f"{(reference.uri or '(no URI)')[:100]!r} was not supplied",
                )
                continue
            computed = external_digest(
                reference,
                document.content,
                structure.element,
                hash_name,
                max_depth=policy.max_xml_depth,
                octets=octets,
            )
            items.append(_detached_object(reference, hash_name, computed))
        if not hmac.compare_digest(computed.value, reference.digest_value):
            findings.add(
                Step.CRYPTO,
                SubIndication.HASH_FAILURE,
                f"The data of reference {(reference.uri or '(detached)')[:100]!r} has been modified",
            )
        elif manifest is not None:
            entries = _manifest_entries(manifest, reference, context, findings, references_left)
            references_left -= len(entries)
            items.extend(entries)
    if signed_properties is not None and not signed_properties_seen:
        raise FormatError("The SignedProperties are not covered by the signature")
    return tuple(items)


def _hash_name(reference: Reference, findings: Findings, policy: SignaturePolicy) -> str:
    hash_name = reference.digest_name
    if hash_name is None:
        raise FormatError("A reference uses an unknown digest algorithm")
    if not policy.allows_digest(hash_name):
        findings.add_weak_algorithm(
            hash_name, f"A reference digest uses {hash_name}, which is not accepted"
        )
    return hash_name


def _manifest_entries(
    manifest: etree._Element,
    manifest_reference: Reference,
    context: _Context,
    findings: Findings,
    references_left: int,
) -> list[SignedDataObject]:
    """Check and report the references of a Manifest (XMLDSig §5.1)."""
    children = elements(manifest)
    if not children or any(child.tag != _REFERENCE for child in children):
        raise FormatError("A Manifest holds Reference elements only")
    if len(children) > references_left:
        raise FormatError("The signature and its manifests have too many references")
    manifest_uri = manifest_reference.uri or ""
    entries = []
    for child in children:
        try:
            entries.append(_manifest_entry(child, manifest_uri, context, findings))
        except FormatError as exc:
            findings.warnings.append(
                f"Manifest {manifest_uri[:100]!r}: a reference cannot be checked ({exc.message})"
            )
            entries.append(
                SignedDataObject(
                    kind=SignedObjectKind.XML_ELEMENT,
                    identifier=child.get("URI") or "",
                    digest_algorithm="",
                    digest=b"",
                    covers_whole_document=False,
                    manifest=manifest_uri,
                    intact=False,
                )
            )
    return entries


def _manifest_entry(
    element: etree._Element, manifest_uri: str, context: _Context, findings: Findings
) -> SignedDataObject:
    reference = parse_reference(element)
    hash_name = reference.digest_name
    if hash_name is None:
        raise FormatError("unknown digest algorithm")
    if not context.policy.allows_digest(hash_name):
        findings.warnings.append(
            f"Manifest {manifest_uri[:100]!r}: reference {reference.uri!r} uses {hash_name}"
        )
    if reference.is_same_document:
        target = resolve(reference, context.root, context.index)
        computed = same_document_digest(
            reference,
            target,
            context.root,
            context.structure.element,
            hash_name,
            max_depth=context.policy.max_xml_depth,
            text_heavy=context.text_heavy,
            budget=context.budget,
        )
        item = _same_document_object(reference, target.element, context, computed)
        if target.element is not None and target.element.tag == MANIFEST:
            item = replace(item, covers_whole_document=False)  # nested: not followed
    else:
        # A manifest entry is matched by its URI (or is the only document supplied).
        document = document_for(reference.uri, context.detached, 1 + context.external_references)
        if document is None:
            raise FormatError("its detached content was not supplied")
        computed = external_digest(
            reference,
            document.content,
            context.structure.element,
            hash_name,
            max_depth=context.policy.max_xml_depth,
        )
        item = _detached_object(reference, hash_name, computed)
    intact = hmac.compare_digest(computed.value, reference.digest_value)
    if not intact:
        findings.warnings.append(
            f"Manifest {manifest_uri[:100]!r}: the data of reference "
            f"{(reference.uri or '(detached)')[:100]!r} has been modified"
        )
    return replace(
        item,
        manifest=manifest_uri,
        intact=intact,
        covers_whole_document=item.covers_whole_document and intact,
    )


def _detached_object(reference: Reference, hash_name: str, computed: Digested) -> SignedDataObject:
    return SignedDataObject(
        kind=SignedObjectKind.DETACHED_CONTENT,
        identifier=reference.uri or "",
        digest_algorithm=hash_name,
        digest=reference.digest_value,
        covers_whole_document=not computed.narrowed,
        transforms=reference.transform_names,
    )


def _same_document_object(
    reference: Reference,
    element: etree._Element | None,
    context: _Context,
    computed: Digested,
) -> SignedDataObject:
    hash_name = reference.digest_name or ""
    if element is None:
        kind, path, whole = SignedObjectKind.XML_DOCUMENT, "/", True
    else:
        path = element_path(element)
        if element.tag in SIGNED_PROPERTIES_TAGS:
            kind, whole = SignedObjectKind.SIGNED_PROPERTIES, False
        elif element.tag == MANIFEST:
            kind, whole = SignedObjectKind.MANIFEST, False
        else:
            kind = SignedObjectKind.XML_ELEMENT
            # Enveloping: the signature is the document and this is one of its own Objects.
            structure = context.structure
            enveloping = context.root is structure.element and element in structure.objects
            whole = element is context.root or enveloping
    return SignedDataObject(
        kind=kind,
        identifier=reference.uri or "",
        digest_algorithm=hash_name,
        digest=reference.digest_value,
        covers_whole_document=whole and not computed.narrowed,
        element_path=path,
        transforms=reference.transform_names,
    )
