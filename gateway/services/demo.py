"""Deterministic demo data: notifications across several recipients, issuers, CCCs and categories.

Used by ``gateway demo`` so a fresh machine has something realistic to list, and by the tests.
Identifiers carry valid check characters; documents are small generated PDFs-to-be (plain bytes
labelled ``application/pdf`` is not honest, so they are labelled ``text/plain``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gateway.domain.identifiers import make_ccc, make_cif, make_dni
from gateway.domain.model import Category, Issuer, ItemKind

from .publishing import DocumentInput, PublicationRequest

PROCEDURES = {
    Issuer.TGSS: ("Reclamación de deuda", "Resolución de alta", "Providencia de apremio",
                  "Diligencia de embargo"),
    Issuer.INSS: ("Resolución de incapacidad temporal", "Prestación por nacimiento",
                  "Revisión de pensión"),
    Issuer.ISM: ("Resolución de embarque", "Reconocimiento médico marítimo"),
}


@dataclass(frozen=True, slots=True)
class DemoRecipient:
    identifier: str
    cccs: tuple[str, ...] = ()


def demo_recipients(companies: int = 6, persons: int = 4,
                    extra: Sequence[DemoRecipient] = ()) -> list[DemoRecipient]:
    """Companies (each with one to three CCCs) and persons with valid identifiers."""
    recipients = list(extra)
    for index in range(companies):
        cif = make_cif("B", 1_000_000 + index * 7919)
        cccs = tuple(make_ccc(28 + index % 3, 1_000_000 + index * 101 + n)
                     for n in range(1 + index % 3))
        recipients.append(DemoRecipient(cif, cccs))
    for index in range(persons):
        recipients.append(DemoRecipient(make_dni(10_000_000 + index * 104_729)))
    return recipients


PENDING_SHARE = 0.9
"""Share of the demo items made available in the last four days (pending: ten natural days to
act); the rest were made available 12 to 30 days ago, so a few are already overdue."""


def demo_batch(count: int, now: datetime, recipients: Sequence[DemoRecipient],
               seed: int = 2026) -> list[PublicationRequest]:
    """``count`` items, most made available in the last few days (pending), some overdue.

    Item ``i`` of a seed is the same whatever ``count`` (its reference is ``DEMO-<seed>-<i>``),
    so a larger ``count`` on a re-run only adds items."""
    rng = random.Random(seed)
    batch = []
    for index in range(count):
        recipient = rng.choice(recipients)
        issuer = rng.choice(list(Issuer))
        kind = ItemKind.COMMUNICATION if rng.random() < 0.15 else ItemKind.NOTIFICATION
        category = Category.SPECIAL if issuer is Issuer.INSS and rng.random() < 0.3 else Category.NORMAL
        procedure = rng.choice(PROCEDURES[issuer])
        if rng.random() < PENDING_SHARE:
            made_available_at = now - timedelta(seconds=rng.randint(60, 4 * 86_400))
        else:
            made_available_at = now - timedelta(seconds=rng.randint(12 * 86_400, 30 * 86_400))
        documents = [DocumentInput(
            f"{issuer.value}-{index:07d}.txt", "text/plain",
            f"{procedure}\nDocumento {index} para {recipient.identifier}\n".encode() * 8,
        )]
        for annex in range(rng.choice((0, 0, 0, 1, 2))):
            documents.append(DocumentInput(
                f"anexo-{annex + 1}.txt", "text/plain", f"Anexo {annex + 1} / {index}\n".encode()
            ))
        batch.append(PublicationRequest(
            issuer=issuer.value,
            issuer_reference=f"DEMO-{seed}-{index:07d}",
            kind=kind.value,
            procedure=procedure,
            subject=f"{procedure} — expediente {rng.randint(100000, 999999)}",
            recipient=recipient.identifier,
            ccc=rng.choice(recipient.cccs) if recipient.cccs else None,
            category=category.value,
            documents=tuple(documents),
            made_available_at=made_available_at,
        ))
    return batch


@dataclass(frozen=True, slots=True)
class DemoMandate:
    grantor: str
    scopes: tuple[str, ...]
    special_category: bool = False


@dataclass(frozen=True, slots=True)
class DemoRelations:
    """Who acts for whom in the demo: the RED agent receives the CCCs of several companies, the
    demo person holds mandates of others (some with content, one without)."""

    red_agent: str
    red_companies: tuple[DemoRecipient, ...]
    person: str
    mandates: tuple[DemoMandate, ...] = field(default=())


READ_SIGN = ("notifications.read", "notifications.sign")
READ_SIGN_CONTENT = (*READ_SIGN, "notifications.content")


def demo_relations(recipients: Sequence[DemoRecipient], red_agent: str,
                   person: str) -> DemoRelations:
    """The six generated companies (those with CCCs, not the PKI's own company): the first
    three go to the RED agent, the other three give the person mandates, the last of them
    without the content scope (the batch agent's ``--accept-without-content`` case)."""
    companies = [r for r in recipients if r.cccs and r.identifier not in (red_agent, person)]
    generated = companies[-6:]
    mandates = [DemoMandate(c.identifier, READ_SIGN_CONTENT, special_category=index == 1)
                for index, c in enumerate(generated[3:5])]
    mandates += [DemoMandate(c.identifier, READ_SIGN) for c in generated[5:]]
    return DemoRelations(red_agent, tuple(generated[:3]), person, tuple(mandates))
