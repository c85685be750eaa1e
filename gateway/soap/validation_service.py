"""Port ``ValidationService`` (DESIGN.md §4): ETSI-style validation reports over SOAP.

The report is typed (indications and sub-indications are enumerations) and also carries the
ETSI TS 119 102-2 XML report, base64-encoded, for tools that read that format.
``ValidateSignatures`` is the batch form: up to ``GATEWAY_MAX_VALIDATION_DOCUMENTS`` documents,
one report per document in the order sent, each echoing the caller's ``name``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lxml import etree
from spyne import Boolean, ByteArray, ComplexModel, DateTime, Integer, ServiceBase, Unicode, rpc
from spyne import Enum as SpyneEnum
from spyne.util.xml import get_object_as_xml

from gateway import namespaces
from gateway.services.receipts import CodeVerification, ReceiptService
from gateway.services.validation import DocumentToValidate, SignatureValidation
from gateway.signatures import (
    CertificateInfo,
    Indication,
    SignatureFormat,
    SignatureReport,
    SubIndication,
    ValidationReport,
)
from gateway.signatures import (
    DetachedDocument as DetachedContent,
)

from .context import principal_of

NS = namespaces.VALIDATION_SERVICE


def _enum(enum: type, name: str) -> Any:
    return SpyneEnum(*[m.value for m in enum], type_name=name).customize(__namespace__=NS)


IndicationType = _enum(Indication, "Indication")
SubIndicationType = _enum(SubIndication, "SubIndication")
FormatType = _enum(SignatureFormat, "SignatureFormat")
Timestamp = DateTime(timezone=True)


class CertificateSummary(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("subject", Unicode(min_occurs=1, nillable=False)),
        ("issuer", Unicode(min_occurs=1, nillable=False)),
        ("serialNumber", Unicode(min_occurs=1, nillable=False)),
        ("notBefore", Timestamp.customize(min_occurs=1, nillable=False)),
        ("notAfter", Timestamp.customize(min_occurs=1, nillable=False)),
        ("principal", Unicode(doc="NIF/CIF the certificate maps to, when it maps")),
    ]


class SignedObject(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("kind", Unicode(min_occurs=1, nillable=False)),
        ("identifier", Unicode(min_occurs=1, nillable=False)),
        ("digestAlgorithm", Unicode(min_occurs=1, nillable=False)),
        ("coversWholeDocument", Boolean(min_occurs=1, nillable=False)),
    ]


class Problem(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("subIndication", SubIndicationType.customize(min_occurs=1, nillable=False)),
        ("message", Unicode(min_occurs=1, nillable=False)),
    ]


class SignatureResult(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("identifier", Unicode(min_occurs=1, nillable=False)),
        ("format", FormatType),
        ("level", Unicode),
        ("indication", IndicationType.customize(min_occurs=1, nillable=False)),
        ("subIndication", SubIndicationType),
        ("signer", CertificateSummary),
        ("claimedSigningTime", Timestamp),
        ("proofOfExistence", Timestamp),
        ("signedObject", SignedObject.customize(max_occurs="unbounded")),
        ("problem", Problem.customize(max_occurs="unbounded")),
    ]


class ValidationResult(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("validationTime", Timestamp.customize(min_occurs=1, nillable=False)),
        ("format", FormatType),
        ("indication", IndicationType.customize(min_occurs=1, nillable=False)),
        ("subIndication", SubIndicationType),
        ("signature", SignatureResult.customize(max_occurs="unbounded")),
        ("etsiReport", ByteArray(doc="ETSI TS 119 102-2 validation report (XML)")),
    ]


class DetachedDocument(ComplexModel):
    __namespace__ = NS
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("name", Unicode(max_len=1024, doc="The name a detached XAdES reference URI gives it "
                                           "(a relative path, percent-decoded)")),
        ("content", ByteArray(min_occurs=1, nillable=False)),
    ]


DetachedDocuments = DetachedDocument.customize(max_occurs=20)


class SignedDocument(ComplexModel):
    __namespace__ = NS
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("name", Unicode(max_len=256, doc="The caller's name for the document, echoed back")),
        ("document", ByteArray(min_occurs=1, nillable=False)),
        ("detachedContent", ByteArray),
        ("format", FormatType),
        ("detachedDocument", DetachedDocuments),
    ]


class DocumentValidation(ComplexModel):
    __namespace__ = NS
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("name", Unicode),
        ("result", ValidationResult.customize(min_occurs=1, nillable=False)),
    ]


class DocumentCodeResult(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("code", Unicode(min_occurs=1, nillable=False, doc="The code in its canonical form")),
        ("found", Boolean(min_occurs=1, nillable=False)),
        ("registrationNumber", Unicode),
        ("issuedAt", Timestamp),
        ("sha256", Unicode(doc="SHA-256 of the server-signed receipt XML")),
        ("pdfSha256", Unicode(doc="SHA-256 of the one signed PDF justificante, as served by "
                                  "GetReceipt(format=PDF) and the public page")),
        ("decision", Unicode(doc="ACCEPT or REJECT")),
        ("items", Integer(doc="Number of notifications the receipt lists")),
        ("issuer", Unicode.customize(max_occurs="unbounded",
                                     doc="Issuers of the listed notifications")),
        ("signer", Unicode(doc="NIF/CIF of the signer of the acknowledgement")),
        ("signerName", Unicode(doc="The signer's name from its certificate")),
    ]


def document_code_result(result: CodeVerification) -> DocumentCodeResult:
    """The answer to VerifyDocumentCode, signed native port and public route alike."""
    return DocumentCodeResult(
        code=result.code, found=result.found,
        registrationNumber=str(result.registration_number)
        if result.registration_number else None,
        issuedAt=result.issued_at, sha256=result.sha256, pdfSha256=result.pdf_sha256,
        decision=result.decision.value if result.decision else None,
        items=result.items if result.found else None, issuer=list(result.issuers) or None,
        signer=result.signer, signerName=result.signer_name)


def document_code_element(result: CodeVerification) -> etree._Element:
    """``VerifyDocumentCodeResponse`` as Spyne writes it on the native port, for the public
    route that answers without Spyne's (gated) application."""
    result_element = get_object_as_xml(document_code_result(result), DocumentCodeResult,
                                       "VerifyDocumentCodeResult", no_namespace=False)
    response = etree.Element(f"{{{NS}}}VerifyDocumentCodeResponse", nsmap={"tns": NS})
    response.append(result_element)
    return response


