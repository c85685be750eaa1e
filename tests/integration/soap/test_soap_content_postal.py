"""Issue 3 acceptance: content release rules and the postal channel, over the real server."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from zeep.helpers import serialize_object

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

ADDRESS = {"addressLine": "Calle Mayor 1, 3º B", "postalCode": "28013",
           "municipality": "Madrid", "province": "Madrid", "country": "ES"}


def test_content_of_an_available_notification_is_refused_not_accepted(
    gateway: RunningGateway, gw_code: Any
) -> None:
    seeded = next(item for item in gateway.seed.of(gateway.pki.company_cif)
                  if item.kind == "NOTIFICATION")
    with pytest.raises(zeep.exceptions.Fault) as refused:
        gateway.client("company").service.GetContent(id=seeded.id)
    assert refused.value.code.endswith("Client.InvalidState")
    assert gw_code(refused.value) == "NOT_ACCEPTED"
    assert gateway.client("company").service.GetNotification(id=seeded.id).status == "AVAILABLE"


def test_communication_content_is_released_and_then_shown_read(gateway: RunningGateway) -> None:
    client = gateway.client("company")
    communications = [item for item in gateway.seed.of(gateway.pki.company_cif)
                      if item.kind == "COMMUNICATION"]
    seeded = communications[0]  # no other test opens this one
    assert client.service.GetNotification(id=seeded.id).status == "AVAILABLE"

    content = client.service.GetContent(id=seeded.id)

    assert content.notificationId == seeded.id
    assert content.data == seeded.content
    assert content.document.sha256 == hashlib.sha256(content.data).hexdigest() == seeded.sha256
    assert content.status == "READ"
    info = client.service.GetNotification(id=seeded.id)
    assert info.status == "READ" and info.statusAt is not None
    # Opening it again releases the same bytes and keeps it READ.
    assert client.service.GetContent(id=seeded.id).data == seeded.content
    assert client.service.GetNotification(id=seeded.id).status == "READ"


def test_content_of_someone_elses_communication_is_not_found(
    gateway: RunningGateway, gw_code: Any
) -> None:
    seeded = [item for item in gateway.seed.of(gateway.pki.company_cif)
              if item.kind == "COMMUNICATION"][1]
    with pytest.raises(zeep.exceptions.Fault) as refused:
        gateway.client("person").service.GetContent(id=seeded.id)
    assert gw_code(refused.value) == "NOT_FOUND"
    assert gateway.client("company").service.GetNotification(id=seeded.id).status == "AVAILABLE"


def test_postal_channel_round_trip(gateway: RunningGateway) -> None:
    client = gateway.client("person")
    paper = client.service.SetPostalChannel(mode="PAPER_COPY", address=ADDRESS)
    assert (paper.recipient, paper.mode) == (gateway.pki.person_nif, "PAPER_COPY")
    assert paper.address.postalCode == "28013"

    shown = client.service.GetPostalChannel()
    assert shown.mode == "PAPER_COPY"
    assert {key: getattr(shown.address, key) for key in ADDRESS} == ADDRESS

    electronic = client.service.SetPostalChannel(mode="ELECTRONIC_ONLY", address=ADDRESS)
    assert electronic.mode == "ELECTRONIC_ONLY" and electronic.address is None
    shown = client.service.GetPostalChannel()
    assert shown.mode == "ELECTRONIC_ONLY" and shown.address is None


@pytest.mark.parametrize("postal_code", ["99999", "2801", "ABCDE"])
def test_invalid_postal_code_is_refused_and_changes_nothing(
    gateway: RunningGateway, gw_code: Any, postal_code: str
) -> None:
    client = gateway.client("person")
    before = client.service.GetPostalChannel()
    with pytest.raises(zeep.exceptions.Fault) as refused:
        client.service.SetPostalChannel(
            mode="PAPER_COPY", address={**ADDRESS, "postalCode": postal_code})
    assert refused.value.code.endswith("Client.InvalidRequest")
    assert gw_code(refused.value) == "INVALID_ADDRESS"
    field = refused.value.detail.findtext("{urn:notess:gateway:fault:v1}error/"
                                         "{urn:notess:gateway:fault:v1}field")
    assert field == "postal_code"
    assert serialize_object(client.service.GetPostalChannel()) == \
        serialize_object(before)


def test_postal_channel_of_another_recipient_is_not_authorised(
    gateway: RunningGateway, gw_code: Any
) -> None:
    with pytest.raises(zeep.exceptions.Fault) as refused:
        gateway.client("person").service.GetPostalChannel(recipient=gateway.pki.company_cif)
    assert refused.value.code.endswith("Client.Authorization")
    assert gw_code(refused.value) == "NOT_AUTHORISED"
