"""Document bytes per hour per principal (issue 14), against a real ``gateway serve``.

The company is given 100 document bytes an hour with ``gateway limits set --bytes-per-hour``
(the seeded documents are about 40 bytes each). Its downloads -- WSCN's acceptance that returns
the document, GetContent, GetContents, WSCN verNotificacionAceptada -- are served until the
allowance is spent, then refused RATE_LIMITED with HTTP 429 and a ``Retry-After`` computed from
its byte bucket, before the document is read: a communication refused stays unread. Another
principal (the person, default allowance) is served meanwhile.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
import zeep
from lxml import etree

from gateway import namespaces as ns
from gateway.domain.clock import SystemClock
from gateway.signatures import sign_xades_enveloped

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

REPOSITORY = Path(__file__).resolve().parents[3]
ALLOWANCE = 100


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, launch_gateway: Any,
            default_seed: Any) -> Iterator[RunningGateway]:
    with launch_gateway(tmp_path_factory.mktemp("byte-limit"), default_seed) as gateway:
        yield gateway


def _cli(gateway: RunningGateway, *argv: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environment.update({"GATEWAY_DATABASE_URL": gateway.database_url,
                        "GATEWAY_DATA_DIR": str(gateway.log_path.parent),
                        "PYTHONPATH": str(REPOSITORY)})
    return subprocess.run([sys.executable, "-m", "gateway.cli", *argv], env=environment,
                          capture_output=True, text=True, timeout=120, check=False)


def _xades(gateway: RunningGateway, document: bytes, name: str) -> bytes:
    credential = gateway.pki.client(name)
    return sign_xades_enveloped(document, credential.private_key(), credential.certificate(),
                                clock=SystemClock())


def _accept_over_wscn(gateway: RunningGateway, notification_id: int, name: str) -> Any:
    client = zeep.Client(f"{gateway.base_url}/WSCN?wsdl", wsse=gateway.signer(name))
    acuse = client.service.solicitarAcuseNotificacion(1, None, notification_id, True)
    assert acuse.error is None, acuse.error
    return client.service.enviarAcuseNotificacion(1, None, _xades(gateway, acuse.XML, name))


def _status(gateway: RunningGateway, notification_id: int) -> str:
    return str(gateway.client("company").service.GetNotification(id=notification_id).status)


def test_downloads_stop_at_the_allowance_with_retry_after_from_the_bucket(
        limited: RunningGateway) -> None:
    company = limited.pki.company_cif
    # Before the first download: each worker reads the overrides when it first charges bytes.
    assert _cli(limited, "limits", "set", company, "--bytes-per-hour",
                str(ALLOWANCE)).returncode == 0
    listed = json.loads(_cli(limited, "limits", "list").stdout)
    assert listed["content_bytes_per_hour"]["overrides"] == {company: ALLOWANCE}

    own = limited.seed.of(company)
    notification = next(i for i in own if i.kind == "NOTIFICATION" and i.category == "NORMAL"
                        and i.ccc is None)
    first, second, third = [i for i in own if i.kind == "COMMUNICATION"][:3]
    spent = len(notification.content) + len(first.content)
    assert spent <= ALLOWANCE < spent + len(second.content)

    accepted = _accept_over_wscn(limited, notification.id, "company")  # returns the document
    assert accepted.error is None and accepted.pdfNotificacion == notification.content
    content = limited.client("company").service.GetContent(id=first.id)
    assert content.data == first.content

    before = limited.snapshot()
    request = etree.tostring(limited.signed("GetContent", id=second.id))
    refused = limited.post(request, soap_action="GetContent")
    limited.assert_fault(refused, faultcode="soap11env:Client.RateLimited", code="RATE_LIMITED",
                         status=429)
    shortfall = len(second.content) - (ALLOWANCE - spent)
    retry_after = int(refused.headers["Retry-After"])
    # the bucket refills 100 bytes an hour: the shortfall takes shortfall * 36 s (a little
    # less by now: time passed since the last download)
    assert math.ceil(shortfall * 3600 / ALLOWANCE) - 60 <= retry_after \
        <= math.ceil(shortfall * 3600 / ALLOWANCE)
    assert _status(limited, second.id) == "AVAILABLE"  # refused before it was read
    bulk = limited.post(etree.tostring(limited.signed("GetContents", id=[second.id, third.id])),
                        soap_action="GetContents")
    limited.assert_fault(bulk, faultcode="soap11env:Client.RateLimited", code="RATE_LIMITED",
                         status=429)
    assert int(bulk.headers["Retry-After"]) > 0
    assert _status(limited, third.id) == "AVAILABLE"
    events = limited.audit_event_types(before)
    assert "content.released" not in events and "communication.read" not in events

    wscn = zeep.Client(f"{limited.base_url}/WSCN?wsdl", wsse=limited.signer("company"))
    with wscn.settings(raw_response=True):
        again = wscn.service.verNotificacionAceptada(1, None, notification.id)
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
    detail = etree.fromstring(again.content).find(f".//{{{ns.WSCN}}}WSCNExcepcionSistema")
    assert detail is not None and "RATE_LIMITED" in (detail.findtext("mensaje") or "")

    # An acceptance is answered with its document even now (the act is done; the bytes are
    # counted, and put off what comes next).
    other = next(i for i in own if i.kind == "NOTIFICATION" and i.category == "NORMAL"
                 and i.ccc is None and i.id != notification.id)
    late = _accept_over_wscn(limited, other.id, "company")
    assert late.error is None and late.pdfNotificacion == other.content
    assert _status(limited, other.id) == "ACCEPTED"
    with wscn.settings(raw_response=True):
        assert wscn.service.verNotificacionAceptada(1, None, other.id).status_code == 429
    later = limited.post(etree.tostring(limited.signed("GetContent", id=second.id)),
                         soap_action="GetContent")  # signed afresh: a refusal spent the nonce
    assert later.status_code == 429 and int(later.headers["Retry-After"]) > retry_after

    metrics = requests.get(limited.base_url + "/metrics", timeout=10).text
    counted = [line for line in metrics.splitlines()
               if line.startswith('gateway_rate_limited_total{scope="bytes"}')]
    assert counted and float(counted[0].split()[-1]) >= 4  # summed over the workers

    # Another principal is not held back by the company's allowance.
    person_item = limited.seed.of(limited.pki.person_nif)[0]
    served = _accept_over_wscn(limited, person_item.id, "person")
    assert served.error is None and served.pdfNotificacion == person_item.content
