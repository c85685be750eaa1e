"""``gateway limits …``: per-principal request rates (issue 14).

A principal is named by its identifier (NIF/NIE/CIF: the entity for entity and representative
certificates). ``set`` replaces the rate of its kind (``GATEWAY_RATE_LIMIT_<KIND>``) for that
principal on every host sharing the database, within ``soap.limits.OVERRIDES_REFRESH_S``.
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

    limits = commands.add_parser("limits", help="per-principal request rate limits")
    actions = limits.add_subparsers(dest="limits_command", required=True, metavar="ACTION")
    set_ = actions.add_parser("set", help="give a principal its own rate")
    set_.add_argument("principal", help="NIF/NIE/CIF the certificate speaks for")
    set_.add_argument("--rate", type=float, required=True, help="requests per second")
    set_.add_argument("--burst", type=int, required=True, help="requests at once (bucket size)")
    set_.set_defaults(handler=run(_set))
    clear = actions.add_parser("clear", help="back to the rate of the principal's kind")
    clear.add_argument("principal")
    clear.set_defaults(handler=run(_clear))
    list_ = actions.add_parser("list", help="the overrides and the default rates (JSON)")
    list_.set_defaults(handler=run(_list))


def _set(args: argparse.Namespace, container: Container) -> int:
    try:
        rate = Rate(args.rate, args.burst)
    except ValueError as exc:
        raise SystemExit(f"gateway limits set: {exc}") from exc
    container.rate_limit_overrides().set(args.principal.strip().upper(), rate)
    print(f"{args.principal}: {rate.per_second:g}/s, burst {rate.burst}")
    return 0


def _clear(args: argparse.Namespace, container: Container) -> int:
    removed = container.rate_limit_overrides().clear(args.principal.strip().upper())
    print(f"{args.principal}: " + ("override removed" if removed else "had no override"))
    return 0


def _list(args: argparse.Namespace, container: Container) -> int:
    settings = container.settings
    print(json.dumps({
        "default": {"rate": settings.rate_per_second, "burst": settings.rate_burst},
        "per_kind": {kind: {"rate": rate, "burst": burst}
                     for kind, (rate, burst) in sorted(settings.rate_per_kind.items())},
        "overrides": {principal: {"rate": rate.per_second, "burst": rate.burst}
                      for principal, rate in sorted(container.rate_limit_overrides().all().items())},
    }, indent=2))
    return 0
