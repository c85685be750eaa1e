"""``wsu:Timestamp`` reading and freshness checks (OASIS WSS 1.1 SOAP Message Security §10).

Structure follows WS-I BSP 1.1: exactly one ``wsu:Created`` first (R3203, R3221), at most one
``wsu:Expires`` (R3224) and nothing else; values are ``xs:dateTime`` with an explicit zone (the
gate never guesses a zone for a deadline; BSP R3213/R3220 ask for UTC). Freshness is judged on the
server's official clock only:

* ``Expires <= now``                               -> ``MessageExpired`` (``MESSAGE_EXPIRED``)
* ``now - Created > timestamp_ttl`` (too old)       -> ``MessageExpired`` (``MESSAGE_EXPIRED``)
* ``Created > now + future_skew``                  -> ``MessageExpired`` (``TIMESTAMP_IN_FUTURE``)
* ``Expires - Created > max_timestamp_lifetime``   -> ``InvalidSecurity`` (``TIMESTAMP_TTL_EXCEEDED``)
* ``Expires <= Created`` or bad syntax             -> ``InvalidSecurity`` (``TIMESTAMP_MALFORMED``)
* Created/Expires missing when required            -> ``InvalidSecurity`` (``TIMESTAMP_REQUIRED``)

The age limit is WSS4J's ``timeStampTTL``; the lifetime limit keeps a client from asking us to
remember its nonce for a long time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from lxml import etree

from gateway import namespaces as ns
from gateway.errors import InvalidSecurity, MessageExpired
from gateway.wssec.policy import WsSecurityPolicy

_ZERO = timedelta(0)
CREATED = ns.qname(ns.WSU, "Created")
EXPIRES = ns.qname(ns.WSU, "Expires")

# xs:dateTime with a mandatory zone; the shape is checked here, the values by fromisoformat.
_XS_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,12})?(?:Z|[+-]\d{2}:\d{2})", re.ASCII
)


class CheckedTimestamp(NamedTuple):
    """A Timestamp that passed the freshness checks."""

    element: etree._Element
    created: datetime
    expires: datetime
    """``wsu:Expires``, or Created + TTL when the policy lets it be absent."""
    acceptable_until: datetime
    """``min(Expires, Created + timestamp_ttl)``: after it the message is refused anyway, so a
    replay nonce need not be kept longer."""


def _malformed(message: str) -> InvalidSecurity:
    return InvalidSecurity(message, code="TIMESTAMP_MALFORMED")


def parse_xs_datetime(text: str | None) -> datetime:
    """An ``xs:dateTime`` with an explicit zone, as an aware UTC datetime (sub-µs truncated)."""
    value = text.strip() if text else ""
    if _XS_DATETIME.fullmatch(value) is None:
        raise _malformed("Timestamp values must be xs:dateTime with a time zone")
    try:
        instant = datetime.fromisoformat(value)
    except ValueError as exc:  # month 13, 24:00, zone beyond ±24h, ...
        raise _malformed("Timestamp values must be valid xs:dateTime instants") from exc
    if instant.tzinfo is UTC or instant.utcoffset() == _ZERO:  # "Z" parses to UTC itself
        return instant
    return instant.astimezone(UTC)


def read_timestamp(
    element: etree._Element, policy: WsSecurityPolicy
) -> tuple[datetime, datetime | None]:
    """Created and Expires of a ``wsu:Timestamp``, structure checked, not yet judged."""
    if len(element) == 2:  # the usual shape, with no comment or PI to filter out
        created, expires = element[0], element[1]
        if created.tag == CREATED and expires.tag == EXPIRES:
            return parse_xs_datetime(created.text), parse_xs_datetime(expires.text)
    children = [child for child in element if isinstance(child.tag, str)]
    count = len(children)
    if count == 2 and children[0].tag == CREATED and children[1].tag == EXPIRES:
        return parse_xs_datetime(children[0].text), parse_xs_datetime(children[1].text)
    tags = [child.tag for child in children]
    if tags == [CREATED]:
        if policy.require_expires:
            raise InvalidSecurity("The Timestamp has no Expires element", code="TIMESTAMP_REQUIRED")
        return parse_xs_datetime(children[0].text), None
    if CREATED not in tags:
        raise InvalidSecurity("The Timestamp has no Created element", code="TIMESTAMP_REQUIRED")
    raise _malformed("A Timestamp holds one Created, first, and at most one Expires, nothing else")


def check_timestamp(
    element: etree._Element, now: datetime, policy: WsSecurityPolicy
) -> CheckedTimestamp:
    """Judge a Timestamp against the official clock; raise on any failure."""
    created, expires = read_timestamp(element, policy)
    if expires is None:
        expires = created + policy.timestamp_ttl
    elif expires <= created:
        raise _malformed("The Timestamp expires before it was created")
    if expires - created > policy.max_timestamp_lifetime:
        raise InvalidSecurity(
            "The Timestamp lifetime exceeds the allowed maximum", code="TIMESTAMP_TTL_EXCEEDED"
        )
    if created > now + policy.future_skew:
        raise MessageExpired("The Timestamp was created in the future", code="TIMESTAMP_IN_FUTURE")
    acceptable_until = min(expires, created + policy.timestamp_ttl)
    if acceptable_until <= now:
        raise MessageExpired("The message has expired", code="MESSAGE_EXPIRED")
    return CheckedTimestamp(element, created, expires, acceptable_until)
