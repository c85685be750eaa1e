"""The three event-subscription operations, shared by NotificationService and IssuerService.

``SubscribeEvents(url, eventType*, principal*, ccc*)`` answers the subscription with its secret
(shown this once: the receiver verifies every delivery with it, Standard Webhooks);
``ListSubscriptions`` the caller's own (without secrets); ``Unsubscribe(id)`` removes one of
them (another's is SUBSCRIPTION_NOT_FOUND). The callback must be allowed by the operator
(CALLBACK_NOT_ALLOWED otherwise; see ``gateway.domain.callbacks``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.domain.events import Subscription
from gateway.errors import GatewayError
from gateway.services.events import EventsService, Owner

from . import types as t

OwnerOf = Callable[[Any], Owner]


def configured(events: EventsService | None) -> EventsService:
    if events is None:
        raise GatewayError("event subscriptions are not configured", code="NOT_CONFIGURED")
    return events


def subscription_info(subscription: Subscription, *, secret: bool = False,
                      info: type[Any] = t.SubscriptionInfo) -> Any:
    return info(
        id=subscription.id, url=subscription.url,
        eventType=sorted(e.value for e in subscription.event_types),
        principal=sorted(subscription.principals), ccc=sorted(subscription.cccs),
        createdAt=subscription.created_at,
        secret=subscription.secret if secret else None)


def subscribe(events: EventsService | None, owner: Owner, url: str | None,
              event_types: list[str] | None, principals: list[str] | None,
              cccs: list[str] | None, info: type[Any] = t.SubscriptionInfo) -> Any:
    stored = configured(events).subscribe(owner, url or "", [str(e) for e in event_types or []],
                                          principals or [], cccs or [])
    return subscription_info(stored, secret=True, info=info)


def listed(events: EventsService | None, owner: Owner,
           info: type[Any] = t.SubscriptionInfo) -> list[Any]:
    return [subscription_info(s, info=info) for s in configured(events).subscriptions(owner)]


def unsubscribe(events: EventsService | None, owner: Owner, subscription_id: int | None) -> bool:
    configured(events).unsubscribe(owner, subscription_id or 0, owner.principal.acts_for)
    return True
