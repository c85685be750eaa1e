"""Event delivery with real processes on PostgreSQL (issue 17 acceptance).

``gateway events deliver`` runs as a subprocess against receivers on loopback that check every
signature with the ``standardwebhooks`` library and parse every body with the CloudEvents SDK.

- 10,000 events, two delivery processes sharing the outbox; one of them is killed with SIGKILL
  at random points and restarted: every event arrives at least once, a duplicate always carries
  the same id and the same bytes, and each item's events arrive in order.
- The receiver answers 500 for a while: after it recovers it gets everything, in order per item.
- A receiver that never recovers ends dead-lettered, without holding up the others.
- A redirect is never followed; a callback outside the allow-list is never contacted.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from webhook_receiver_harness import Receiver

from gateway.domain.audit import AuditEntry
from gateway.domain.callbacks import CallbackPolicy
from gateway.domain.clock import SystemClock
from gateway.domain.events import DeliveryState
from gateway.domain.model import Category, Issuer, ItemKind, Notification, Status
from gateway.domain.principal import Principal, PrincipalKind
from gateway.services.events import EventsService, Owner
from gateway.store.engine import create_engine_for, session_factory, url_with_schema
from gateway.store.migrate import upgrade
from gateway.store.unit_of_work import SqlUnitOfWork

pytestmark = pytest.mark.postgres

COMPANY = "B12345674"
FEW_CCC = "28000000011"
GATEWAY = Path(sys.executable).with_name("gateway")


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[tuple[str, SqlUnitOfWork]]:
    schema = f"ev_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine_for(postgres_url())
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = url_with_schema(postgres_url(), schema)
    engine = create_engine_for(url)
    upgrade(engine)
    try:
        yield url, session_factory(engine)  # type: ignore[misc]
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def postgres_url() -> str:
    return os.environ.get("GATEWAY_TEST_DATABASE_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def item(n: int, ccc: str | None) -> Notification:
    now = datetime.now(UTC)
    return Notification(id=None, kind=ItemKind.COMMUNICATION, issuer=Issuer.TGSS,
                        issuer_reference=f"EV-{n:06d}", procedure="P", subject="S",
                        recipient=COMPANY, ccc=ccc, category=Category.NORMAL,
                        made_available_at=now, deadline_at=None, status=Status.AVAILABLE,
                        status_at=now)


def environment(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_DATABASE_URL": url, "GATEWAY_DATA_DIR": str(data_dir),
                "GATEWAY_EVENTS_ALLOWED_CALLBACKS": "127.0.0.1",
                "GATEWAY_EVENTS_ALLOW_HTTP": "true", "GATEWAY_EVENTS_LEASE_SECONDS": "2",
                "GATEWAY_EVENTS_RETRY_BASE_SECONDS": "0.2", "GATEWAY_EVENTS_MAX_ATTEMPTS": "7",
                **extra})
    return env


def deliverer(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([str(GATEWAY), "events", "deliver", "--interval", "0.05",
                                 "--batch", "200"], env=env, stdout=out, stderr=out)


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_every_event_arrives_in_order_through_kills_outages_and_a_dead_receiver(
        pg, tmp_path: Path) -> None:
    url, sessions = pg
    service = EventsService(lambda: SqlUnitOfWork(sessions), SystemClock(),
                            CallbackPolicy.parse("127.0.0.1", allow_http=True), source="urn:t")
    company = Principal(PrincipalKind.ENTITY, COMPANY, "EMPRESA", "")
    good = Receiver().start()
    dead = Receiver(always_fail=True).start()
    try:
        good.secret = service.subscribe(Owner(company), good.url).secret
        dead_subscription = service.subscribe(Owner(company), dead.url, cccs=[FEW_CCC])
        dead.secret = dead_subscription.secret
        # 5,000 items, each published then read: 10,000 events; 20 items in the dead
        # receiver's CCC
        with SqlUnitOfWork(sessions) as uow:
            ids = uow.notifications.add_many(
                [(item(n, FEW_CCC if n < 20 else None), []) for n in range(5000)])
            now = datetime.now(UTC)
            uow.audit.append_many([AuditEntry("notification.published", "TGSS", str(i), {})
                                   for i in ids], now)
            uow.audit.append_many([AuditEntry("communication.read", COMPANY, str(i), {})
                                   for i in ids], now)
            uow.commit()
        good.fail_first = 300  # down for a while at the start

        env = environment(url, tmp_path)
        log = tmp_path / "deliver.log"
        rng = random.Random(17)
        # two delivery processes share the outbox (as on two hosts); one of them, at random,
        # is killed while they work and restarted
        processes = [deliverer(env, log), deliverer(env, log)]
        for _ in range(6):
            seen = good.hits
            wait_for(lambda: good.hits > seen + 700, 120, "the deliverers at work")  # noqa: B023
            time.sleep(rng.uniform(0, 0.3))
            victim = rng.randrange(2)
            processes[victim].send_signal(signal.SIGKILL)
            processes[victim].wait()
            processes[victim] = deliverer(env, log)
        try:
            wait_for(lambda: len(good.ids()) >= 10_000, 300, "every event at the good receiver")
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)

        received = list(good.received)
        assert good.failed > 0 and good.refused == 0
        assert {r.event_id for r in received} == {
            f"evt_{seq}_0" for seq in _published_and_read_seqs(sessions)}
        first: dict[str, int] = {}
        body_of: dict[str, bytes] = {}
        for index, r in enumerate(received):
            assert body_of.setdefault(r.event_id, r.body) == r.body, "a duplicate differs"
            first.setdefault(r.event_id, index)
        by_item: dict[object, list[tuple[int, str]]] = {}
        for r in received:
            by_item.setdefault(r.item, []).append((first[r.event_id], r.type))
        for item_id, arrivals in by_item.items():
            order = [kind.rsplit(".", 1)[-1] for _, kind in sorted(set(arrivals))]
            assert order == ["published", "read"], f"item {item_id}: {order}"
        duplicates = len(received) - len(first)
        print(f"10,000 events, two deliverers, {duplicates} duplicate deliveries after 6 kills")

        # the dead receiver's 40 deliveries ended dead-lettered; nothing else waited for them
        assert dead_subscription.id is not None
        wait_for(lambda: len(service.deliveries(dead_subscription.id,
                                                DeliveryState.DEAD)) == 40
                 or _run_round(env, tmp_path), 120, "the dead letters")
        assert dead.ids() == set() and dead.failed >= 40 * 7
        assert all(d.attempts == 7 and d.last_error == "HTTP 500"
                   for d in service.deliveries(dead_subscription.id))
    finally:
        good.stop()
        dead.stop()


def _run_round(env: dict[str, str], tmp_path: Path) -> bool:
    subprocess.run([str(GATEWAY), "events", "deliver", "--once"], env=env, check=True,
                   capture_output=True, timeout=60)
    return False


def _published_and_read_seqs(sessions) -> list[int]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.execute(text(
            "SELECT seq FROM audit_event WHERE event_type IN "
            "('notification.published', 'communication.read')")).scalars())


def test_redirects_are_not_followed_and_the_allow_list_is_checked_again(
        pg, tmp_path: Path) -> None:
    url, sessions = pg
    service = EventsService(lambda: SqlUnitOfWork(sessions), SystemClock(),
                            CallbackPolicy.parse("127.0.0.1", allow_http=True), source="urn:t")
    company = Principal(PrincipalKind.ENTITY, COMPANY, "EMPRESA", "")
    target = Receiver().start()
    redirecting = Receiver(redirect_to=target.url).start()
    try:
        redirected = service.subscribe(Owner(company), redirecting.url)
        with SqlUnitOfWork(sessions) as uow:
            [new_id] = uow.notifications.add_many([(item(1, None), [])])
            uow.audit.append("notification.published", "TGSS", str(new_id), {},
                             datetime.now(UTC))
            uow.commit()
        env = environment(url, tmp_path)
        done = subprocess.run([str(GATEWAY), "events", "deliver", "--once"], env=env,
                              check=True, capture_output=True, timeout=60)
        assert json.loads(done.stdout)["delivered"] == 0
        assert redirecting.hits == 1 and target.hits == 0
        assert redirected.id is not None
        [pending] = service.deliveries(redirected.id)
        assert pending.state is DeliveryState.PENDING
        assert pending.last_error == "HTTP 302: redirects are not followed"
        # the operator narrows the allow-list: the next attempt contacts nobody
        with sessions() as session:
            session.execute(text("UPDATE event_delivery SET next_attempt_at = now()"))
            session.commit()
        narrowed = replace_env(env, GATEWAY_EVENTS_ALLOWED_CALLBACKS="10.0.0.0/8")
        subprocess.run([str(GATEWAY), "events", "deliver", "--once"], env=narrowed,
                       check=True, capture_output=True, timeout=60)
        assert redirecting.hits == 1
        [refused] = service.deliveries(redirected.id)
        assert refused.last_error is not None and refused.last_error.startswith(
            "callback refused")
    finally:
        target.stop()
        redirecting.stop()


def replace_env(env: dict[str, str], **changes: str) -> dict[str, str]:
    return {**env, **changes}

