"""Certificate subject -> ``Principal`` (DESIGN.md §5 step 5).

Mapping rules (ETSI EN 319 412-1 §5.1.3/§5.1.4 semantics identifiers; Spanish practice):

============================================  ===============================================
subject holds                                 principal
============================================  ===============================================
``serialNumber`` = person NIF/NIE             PERSON, identifier = person_identifier = NIF
``organizationIdentifier`` = entity CIF       ENTITY, identifier = CIF
both of the above                             REPRESENTATIVE, identifier = CIF,
                                              person_identifier = NIF
``serialNumber`` = entity CIF (legacy seals)  ENTITY (with an organizationIdentifier, the two
                                              CIFs must be equal)
anything else                                 ``AuthenticationError`` ``UNMAPPED_CERTIFICATE``
============================================  ===============================================

* ``serialNumber`` is accepted as ``IDCES-<NIF>`` (identity document) or ``TINES-<NIF>`` (tax
  identification) or as a bare NIF/NIE (older FNMT profiles). Other ETSI types (``PAS``,
  ``PNO``) and other countries do not map: the gateway's principals are Spanish tax identifiers.
* ``organizationIdentifier`` is accepted as ``VATES-<CIF>`` or ``NTRES-<CIF>`` and must be an
  entity NIF; a natural person's NIF there does not map.
* Values are normalised by ``gateway.domain.identifiers`` (uppercase, separators dropped, check
  character verified). A value that fails does not map; its content is never echoed.
* A subject repeating ``serialNumber`` or ``organizationIdentifier`` with different values is
  ambiguous and does not map.
* ``name`` is the first commonName, else the organizationName, else empty.
* Certificate policies are not consulted unless ``representative_policies`` is given: then a
  subject with both identifiers is a REPRESENTATIVE only when the certificate asserts one of those
  policy OIDs (e.g. a CA's "representative of a legal person" policy); otherwise it does not map.
  Without it, an employee certificate naming its employer maps to REPRESENTATIVE too; the mandate
  checks of the services decide what a representative may do.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from gateway.domain.identifiers import TaxId, parse_tax_id
from gateway.domain.principal import Principal, PrincipalKind
from gateway.errors import AuthenticationError, InvalidRequest

_PERSON_SEMANTICS = re.compile(r"(?:IDC|TIN)ES-(.+)", re.ASCII)
_ENTITY_SEMANTICS = re.compile(r"(?:VAT|NTR)ES-(.+)", re.ASCII)
_OTHER_SEMANTICS = re.compile(r"[A-Z]{3}[A-Z]{2}[-:].*", re.ASCII)


def _unmapped() -> AuthenticationError:
    return AuthenticationError(
        "The certificate does not identify a known kind of principal", code="UNMAPPED_CERTIFICATE"
    )


def _single_value(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = {str(attribute.value).strip() for attribute in name.get_attributes_for_oid(oid)}
    if len(values) > 1:
        raise _unmapped()
    return values.pop() if values else None


def _tax_id(raw: str) -> TaxId:
    try:
        return parse_tax_id(raw, "certificate")
    except InvalidRequest as exc:
        raise _unmapped() from exc


def _from_serial_number(value: str) -> TaxId:
    match = _PERSON_SEMANTICS.fullmatch(value.upper())
    if match is not None:
        tax_id = _tax_id(match.group(1))
        if not tax_id.is_person:
            raise _unmapped()
        return tax_id
    if _OTHER_SEMANTICS.fullmatch(value.upper()):
        raise _unmapped()
    return _tax_id(value)


def _from_organization_identifier(value: str) -> TaxId:
    match = _ENTITY_SEMANTICS.fullmatch(value.upper())
    if match is None:
        raise _unmapped()
    tax_id = _tax_id(match.group(1))
    if not tax_id.is_entity:
        raise _unmapped()
    return tax_id


def _display_name(subject: x509.Name) -> str:
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        attributes = subject.get_attributes_for_oid(oid)
        if attributes:
            return str(attributes[0].value).strip()
    return ""


def _asserts_policy(certificate: x509.Certificate, policies: Collection[str]) -> bool:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.CertificatePolicies)
    except x509.ExtensionNotFound:
        return False
    return any(info.policy_identifier.dotted_string in policies for info in extension.value)


def principal_from_certificate(
    certificate: x509.Certificate,
    *,
    fingerprint: str | None = None,
    representative_policies: Collection[str] | None = None,
) -> Principal:
    """Map a validated certificate to the principal it speaks for (rules in the module doc)."""
    subject = certificate.subject
    serial_number = _single_value(subject, NameOID.SERIAL_NUMBER)
    organization_identifier = _single_value(subject, NameOID.ORGANIZATION_IDENTIFIER)
    from_serial = _from_serial_number(serial_number) if serial_number else None
    entity = (
        _from_organization_identifier(organization_identifier) if organization_identifier else None
    )
    if from_serial is not None and from_serial.is_entity:
        if entity is not None and entity.value != from_serial.value:
            raise _unmapped()
        entity, from_serial = from_serial, None
    fingerprint = fingerprint or certificate.fingerprint(hashes.SHA256()).hex()
    name = _display_name(subject)
    if entity is not None and from_serial is not None:
        if representative_policies is not None and not _asserts_policy(
            certificate, representative_policies
        ):
            raise _unmapped()
        return Principal(
            kind=PrincipalKind.REPRESENTATIVE,
            identifier=entity.value,
            name=name,
            certificate_fingerprint=fingerprint,
            person_identifier=from_serial.value,
        )
    if entity is not None:
        return Principal(
            kind=PrincipalKind.ENTITY,
            identifier=entity.value,
            name=name,
            certificate_fingerprint=fingerprint,
        )
    if from_serial is not None:
        return Principal(
            kind=PrincipalKind.PERSON,
            identifier=from_serial.value,
            name=name,
            certificate_fingerprint=fingerprint,
            person_identifier=from_serial.value,
        )
    raise _unmapped()