def validation_service(validation: SignatureValidation,
                       receipts: ReceiptService | None = None) -> type[ServiceBase]:
    class ValidationService(ServiceBase):  # type: ignore[misc]  # Spyne is untyped
        """Validates XAdES, CAdES and PAdES signatures (ETSI EN 319 102-1 indications).

        Same WS-Security requirements as NotificationService. Documents and detached content
        are limited to the message size (10 MiB; fault MESSAGE_TOO_LARGE / DOCUMENT_TOO_LARGE).
        """

        __service_name__ = "ValidationService"

        @rpc(ByteArray(min_occurs=1, nillable=False), ByteArray, FormatType, DetachedDocuments,
             _in_variable_names={"detached_content": "detachedContent",
                                 "signature_format": "format",
                                 "detached_documents": "detachedDocument"},
             _returns=ValidationResult)
        def ValidateSignature(ctx: Any, document: list[bytes], detached_content: list[bytes] | None,
                              signature_format: str | None,
                              detached_documents: list[DetachedDocument] | None
                              ) -> ValidationResult:
            """Validate every signature in the document; never a fault for a bad signature.
            A detached signature's content is detachedContent (one), or detachedDocument
            (several, each with the name its reference URI gives it)."""
            principal_of(ctx)  # the gate authenticated the caller; any trusted caller may validate
            report = validation.validate(
                b"".join(document or []),
                b"".join(detached_content) if detached_content else None,
                SignatureFormat(signature_format) if signature_format else None,
                detached=_detached(detached_documents),
            )
            return validation_result(report)

        @rpc(SignedDocument.customize(min_occurs=1, max_occurs="unbounded", nillable=False),
             _in_variable_names={"documents": "document"},
             _returns=DocumentValidation.customize(max_occurs="unbounded"),
             _out_variable_name="report")
        def ValidateSignatures(ctx: Any, documents: list[SignedDocument] | None
                               ) -> list[DocumentValidation]:
            """Validate each document (at most the configured number per call: fault
            BATCH_TOO_LARGE); one report per document, in order; never a fault for a bad
            signature."""
            principal_of(ctx)
            sent = list(documents or [])
            reports = validation.validate_each([_document(d) for d in sent])
            return [DocumentValidation(name=d.name, result=validation_result(r))
                    for d, r in zip(sent, reports, strict=True)]

        @rpc(Unicode(min_occurs=1, nillable=False, max_len=64), _returns=DocumentCodeResult)
        def VerifyDocumentCode(ctx: Any, code: str) -> DocumentCodeResult:
            """Whether a receipt with this verification code (CSV) exists, with what its
            justificante prints (registration number, issue date, decision, number of items,
            issuers, signer) and the SHA-256 of its XML and of its one signed PDF. A malformed
            code (wrong symbol, length or check character) is the fault MALFORMED_CSV; a
            well-formed unknown one is found=false. Also served without WS-Security on
            POST /public/ValidationService, with the same answer."""
            principal_of(ctx)
            if receipts is None:  # only the contract renderer builds the port without services
                raise RuntimeError("receipt service not configured")
            return document_code_result(receipts.verify_code(code or ""))

    return ValidationService


