"""PAdES B-T, B-LT and B-LTA vectors made by pyHanko's own signer (not our wrapper).

* the signature: ``signers.sign_pdf`` with the PAdES sub-filter and pyHanko's test TSA
  (``DummyTimeStamper``, RFC 3161 tokens signed with a key of ours at a fixed genTime);
* the Document Security Store: ``DocumentSecurityStore.add_dss`` (an incremental update with the
  ``/DSS`` certificates, OCSP responses and CRLs, and the signature's ``/VRI`` entry);
* the document time-stamp: ``PdfTimeStamper.timestamp_pdf`` (``/DocTimeStamp``, ETSI.RFC3161);
* and pyHanko's whole B-LTA flow (``embed_validation_info`` and ``use_pades_lta``), which
  gathers the revocation data itself from a validation context given the OCSP responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from io import BytesIO

from asn1crypto import crl as asn1_crl
from asn1crypto import keys
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext
from sig_vectors import Signer

from gateway.pki import Credential

DER = serialization.Encoding.DER


def asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(DER))


def _asn1_key(key: object) -> keys.PrivateKeyInfo:
    return keys.PrivateKeyInfo.load(
        key.private_bytes(  # type: ignore[attr-defined]
            DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def test_tsa(unit: Credential | Signer, at: datetime) -> DummyTimeStamper:
    """pyHanko's test TSA with ``unit``'s key and certificate, genTime fixed at ``at``."""
    if isinstance(unit, Credential):
        key, certificate = unit.private_key(), unit.certificate()
    else:
        key, certificate = unit.key, unit.certificate
    return DummyTimeStamper(asn1_certificate(certificate), _asn1_key(key), fixed_dt=at)


test_tsa.__test__ = False  # type: ignore[attr-defined]  # a helper, not a pytest test


def _simple_signer(signer: Signer, chain: Sequence[x509.Certificate]) -> signers.SimpleSigner:
    return signers.SimpleSigner(
        signing_cert=asn1_certificate(signer.certificate),
        signing_key=_asn1_key(signer.key),
        cert_registry=_registry(chain),
    )


def _registry(chain: Sequence[x509.Certificate]) -> object:
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    return SimpleCertificateStore.from_certs([asn1_certificate(c) for c in chain])


def pades_t(
    pdf: bytes,
    signer: Signer,
    timestamper: DummyTimeStamper | None,
    *,
    chain: Sequence[x509.Certificate] = (),
    field: str = "Sig1",
) -> bytes:
    """PAdES B-B (no ``timestamper``) or B-T, signed by pyHanko."""
    meta = signers.PdfSignatureMetadata(
        field_name=field, md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES
    )
    output = signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf)),
        meta,
        signer=_simple_signer(signer, chain),
        timestamper=timestamper,
    )
    return output.getvalue()


def signature_contents(pdf: bytes, field: str = "Sig1") -> bytes:
    """The ``/Contents`` of a signature, which names its VRI entry."""
    reader = PdfFileReader(BytesIO(pdf))
    [embedded] = [s for s in reader.embedded_signatures if s.field_name == field]
    return bytes(embedded.sig_object["/Contents"])


def add_dss(
    pdf: bytes,
    *,
    certificates: Sequence[x509.Certificate] = (),
    responses: Sequence[ocsp.OCSPResponse] = (),
    crls: Sequence[x509.CertificateRevocationList] = (),
    field: str | None = "Sig1",
) -> bytes:
    """B-LT: pyHanko writes the DSS (and the VRI entry of ``field``) in an incremental update."""
    output = BytesIO(pdf)
    DocumentSecurityStore.add_dss(
        output,
        signature_contents(pdf, field) if field else None,
        certs=[asn1_certificate(c) for c in certificates],
        ocsps=[asn1_ocsp.OCSPResponse.load(r.public_bytes(DER)) for r in responses],
        crls=[asn1_crl.CertificateList.load(c.public_bytes(DER)) for c in crls],
        force_write=True,
    )
    return output.getvalue()


def add_document_time_stamp(pdf: bytes, timestamper: DummyTimeStamper, field: str) -> bytes:
    """A ``/DocTimeStamp`` by pyHanko's PdfTimeStamper (no validation data of its own)."""
    output = PdfTimeStamper(timestamper, field_name=field).timestamp_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf)), "sha256"
    )
    return output.getvalue()


def pyhanko_lta(
    pdf: bytes,
    signer: Signer,
    timestamper: DummyTimeStamper,
    *,
    roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    responses: Sequence[ocsp.OCSPResponse],
    moment: datetime,
) -> bytes:
    """pyHanko's own B-LTA: it validates the signer and the TSA against a context holding the
    given OCSP responses, embeds what it used in the DSS, then adds a document time-stamp."""
    return pyhanko_with_validation_info(
        pdf, signer, timestamper, roots=roots, intermediates=intermediates,
        responses=responses, moment=moment, subfilter=SigSeedSubFilter.PADES,
        use_pades_lta=True, revocation_mode="hard-fail",
    )


def pyhanko_with_validation_info(
    pdf: bytes,
    signer: Signer,
    timestamper: DummyTimeStamper | None,
    *,
    roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    responses: Sequence[ocsp.OCSPResponse],
    moment: datetime,
    subfilter: SigSeedSubFilter,
    use_pades_lta: bool,
    revocation_mode: str,
) -> bytes:
    """pyHanko's signer with ``embed_validation_info``: it validates the signer against a
    context holding ``responses`` at ``moment`` and embeds what it used -- in the DSS for the
    PAdES sub-filter, in the adbe-revocationInfoArchival signed attribute otherwise -- and,
    with ``use_pades_lta``, adds a document time-stamp."""
    context = ValidationContext(
        trust_roots=[asn1_certificate(c) for c in roots],
        other_certs=[asn1_certificate(c) for c in intermediates],
        ocsps=[asn1_ocsp.OCSPResponse.load(r.public_bytes(DER)) for r in responses],
        moment=moment,
        allow_fetching=False,
        revocation_mode=revocation_mode,
    )
    meta = signers.PdfSignatureMetadata(
        field_name="Sig1",
        md_algorithm="sha256",
        subfilter=subfilter,
        embed_validation_info=True,
        use_pades_lta=use_pades_lta,
        validation_context=context,
    )
    output = signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf)),
        meta,
        signer=_simple_signer(signer, intermediates),
        timestamper=timestamper,
    )
    return output.getvalue()
