"""Deterministic demo data: notifications across several recipients, issuers, CCCs and categories.

Used by ``gateway demo`` so a fresh machine has something realistic to list, and by the tests.
Identifiers carry valid check characters; documents are small generated PDFs-to-be (plain bytes
labelled ``application/pdf`` is not honest, so they are labelled ``text/plain``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
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


def demo_batch(count: int, now: datetime, recipients: Sequence[DemoRecipient],
               seed: int = 2026) -> list[PublicationRequest]:
    """``count`` items made available over the last 30 days, so some are already overdue."""
    rng = random.Random(seed)
    batch = []
    for index in range(count):
        recipient = rng.choice(recipients)
        issuer = rng.choice(list(Issuer))
        kind = ItemKind.COMMUNICATION if rng.random() < 0.15 else ItemKind.NOTIFICATION
        category = Category.SPECIAL if issuer is Issuer.INSS and rng.random() < 0.3 else Category.NORMAL
        procedure = rng.choice(PROCEDURES[issuer])
        made_available_at = now - timedelta(seconds=rng.randint(60, 30 * 86_400))
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
