"""Operator limits read from the environment reach the services that enforce them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.bootstrap import build
from gateway.config import Settings
from gateway.errors import InvalidRequest
from gateway.services.notifications import CONTENTS_BUDGET_BYTES


def test_the_bulk_download_budget_defaults_to_what_the_contract_documents(tmp_path: Path) -> None:
    settings = Settings.from_env({"GATEWAY_DATA_DIR": str(tmp_path)})
    assert settings.max_contents_bytes == CONTENTS_BUDGET_BYTES == 4 * 1024 * 1024


def test_the_bulk_download_budget_is_a_setting_the_service_applies(tmp_path: Path) -> None:
    settings = Settings.from_env({"GATEWAY_DATA_DIR": str(tmp_path),
                                  "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}",
                                  "GATEWAY_MAX_CONTENTS_BYTES": "1048576",
                                  "GATEWAY_MAX_PAGE_SIZE": "250"})
    container = build(settings)
    try:
        queries = container.queries()
        assert (queries.contents_budget, queries.max_page_size) == (1048576, 250)
    finally:
        container.dispose()


@pytest.mark.parametrize("raw", ["0", "-5", "4MiB"])
def test_a_bad_budget_is_refused_naming_the_setting(tmp_path: Path, raw: str) -> None:
    with pytest.raises(InvalidRequest, match="GATEWAY_MAX_CONTENTS_BYTES"):
        Settings.from_env({"GATEWAY_DATA_DIR": str(tmp_path),
                           "GATEWAY_MAX_CONTENTS_BYTES": raw})


def test_dated_weak_algorithms_reach_the_signature_policy(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from gateway.bootstrap import signature_policy

    settings = Settings.from_env({"GATEWAY_DATA_DIR": str(tmp_path),
                                  "GATEWAY_WEAK_ALGORITHMS_UNTIL":
                                      "SHA1=2016-01-01T00:00:00Z, sha224=2020-06-30T12:00:00+02:00"})
    container = build(settings)
    try:
        policy = signature_policy(container.ws_policy(), settings)
    finally:
        container.dispose()
    assert policy.weak_algorithms_until == (
        ("sha1", datetime(2016, 1, 1, tzinfo=UTC)),
        ("sha224", datetime(2020, 6, 30, 10, tzinfo=UTC)),
    )
    assert policy.weak_algorithm_accepted("sha1", datetime(2015, 12, 31, tzinfo=UTC))
    assert not policy.weak_algorithm_accepted("sha1", datetime(2016, 1, 2, tzinfo=UTC))
    assert policy.weak_algorithm_accepted("sha1", None) is None
    assert policy.weak_algorithm_accepted("md5", datetime(2000, 1, 1, tzinfo=UTC)) is False


@pytest.mark.parametrize("raw", ["sha1", "sha1=yesterday", "sha1=2016-01-01", "=2016-01-01T00:00Z"])
def test_a_bad_algorithm_date_is_refused_naming_the_setting(tmp_path: Path, raw: str) -> None:
    with pytest.raises(InvalidRequest, match="GATEWAY_WEAK_ALGORITHMS_UNTIL"):
        Settings.from_env({"GATEWAY_DATA_DIR": str(tmp_path),
                           "GATEWAY_WEAK_ALGORITHMS_UNTIL": raw})


def test_document_bytes_per_hour_are_read_per_kind_and_refused_when_nonsense(
        tmp_path: Path) -> None:
    settings = Settings.from_env({"GATEWAY_DATA_DIR": str(tmp_path),
                                  "GATEWAY_CONTENT_BYTES_PER_HOUR": "1000000",
                                  "GATEWAY_CONTENT_BYTES_PER_HOUR_PERSON": "2000"})
    assert settings.content_bytes_per_hour == 1_000_000
    assert settings.content_bytes_per_kind == {"PERSON": 2000}
    assert "GATEWAY_CONTENT_BYTES_PER_HOUR_PERSON" not in settings.extra
    for name, raw in (("GATEWAY_CONTENT_BYTES_PER_HOUR", "0"),
                      ("GATEWAY_CONTENT_BYTES_PER_HOUR_ENTITY", "1e9")):
        with pytest.raises(InvalidRequest, match=name):
            Settings.from_env({"GATEWAY_DATA_DIR": str(tmp_path), name: raw})
