"""Issue 3 acceptance, listing side, against the real server (gunicorn, PostgreSQL, zeep client).

Keyset pages with one opaque cursor, one item exactly once in a stable order, visibility per
certificate (person, company, representative), cursors bound to the principal, the page-size
limit and the official time.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from lxml import etree

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres



def _list_all(client: zeep.Client, page_size: int = 100, **filters: Any) -> list[list[Any]]:
    """Every page of a listing, following nextCursor until it is absent."""
    pages, cursor = [], None
    for _ in range(100):
        result = client.service.ListNotifications(pageSize=page_size, cursor=cursor, **filters)
        pages.append(list(result.item or []))
        cursor = result.nextCursor
        if cursor is None:
            return pages
    raise AssertionError("the cursor never ended")


def test_company_lists_250_items_in_three_pages_each_exactly_once(gateway: RunningGateway) -> None:
    client = gateway.client("company")
    company_ids = {item.id for item in gateway.seed.of(gateway.pki.company_cif)}
    assert len(company_ids) == 250

    pages = _list_all(client, page_size=100)

    assert [len(page) for page in pages] == [100, 100, 50]
    listed = [item.id for page in pages for item in page]
    assert len(listed) == len(set(listed)) == 250
    assert set(listed) == company_ids
    keys = [(item.madeAvailableAt, item.id) for page in pages for item in page]
    assert keys == sorted(keys), "oldest first, ties broken by id"
    assert any(a[0] == b[0] for a, b in pairwise(keys)), "the seed has equal instants"
    assert {item.role for page in pages for item in page} == {"OWN"}
    # Stable: the same walk again gives the same order.
    assert [item.id for page in _list_all(client, page_size=100) for item in page] == listed


def test_last_page_has_no_next_cursor_and_a_full_page_does(gateway: RunningGateway) -> None:
    client = gateway.client("company")
    first = client.service.ListNotifications(pageSize=100)
    assert first.nextCursor
    everything = client.service.ListNotifications(pageSize=1000)
    assert len(everything.item) == 250 and everything.nextCursor is None


def test_get_notification_returns_the_seeded_metadata(gateway: RunningGateway) -> None:
    seeded = next(item for item in gateway.seed.of(gateway.pki.company_cif)
                  if item.ccc and item.kind == "NOTIFICATION")
    info = gateway.client("company").service.GetNotification(id=seeded.id)
    assert (info.id, info.recipient, info.ccc, info.issuer, info.issuerReference) == (
        seeded.id, seeded.recipient, seeded.ccc, seeded.issuer, seeded.issuer_reference)
    assert (info.kind, info.category, info.role, info.status) == (
        "NOTIFICATION", seeded.category, "OWN", "AVAILABLE")
    assert info.madeAvailableAt == seeded.made_available_at
    assert info.deadlineAt > info.madeAvailableAt and info.deadlineAt.tzinfo is not None
    [document] = info.document
    assert (document.position, document.role, document.size, document.sha256) == (
        0, "MAIN", len(seeded.content), hashlib.sha256(seeded.content).hexdigest())


def test_person_certificate_sees_only_its_own_items(gateway: RunningGateway, gw_code: Any) -> None:
    client = gateway.client("person")
    listed = [item for page in _list_all(client, page_size=2) for item in page]
    assert sorted(item.id for item in listed) == sorted(
        item.id for item in gateway.seed.of(gateway.pki.person_nif))
    assert {(item.recipient, item.role) for item in listed} == {(gateway.pki.person_nif, "OWN")}

    someone_else = gateway.seed.of(gateway.pki.company_cif)[0]
    with pytest.raises(zeep.exceptions.Fault) as refused:
        client.service.GetNotification(id=someone_else.id)
    assert refused.value.code.endswith("Client.NotFound")
    assert gw_code(refused.value) == "NOT_FOUND"


def test_representative_certificate_sees_the_companys_items(gateway: RunningGateway) -> None:
    client = gateway.client("representative")
    listed = [item for page in _list_all(client, page_size=1000) for item in page]
    assert sorted(item.id for item in listed) == sorted(
        item.id for item in gateway.seed.of(gateway.pki.representative_cif))
    assert {(item.recipient, item.role) for item in listed} == {
        (gateway.pki.company_cif, "OWN")}
    principals = client.service.ListPrincipals()
    assert [(p.identifier, p.role) for p in principals] == [(gateway.pki.company_cif, "OWN")]


def test_cursor_of_one_principal_is_refused_for_another(
    gateway: RunningGateway, gw_code: Any
) -> None:
    cursor = gateway.client("company").service.ListNotifications(pageSize=10).nextCursor
    assert cursor
    with pytest.raises(zeep.exceptions.Fault) as refused:
        gateway.client("person").service.ListNotifications(pageSize=10, cursor=cursor)
    assert refused.value.code.endswith("Client.InvalidRequest")
    assert gw_code(refused.value) == "INVALID_CURSOR"


def test_cursor_is_refused_with_other_filters(gateway: RunningGateway, gw_code: Any) -> None:
    cursor = gateway.client("company").service.ListNotifications(pageSize=10).nextCursor
    with pytest.raises(zeep.exceptions.Fault) as refused:
        gateway.client("company").service.ListNotifications(
            pageSize=10, cursor=cursor, ccc=gateway.seed.ccc_red)
    assert gw_code(refused.value) == "INVALID_CURSOR"


def test_ccc_filter_lists_exactly_that_accounts_items(gateway: RunningGateway) -> None:
    ccc = gateway.seed.ccc_red
    pages = _list_all(gateway.client("company"), page_size=20, ccc=ccc)
    assert [len(page) for page in pages] == [20, 20, 10]
    assert sorted(item.id for page in pages for item in page) == sorted(
        item.id for item in gateway.seed.of(gateway.pki.company_cif) if item.ccc == ccc)


@pytest.mark.parametrize("name, value", [
    ("kind", "COMMUNICATION"), ("kind", "NOTIFICATION"), ("issuer", "INSS"), ("issuer", "TGSS"),
])
def test_enumerated_filters_select_matching_items(
    gateway: RunningGateway, name: str, value: str
) -> None:
    listed = _list_all(gateway.client("company"), page_size=1000, **{name: value})[0]
    expected = sorted(item.id for item in gateway.seed.of(gateway.pki.company_cif)
                      if getattr(item, name) == value)
    assert sorted(item.id for item in listed) == expected


@pytest.mark.parametrize("page_size", [1001, 0])
def test_page_size_out_of_range_is_a_client_fault(
    gateway: RunningGateway, gw_code: Any, page_size: int
) -> None:
    # The WSDL facet (1..1000) is checked by schema validation; the documented limit keeps its
    # own code wherever it is enforced.
    with pytest.raises(zeep.exceptions.Fault) as refused:
        gateway.client("company").service.ListNotifications(pageSize=page_size)
    assert refused.value.code.endswith("Client.LimitExceeded")
    assert gw_code(refused.value) == "PAGE_SIZE_EXCEEDED"


def test_page_size_1001_over_raw_http_is_400_and_writes_nothing(gateway: RunningGateway) -> None:
    data = etree.tostring(gateway.signed("ListNotifications", pageSize=1001))
    response = gateway.post(data, soap_action="ListNotifications")
    text = response.text
    assert response.status_code == 400, text
    assert "Traceback" not in text and 'File "' not in text
    fault = etree.fromstring(response.content).find(
        "{http://schemas.xmlsoap.org/soap/envelope/}Body/"
        "{http://schemas.xmlsoap.org/soap/envelope/}Fault")
    assert fault is not None
    assert fault.findtext("faultcode", "").endswith(":Client.LimitExceeded")
    gateway.verify_response_signature(response.content)


def test_official_time_is_europe_madrid(gateway: RunningGateway) -> None:
    official = gateway.client("person").service.GetOfficialTime()
    assert official.timeZone == "Europe/Madrid"
    assert abs(official.now - datetime.now(UTC)) < timedelta(seconds=30)
    assert official.localTime == official.now
    assert official.localTime.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
