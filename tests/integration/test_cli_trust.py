"""``gateway trust import-tl``: anchors from ETSI TS 119 612 trusted lists (issue 12).

Trusted lists are generated here and signed by xmlsec1 (an enveloped XAdES with
SigningCertificateV2, as scheme operators sign them) with a scheme-operator key the operator
pins with ``--signer-cert``. The granted CA/QC services become anchors -- a non-self-signed one
too -- with their provenance; a withdrawn one does not; a second import of the same territory
replaces the first. Refused with nothing written: a tampered list (a withdrawn service turned
granted), a list signed by another key, an expired list, a signed document that is not a list.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tl_xmlsec1 import xmlsec1_signed_list

from gateway import cli
from gateway.errors import AuthenticationError
from gateway.trust.certificates import TrustStore

NOW = datetime.now(UTC).replace(microsecond=0)
TSL = "http://uri.etsi.org/02231/v2#"
GRANTED = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"
WITHDRAWN = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/withdrawn"
CA_QC = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
QTST = "http://uri.etsi.org/TrstSvc/Svctype/TSA/QTST"


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def issue(name: str, issuer: Issued | None = None, *, ca: bool = True) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "ES"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    usage = x509.KeyUsage(digital_signature=not ca, content_commitment=not ca,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False)
    certificate = (
        x509.CertificateBuilder().subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(issuer.key if issuer else key, hashes.SHA256()))
    return Issued(certificate, key)


def service(name: str, kind: str, status: str, certificate: x509.Certificate) -> str:
    der = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
    return (
        "<tsl:TSPService><tsl:ServiceInformation>"
        f"<tsl:ServiceTypeIdentifier>{kind}</tsl:ServiceTypeIdentifier>"
        f'<tsl:ServiceName><tsl:Name xml:lang="en">{name}</tsl:Name></tsl:ServiceName>'
        "<tsl:ServiceDigitalIdentity><tsl:DigitalId>"
        f"<tsl:X509Certificate>{der}</tsl:X509Certificate>"
        "</tsl:DigitalId></tsl:ServiceDigitalIdentity>"
        f"<tsl:ServiceStatus>{status}</tsl:ServiceStatus>"
        "<tsl:StatusStartingTime>2024-01-01T00:00:00Z</tsl:StatusStartingTime>"
        "</tsl:ServiceInformation></tsl:TSPService>")


def trusted_list(services: list[str], *, next_update: datetime, sequence: int = 7) -> str:
    return (
        f'<tsl:TrustServiceStatusList xmlns:tsl="{TSL}" Id="tsl" '
        'TSLTag="http://uri.etsi.org/19612/TSLTag"><tsl:SchemeInformation>'
        "<tsl:TSLVersionIdentifier>6</tsl:TSLVersionIdentifier>"
        f"<tsl:TSLSequenceNumber>{sequence}</tsl:TSLSequenceNumber>"
        "<tsl:TSLType>http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUgeneric</tsl:TSLType>"
        '<tsl:SchemeOperatorName><tsl:Name xml:lang="en">Test Ministry</tsl:Name>'
        "</tsl:SchemeOperatorName><tsl:SchemeTerritory>ES</tsl:SchemeTerritory>"
        f"<tsl:ListIssueDateTime>{NOW.isoformat()}</tsl:ListIssueDateTime>"
        f"<tsl:NextUpdate><tsl:dateTime>{next_update.isoformat()}</tsl:dateTime></tsl:NextUpdate>"
        "</tsl:SchemeInformation><tsl:TrustServiceProviderList><tsl:TrustServiceProvider>"
        '<tsl:TSPInformation><tsl:TSPName><tsl:Name xml:lang="en">Test QTSP</tsl:Name>'
        "</tsl:TSPName></tsl:TSPInformation><tsl:TSPServices>"
        + "".join(services)
        + "</tsl:TSPServices></tsl:TrustServiceProvider></tsl:TrustServiceProviderList>"
        "</tsl:TrustServiceStatusList>")


def xmlsec1_enveloped(document: str, operator: Issued, folder: Path,
                      closing: str = "</tsl:TrustServiceStatusList>") -> bytes:
    """``document`` signed by ``operator`` with an enveloped XAdES-B, by xmlsec1."""
    return xmlsec1_signed_list(document, operator.certificate, operator.key, folder,
                               signing_time=NOW, closing=closing)


@dataclass(frozen=True)
class Scene:
    operator_pem: Path
    trust_dir: Path
    qualified_root: Issued
    withdrawn_root: Issued
    qualified_sub: Issued
    tsa: Issued
    signed: bytes
    services: list[str]


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scene:
    operator = issue("TEST SCHEME OPERATOR", ca=False)
    qualified_root, withdrawn_root = issue("QUALIFIED ROOT"), issue("WITHDRAWN ROOT")
    qualified_sub = issue("QUALIFIED SUB CA", withdrawn_root)  # granted, but not self-signed
    tsa = issue("QUALIFIED TSU", qualified_root, ca=False)
    services = [
        service("Qualified root", CA_QC, GRANTED, qualified_root.certificate),
        service("Former root", CA_QC, WITHDRAWN, withdrawn_root.certificate),
        service("Qualified sub CA", CA_QC, GRANTED, qualified_sub.certificate),
        service("Qualified TSA", QTST, GRANTED, tsa.certificate),
    ]
    signing = tmp_path / "signing"
    signing.mkdir()
    signed = xmlsec1_enveloped(trusted_list(services, next_update=NOW + timedelta(days=180)),
                               operator, signing)
    operator_pem = tmp_path / "operator.pem"
    operator_pem.write_bytes(operator.certificate.public_bytes(serialization.Encoding.PEM))
    trust_dir = tmp_path / "trust"
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GATEWAY_TRUST_DIR", str(trust_dir))
    return Scene(operator_pem, trust_dir, qualified_root, withdrawn_root, qualified_sub, tsa,
                 signed, services)


def import_tl(scene: Scene, path: Path, *extra: str) -> int:
    return cli.main(["trust", "import-tl", str(path), "--signer-cert", str(scene.operator_pem),
                     *extra])


def anchors(scene: Scene) -> set[str]:
    return {x509.load_pem_x509_certificate(p.read_bytes()).subject.rfc4514_string()
            for p in (scene.trust_dir / "tl").glob("*.pem")}


def test_granted_ca_services_become_anchors_with_their_provenance(
        scene: Scene, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "es.xml").write_bytes(scene.signed)
    assert import_tl(scene, tmp_path / "es.xml") == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["subject"] for r in records} == {"CN=QUALIFIED ROOT,C=ES", "CN=QUALIFIED SUB CA,C=ES"}
    assert anchors(scene) == {"CN=QUALIFIED ROOT,C=ES", "CN=QUALIFIED SUB CA,C=ES"}
    record = next(r for r in records if "SUB" in r["subject"])
    assert record["territory"] == "ES" and record["sequence_number"] == 7
    assert record["service"] == "Qualified sub CA" and record["provider"] == "Test QTSP"
    assert record["status"] == GRANTED and record["service_type"] == CA_QC
    assert record["trusted_list_sha256"] == hashlib.sha256(scene.signed).hexdigest()
    assert record["source"] == str((tmp_path / "es.xml").resolve())
    saved = json.loads((scene.trust_dir / "tl" / f"{record['sha256']}.json").read_text())
    assert saved == record
    # The trust store now validates a signer under the granted, non-self-signed sub CA...
    trust = TrustStore.from_directory(scene.trust_dir)
    signer = issue("A QUALIFIED SIGNER", scene.qualified_sub, ca=False)
    chain = trust.validate(signer.certificate, NOW, check_revocation=False)
    assert chain.certificates[-1] == scene.qualified_sub.certificate
    # ...and not one under the withdrawn root.
    with pytest.raises(AuthenticationError):
        trust.validate(issue("ANOTHER", scene.withdrawn_root, ca=False).certificate, NOW,
                       check_revocation=False)
    # Chosen service types: the TSA too; a later import of the same territory replaces this one.
    assert import_tl(scene, tmp_path / "es.xml", "--service-type", QTST,
                     "--service-type", CA_QC) == 0
    assert "CN=QUALIFIED TSU,C=ES" in anchors(scene)
    assert import_tl(scene, tmp_path / "es.xml") == 0
    assert "CN=QUALIFIED TSU,C=ES" not in anchors(scene)


def _refused(scene: Scene, path: Path, capsys: pytest.CaptureFixture[str], expected: str) -> None:
    before = sorted((scene.trust_dir / "tl").glob("*")) if (scene.trust_dir / "tl").exists() else []
    assert import_tl(scene, path) == 1
    assert expected in capsys.readouterr().err
    after = sorted((scene.trust_dir / "tl").glob("*")) if (scene.trust_dir / "tl").exists() else []
    assert after == before


def test_tampered_foreign_expired_and_other_documents_are_refused(
        scene: Scene, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A withdrawn service turned granted after signing.
    tampered = scene.signed.replace(WITHDRAWN.encode(), GRANTED.encode())
    assert tampered != scene.signed
    (tmp_path / "tampered.xml").write_bytes(tampered)
    _refused(scene, tmp_path / "tampered.xml", capsys, "HASH_FAILURE")
    # The same list signed by someone else.
    intruder = tmp_path / "intruder"
    intruder.mkdir()
    foreign = xmlsec1_enveloped(
        trusted_list(scene.services, next_update=NOW + timedelta(days=180)),
        issue("INTRUDER", ca=False), intruder)
    (tmp_path / "foreign.xml").write_bytes(foreign)
    _refused(scene, tmp_path / "foreign.xml", capsys, "NO_CERTIFICATE_CHAIN_FOUND")
    # Correctly signed, but expired.
    operator_key = tmp_path / "signing" / "operator.key"
    operator = Issued(
        x509.load_pem_x509_certificate(scene.operator_pem.read_bytes()),
        serialization.load_pem_private_key(operator_key.read_bytes(), None))  # type: ignore[arg-type]
    stale_folder = tmp_path / "stale"
    stale_folder.mkdir()
    stale = xmlsec1_enveloped(
        trusted_list(scene.services, next_update=NOW - timedelta(days=1)), operator, stale_folder)
    (tmp_path / "stale.xml").write_bytes(stale)
    _refused(scene, tmp_path / "stale.xml", capsys, "expired")
    # Correctly signed, but not a trusted list.
    other = xmlsec1_enveloped(
        f'<tsl:SchemeInformation xmlns:tsl="{TSL}">x</tsl:SchemeInformation>', operator,
        stale_folder, closing="</tsl:SchemeInformation>")
    (tmp_path / "other.xml").write_bytes(other)
    _refused(scene, tmp_path / "other.xml", capsys, "not")
    # One bad file among good ones: nothing at all is imported.
    (tmp_path / "good.xml").write_bytes(scene.signed)
    assert cli.main(["trust", "import-tl", str(tmp_path / "good.xml"), str(tmp_path / "tampered.xml"),
                     "--signer-cert", str(scene.operator_pem)]) == 1
    assert not (scene.trust_dir / "tl").exists() or not anchors(scene)
