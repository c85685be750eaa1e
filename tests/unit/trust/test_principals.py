"""Certificate subject -> Principal: the mapping table of ``gateway.trust.principals``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.domain.principal import PrincipalKind
from gateway.errors import AuthenticationError
from gateway.trust.principals import principal_from_certificate

_KEY = ec.generate_private_key(ec.SECP256R1())
_NOW = datetime(2026, 3, 2, tzinfo=UTC)
_REPRESENTATIVE_POLICY = "1.3.6.1.4.1.5734.3.11.1"

SN = NameOID.SERIAL_NUMBER
ORG_ID = NameOID.ORGANIZATION_IDENTIFIER
CN = NameOID.COMMON_NAME
O = NameOID.ORGANIZATION_NAME


def certificate(
    *attributes: tuple[x509.ObjectIdentifier, str], policies: tuple[str, ...] = ()
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(CN, "Test CA")]))
        .public_key(_KEY.public_key())
        .serial_number(1)
        .not_valid_before(_NOW)
        .not_valid_after(_NOW + timedelta(days=1))
    )
    if policies:
        builder = builder.add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier(oid), None) for oid in policies]
            ),
            critical=False,
        )
    return builder.sign(_KEY, hashes.SHA256())


MAPPED = [
    # (subject attributes, kind, identifier, person_identifier)
    (
        [(SN, "IDCES-12345678Z"), (CN, "ESPANOL JUAN - 12345678Z")],
        PrincipalKind.PERSON,
        "12345678Z",
        "12345678Z",
    ),
    ([(SN, "12345678Z")], PrincipalKind.PERSON, "12345678Z", "12345678Z"),
    ([(SN, " idces-12345678z ")], PrincipalKind.PERSON, "12345678Z", "12345678Z"),
    ([(SN, "IDCES-1234567L")], PrincipalKind.PERSON, "01234567L", "01234567L"),
    ([(SN, "TINES-X1234567L")], PrincipalKind.PERSON, "X1234567L", "X1234567L"),
    ([(SN, "IDCES-K1234567L")], PrincipalKind.PERSON, "K1234567L", "K1234567L"),
    ([(ORG_ID, "VATES-B12345674"), (O, "DEMO SL")], PrincipalKind.ENTITY, "B12345674", None),
    ([(ORG_ID, "NTRES-B12345674")], PrincipalKind.ENTITY, "B12345674", None),
    ([(ORG_ID, "VATES-Q2827003A")], PrincipalKind.ENTITY, "Q2827003A", None),
    ([(SN, "B12345674")], PrincipalKind.ENTITY, "B12345674", None),  # legacy seal
    ([(SN, "B12345674"), (ORG_ID, "VATES-B12345674")], PrincipalKind.ENTITY, "B12345674", None),
    (
        [(SN, "IDCES-23456789D"), (ORG_ID, "VATES-B12345674")],
        PrincipalKind.REPRESENTATIVE,
        "B12345674",
        "23456789D",
    ),
    (
        [(SN, "IDCES-12345678Z"), (SN, "IDCES-12345678Z")],
        PrincipalKind.PERSON,
        "12345678Z",
        "12345678Z",
    ),
]

UNMAPPED = [
    [(CN, "No identifier")],
    [],
    [(SN, "IDCES-12345678A")],  # wrong check letter
    [(SN, "PASES-AB123456")],  # a passport is not a tax identifier
    [(SN, "IDCFR-12345678Z")],  # another country's scheme
    [(SN, "IDCES-B12345674")],  # an entity under a person semantics identifier
    [(ORG_ID, "VATES-12345678Z")],  # a person's NIF as organisation identifier
    [(ORG_ID, "VATFR-12345678901")],
    [(ORG_ID, "B12345674")],  # organizationIdentifier needs its ETSI prefix
    [(ORG_ID, "VATES-B12345675")],  # wrong control digit
    [(SN, "B12345674"), (ORG_ID, "VATES-B76543214")],  # two different entities
    [(SN, "IDCES-12345678Z"), (SN, "IDCES-23456789D")],  # ambiguous person
    [(ORG_ID, "VATES-B12345674"), (ORG_ID, "VATES-B76543214")],  # ambiguous entity
    [(ORG_ID, "VATES-Ｂ１２３４５６７４")],  # fullwidth look-alikes
]


@pytest.mark.parametrize("attributes, kind, identifier, person", MAPPED)
def test_mapped(
    attributes: list[tuple[x509.ObjectIdentifier, str]],
    kind: PrincipalKind,
    identifier: str,
    person: str | None,
) -> None:
    cert = certificate(*attributes)
    principal = principal_from_certificate(cert)
    assert (principal.kind, principal.identifier, principal.person_identifier) == (
        kind,
        identifier,
        person,
    )
    assert principal.certificate_fingerprint == cert.fingerprint(hashes.SHA256()).hex()
    assert principal.acts_for == identifier


@pytest.mark.parametrize("attributes", UNMAPPED)
def test_unmapped(attributes: list[tuple[x509.ObjectIdentifier, str]]) -> None:
    with pytest.raises(AuthenticationError) as info:
        principal_from_certificate(certificate(*attributes))
    assert type(info.value) is AuthenticationError
    assert info.value.code == "UNMAPPED_CERTIFICATE"
    assert "1234" not in info.value.message  # personal data is never echoed


@pytest.mark.parametrize(
    "attributes, name",
    [
        ([(SN, "12345678Z"), (CN, "JUAN"), (O, "ORG")], "JUAN"),
        ([(ORG_ID, "VATES-B12345674"), (O, "DEMO SL")], "DEMO SL"),
        ([(SN, "12345678Z")], ""),
    ],
)
def test_display_name(attributes: list[tuple[x509.ObjectIdentifier, str]], name: str) -> None:
    assert principal_from_certificate(certificate(*attributes)).name == name


def test_fingerprint_passed_in_is_used() -> None:
    principal = principal_from_certificate(certificate((SN, "12345678Z")), fingerprint="abc")
    assert principal.certificate_fingerprint == "abc"


def test_representative_policies_when_configured() -> None:
    both = ((SN, "IDCES-23456789D"), (ORG_ID, "VATES-B12345674"))
    policies = frozenset({_REPRESENTATIVE_POLICY})
    with_policy = certificate(*both, policies=(_REPRESENTATIVE_POLICY,))
    principal = principal_from_certificate(with_policy, representative_policies=policies)
    assert principal.kind is PrincipalKind.REPRESENTATIVE
    with pytest.raises(AuthenticationError) as info:
        principal_from_certificate(certificate(*both), representative_policies=policies)
    assert info.value.code == "UNMAPPED_CERTIFICATE"
    # Entity and person certificates are unaffected by the representative policy list.
    entity = certificate((ORG_ID, "VATES-B12345674"))
    assert (
        principal_from_certificate(entity, representative_policies=policies).kind
        is PrincipalKind.ENTITY
    )
