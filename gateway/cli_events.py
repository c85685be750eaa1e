"""``gateway subscriptions ...`` and ``gateway events ...``: event callbacks for operators.

- ``subscriptions add URL --for KIND:ID | --issuer TGSS [--type T]... [--principal ID]...
  [--ccc CCC]...`` subscribes on someone's behalf (as ``SubscribeEvents`` would; the same
  allow-list and audit) and prints the secret once;
- ``subscriptions list``, ``remove ID``, ``deliveries ID [--state S]``, ``redeliver ID
  [--event EVT]...`` (dead deliveries, or the named events, are sent again);
- ``events deliver`` runs the delivery process (``--once`` for one round); ``events status``
  prints the queue.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.config import Settings

if TYPE_CHECKING:
    from gateway.bootstrap import Container
    from gateway.domain.events import Subscription

ContainerFactory = Callable[[Settings], "Container"]
OPERATOR = "OPERATOR"
KINDS = ("PERSON", "ENTITY", "REPRESENTATIVE")
ISSUERS = ("TGSS", "INSS", "ISM")


def add_commands(commands: Any, container: ContainerFactory) -> None:
    def run(handler: Callable[[argparse.Namespace, Container], int]) -> Callable[..., int]:
        return lambda args, settings: handler(args, container(settings))

    subs = commands.add_parser("subscriptions", help="event callbacks (webhooks)")
    actions = subs.add_subparsers(dest="subscriptions_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="subscribe a callback on someone's behalf")
    add.add_argument("url", help="https callback (must be in GATEWAY_EVENTS_ALLOWED_CALLBACKS)")
    owner = add.add_mutually_exclusive_group(required=True)
    owner.add_argument("--for", dest="owner", metavar="KIND:ID",
                       help="the subscriber, e.g. ENTITY:B12345674 or PERSON:12345678Z")
    owner.add_argument("--issuer", choices=ISSUERS, help="an issuer's subscription")
    add.add_argument("--person", help="the person behind a REPRESENTATIVE subscriber")
    add.add_argument("--type", dest="types", action="append", default=[],
                     help="event type (repeatable; default every type)")
    add.add_argument("--principal", dest="principals", action="append", default=[],
                     help="only events about this recipient (repeatable)")
    add.add_argument("--ccc", dest="cccs", action="append", default=[],
                     help="only events about this contribution account (repeatable)")
    add.set_defaults(handler=run(_add))
    listing = actions.add_parser("list", help="subscriptions as JSON lines")
    listing.add_argument("--all", action="store_true", help="include removed ones")
    listing.set_defaults(handler=run(_list))
    remove = actions.add_parser("remove", help="remove a subscription")
    remove.add_argument("id", type=int)
    remove.add_argument("--by", default=OPERATOR, help="operator (for the audit log)")
    remove.set_defaults(handler=run(_remove))
    deliveries = actions.add_parser("deliveries", help="a subscription's deliveries")
    deliveries.add_argument("id", type=int)
    deliveries.add_argument("--state", choices=("PENDING", "DELIVERED", "DEAD"))
    deliveries.set_defaults(handler=run(_deliveries))
    redeliver = actions.add_parser("redeliver", help="send dead (or named) deliveries again")
    redeliver.add_argument("id", type=int)
    redeliver.add_argument("--event", dest="events", action="append", default=[],
                           help="an event id to send again (repeatable; default: every dead one)")
    redeliver.add_argument("--by", default=OPERATOR, help="operator (for the audit log)")
    redeliver.set_defaults(handler=run(_redeliver))

    events = commands.add_parser("events", help="deliver events to subscribers")
    event_actions = events.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    deliver = event_actions.add_parser(
        "deliver", help="run the delivery process (several may run, on several hosts)")
    deliver.add_argument("--once", action="store_true", help="one round, then exit")
    deliver.add_argument("--interval", type=float, default=0.5,
                         help="pause when idle, seconds (default 0.5)")
    deliver.add_argument("--batch", type=int, default=100, help="deliveries claimed per round")
    deliver.add_argument("--threads", type=int, default=8, help="concurrent sends")
    deliver.set_defaults(handler=run(_deliver))
    status = event_actions.add_parser("status", help="deliveries per state and the backlog")
    status.set_defaults(handler=run(_status))


def _subscription_json(subscription: Subscription, *, secret: bool = False) -> str:
    out: dict[str, object] = {
        "id": subscription.id, "owner": subscription.owner_identifier,
        "kind": subscription.owner_kind, "url": subscription.url,
        "types": sorted(t.value for t in subscription.event_types),
        "principals": sorted(subscription.principals), "cccs": sorted(subscription.cccs),
        "created_at": subscription.created_at.isoformat(),
        "removed_at": subscription.removed_at.isoformat() if subscription.removed_at else None,
    }
    if secret:
        out["secret"] = subscription.secret
    return json.dumps(out)


def _add(args: argparse.Namespace, container: Container) -> int:
    from gateway.domain.identifiers import normalise_tax_id
    from gateway.domain.model import Issuer
    from gateway.domain.principal import Principal, PrincipalKind
    from gateway.errors import InvalidRequest
    from gateway.services.events import Owner

    if args.issuer:
        owner = Owner(Principal(PrincipalKind.ENTITY, f"issuer:{args.issuer}", name=args.issuer,
                                certificate_fingerprint=""), Issuer(args.issuer))
    else:
        kind, _, identifier = args.owner.partition(":")
        if kind.upper() not in KINDS or not identifier:
            raise InvalidRequest("--for is KIND:ID with KIND one of " + ", ".join(KINDS),
                                 field="--for")
        owner = Owner(Principal(PrincipalKind(kind.upper()), normalise_tax_id(identifier, "--for"),
                                name="", certificate_fingerprint="",
                                person_identifier=args.person))
    stored = container.events().subscribe(owner, args.url, args.types, args.principals,
                                          args.cccs)
    print(_subscription_json(stored, secret=True))
    return 0


def _list(args: argparse.Namespace, container: Container) -> int:
    for subscription in container.events().all_subscriptions(active_only=not args.all):
        print(_subscription_json(subscription))
    return 0


def _remove(args: argparse.Namespace, container: Container) -> int:
    container.events().unsubscribe(None, args.id, args.by)
    print(json.dumps({"removed": args.id}))
    return 0


def _deliveries(args: argparse.Namespace, container: Container) -> int:
    from gateway.domain.events import DeliveryState

    state = DeliveryState(args.state) if args.state else None
    for record in container.events().deliveries(args.id, state):
        print(json.dumps({"id": record.id, "event": record.event_id,
                          "type": record.event_type, "state": record.state.value,
                          "attempts": record.attempts,
                          "next_attempt_at": record.next_attempt_at.isoformat(),
                          "delivered_at": (record.delivered_at.isoformat()
                                           if record.delivered_at else None),
                          "last_error": record.last_error}))
    return 0


def _redeliver(args: argparse.Namespace, container: Container) -> int:
    count = container.events().redeliver(args.id, args.by, args.events)
    print(json.dumps({"subscription": args.id, "redelivering": count}))
    return 0


def _deliver(args: argparse.Namespace, container: Container) -> int:
    import signal
    import threading

    from gateway.domain.callbacks import CallbackPolicy
    from gateway.events.sender import WebhookSender
    from gateway.events.worker import DeliveryWorker

    settings = container.settings
    sender = WebhookSender(
        CallbackPolicy.parse(settings.events_allowed_callbacks, settings.events_allow_http),
        ca_file=settings.events_ca_file)
    worker = DeliveryWorker(container.events(), sender, batch=args.batch, threads=args.threads)
    try:
        if args.once:
            done = worker.run_once()
            print(json.dumps({"fanned_out": done.fanned_out, "sent": done.sent,
                              "delivered": done.delivered}))
            return 0
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        worker.run(stop, args.interval)
        return 0
    finally:
        worker.close()


def _status(args: argparse.Namespace, container: Container) -> int:
    print(json.dumps(container.events().queue(), sort_keys=True))
    return 0
