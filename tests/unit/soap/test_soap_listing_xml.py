"""ListNotifications pages written by ``soap.listing_xml`` are what Spyne itself writes.

Each page goes through the real port twice: through the fast path, and through Spyne's own
serialisation of ``types.ListNotificationsResult`` (the fallback the service keeps for a contract
the fast path does not know). Both responses are parsed and compared in exclusive canonical form,
the form the response signature covers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from soap_doubles import InProcessPort, Response, StubQueries

from gateway import namespaces as ns
from gateway.domain.listing import Role
from gateway.domain.model import (
    Category,
    Document,
    DocumentRole,
    Issuer,
    ItemKind,
    Notification,
    Status,
)
from gateway.pki import DemoPki
from gateway.services.notifications import Page, VisibleNotification
from gateway.soap import listing_xml

MADRID = ZoneInfo("Europe/Madrid")
T0 = datetime(2026, 1, 26, 10, 0, tzinfo=UTC)
TNS = f"{{{ns.NOTIFICATION_SERVICE}}}"
GW = f"{{{ns.FAULT_DETAIL}}}"


def document(position: int, name: str = "resolucion.pdf") -> Document:
    return Document(name=name if position == 0 else f"anexo{position}.pdf",
                    content_type="application/pdf", sha256=f"{position:064x}",
                    size=1234 + position,
                    role=DocumentRole.MAIN if position == 0 else DocumentRole.ANNEX,
                    position=position)


def item(index: int, *, optional: bool, text: str | None = None,
         documents: int = 1, role: Role = Role.OWN) -> VisibleNotification:
    """A notification with ccc and deadline (``optional``), or a communication without them."""
    at = T0 + timedelta(minutes=index, microseconds=index % 3)
    notification = Notification(
        id=1000 + index,
        kind=ItemKind.NOTIFICATION if optional else ItemKind.COMMUNICATION,
        issuer=(Issuer.TGSS, Issuer.INSS, Issuer.ISM)[index % 3],
        issuer_reference=f"REF-{index:05d}" if text is None else text,
        procedure="Reclamación de deuda" if text is None else text,
        subject=f"Acto {index} ñ€ 𝄞" if text is None else text,
        recipient="B12345674",
        ccc="28123456742" if optional else None,
        category=Category.SPECIAL if index % 2 else Category.NORMAL,
        made_available_at=at.astimezone(MADRID) if index % 2 else at,
        deadline_at=at + timedelta(days=11) if optional else None,
        status=Status.AVAILABLE if optional else Status.READ,
        status_at=at + timedelta(seconds=1),
        documents=tuple(document(p, "doc.pdf" if text is None else text)
                        for p in range(documents)),
        deadline_extension_days=index % 2,
    )
    return VisibleNotification(notification, role)


PAGES = {
    "all-optional-present": Page(tuple(item(i, optional=True, documents=3) for i in range(5)),
                                 "opaque-cursor.signed=="),
    "all-optional-absent": Page(tuple(item(i, optional=False, documents=0) for i in range(5)),
                                None),
    "mixed": Page(tuple(item(i, optional=i % 2 == 0, documents=i % 3, role=Role.RED)
                        for i in range(7)), "c"),
    "empty-last-page": Page((), None),
    "awkward-text": Page((item(1, optional=True, text='a&b <c> "d" \'e\' ]]> \r\n\tf é 😀'),
                          item(2, optional=False, text="\u2028\u00a0 x")), None),
}


def both(port: Callable[..., InProcessPort], page: Page,
         monkeypatch: pytest.MonkeyPatch, signed_by: DemoPki | None = None,
         ) -> tuple[Response, Response]:
    """The response through the fast path and through Spyne's own serialisation."""
    service = port(StubQueries(page=page), signed_by)
    fast = service.call("ListNotifications")
    with monkeypatch.context() as patch:
        patch.setattr(listing_xml, "WRITES_CONTRACT", False)
        spyne = service.call("ListNotifications")
    return fast, spyne


def test_the_fast_path_knows_the_current_contract() -> None:
    assert listing_xml.WRITES_CONTRACT


@pytest.mark.parametrize("name", list(PAGES))
def test_page_is_canonically_what_spyne_writes(
    name: str, port: Callable[..., InProcessPort], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, spyne = both(port, PAGES[name], monkeypatch)
    assert fast.status == spyne.status == "200 OK"
    assert fast.exclusive_c14n() == spyne.exclusive_c14n()
    assert int(fast.headers["Content-Length"]) == len(fast.body)
    result = fast.envelope.find(f"*/{TNS}ListNotificationsResponse/{TNS}ListNotificationsResult")
    assert result is not None
    assert result.findtext(f"{TNS}count") == str(len(PAGES[name].items))


def test_optional_fields_are_absent_not_nil(
    port: Callable[..., InProcessPort], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, _ = both(port, PAGES["all-optional-absent"], monkeypatch)
    text = fast.body.decode()
    for absent in ("ccc", "deadlineAt", "nextCursor", "document", "nil"):
        assert absent not in text


def test_dates_keep_their_offset_and_microseconds_as_spyne_writes_them(
    port: Callable[..., InProcessPort], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, _ = both(port, PAGES["all-optional-present"], monkeypatch)
    made = [e.text for e in fast.envelope.iter(f"{TNS}madeAvailableAt")]
    assert made[0] == "2026-01-26T10:00:00+00:00"
    assert made[1] == "2026-01-26T11:01:00.000001+01:00"


def test_signed_page_verifies_and_matches_spyne(
    port: Callable[..., InProcessPort], monkeypatch: pytest.MonkeyPatch, pki: DemoPki,
    verify_signature: Callable[[bytes], None],
) -> None:
    fast, spyne = both(port, PAGES["awkward-text"], monkeypatch, signed_by=pki)
    verify_signature(fast.body)
    verify_signature(spyne.body)

    def body(response: Response) -> bytes:
        found = response.envelope.find(f"{{{ns.SOAP11_ENV}}}Body")
        assert found is not None
        return b"".join(etree.tostring(child, method="c14n", exclusive=True) for child in found)

    assert body(fast) == body(spyne)


def test_a_tampered_page_fails_verification(
    port: Callable[..., InProcessPort], pki: DemoPki, verify_signature: Callable[[bytes], None]
) -> None:
    from zeep.exceptions import SignatureVerificationFailed

    response = port(StubQueries(page=PAGES["mixed"]), pki).call("ListNotifications")
    with pytest.raises(SignatureVerificationFailed):
        verify_signature(response.body.replace(b"<tns:id>1003<", b"<tns:id>1004<", 1))


def test_text_xml_cannot_carry_is_a_server_fault_on_both_paths(
    port: Callable[..., InProcessPort], monkeypatch: pytest.MonkeyPatch
) -> None:
    page = Page((item(1, optional=True, text="bell \x07"),), None)
    for response in both(port, page, monkeypatch):
        assert response.status.startswith("500")
        assert response.envelope.findtext(f".//{GW}code") == "INTERNAL_ERROR"


XML_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=40).filter(lambda s: listing_xml._NOT_XML.search(s) is None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=XML_TEXT, cursor=st.one_of(st.none(), XML_TEXT))
def test_any_xml_text_is_written_as_spyne_writes_it(
    text: str, cursor: str | None, port: Callable[..., InProcessPort],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = Page((item(1, optional=True, text=text), item(2, optional=False, text=text)), cursor)
    fast, spyne = both(port, page, monkeypatch)
    assert fast.exclusive_c14n() == spyne.exclusive_c14n()
