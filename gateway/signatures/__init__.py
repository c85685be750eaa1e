"""Document signatures: XAdES, CAdES and PAdES validation and creation, ETSI-style reports.

Validation follows ETSI EN 319 102-1 (basic validation, and validation with time when an
RFC 3161 signature time-stamp or PAdES document time-stamp proves existence) with the WS-Security
trust store, CRLs and algorithm allow-list (:class:`SignaturePolicy`). Entry point::

    report = validate(document, detached_content=None, policy=policy, trust=trust_store, now=now)
    report.indication, report.sub_indication          # derived from the per-signature findings
    report.signatures[0].signed_data_objects          # what each signature really covers
    report.to_json(); report.to_etsi_xml()            # TS 119 102-2 subset

``validate`` never raises for bad input (FORMAT_FAILURE instead), except ``LimitExceeded``
(``DOCUMENT_TOO_LARGE``) above ``policy.max_document_bytes``.

Modules, one concept each: ``policy``, ``report`` (model), ``findings`` (building-block order),
``detect`` (format sniffing), ``crypto`` (algorithm tables, raw verify), ``chain`` (path and
revocation with proof of existence), ``cms`` (SignerInfo checks), ``timestamps`` (token
validation), ``tsa`` (local TSA and its WSGI face), ``xmldsig`` (reference processing),
``xades``, ``cades``, ``pades`` (per-format validation), ``assessment`` (shared final steps),
``validation`` (the entry point), ``cms_signing`` and ``signing`` (creation), ``etsi_xml``;
``algorithms`` (what documents may use beyond the gate's allow-list), ``signature_method``
(SignatureMethod and RSASSA-PSS parameters), ``xades_signer`` (signing-certificate
identification across XAdES versions), ``key_value`` (KeyInfo KeyValue keys);
``transforms`` (ds:Transform chains and canonicalisation methods), ``nodeset`` (document-subset
canonicalisation, bounded by a ``WorkBudget``), ``xml_references`` (what each reference and
Manifest entry covers).
"""

from typing import TYPE_CHECKING

from gateway.lazy_names import lazy_names
from gateway.signatures.algorithms import DocumentDigestAlgorithm, DocumentSignatureAlgorithm
from gateway.signatures.detached import DetachedDocument
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import (
    CertificateInfo,
    Finding,
    Indication,
    SignatureFormat,
    SignatureReport,
    SignedDataObject,
    SignedObjectKind,
    SubIndication,
    TimestampKind,
    TimestampReport,
    ValidationReport,
)
from gateway.signatures.validation import validate

if TYPE_CHECKING:
    from gateway.signatures.signing import (
        VisibleStamp,
        add_document_timestamp,
        sign_cades,
        sign_pades,
        sign_xades_enveloped,
    )
    from gateway.signatures.tsa import (
        LocalTimeStampAuthority,
        TimeStampAuthority,
        TimestampRefused,
        tsa_wsgi_app,
    )

# Creation (pyHanko's signers, which pull in aiohttp) and the local TSA are imported on first
# use: ``gateway validate`` of one small file must not pay for them (issue 18).
__getattr__ = lazy_names(globals(), {
    **dict.fromkeys(("VisibleStamp", "add_document_timestamp", "sign_cades", "sign_pades",
                     "sign_xades_enveloped"), "gateway.signatures.signing"),
    **dict.fromkeys(("LocalTimeStampAuthority", "TimeStampAuthority", "TimestampRefused",
                     "tsa_wsgi_app"), "gateway.signatures.tsa"),
})

__all__ = [
    "CertificateInfo",
    "DetachedDocument",
    "DocumentDigestAlgorithm",
    "DocumentSignatureAlgorithm",
    "Finding",
    "Indication",
    "LocalTimeStampAuthority",
    "SignatureFormat",
    "SignaturePolicy",
    "SignatureReport",
    "SignedDataObject",
    "SignedObjectKind",
    "SubIndication",
    "TimeStampAuthority",
    "TimestampKind",
    "TimestampRefused",
    "TimestampReport",
    "ValidationReport",
    "VisibleStamp",
    "add_document_timestamp",
    "sign_cades",
    "sign_pades",
    "sign_xades_enveloped",
    "tsa_wsgi_app",
    "validate",
]
