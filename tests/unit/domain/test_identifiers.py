"""Accept/reject tables and properties for gateway.domain.identifiers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.identifiers import (
    ENTITY_LETTERS,
    MAX_INPUT_LENGTH,
    PERSON_LETTERS,
    TaxId,
    TaxIdKind,
    make_ccc,
    make_cif,
    make_dni,
    make_nie,
    make_special_nif,
    normalise_ccc,
    normalise_entity_id,
    normalise_person_id,
    normalise_tax_id,
    parse_tax_id,
)
from gateway.errors import InvalidRequest

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# --- accept table: raw input -> (canonical value, kind) ------------------------------------------

ACCEPTED = [
    # DNI: 12345678 % 23 = 14 -> "Z"; 0 % 23 = 0 -> "T"
    ("12345678Z", "12345678Z", TaxIdKind.DNI),
    ("00000000T", "00000000T", TaxIdKind.DNI),
    ("12345678z", "12345678Z", TaxIdKind.DNI),
    (" 12.345.678-Z ", "12345678Z", TaxIdKind.DNI),
    ("1R", "00000001R", TaxIdKind.DNI),  # short DNI numbers are left-padded: 1 % 23 -> "R"
    ("1234567L", "01234567L", TaxIdKind.DNI),  # 1234567 % 23 = 19 -> "L"
    ("99999999R", "99999999R", TaxIdKind.DNI),  # 99999999 % 23 = 1 -> "R"
    # NIE: X->0, Y->1, Z->2 prefixed. 01234567 % 23 = 19 "L"; 11234567 % 23 = 10 "X";
    # 21234567 % 23 = 1 "R"
    ("X1234567L", "X1234567L", TaxIdKind.NIE),
    ("x-1234567-l", "X1234567L", TaxIdKind.NIE),
    ("Y1234567X", "Y1234567X", TaxIdKind.NIE),
    ("Z1234567R", "Z1234567R", TaxIdKind.NIE),
    # K/L/M: mod 23 on the 7 digits, 1234567 % 23 = 19 -> "L"
    ("K1234567L", "K1234567L", TaxIdKind.NIF_SPECIAL),
    ("l1234567l", "L1234567L", TaxIdKind.NIF_SPECIAL),
    ("M1234567L", "M1234567L", TaxIdKind.NIF_SPECIAL),
    # Entity NIFs published in the Spanish mercantile and public-sector registries.
    # A28015865 (Telefónica, S.A.): 2801586 -> odd positions 2,0,5,6 doubled -> 4+0+1+3 = 8,
    # even positions 8+1+8 = 17, sum 25, d = 5 (A: digit control)
    ("A28015865", "A28015865", TaxIdKind.CIF),
    # Q2826000H (Agencia Estatal de Administración Tributaria): 2826000 -> 4+4+0+0 = 8,
    # 8+6+0 = 14, sum 22, d = 8 -> "JABCDEFGHI"[8] = "H" (Q: letter control)
    ("Q2826000H", "Q2826000H", TaxIdKind.CIF),
    ("q-2826000-h", "Q2826000H", TaxIdKind.CIF),
    # Hand-computed (any entity with these digits would carry this control):
    # J9921658: odd positions 9,2,6,8 doubled -> 9+4+3+7 = 23; even 9+1+5 = 15; sum 38,
    # d = 2; J accepts either "2" or "JABCDEFGHI"[2] = "B".
    ("J99216582", "J99216582", TaxIdKind.CIF),
    ("J9921658B", "J9921658B", TaxIdKind.CIF),
    # P1234567: 1234567 -> 2+6+1+5 = 14; 2+4+6 = 12; sum 26, d = 4 -> "D"
    ("P1234567D", "P1234567D", TaxIdKind.CIF),
    # A0012345: leading "00" forces the letter even for A: 0+2+6+1 = 9; 0+2+4 = 6; sum 15,
    # d = 5 -> "E"
    ("A0012345E", "A0012345E", TaxIdKind.CIF),
    # B0000000: sum 0, d = 0 -> "J" (leading "00": letter)
    ("B0000000J", "B0000000J", TaxIdKind.CIF),
]

FORMAT_ERRORS = [
    "",
    "   ",
    "-.-",
    "123456789Z",  # 9 digits
    "123456789",  # no letter
    "Z",
    "X123456L",  # NIE with 6 digits
    "X12345678L",  # NIE with 8 digits
    "X12345671",  # NIE with digit control
    "K123456L",
    "A2801586",  # entity without control
    "A280158655",  # too long
    "A28O15865",  # letter O instead of zero
    "I12345678",  # I is no NIF letter
    "O1234567L",
    "T1234567L",
    "12345678Z/",  # slash is only a CCC separator
    "12345678_Z",
    "1234\u00a05678Z",  # no-break space
    "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18Z",  # fullwidth digits
    "12345678\u0396",  # Greek capital Zeta
    "\u0410\u0030\u0031\u0032\u0033\u0034\u0035\u0036\u0037",  # Cyrillic A
    "\u017f1234567l",  # long s uppercases to "S"
    "1" * (MAX_INPUT_LENGTH + 1),
    " " * (MAX_INPUT_LENGTH + 1) + "12345678Z",
]

CHECK_ERRORS = [
    "12345678A",
    "00000000R",
    "X1234567T",
    "Y1234567L",
    "Z1234567L",
    "K1234567T",
    "A28015866",
    "A2801586F",  # A takes the digit control only
    "Q28260008",  # Q takes the letter control only
    "Q2826000I",
    "A00123455",  # leading "00" takes the letter control only
    "J99216581",
    "J9921658A",
]


@pytest.mark.parametrize(("raw", "canonical", "kind"), ACCEPTED)
def test_accepts_valid_tax_ids(raw: str, canonical: str, kind: TaxIdKind) -> None:
    assert parse_tax_id(raw) == TaxId(canonical, kind)
    assert normalise_tax_id(raw) == canonical


@pytest.mark.parametrize("raw", FORMAT_ERRORS)
def test_refuses_malformed_tax_ids(raw: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_tax_id(raw, field="recipient")
    assert caught.value.code == "INVALID_IDENTIFIER"
    assert caught.value.field == "recipient"
    assert caught.value.message.startswith("recipient: ")
    assert not caught.value.message.startswith("recipient: wrong")  # format, not check, error


@pytest.mark.parametrize("raw", CHECK_ERRORS)
def test_refuses_wrong_check_characters(raw: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_tax_id(raw, field="signer")
    assert caught.value.code == "INVALID_IDENTIFIER"
    assert caught.value.field == "signer"
    assert caught.value.message.startswith("signer: wrong ")


@pytest.mark.parametrize("raw", [None, 12345678, b"12345678Z", ["12345678Z"]])
def test_refuses_non_text(raw: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_tax_id(raw)  # type: ignore[arg-type]
    assert caught.value.field == "nif"


def test_error_does_not_echo_the_value() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_tax_id("12345678A")
    assert "12345678" not in caught.value.message


def test_kind_properties() -> None:
    assert parse_tax_id("12345678Z").is_person
    assert parse_tax_id("X1234567L").is_person
    assert parse_tax_id("K1234567L").is_person
    cif = parse_tax_id("A28015865")
    assert cif.is_entity and not cif.is_person
    assert not parse_tax_id("12345678Z").is_entity


def test_person_and_entity_normalisers() -> None:
    assert normalise_person_id("x1234567l", "agent") == "X1234567L"
    assert normalise_entity_id("a-28015865", "company") == "A28015865"
    with pytest.raises(InvalidRequest) as caught:
        normalise_person_id("A28015865", "agent")
    assert caught.value.field == "agent" and "entity" in caught.value.message
    with pytest.raises(InvalidRequest) as caught:
        normalise_entity_id("12345678Z", "company")
    assert caught.value.field == "company" and "entity" in caught.value.message


# --- CCC ------------------------------------------------------------------------------------------

CCC_ACCEPTED = [
    # 281234567 % 97 = 42
    ("28123456742", "28123456742"),
    ("28/1234567/42", "28123456742"),
    ("28 1234567 42", "28123456742"),
    ("28-1234567-42", "28123456742"),
    # 010000000 % 97 = 76 (97 * 103092 = 9999924)
    ("01000000076", "01000000076"),
    # 539999999 % 97 = 29
    ("53/9999999/29", "53999999929"),
]

CCC_REFUSED = [
    "",
    "2812345674",  # 10 digits (old format, not accepted)
    "281234567420",
    "28123456743",  # wrong control
    "28 1234567 85",
    "00123456748",  # province 00: the control (1234567 % 97 = 48) fits, the province does not
    "54000000030",  # province 54: 540000000 % 97 = 30 fits, out of range
    "99123456712",
    "28A23456742",
    "28_1234567_42",
    "2812345674\uff12",
    "2" * (MAX_INPUT_LENGTH + 1),
]


def test_ccc_hand_computed_controls() -> None:
    assert 281234567 % 97 == 42
    assert 539999999 % 97 == 29
    assert 540000000 % 97 == 30
    assert make_ccc(28, 1234567) == "28123456742"
    assert make_ccc(1, 0) == "01000000076"


@pytest.mark.parametrize(("raw", "canonical"), CCC_ACCEPTED)
def test_accepts_valid_ccc(raw: str, canonical: str) -> None:
    assert normalise_ccc(raw) == canonical


@pytest.mark.parametrize("raw", CCC_REFUSED)
def test_refuses_invalid_ccc(raw: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        normalise_ccc(raw, field="account")
    assert caught.value.code == "INVALID_IDENTIFIER"
    assert caught.value.field == "account"
    assert caught.value.message.startswith("account: ")


def test_ccc_province_message() -> None:
    with pytest.raises(InvalidRequest, match="province"):
        normalise_ccc("54000000030")


# --- builders ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (make_dni, (-1,)),
        (make_dni, (10**8,)),
        (make_nie, ("K", 1)),
        (make_nie, ("X", 10**7)),
        (make_special_nif, ("X", 1)),
        (make_cif, ("K", 1)),
        (make_cif, ("A", -1)),
        (make_ccc, (0, 1)),
        (make_ccc, (54, 1)),
        (make_ccc, (28, 10**7)),
    ],
)
def test_builders_refuse_bad_arguments(call: object, args: tuple[object, ...]) -> None:
    with pytest.raises(ValueError):
        call(*args)  # type: ignore[operator]


def test_make_cif_picks_canonical_control() -> None:
    assert make_cif("A", 2801586) == "A28015865"
    assert make_cif("Q", 2826000) == "Q2826000H"
    assert make_cif("J", 9921658) == "J99216582"  # digit where either is allowed
    assert make_cif("A", 12345) == "A0012345E"


# --- properties ----------------------------------------------------------------------------------

dni_numbers = st.integers(0, 10**8 - 1)
seven_digits = st.integers(0, 10**7 - 1)
nie_prefixes = st.sampled_from("XYZ")
special_prefixes = st.sampled_from("KLM")
entity_letters = st.sampled_from(sorted(ENTITY_LETTERS))
provinces = st.integers(1, 53)

valid_tax_ids = st.one_of(
    st.builds(make_dni, dni_numbers),
    st.builds(make_nie, nie_prefixes, seven_digits),
    st.builds(make_special_nif, special_prefixes, seven_digits),
    st.builds(make_cif, entity_letters, seven_digits),
)


def _decorate(value: str, lower: bool, separator: str) -> str:
    """What a person might type: lower case, separators between characters, padding."""
    text = value.lower() if lower else value
    return "  " + separator.join(text) + " " if len(text) * 2 < MAX_INPUT_LENGTH - 3 else text


@given(valid_tax_ids, st.booleans(), st.sampled_from(["", " ", ".", "-"]))
def test_built_tax_ids_validate_and_round_trip(value: str, lower: bool, separator: str) -> None:
    assert normalise_tax_id(value) == value
    assert normalise_tax_id(_decorate(value, lower, separator)) == value
    assert normalise_tax_id(normalise_tax_id(value)) == value


@given(dni_numbers)
def test_short_dni_numbers_pad(number: int) -> None:
    canonical = make_dni(number)
    assert normalise_person_id(str(number) + canonical[-1]) == canonical


@given(provinces, seven_digits, st.sampled_from(["", " ", "/", "-"]))
def test_built_ccc_validate_and_round_trip(province: int, number: int, separator: str) -> None:
    value = make_ccc(province, number)
    typed = separator.join((value[:2], value[2:9], value[9:]))
    assert normalise_ccc(typed) == value


def _alternate_controls(value: str) -> set[str]:
    """Control characters equivalent to the canonical one (entity letters that allow either)."""
    if value[0] in ENTITY_LETTERS:
        return {c for c in ALNUM if normalise_or_none(value[:-1] + c) is not None}
    return {value[-1]}


def normalise_or_none(raw: str) -> str | None:
    try:
        return normalise_tax_id(raw)
    except InvalidRequest:
        return None


@given(valid_tax_ids, st.sampled_from(ALNUM))
def test_changing_the_check_character_invalidates(value: str, replacement: str) -> None:
    accepted = _alternate_controls(value)
    # At most the digit/letter pair of the same control value is ever accepted.
    assert value[-1] in accepted and len(accepted) <= 2
    if len(accepted) == 2:
        digit, letter = sorted(accepted)
        assert "JABCDEFGHI"[int(digit)] == letter
    if replacement in accepted:
        return
    with pytest.raises(InvalidRequest) as caught:
        normalise_tax_id(value[:-1] + replacement)
    assert caught.value.code == "INVALID_IDENTIFIER"


@given(st.sampled_from(PERSON_LETTERS), dni_numbers)
def test_only_one_letter_fits_a_dni(letter: str, number: int) -> None:
    raw = f"{number:08d}{letter}"
    assert (normalise_or_none(raw) is not None) == (raw == make_dni(number))


@given(provinces, seven_digits, st.integers(0, 99))
def test_changing_ccc_control_invalidates(province: int, number: int, control: int) -> None:
    value = make_ccc(province, number)
    altered = value[:9] + f"{control:02d}"
    if altered == value:
        return
    with pytest.raises(InvalidRequest):
        normalise_ccc(altered)


@given(st.text(max_size=64))
def test_arbitrary_text_only_raises_invalid_request(raw: str) -> None:
    for parse in (normalise_tax_id, normalise_person_id, normalise_entity_id, normalise_ccc):
        try:
            parse(raw)
        except InvalidRequest as exc:
            assert exc.code == "INVALID_IDENTIFIER"


@given(st.text(alphabet=ALNUM + ALNUM.lower() + " .-/", max_size=20))
def test_identifier_shaped_text_only_raises_invalid_request(raw: str) -> None:
    for parse in (normalise_tax_id, normalise_ccc):
        try:
            result = parse(raw)
        except InvalidRequest as exc:
            assert exc.code == "INVALID_IDENTIFIER"
        else:
            assert result == parse(result)  # whatever is accepted is canonical and stable
