"""``gateway limits …``: per-principal request rates and document bytes per hour (issue 14).

A principal is named by its identifier (NIF/NIE/CIF: the entity for entity and representative
certificates). ``set`` replaces the rate of its kind (``GATEWAY_RATE_LIMIT_<KIND>``) and/or its
document bytes per hour (``GATEWAY_CONTENT_BYTES_PER_HOUR_<KIND>``) for that principal on every
host sharing the database, within ``soap.limits.OVERRIDES_REFRESH_S``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.config import Settings
from gateway.domain.rates import Rate

if TYPE_CHECKING:  # built when a command runs
    from gateway.bootstrap import Container

ContainerFactory = Callable[[Settings], "Container"]


def add_commands(commands: Any, container: ContainerFactory) -> None:
    def run(handler: Callable[[argparse.Namespace, Container], int]) -> Callable[..., int]:
        return lambda args, settings: handler(args, container(settings))

    limits = commands.add_parser(
        "limits", help="per-principal request rates and document bytes per hour")
    actions = limits.add_subparsers(dest="limits_command", required=True, metavar="ACTION")
    set_ = actions.add_parser(
        "set", help="give a principal its own rate (--rate and --burst) and/or document bytes "
                    "per hour (--bytes-per-hour)")
    set_.add_argument("principal", help="NIF/NIE/CIF the certificate speaks for")
    set_.add_argument("--rate", type=float, help="requests per second")
    set_.add_argument("--burst", type=int, help="requests at once (bucket size)")
    set_.add_argument("--bytes-per-hour", type=int, metavar="BYTES",
                      help="document bytes it may download per hour (GetContent, GetContents, "
                           "WSCN verNotificacionAceptada)")
    set_.set_defaults(handler=run(_set))
    clear = actions.add_parser(
        "clear", help="back to the rate and bytes per hour of the principal's kind")
    clear.add_argument("principal")
    clear.set_defaults(handler=run(_clear))
    list_ = actions.add_parser("list", help="the overrides and the default rates (JSON)")
    list_.set_defaults(handler=run(_list))


def _set(args: argparse.Namespace, container: Container) -> int:
    if (args.rate is None) != (args.burst is None):
        raise SystemExit("gateway limits set: --rate and --burst go together")
    if args.rate is None and args.bytes_per_hour is None:
        raise SystemExit("gateway limits set: give --rate and --burst, or --bytes-per-hour")
    if args.bytes_per_hour is not None and args.bytes_per_hour < 1:
        raise SystemExit("gateway limits set: --bytes-per-hour must be positive")
    try:
        rate = None if args.rate is None else Rate(args.rate, args.burst)
    except ValueError as exc:
        raise SystemExit(f"gateway limits set: {exc}") from exc
    principal = args.principal.strip().upper()
    overrides = container.rate_limit_overrides()
    if rate is not None:
        overrides.set(principal, rate)
        print(f"{args.principal}: {rate.per_second:g}/s, burst {rate.burst}")
    if args.bytes_per_hour is not None:
        overrides.set_bytes(principal, args.bytes_per_hour)
        print(f"{args.principal}: {args.bytes_per_hour} document bytes per hour")
    return 0


def _clear(args: argparse.Namespace, container: Container) -> int:
    removed = container.rate_limit_overrides().clear(args.principal.strip().upper())
    print(f"{args.principal}: " + ("override removed" if removed else "had no override"))
    return 0


def _list(args: argparse.Namespace, container: Container) -> int:
    settings = container.settings
    overrides = container.rate_limit_overrides()
    print(json.dumps({
        "default": {"rate": settings.rate_per_second, "burst": settings.rate_burst},
        "per_kind": {kind: {"rate": rate, "burst": burst}
                     for kind, (rate, burst) in sorted(settings.rate_per_kind.items())},
        "overrides": {principal: {"rate": rate.per_second, "burst": rate.burst}
                      for principal, rate in sorted(overrides.all().items())},
        "content_bytes_per_hour": {
            "default": settings.content_bytes_per_hour,
            "per_kind": dict(sorted(settings.content_bytes_per_kind.items())),
            "overrides": dict(sorted(overrides.bytes_all().items())),
        },
    }, indent=2))
    return 0