def _detached(sent: list[DetachedDocument] | None) -> tuple[DetachedContent, ...]:
    return tuple(DetachedContent(b"".join(item.content or []), item.name or None)
                 for item in sent or [] if item is not None)


def _document(sent: SignedDocument) -> DocumentToValidate:
    return DocumentToValidate(
        document=b"".join(sent.document or []),
        detached_content=b"".join(sent.detachedContent) if sent.detachedContent else None,
        # Inside a complex type Spyne gives its own enum value, not the string: compare text.
        signature_format=SignatureFormat(str(sent.format)) if sent.format else None,
        detached=_detached(sent.detachedDocument),
    )


def validation_result(report: ValidationReport) -> ValidationResult:
    return ValidationResult(
        validationTime=report.validation_time,
        format=report.format.value if report.format else None,
        indication=report.indication.value,
        subIndication=report.sub_indication.value if report.sub_indication else None,
        signature=[_signature(report, s) for s in report.signatures],
        etsiReport=[report.to_etsi_xml()],
    )


def _signature(report: ValidationReport, signature: SignatureReport) -> SignatureResult:
    return SignatureResult(
        identifier=signature.identifier,
        format=signature.format.value if signature.format else None,
        level=signature.level,
        indication=signature.indication.value,
        subIndication=signature.sub_indication.value if signature.sub_indication else None,
        signer=_certificate(signature.signer),
        claimedSigningTime=signature.claimed_signing_time,
        proofOfExistence=signature.proof_of_existence,
        signedObject=[SignedObject(kind=o.kind.value, identifier=o.identifier,
                                   digestAlgorithm=o.digest_algorithm,
                                   coversWholeDocument=o.covers_whole_document)
                      for o in signature.signed_data_objects],
        problem=[Problem(subIndication=f.sub_indication.value, message=f.message)
                 for f in signature.findings],
    )


def _certificate(info: CertificateInfo | None) -> CertificateSummary | None:
    if info is None:
        return None
    return CertificateSummary(
        subject=info.subject, issuer=info.issuer, serialNumber=str(info.serial_number),
        notBefore=info.not_before, notAfter=info.not_after,
        principal=info.principal.identifier if info.principal else None,
    )

