"""Receipt documents: build, validate against xsd/receipt.xsd, parse back; strict parsing;
the prepared/signed comparison rules (domain.receipts.compare_acknowledgements)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from gateway.domain.receipts import (
    AcknowledgedItem,
    Acknowledgement,
    Decision,
    DocumentDigest,
    ItemOutcome,
    Outcome,
    RegistrationNumber,
    ServerReceipt,
    compare_acknowledgements,
    new_csv_code,
)
from gateway.errors import InvalidRequest
from gateway.receipt_xml import (
    build_acknowledgement,
    build_server_receipt,
    parse_acknowledgement,
    parse_server_receipt,
)

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parents[2] / "xsd" / "receipt.xsd")))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def ack(**changes: object) -> Acknowledgement:
    base = Acknowledgement(
        receipt_id="0" * 32, signer="B12345674", decision=Decision.ACCEPT, nonce="n-1",
        issued_at=T0, expires_at=T0 + timedelta(minutes=15),
        items=(AcknowledgedItem(7, (DocumentDigest(0, "MAIN", "a" * 64),
                                    DocumentDigest(1, "ANNEX", "b" * 64))),
               AcknowledgedItem(9, (DocumentDigest(0, "MAIN", "c" * 64),))),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_acknowledgement_round_trips_and_matches_the_schema():
    document = build_acknowledgement(ack())
    SCHEMA.assertValid(etree.fromstring(document))
    assert parse_acknowledgement(document) == ack()


def test_server_receipt_round_trips_and_matches_the_schema():
    receipt = ServerReceipt(RegistrationNumber(2026, 42), new_csv_code(), T0, "0" * 32,
                            "B12345674", Decision.REJECT, "d" * 64,
                            (ItemOutcome(7, Outcome.REJECTED), ItemOutcome(9, Outcome.EXPIRED)))
    document = build_server_receipt(receipt)
    SCHEMA.assertValid(etree.fromstring(document))
    assert parse_server_receipt(document) == receipt


@pytest.mark.parametrize("mutate", [
    lambda root: root.append(etree.Element("{urn:notess:gateway:receipt:v1}Extra")),
    lambda root: root.remove(root[2]),
    lambda root: root.insert(0, etree.Element("{http://www.w3.org/2000/09/xmldsig#}Signature")),
    lambda root: root[6].append(etree.Element("{urn:notess:gateway:receipt:v1}Item")),
    lambda root: root[6].set("notificationId", "x"),
    lambda root: root[4].__setattr__("text", "2026-03-02T09:00:00"),
])
def test_the_parser_refuses_anything_out_of_place(mutate):
    root = etree.fromstring(build_acknowledgement(ack()))
    mutate(root)
    with pytest.raises(InvalidRequest) as caught:
        parse_acknowledgement(etree.tostring(root))
    assert caught.value.code == "MALFORMED_RECEIPT"


def test_a_trailing_signature_is_allowed_only_when_enveloped():
    root = etree.fromstring(build_acknowledgement(ack()))
    root.append(etree.Element("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    assert parse_acknowledgement(etree.tostring(root)) == ack()
    with pytest.raises(InvalidRequest):
        parse_acknowledgement(etree.tostring(root), allow_signature=False)


@pytest.mark.parametrize(("signed", "code"), [
    (ack(items=ack().items[:1]), "ITEMS_MISMATCH"),
    (ack(items=(*ack().items, AcknowledgedItem(11, (DocumentDigest(0, "MAIN", "e" * 64),)))),
     "ITEMS_MISMATCH"),
    (ack(items=ack().items[::-1]), "ITEMS_MISMATCH"),
    (ack(items=(AcknowledgedItem(7, (DocumentDigest(0, "MAIN", "a" * 64),)), ack().items[1])),
     "ITEMS_MISMATCH"),
    (ack(items=(AcknowledgedItem(7, (DocumentDigest(0, "MAIN", "f" * 64),
                                     DocumentDigest(1, "ANNEX", "b" * 64))), ack().items[1])),
     "HASH_MISMATCH"),
    (ack(decision=Decision.REJECT), "ACK_MISMATCH"),
    (ack(expires_at=T0 + timedelta(days=1)), "ACK_MISMATCH"),
    (ack(signer="12345678Z"), "ACK_MISMATCH"),
])
def test_a_signed_acknowledgement_must_state_exactly_what_was_prepared(signed, code):
    compare_acknowledgements(ack(), ack())
    with pytest.raises(InvalidRequest) as caught:
        compare_acknowledgements(ack(), signed)
    assert caught.value.code == code
