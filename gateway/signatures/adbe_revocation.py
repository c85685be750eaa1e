"""Adobe's ``adbe-revocationInfoArchival`` signed attribute (1.2.840.113583.1.1.8, ISO 32000-1
§12.8.3.3.2): the revocation data Adobe Acrobat/Reader, pyHanko's non-PAdES signer and many
national signing tools put inside the signed attributes of a PDF or CMS signature::

    RevocationInfoArchival ::= SEQUENCE {
        crl          [0] EXPLICIT SEQUENCE OF CRLs OPTIONAL,
        ocsp         [1] EXPLICIT SEQUENCE OF OCSPResponse OPTIONAL,
        otherRevInfo [2] EXPLICIT SEQUENCE OF OtherRevInfo OPTIONAL }

Its CRLs and OCSP responses are revocation evidence exactly like the DSS and CAdES values:
``gateway.trust.revocation`` authenticates each against the issuer it speaks for (the attribute
being signed proves only that the signer carried it). ``otherRevInfo`` is ignored; anything
unreadable is left out with a warning, never an exception.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.x509 import ocsp

from gateway.signatures.cms import PARSE_ERRORS, encoded_elements, present, revocation_lists
from gateway.signatures.findings import FormatError
from gateway.trust.revocation import RevocationValues, load_ocsp_response

REVOCATION_INFO_ARCHIVAL = "1.2.840.113583.1.1.8"
MAX_SIGNED_VALUES = 256
"""CRLs and OCSP responses read from one attribute (beyond: FORMAT_FAILURE)."""

MALFORMED = "The adbe-revocationInfoArchival attribute is malformed: ignored"


def adobe_revocation_values(
    signer_info: Any, *, warnings: list[str], max_values: int = MAX_SIGNED_VALUES
) -> RevocationValues:
    """The CRLs and OCSP responses of ``signer_info``'s adbe-revocationInfoArchival signed
    attribute (none when absent); FormatError beyond ``max_values`` items."""
    crls: list[x509.CertificateRevocationList] = []
    responses: list[ocsp.OCSPResponse] = []
    try:
        signed = signer_info["signed_attrs"]
        if not present(signed):
            return RevocationValues()
        archives = [
            value
            for attribute in signed
            if attribute["type"].dotted == REVOCATION_INFO_ARCHIVAL
            for value in encoded_elements(attribute["values"].contents, 2)
        ]
    except PARSE_ERRORS:
        return RevocationValues()  # the signed attributes themselves fail in verify_signer
    for archive in archives:
        try:
            for tag, item in revocation_lists(archive, max_values + 1):
                if len(crls) + len(responses) >= max_values:
                    raise FormatError("The signature carries too many validation values")
                try:
                    if tag == 0:
                        crls.append(x509.load_der_x509_crl(item))
                    else:
                        responses.append(load_ocsp_response(item))
                except ValueError:
                    kind = "A CRL" if tag == 0 else "An OCSP response"
                    warnings.append(
                        f"{kind} in adbe-revocationInfoArchival cannot be read: ignored"
                    )
        except PARSE_ERRORS:
            warnings.append(MALFORMED)
    return RevocationValues(tuple(crls), tuple(responses))


def merged(first: RevocationValues, second: RevocationValues) -> RevocationValues:
    """Both sets of evidence (``first``'s items first)."""
    if not second:
        return first
    if not first:
        return second
    return RevocationValues(first.crls + second.crls, first.responses + second.responses)
