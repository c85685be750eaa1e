"""The SOAP types of the IssuerService contract (README.md, "The IssuerService port").

Text lengths are checked by the publishing rules, not by XSD facets, so that a bad batch is
answered with every problem of every item (a facet would stop at the first). The item is the
import manifest's row (``gateway.manifest``) in the contract's lowerCamelCase,
without ``issuer``: the issuer is the caller's, from the issuer registry. Answers carry what
``domain.issuers.PublicationEvidence`` holds and nothing more.
"""

from __future__ import annotations

from typing import Any, ClassVar

from spyne import Boolean, ByteArray, ComplexModel, DateTime, Integer, Long, Unicode
from spyne import Enum as SpyneEnum

from gateway import namespaces
from gateway.domain.model import Category, ItemKind, Status
from gateway.services.issuing import MAX_BATCH

from .types import subscription_info_type

NS = namespaces.ISSUER_SERVICE

Timestamp = DateTime(timezone=True)
Required = {"min_occurs": 1, "nillable": False}
Present = {"min_occurs": 1}
"""An input element that must be there but may be empty: the publishing rules, not Spyne, say
what is wrong with its value, so every problem of a batch is answered at once."""


def _enum(values: list[str], name: str, doc: str) -> type:
    return SpyneEnum(*values, type_name=name, doc=doc).customize(__namespace__=NS)


KindType = _enum([m.value for m in ItemKind], "ItemKind",
                 "NOTIFICATION needs an accept/reject acknowledgement; COMMUNICATION is "
                 "informative.")
CategoryType = _enum([m.value for m in Category], "Category",
                     "SPECIAL marks special-category personal data (default NORMAL).")
StatusType = _enum([m.value for m in Status], "Status",
                   "AVAILABLE until ACCEPTED, REJECTED or EXPIRED (notifications) or READ "
                   "(communications), or CANCELLED by its issuer (CancelNotification).")


class DocumentUpload(ComplexModel):
    __namespace__ = NS
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("name", Unicode(**Present, doc="File name, 1..200 characters.")),
        ("contentType", Unicode(doc="Media type; default from the name's "
                                                  "extension, else application/octet-stream.")),
        ("content", ByteArray(**Present, doc="The document bytes: base64 inline, or (MTOM) "
                                             "an xop:Include naming a multipart/related part "
                                             "up to GATEWAY_MAX_DOCUMENT_BYTES.")),
        ("sha256", Unicode(doc="SHA-256 of the bytes, 64 hex digits (optional): checked "
                               "against the bytes received, so that the signature over the "
                               "Body also binds an attachment's content.")),
    ]


class PublicationItem(ComplexModel):
    """One item, as a row of the import manifest."""

    __namespace__ = NS
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("issuerReference", Unicode(**Present, doc="The issuer's own reference, 1..64 "
                                                    "characters; the idempotency key.")),
        ("kind", KindType.customize(**Present)),
        ("procedure", Unicode(**Present, doc="1..200 characters.")),
        ("subject", Unicode(**Present, doc="1..500 characters.")),
        ("recipient", Unicode(**Present, doc="NIF, NIE or CIF; normalised by the server.")),
        ("ccc", Unicode(doc="Contribution account code (optional; separators allowed).")),
        ("category", CategoryType),
        ("madeAvailableAt", Timestamp.customize(
            doc="With an offset, not in the future; default: when the server stores it.")),
        ("mainDocument", DocumentUpload.customize(**Present)),
        ("annex", DocumentUpload.customize(max_occurs=50)),
    ]


class PublishedItem(ComplexModel):
    __namespace__ = NS
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("position", Integer(**Required, doc="1-based position in the request.")),
        ("issuerReference", Unicode(**Required)),
        ("id", Long(**Required, doc="The gateway's notification id.")),
        ("created", Boolean(**Required, doc="false: published before with the same content "
                                            "(idempotent replay); nothing was written.")),
        ("deadlineAt", Timestamp.customize(doc="Computed by the server; absent for "
                                               "communications.")),
        ("documentSha256", Unicode(max_occurs=51, doc="SHA-256 (hex) of each document as "
                                                      "stored, main document first.")),
    ]


class PublishResult(ComplexModel):
    __namespace__ = NS
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("created", Integer(**Required, doc="Items written by this call.")),
        ("item", PublishedItem.customize(max_occurs=MAX_BATCH)),
    ]


class StateChange(ComplexModel):
    __namespace__ = NS
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("status", StatusType.customize(**Required)),
        ("at", Timestamp.customize(**Required, doc="Official time of the change.")),
        ("actedBy", Unicode(doc="Identifier (NIF/NIE/CIF) the actor acted as: the recipient, "
                                "its RED agent or a mandate holder; absent when nobody acted.")),
    ]


class ReceiptEvidence(ComplexModel):
    __namespace__ = NS
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("registrationNumber", Unicode(**Required)),
        ("issuedAt", Timestamp.customize(**Required)),
    ]


class PublicationStatus(ComplexModel):
    __namespace__ = NS
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("issuerReference", Unicode(**Required)),
        ("known", Boolean(**Required, doc="false: this issuer published nothing under this "
                                          "reference (the other fields are absent).")),
        ("id", Long),
        ("kind", KindType),
        ("status", StatusType),
        ("madeAvailableAt", Timestamp),
        ("deadlineAt", Timestamp),
        ("change", StateChange.customize(max_occurs="unbounded")),
        ("receipt", ReceiptEvidence),
    ]


class PublicationStatusResult(ComplexModel):
    __namespace__ = NS
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("count", Integer(**Required)),
        ("item", PublicationStatus.customize(max_occurs=MAX_BATCH)),
        ("nextCursor", Unicode(doc="Cursor mode only; absent on the last page.")),
    ]


class EvidenceResult(ComplexModel):
    __namespace__ = NS
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("issuerReference", Unicode(**Required)),
        ("id", Long(**Required)),
        ("status", StatusType.customize(**Required)),
        ("evidence", ByteArray(**Required, doc="The evidence document (namespace "
                                               "urn:notess:gateway:evidence:v1), XAdES-BES "
                                               "enveloped-signed by the server.")),
        ("evidencePdf", ByteArray(**Required, doc="The same facts as a PDF, PAdES-signed by "
                                                  "the server (B-T with the local TSA).")),
    ]


class CancelResult(ComplexModel):
    __namespace__ = NS
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("issuerReference", Unicode(**Required)),
        ("id", Long(**Required)),
        ("status", StatusType.customize(**Required, doc="CANCELLED.")),
        ("cancelledAt", Timestamp.customize(**Required, doc="Official time of the "
                                                            "cancellation.")),
        ("reason", Unicode(**Required, doc="The reason given when it was cancelled.")),
        ("alreadyCancelled", Boolean(**Required, doc="true: cancelled by an earlier call "
                                                     "(idempotent replay); nothing changed.")),
    ]


SubscriptionInfo = subscription_info_type(NS)
