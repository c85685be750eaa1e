"""Helpers for zeep clients of the gateway (used by ``client_examples/`` and the tests).

zeep's ``BinarySignature`` signs requests with the client key and then verifies responses
against the *client's own* certificate, which can never succeed against a server that signs
with its own key. ``ServerVerifyingSignature`` signs with the client key and verifies each
response with the server's certificate. It passes RSA-SHA256/SHA-256 explicitly: zeep's
defaults are RSA-SHA1/SHA-1, which the gateway refuses (DESIGN.md §5). zeep's signer also adds
no ``wsu:Timestamp``, which the gateway requires: ``apply`` adds one (Created now, Expires after
``ttl``) before signing, so the signature covers Body and Timestamp.

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
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from zeep import ns
from zeep.exceptions import SignatureVerificationFailed
from zeep.wsse.signature import (
    BinarySignature,
    _make_sign_key,
    _sign_envelope_with_key_binary,
    _verify_envelope_with_key,
    detect_soap_env,
)
from zeep.wsse.utils import WSU, ensure_id, get_security_header

from gateway.client.server_certs import ServerCertificates, signing_certificate


class ServerVerifyingSignature(BinarySignature):  # type: ignore[misc]  # zeep is untyped
    def __init__(self, key_file: str | Path, cert_file: str | Path,
                 server_cert_file: str | Path | ServerCertificates | None, *, ttl: timedelta = timedelta(minutes=5),
                 **kwargs: Any) -> None:
        self.ttl = ttl
        kwargs.setdefault("signature_method", xmlsec.constants.TransformRsaSha256)
        kwargs.setdefault("digest_method", xmlsec.constants.TransformSha256)
        super().__init__(str(key_file), str(cert_file), **kwargs)
        # zeep parses the key and certificate again for every request; once is enough
        # (xmlsec copies the key into each signature context, so sharing it is safe).
        self._sign_key = _make_sign_key(self.key_data, self.cert_data, self.password)
        self._server_key = None
        self.certificates: ServerCertificates | None = None
        self._keys: dict[bytes, Any] = {}
        if isinstance(server_cert_file, ServerCertificates):
            self.certificates = server_cert_file
        elif server_cert_file is not None:
            self._server_key = xmlsec.Key.from_file(str(server_cert_file),
                                                    xmlsec.constants.KeyDataFormatCertPem)

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
        if self.certificates is not None:
            _check_signed_parts(envelope)
            _verify_envelope_with_key(envelope, self._key_of(
                signing_certificate(envelope, self.certificates)))
            return envelope
        if self._server_key is None:
            return envelope  # the caller chose not to verify responses
        _check_signed_parts(envelope)
        _verify_envelope_with_key(envelope, self._server_key)
        return envelope

    def _key_of(self, certificate: x509.Certificate) -> Any:
        der = certificate.public_bytes(Encoding.DER)
        key = self._keys.get(der)
        if key is None:
            key = self._keys[der] = xmlsec.Key.from_memory(
                certificate.public_bytes(Encoding.PEM), xmlsec.constants.KeyDataFormatCertPem)
        return key


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
