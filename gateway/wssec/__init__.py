"""WS-Security (OASIS WSS 1.1, X.509 Token Profile 1.1, WS-I BSP 1.1): the gate before any service.

Modules, one concept each: ``policy`` (what is accepted), ``timestamp``, ``tokens``
(BinarySecurityToken / SecurityTokenReference), ``signature`` (XMLDSig core validation by hand),
``replay`` (nonce store), ``gate`` (the orchestration) and ``response`` (signing what we send
back). Parsing is ``gateway.xmlsafe``'s job; the XML-DSig syntax (Ids and ``#id`` URIs,
canonicalisation) is ``gateway.xmlsig``'s; the trust store, the algorithm Enums and the
subject -> Principal mapping are ``gateway.trust``'s.

Stable failure codes (``GatewayError.code``), by class -- ``soap/faults.py`` maps the class:

* ``InvalidRequest``: ``MALFORMED_XML``, ``DTD_FORBIDDEN``, ``NOT_SOAP_ENVELOPE``,
  ``SOAP_VERSION_MISMATCH``, ``ENVELOPE_STRUCTURE``.
* ``LimitExceeded``: ``MESSAGE_TOO_LARGE``, ``XML_TOO_DEEP``.
* ``InvalidSecurity`` (wsse:InvalidSecurity): ``SECURITY_HEADER_MISSING``,
  ``SECURITY_HEADER_DUPLICATED``, ``TIMESTAMP_REQUIRED``, ``TIMESTAMP_DUPLICATED``,
  ``TIMESTAMP_MALFORMED``, ``TIMESTAMP_TTL_EXCEEDED``, ``TIMESTAMP_NOT_SIGNED``,
  ``SIGNATURE_MISSING``, ``SIGNATURE_DUPLICATED``, ``SIGNATURE_MALFORMED``,
  ``ALGORITHM_NOT_ALLOWED``, ``TRANSFORM_NOT_ALLOWED``, ``ALGORITHM_KEY_MISMATCH``,
  ``TOO_MANY_REFERENCES``, ``REFERENCE_URI_FORBIDDEN``, ``REFERENCE_NOT_FOUND``,
  ``DUPLICATE_ID``, ``BODY_NOT_SIGNED``, ``COMMENT_IN_SIGNED_ELEMENT``,
  ``KEY_INFO_UNSUPPORTED``, ``TOKEN_TYPE_NOT_ALLOWED``, ``TOKEN_MALFORMED``,
  ``KEY_TYPE_NOT_ALLOWED``, ``SECURITY_TOKEN_UNAVAILABLE``, ``REPLAY_DETECTED``.
* ``MessageExpired`` (wsse:MessageExpired): ``MESSAGE_EXPIRED``, ``TIMESTAMP_IN_FUTURE``.
* ``AuthenticationError`` (wsse:FailedAuthentication): ``SIGNATURE_INVALID``,
  ``DIGEST_MISMATCH``, ``CERTIFICATE_UNTRUSTED``, ``CERTIFICATE_EXPIRED``,
  ``CERTIFICATE_NOT_YET_VALID``, ``CERTIFICATE_REVOKED``, ``REVOCATION_UNKNOWN``,
  ``CERTIFICATE_KEY_USAGE``, ``KEY_TOO_WEAK``, ``UNMAPPED_CERTIFICATE``.
"""

from typing import TYPE_CHECKING

from gateway.lazy_names import lazy_names
from gateway.wssec.policy import CanonicalizationAlgorithm, SoapVersion, WsSecurityPolicy
from gateway.wssec.replay import InMemoryNonceStore, NonceStore

if TYPE_CHECKING:
    from gateway.wssec.gate import VerifiedRequest, WsSecurityGate
    from gateway.wssec.response import sign_response

# The gate and the response signer (lxml, the XML-DSig stack) are imported on first use: the
# policy alone is what ``gateway validate`` needs from this package (issue 18).
__getattr__ = lazy_names(globals(), {
    **dict.fromkeys(("VerifiedRequest", "WsSecurityGate"), "gateway.wssec.gate"),
    "sign_response": "gateway.wssec.response",
})

__all__ = [
    "CanonicalizationAlgorithm",
    "InMemoryNonceStore",
    "NonceStore",
    "SoapVersion",
    "VerifiedRequest",
    "WsSecurityGate",
    "WsSecurityPolicy",
    "sign_response",
]
