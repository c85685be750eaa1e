"""CSV codes and registration numbers (domain.receipts): format, check character, parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.receipts import (
    CSV_ALPHABET,
    CSV_DATA_LENGTH,
    RegistrationNumber,
    csv_check_character,
    new_csv_code,
    parse_csv,
)
from gateway.errors import InvalidRequest

data_strings = st.text(alphabet=CSV_ALPHABET, min_size=CSV_DATA_LENGTH, max_size=CSV_DATA_LENGTH)


def test_a_new_code_is_five_groups_of_four_and_parses_to_itself():
    code = new_csv_code()
    groups = code.split("-")
    assert [len(g) for g in groups] == [4, 4, 4, 4, 4]
    assert set(code.replace("-", "")) <= set(CSV_ALPHABET)
    assert parse_csv(code) == code


def test_codes_do_not_repeat():
    assert len({new_csv_code() for _ in range(2000)}) == 2000


def test_the_alphabet_has_no_look_alikes_and_at_least_80_random_bits():
    assert not set("01IO") & set(CSV_ALPHABET)
    assert len(CSV_ALPHABET) == 32 and CSV_DATA_LENGTH * 5 >= 80


@given(data_strings, st.integers(0, CSV_DATA_LENGTH), st.sampled_from(CSV_ALPHABET))
def test_the_check_character_detects_every_single_substitution(data, position, replacement):
    code = data + csv_check_character(data)
    if code[position] == replacement:
        return
    altered = code[:position] + replacement + code[position + 1:]
    with pytest.raises(InvalidRequest) as caught:
        parse_csv(altered)
    assert caught.value.code == "MALFORMED_CSV"


@given(data_strings)
def test_case_spaces_and_hyphens_are_forgiven(data):
    code = data + csv_check_character(data)
    spaced = " ".join(code[i:i + 5] for i in range(0, 20, 5)).lower()
    assert parse_csv(spaced).replace("-", "") == code


@pytest.mark.parametrize("code", [
    "", "ABCD", "ABCD-EFGH-JKLM-NPQR-STU0", "ABCD-EFGH-JKLM-NPQR-STUVW", "ÄBCD-EFGH-JKLM-NPQR-STUV",
])
def test_malformed_codes_are_refused(code):
    with pytest.raises(InvalidRequest) as caught:
        parse_csv(code)
    assert caught.value.code == "MALFORMED_CSV"


@given(st.integers(1000, 9999), st.integers(1, 999_999_999))
def test_registration_numbers_round_trip(year, sequence):
    number = RegistrationNumber(year, sequence)
    text = str(number)
    assert len(text) == 14 and text[4] == "/"
    assert RegistrationNumber.parse(text) == number


@pytest.mark.parametrize("text", ["2026/12", "26/000000001", "2026-000000001", "2026/000000000"])
def test_malformed_registration_numbers_are_refused(text):
    with pytest.raises(InvalidRequest) as caught:
        RegistrationNumber.parse(text)
    assert caught.value.code == "MALFORMED_REGISTRATION_NUMBER"


def test_registration_numbers_order_by_year_then_sequence():
    assert RegistrationNumber(2026, 999) < RegistrationNumber(2027, 1)
