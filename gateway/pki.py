"""A demo/test PKI, generated with ``cryptography`` (``gateway pki``, ``gateway demo``, tests).

**Demo only**: every private key is written unencrypted (mode 0600) so that tests and the demo need
no passphrase. Never point a production trust store at this directory.

Layout written under ``directory``::

    trust/*.pem                 CA certificates the gateway trusts (root + issuing CAs)
    crl/*.crl.pem               CRLs: the root's (revokes one issuing CA), the issuing CA's
    ca/<name>/{cert,key}.pem    every CA, including ``untrusted`` (not in trust/)
    server/{cert,key}.pem       the gateway's own certificate: signs responses and receipts
    tsa/{cert,key}.pem          a time-stamping unit (extendedKeyUsage timeStamping, critical)
    clients/<name>/{cert,key}.pem

Subjects follow the Spanish/ETSI conventions ``gateway.trust.principals`` maps (ETSI EN 319 412-1
§5.1.3 and §5.1.4): persons carry ``serialNumber=IDCES-<DNI>``, entities
``organizationIdentifier=VATES-<CIF>``, representatives both. Identifiers have valid check
characters (``gateway.domain.identifiers``).

Clients: ``company`` (entity seal, RSA), ``company_ec`` (the same entity, ECDSA P-256),
``person``, ``representative`` (a person for ``company``), ``red_agent`` (payroll firm entity),
``issuer_tgss``/``issuer_inss`` (issuing bodies' entity seals, for IssuerService),
``untrusted`` (issued by a CA outside trust/), ``expired``, ``revoked`` (on the issuing CA's CRL),
``revoked_intermediate`` (its issuing CA is on the root's CRL), ``no_digital_signature`` (key
usage without digitalSignature), ``unmapped`` (no identifier in its subject).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.domain.identifiers import make_cif, make_dni

RSA_KEY_BITS = 2048
LEAF_VALIDITY = timedelta(days=730)
CA_VALIDITY = timedelta(days=3650)
CRL_VALIDITY = timedelta(days=7)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Credential:
    """A certificate and its (unencrypted, demo) private key on disk."""

    name: str
    cert_path: Path
    key_path: Path

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_path.read_bytes())

    def private_key(self) -> PrivateKey:
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        assert isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey))
        return key


@dataclass(frozen=True)
class DemoPki:
    """Paths and identifiers of a generated demo PKI."""

    directory: Path
    trust_dir: Path
    crl_dir: Path
    root_ca: Credential
    issuing_ca: Credential
    revoked_issuing_ca: Credential
    untrusted_ca: Credential
    server: Credential
    tsa: Credential
    clients: Mapping[str, Credential]
    company_cif: str
    person_nif: str
    representative_nif: str
    representative_cif: str
    red_agent_cif: str
    server_cif: str
    revoked_serial: int
    issuer_tgss_cif: str = ""
    issuer_inss_cif: str = ""

    def client(self, name: str) -> Credential:
        return self.clients[name]


def _name(**attributes: str) -> x509.Name:
    oids = {
        "C": NameOID.COUNTRY_NAME,
        "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "CN": NameOID.COMMON_NAME,
        "GN": NameOID.GIVEN_NAME,
        "SN": NameOID.SURNAME,
        "serialNumber": NameOID.SERIAL_NUMBER,
        "organizationIdentifier": NameOID.ORGANIZATION_IDENTIFIER,
    }
    return x509.Name([x509.NameAttribute(oids[key], value) for key, value in attributes.items()])


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_encipherment: bool = False,
    cert_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class _Issued:
    certificate: x509.Certificate
    key: PrivateKey


def _new_key(kind: str = "rsa") -> PrivateKey:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)


def _issue(
    subject: x509.Name,
    key: PrivateKey,
    issuer: _Issued | None,
    *,
    not_before: datetime,
    not_after: datetime,
    ca_path_length: int | None = None,
    is_ca: bool = False,
    key_usage: x509.KeyUsage,
    extended_key_usage: list[x509.ObjectIdentifier] | None = None,
    eku_critical: bool = False,
) -> _Issued:
    public_key = key.public_key()
    issuer_name = issuer.certificate.subject if issuer else subject
    signing_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=ca_path_length), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    issuer_public_key = issuer.key.public_key() if issuer else public_key
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), critical=False
    )
    if extended_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(extended_key_usage), critical=eku_critical
        )
    certificate = builder.sign(signing_key, hashes.SHA256())
    return _Issued(certificate, key)


def _write(directory: Path, issued: _Issued, name: str) -> Credential:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
    key_bytes = issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Create the key file with 0600 from the start rather than chmod-ing a readable file.
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_bytes)
    return Credential(name=name, cert_path=cert_path, key_path=key_path)


def _crl(
    issuer: _Issued, revoked: list[tuple[int, datetime]], now: datetime
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now - timedelta(hours=1))
        .next_update(now + CRL_VALIDITY)
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(when)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
    return builder.sign(issuer.key, hashes.SHA256())


def generate_demo_pki(directory: Path, *, now: datetime) -> DemoPki:
    """Generate the whole demo PKI under ``directory`` with validity periods around ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    directory.mkdir(parents=True, exist_ok=True)
    ca_from, ca_to = now - timedelta(days=2), now + CA_VALIDITY
    leaf_from, leaf_to = now - timedelta(days=1), now + LEAF_VALIDITY
    ca_usage = _key_usage(cert_sign=True)
    signing_usage = _key_usage(digital_signature=True, content_commitment=True)
    client_eku = [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]

    company_cif = make_cif("B", 1234567)
    red_agent_cif = make_cif("B", 7654321)
    server_cif = make_cif("Q", 2827003)
    # Issuing bodies' entity seals (demo CIFs, not the real bodies'): registered with
    # ``gateway issuers add`` they publish over IssuerService.
    issuer_tgss_cif = make_cif("Q", 2827004)
    issuer_inss_cif = make_cif("Q", 2827005)
    person_nif = make_dni(12345678)
    representative_nif = make_dni(23456789)
    other_nif = make_dni(34567890)

    def ca(common_name: str, parent: _Issued | None, *, organisation: str = "NOTESS Demo",
           path_length: int | None = None) -> _Issued:
        return _issue(
            _name(C="ES", O=organisation, CN=common_name),
            _new_key(),
            parent,
            not_before=ca_from,
            not_after=ca_to,
            is_ca=True,
            ca_path_length=path_length,
            key_usage=ca_usage,
        )

    root = ca("NOTESS Demo Root CA", None)
    issuing = ca("NOTESS Demo Issuing CA", root, path_length=0)
    revoked_issuing = ca("NOTESS Demo Withdrawn Issuing CA", root, path_length=0)
    untrusted = ca("Unknown Demo CA", None, organisation="Elsewhere")

    def leaf(
        subject: x509.Name,
        issuer: _Issued = issuing,
        *,
        kind: str = "rsa",
        usage: x509.KeyUsage = signing_usage,
        valid_from: datetime = leaf_from,
        valid_to: datetime = leaf_to,
        eku: list[x509.ObjectIdentifier] | None = None,
        eku_critical: bool = False,
    ) -> _Issued:
        return _issue(
            subject,
            _new_key(kind),
            issuer,
            not_before=valid_from,
            not_after=valid_to,
            key_usage=usage,
            extended_key_usage=eku or client_eku,
            eku_critical=eku_critical,
        )

    def person_name(nif: str, given: str, surname: str) -> x509.Name:
        return _name(
            C="ES",
            serialNumber=f"IDCES-{nif}",
            GN=given,
            SN=surname,
            CN=f"{surname} {given} - {nif}",
        )

    def entity_name(cif: str, organisation: str) -> x509.Name:
        return _name(
            C="ES",
            O=organisation,
            organizationIdentifier=f"VATES-{cif}",
            CN=f"{organisation} - SELLO ELECTRONICO",
        )

    revoked_client = leaf(person_name(other_nif, "REVOCADO", "PRUEBA"))
    issued_clients: dict[str, _Issued] = {
        "company": leaf(entity_name(company_cif, "DEMO COMPANY SL")),
        "company_ec": leaf(entity_name(company_cif, "DEMO COMPANY SL"), kind="ec"),
        "person": leaf(person_name(person_nif, "JUAN", "ESPANOL ESPANOL")),
        "representative": leaf(
            _name(
                C="ES",
                O="DEMO COMPANY SL",
                organizationIdentifier=f"VATES-{company_cif}",
                serialNumber=f"IDCES-{representative_nif}",
                GN="MARIA",
                SN="GARCIA LOPEZ",
                CN=f"{representative_nif} MARIA GARCIA LOPEZ (R: {company_cif})",
            )
        ),
        "red_agent": leaf(entity_name(red_agent_cif, "DEMO PAYROLL ADVISERS SL")),
        "issuer_tgss": leaf(entity_name(issuer_tgss_cif, "DEMO TESORERIA GENERAL SS")),
        "issuer_inss": leaf(entity_name(issuer_inss_cif, "DEMO INSTITUTO NACIONAL SS")),
        "untrusted": leaf(entity_name(company_cif, "DEMO COMPANY SL"), untrusted),
        "expired": leaf(
            person_name(person_nif, "JUAN", "ESPANOL ESPANOL"),
            valid_from=now - timedelta(days=400),
            valid_to=now - timedelta(days=35),
        ),
        "revoked": revoked_client,
        "revoked_intermediate": leaf(
            person_name(person_nif, "JUAN", "ESPANOL ESPANOL"), revoked_issuing
        ),
        "no_digital_signature": leaf(
            person_name(person_nif, "JUAN", "ESPANOL ESPANOL"),
            usage=_key_usage(key_encipherment=True),
        ),
        "unmapped": leaf(_name(C="ES", O="Somebody", CN="No identifier at all")),
    }
    server = leaf(
        _name(
            C="ES",
            O="NOTESS Demo Administration",
            organizationIdentifier=f"VATES-{server_cif}",
            CN="notess-gateway.demo",
        ),
        eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    tsa = leaf(
        _name(C="ES", O="NOTESS Demo Administration", CN="NOTESS Demo TSU"),
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
        eku_critical=True,
    )

    trust_dir = directory / "trust"
    crl_dir = directory / "crl"
    for folder in (trust_dir, crl_dir):
        folder.mkdir(parents=True, exist_ok=True)
    cas = {
        "root": root,
        "issuing": issuing,
        "revoked_issuing": revoked_issuing,
        "untrusted": untrusted,
    }
    ca_credentials = {
        name: _write(directory / "ca" / name, issued, name) for name, issued in cas.items()
    }
    for name in ("root", "issuing", "revoked_issuing"):
        (trust_dir / f"{name}-ca.pem").write_bytes(
            cas[name].certificate.public_bytes(serialization.Encoding.PEM)
        )
    revoked_at = now - timedelta(days=1)
    crls = {
        "root": _crl(root, [(revoked_issuing.certificate.serial_number, revoked_at)], now),
        "issuing": _crl(issuing, [(revoked_client.certificate.serial_number, revoked_at)], now),
    }
    for name, crl in crls.items():
        (crl_dir / f"{name}-ca.crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))

    clients = {
        name: _write(directory / "clients" / name, issued, name)
        for name, issued in issued_clients.items()
    }
    pki = DemoPki(
        directory=directory,
        trust_dir=trust_dir,
        crl_dir=crl_dir,
        root_ca=ca_credentials["root"],
        issuing_ca=ca_credentials["issuing"],
        revoked_issuing_ca=ca_credentials["revoked_issuing"],
        untrusted_ca=ca_credentials["untrusted"],
        server=_write(directory / "server", server, "server"),
        tsa=_write(directory / "tsa", tsa, "tsa"),
        clients=clients,
        company_cif=company_cif,
        person_nif=person_nif,
        representative_nif=representative_nif,
        representative_cif=company_cif,
        red_agent_cif=red_agent_cif,
        server_cif=server_cif,
        revoked_serial=revoked_client.certificate.serial_number,
        issuer_tgss_cif=issuer_tgss_cif,
        issuer_inss_cif=issuer_inss_cif,
    )
    manifest = {
        "clients": sorted(clients),
        **{name: getattr(pki, name) for name in _MANIFEST_IDENTIFIERS + _OPTIONAL_IDENTIFIERS},
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return pki


MANIFEST = "pki.json"
_MANIFEST_IDENTIFIERS = ("company_cif", "person_nif", "representative_nif", "representative_cif",
                         "red_agent_cif", "server_cif", "revoked_serial")
_OPTIONAL_IDENTIFIERS = ("issuer_tgss_cif", "issuer_inss_cif")
"""Added by issue 17: a demo PKI written before has none (and no issuer seals)."""


def load_demo_pki(directory: Path) -> DemoPki:
    """Read back a demo PKI written by ``generate_demo_pki`` (paths follow its layout)."""
    manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))

    def credential(folder: Path, name: str) -> Credential:
        return Credential(name, folder / "cert.pem", folder / "key.pem")

    return DemoPki(
        directory=directory,
        trust_dir=directory / "trust",
        crl_dir=directory / "crl",
        root_ca=credential(directory / "ca" / "root", "root"),
        issuing_ca=credential(directory / "ca" / "issuing", "issuing"),
        revoked_issuing_ca=credential(directory / "ca" / "revoked_issuing", "revoked_issuing"),
        untrusted_ca=credential(directory / "ca" / "untrusted", "untrusted"),
        server=credential(directory / "server", "server"),
        tsa=credential(directory / "tsa", "tsa"),
        clients={name: credential(directory / "clients" / name, name)
                 for name in manifest["clients"]},
        **{name: manifest[name] for name in _MANIFEST_IDENTIFIERS},
        **{name: manifest.get(name, "") for name in _OPTIONAL_IDENTIFIERS},
    )


def load_or_generate_demo_pki(directory: Path, *, now: datetime, force: bool = False) -> DemoPki:
    """Reuse the demo PKI in ``directory`` unless asked to replace it or its CRLs (valid for
    ``CRL_VALIDITY``) or certificates are about to lapse; identifiers stay the same either way,
    so demo data keeps matching the certificates."""
    if not force and (directory / MANIFEST).is_file():
        pki = load_demo_pki(directory)
        horizon = now + timedelta(days=1)
        crls_fresh = all(
            (crl.next_update_utc or horizon) > horizon
            for crl in (x509.load_pem_x509_crl(p.read_bytes()) for p in pki.crl_dir.glob("*.pem"))
        )
        server_valid = pki.server.certificate().not_valid_after_utc > horizon
        if crls_fresh and server_valid:
            return pki
    return generate_demo_pki(directory, now=now)
