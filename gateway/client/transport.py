"""Helpers for zeep clients of the gateway (used by ``client_examples/`` and the tests).

zeep's ``BinarySignature`` signs requests with the client key and then verifies responses
against the *client's own* certificate, which can never succeed against a server that signs
with its own key. ``ServerVerifyingSignature`` signs with the client key and verifies each
response with the server's certificate. It passes RSA-SHA256/SHA-256 explicitly: zeep's
defaults are RSA-SHA1/SHA-1, which the gateway refuses (DESIGN.md §5). zeep's signer also adds
no ``wsu:Timestamp``, which the gateway requires: ``apply`` adds one (Created now, Expires after
``ttl``) before signing, so the signature covers Body and Timestamp.

Responses are verified with lxml and ``cryptography`` (``xmldsig``), not zeep's python-xmlsec
path: an allow-list (exclusive c14n, SHA-2, RSA or ECDSA), the XML-signature-wrapping checks
zeep lacks, and long texts (the base64 of documents) hashed as they are instead of through
libxml2's canonicaliser (``xmldsig.canonical_digest``), which cost the batch agent more than
parsing and decoding the same answer.

The server certificate is a file (pinned) or a ``ServerCertificates`` (``server_certs``: the
pinned one and those announced by a rotation): the response's own token says which it claims,
and only an accepted certificate's key verifies it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import xmlsec
from cryptography import x509
from lxml import etree
from zeep import ns
from zeep.exceptions import SignatureVerificationFailed
from zeep.wsse.signature import (
    BinarySignature,
    _make_sign_key,
    _sign_envelope_with_key_binary,
    detect_soap_env,
)
from zeep.wsse.utils import WSU, ensure_id, get_security_header

from gateway import namespaces as gateway_ns
from gateway.client.server_certs import ServerCertificates, signing_certificate
from gateway.client.xmldsig import (
    EXC_C14N,
    SignatureInvalid,
    canonical_digest,
    digest_name,
    digest_value,
    verify_signature_value,
)

_DS = f"{{{gateway_ns.DS}}}"
_WSU_ID = f"{{{gateway_ns.WSU}}}Id"

Accepted = x509.Certificate | ServerCertificates
"""The pinned server certificate, or those a rotation announced (``server_certs``)."""


class ServerVerifyingSignature(BinarySignature):  # type: ignore[misc]  # zeep is untyped
    def __init__(self, key_file: str | Path, cert_file: str | Path,
                 server_cert_file: str | Path | ServerCertificates | None, *,
                 ttl: timedelta = timedelta(minutes=5),
                 **kwargs: Any) -> None:
        self.ttl = ttl
        kwargs.setdefault("signature_method", xmlsec.constants.TransformRsaSha256)
        kwargs.setdefault("digest_method", xmlsec.constants.TransformSha256)
        super().__init__(str(key_file), str(cert_file), **kwargs)
        # zeep parses the key and certificate again for every request; once is enough
        # (xmlsec copies the key into each signature context, so sharing it is safe).
        self._sign_key = _make_sign_key(self.key_data, self.cert_data, self.password)
        self.certificates: ServerCertificates | None = None
        self._server_certificate: Accepted | None = None
        if isinstance(server_cert_file, ServerCertificates):
            self.certificates = self._server_certificate = server_cert_file
        elif server_cert_file is not None:
            self._server_certificate = x509.load_pem_x509_certificate(
                Path(server_cert_file).read_bytes())

    def apply(self, envelope: etree._Element, headers: dict[str, str]) -> tuple[Any, Any]:
        security = get_security_header(envelope)
        # The clock of the certificate set, when given (the client's one clock: tests control it).
        now = self.certificates.now() if self.certificates is not None else datetime.now(UTC)
        created = now.astimezone(UTC).replace(microsecond=0)
        timestamp = WSU.Timestamp(
            WSU.Created(created.strftime("%Y-%m-%dT%H:%M:%SZ")),
            WSU.Expires((created + self.ttl).strftime("%Y-%m-%dT%H:%M:%SZ")),
        )
        ensure_id(timestamp)
        security.insert(0, timestamp)
        _sign_envelope_with_key_binary(envelope, self._sign_key, self.signature_method,
                                       self.digest_method)
        return envelope, headers

    def verify(self, envelope: etree._Element) -> etree._Element:
        if self._server_certificate is None:
            return envelope  # the caller chose not to verify responses
        _check_signed_parts(envelope)
        body = envelope.find(f"{{{detect_soap_env(envelope)}}}Body")
        assert body is not None  # _check_signed_parts found it
        _verify_signed_info(envelope, body, None, self._server_certificate)
        return envelope


def _check_signed_parts(envelope: etree._Element) -> None:
    """XSW defence zeep lacks: the Body and Timestamp read are the signed ones, Ids unique."""
    soap_env = detect_soap_env(envelope)
    header = envelope.find(f"{{{soap_env}}}Header")
    body = envelope.find(f"{{{soap_env}}}Body")
    security = header.find(f"{{{ns.WSSE}}}Security") if header is not None else None
    signature = security.find(f"{{{ns.DS}}}Signature") if security is not None else None
    timestamp = security.find(f"{{{ns.WSU}}}Timestamp") if security is not None else None
    if body is None or signature is None or timestamp is None:
        raise SignatureVerificationFailed()
    uris = {r.get("URI") for r in signature.iterfind(f"{{{ns.DS}}}SignedInfo/{{{ns.DS}}}Reference")}
    wsu_id = f"{{{ns.WSU}}}Id"
    for part in (body, timestamp):
        if not part.get(wsu_id) or f"#{part.get(wsu_id)}" not in uris:
            raise SignatureVerificationFailed()
    for uri in uris:
        if not uri or not uri.startswith("#") or len(
                envelope.xpath("//*[@wsu:Id=$i]", namespaces={"wsu": ns.WSU}, i=uri[1:])) != 1:
            raise SignatureVerificationFailed()


def _reference_to(envelope: etree._Element, element: etree._Element) -> etree._Element:
    uri = f"#{element.get(_WSU_ID)}"
    for reference in envelope.iterfind(f".//{_DS}SignedInfo/{_DS}Reference"):
        if reference.get("URI") == uri:
            return reference
    raise SignatureVerificationFailed("the Body is not signed")


def _digest_name(reference: etree._Element) -> str:
    try:
        return digest_name(reference)
    except SignatureInvalid as exc:
        raise SignatureVerificationFailed(str(exc)) from exc


def _verify_signed_info(envelope: etree._Element, body: etree._Element,
                        body_digest: bytes | None, accepted: Accepted) -> None:
    """Every reference's digest (the Body's as computed while streaming, when given) and the
    signature value over SignedInfo with the pinned server certificate (or the accepted one
    the response names, across a rotation)."""
    certificate = (signing_certificate(envelope, accepted)
                   if isinstance(accepted, ServerCertificates) else accepted)
    signature = envelope.find(f".//{{{gateway_ns.WSSE}}}Security/{_DS}Signature")
    signed_info = signature.find(f"{_DS}SignedInfo") if signature is not None else None
    if signature is None or signed_info is None:
        raise SignatureVerificationFailed("the response is not signed")
    for reference in signed_info.iterfind(f"{_DS}Reference"):
        transforms = reference.findall(f"{_DS}Transforms/{_DS}Transform")
        if [t.get("Algorithm") for t in transforms] != [EXC_C14N] or len(transforms[0]):
            raise SignatureVerificationFailed("reference transforms not accepted")
        targets = envelope.xpath("//*[@wsu:Id=$i]", namespaces={"wsu": gateway_ns.WSU},
                                 i=(reference.get("URI") or "#")[1:])
        if len(targets) != 1:
            raise SignatureVerificationFailed("reference does not resolve")
        name = _digest_name(reference)
        if targets[0] is body and body_digest is not None:
            if name != _digest_name(_reference_to(envelope, body)):
                raise SignatureVerificationFailed("two digests for the Body")
            digest = body_digest
        else:
            digest = canonical_digest(targets[0], name)
        try:
            if digest_value(reference) != digest:
                raise SignatureVerificationFailed("digest mismatch")
        except SignatureInvalid as exc:
            raise SignatureVerificationFailed(str(exc)) from exc
    try:
        verify_signature_value(signature, certificate)
    except SignatureInvalid as exc:
        raise SignatureVerificationFailed(str(exc)) from exc
