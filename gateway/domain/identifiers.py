"""Spanish identifiers: tax identification numbers (NIF/NIE/CIF) and contribution account codes.

Rules implemented (DESIGN.md §1, §5 step 5: certificates map to a person NIF/NIE or an entity CIF):

* **Persons** -- Real Decreto 1065/2007 (Reglamento General de gestión e inspección tributaria),
  arts. 18 ff.: the NIF of a Spanish national is the DNI number (8 digits) plus a check letter;
  a foreigner's NIF is the NIE, ``X``/``Y``/``Z`` + 7 digits + check letter; ``K`` (Spaniards under
  14 without DNI), ``L`` (Spaniards resident abroad without DNI) and ``M`` (foreigners without
  NIE) + 7 digits + check letter. The check letter is ``"TRWAGMYFPDXBNJZSQVHLCKE"[n % 23]`` where
  ``n`` is the 8-digit DNI number, the NIE number with ``X``->0, ``Y``->1, ``Z``->2 prefixed, or
  the 7 digits of a K/L/M NIF.
* **Entities** -- Orden EHA/451/2008 gives the first letter by legal form (A sociedad anónima,
  B S.L., C colectiva, D comanditaria, E comunidad de bienes, F cooperativa, G asociación,
  H propiedad horizontal, J sociedad civil, N entidad extranjera, P corporación local, Q organismo
  público, R congregación religiosa, S órgano de la Administración, U UTE, V otros, W
  establecimiento permanente de no residente). Then 7 digits and a control character computed
  Luhn-style on the 7 digits: add the digits in positions 2, 4, 6; for positions 1, 3, 5, 7 double
  the digit and add the digits of the product; ``d = (10 - sum % 10) % 10``. The control is the
  digit ``d`` or the letter ``"JABCDEFGHI"[d]``: a letter for P, Q, R, S, W, N and for any number
  whose first two digits are ``00`` (non-resident entities; this overrides the letter's rule), a
  digit for A, B, E, H, and either for the remaining letters (C, D, F, G, J, U, V).
* **CCC** (código cuenta de cotización, TGSS): 2-digit province + 7-digit number + 2 control
  digits, control = ``int(province + number) % 97`` zero-padded (e.g. ``28/1234567/42``).
  Accepted provinces: ``01``-``53`` -- the INE province codes 01-50, Ceuta 51, Melilla 52, and 53,
  which TGSS numbering also uses (kept as ``CCC_PROVINCES``).

Canonical forms are uppercase ASCII without separators. Input is refused, never "repaired", when it
is not a ``str``, is empty or longer than ``MAX_INPUT_LENGTH``, or holds anything but ASCII
letters, digits and the separators listed below (so Unicode look-alikes such as fullwidth digits
or a Cyrillic ``А`` never reach the checks). Messages name the field and say whether the format or
the check character is wrong; they never echo the value (it is personal data).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gateway.errors import InvalidRequest

MAX_INPUT_LENGTH = 32
"""Longest raw input looked at, separators included; checked before any other work."""

PERSON_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
ENTITY_CONTROL_LETTERS = "JABCDEFGHI"
NIE_PREFIXES = {"X": "0", "Y": "1", "Z": "2"}
SPECIAL_PERSON_PREFIXES = frozenset("KLM")
ENTITY_LETTERS = frozenset("ABCDEFGHJNPQRSUVW")
ENTITY_LETTER_CONTROL = frozenset("PQRSWN")
ENTITY_DIGIT_CONTROL = frozenset("ABEH")
CCC_PROVINCES = range(1, 54)

_DIGITS = frozenset("0123456789")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TAX_ID_SEPARATORS = frozenset(" .-")
_CCC_SEPARATORS = frozenset(" ./-")
_CODE = "INVALID_IDENTIFIER"


class TaxIdKind(str, Enum):
    DNI = "DNI"
    NIE = "NIE"
    NIF_SPECIAL = "NIF_SPECIAL"  # K, L, M
    CIF = "CIF"


@dataclass(frozen=True, slots=True)
class TaxId:
    """A validated tax identifier in canonical form."""

    value: str
    kind: TaxIdKind

    @property
    def is_person(self) -> bool:
        return self.kind is not TaxIdKind.CIF

    @property
    def is_entity(self) -> bool:
        return self.kind is TaxIdKind.CIF


def _invalid(field: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {problem}", code=_CODE, field=field)


def _clean(raw: object, field: str, separators: frozenset[str], what: str) -> str:
    """Bounded, ASCII-only clean-up: drop separators, uppercase; refuse anything else."""
    if not isinstance(raw, str):
        raise _invalid(field, f"{what} must be text")
    if len(raw) > MAX_INPUT_LENGTH:
        raise _invalid(field, f"{what} is too long (at most {MAX_INPUT_LENGTH} characters)")
    # isascii() before upper(): 'ſ'.upper() == 'S' and 'ı'.upper() == 'I' would smuggle
    # look-alikes in, and str.isdigit() accepts digits of other scripts.
    if not raw.isascii():
        raise _invalid(field, f"{what} may only contain ASCII letters and digits")
    cleaned = "".join(c for c in raw.strip() if c not in separators).upper()
    if not cleaned:
        raise _invalid(field, f"{what} is empty")
    if any(c not in _DIGITS and c not in _UPPER for c in cleaned):
        raise _invalid(field, f"{what} may only contain letters, digits and separators")
    return cleaned


def _all_digits(text: str) -> bool:
    return bool(text) and all(c in _DIGITS for c in text)


def person_check_letter(number: int) -> str:
    """The mod-23 check letter of a DNI number, a NIE's expanded number or K/L/M digits."""
    return PERSON_LETTERS[number % 23]


def entity_control_digit(digits: str) -> int:
    """Luhn-style control ``d`` of the 7 digits of an entity NIF."""
    total = 0
    for position, char in enumerate(digits, start=1):
        value = ord(char) - ord("0")
        if position % 2:  # positions 1, 3, 5, 7 are doubled
            value *= 2
            value = value // 10 + value % 10
        total += value
    return (10 - total % 10) % 10


def _entity_controls(letter: str, digits: str) -> tuple[str, ...]:
    """The control characters allowed for this entity letter and digits, canonical first."""
    d = entity_control_digit(digits)
    as_digit, as_letter = str(d), ENTITY_CONTROL_LETTERS[d]
    if letter in ENTITY_LETTER_CONTROL or digits.startswith("00"):
        return (as_letter,)
    if letter in ENTITY_DIGIT_CONTROL:
        return (as_digit,)
    return (as_digit, as_letter)


def _parse_dni(value: str, field: str) -> TaxId:
    number, letter = value[:-1], value[-1]
    if not (_all_digits(number) and len(number) <= 8 and letter in _UPPER):
        raise _invalid(field, "malformed DNI: expected up to 8 digits and a check letter")
    if letter != person_check_letter(int(number)):
        raise _invalid(field, "wrong check letter for a DNI")
    return TaxId(number.zfill(8) + letter, TaxIdKind.DNI)


def _parse_nie(value: str, field: str) -> TaxId:
    digits, letter = value[1:-1], value[-1]
    if not (len(value) == 9 and _all_digits(digits) and letter in _UPPER):
        raise _invalid(field, "malformed NIE: expected X, Y or Z, 7 digits and a check letter")
    if letter != person_check_letter(int(NIE_PREFIXES[value[0]] + digits)):
        raise _invalid(field, "wrong check letter for a NIE")
    return TaxId(value, TaxIdKind.NIE)


def _parse_special(value: str, field: str) -> TaxId:
    digits, letter = value[1:-1], value[-1]
    if not (len(value) == 9 and _all_digits(digits) and letter in _UPPER):
        raise _invalid(field, "malformed NIF: expected K, L or M, 7 digits and a check letter")
    if letter != person_check_letter(int(digits)):
        raise _invalid(field, "wrong check letter for a K, L or M NIF")
    return TaxId(value, TaxIdKind.NIF_SPECIAL)


def _parse_cif(value: str, field: str) -> TaxId:
    letter, digits, control = value[0], value[1:-1], value[-1]
    if not (len(value) == 9 and _all_digits(digits)):
        raise _invalid(
            field, "malformed entity NIF: expected a letter, 7 digits and a control character"
        )
    if control not in _entity_controls(letter, digits):
        raise _invalid(field, "wrong control character for an entity NIF")
    return TaxId(value, TaxIdKind.CIF)


def parse_tax_id(raw: str, field: str = "nif") -> TaxId:
    """Validate any NIF (DNI, NIE, K/L/M, entity) and return it in canonical form."""
    value = _clean(raw, field, _TAX_ID_SEPARATORS, "a NIF")
    first = value[0]
    if first in _DIGITS:
        return _parse_dni(value, field)
    if first in NIE_PREFIXES:
        return _parse_nie(value, field)
    if first in SPECIAL_PERSON_PREFIXES:
        return _parse_special(value, field)
    if first in ENTITY_LETTERS:
        return _parse_cif(value, field)
    raise _invalid(
        field, "malformed NIF: it must start with a digit or one of XYZKLMABCDEFGHJNPQRSUVW"
    )


def normalise_tax_id(raw: str, field: str = "nif") -> str:
    """The canonical form of any valid NIF/NIE/CIF."""
    return parse_tax_id(raw, field).value


def normalise_person_id(raw: str, field: str = "nif") -> str:
    """The canonical NIF of a natural person (DNI, NIE or K/L/M); an entity NIF is refused."""
    tax_id = parse_tax_id(raw, field)
    if not tax_id.is_person:
        raise _invalid(field, "a natural person's NIF or NIE is required, not an entity NIF")
    return tax_id.value


def normalise_entity_id(raw: str, field: str = "nif") -> str:
    """The canonical NIF of an entity (CIF); a person's NIF/NIE is refused."""
    tax_id = parse_tax_id(raw, field)
    if not tax_id.is_entity:
        raise _invalid(field, "an entity NIF (CIF) is required, not a natural person's NIF")
    return tax_id.value


def ccc_control(province: int, number: int) -> str:
    """The two TGSS control digits of a contribution account code."""
    return f"{(province * 10_000_000 + number) % 97:02d}"


def normalise_ccc(raw: str, field: str = "ccc") -> str:
    """Validate a CCC (separators `` ./-`` allowed) and return its 11 digits."""
    value = _clean(raw, field, _CCC_SEPARATORS, "a CCC")
    if len(value) != 11 or not _all_digits(value):
        raise _invalid(
            field, "malformed CCC: expected 11 digits, province (2), number (7), control (2)"
        )
    province, number = int(value[:2]), int(value[2:9])
    if province not in CCC_PROVINCES:
        raise _invalid(field, "the CCC province must be between 01 and 53")
    if value[9:] != ccc_control(province, number):
        raise _invalid(field, "wrong control digits for a CCC")
    return value


# Builders for demo data and tests. They take trusted arguments and raise ValueError on misuse.


def _check_range(name: str, value: int, upper: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < upper:
        raise ValueError(f"{name} must be an integer in [0, {upper})")


def make_dni(number: int) -> str:
    """The canonical DNI-based NIF for ``number`` (0 .. 99 999 999)."""
    _check_range("number", number, 10**8)
    return f"{number:08d}{person_check_letter(number)}"


def make_nie(prefix: str, number: int) -> str:
    """The canonical NIE for ``prefix`` (X, Y or Z) and ``number`` (0 .. 9 999 999)."""
    if prefix not in NIE_PREFIXES:
        raise ValueError("prefix must be X, Y or Z")
    _check_range("number", number, 10**7)
    digits = f"{number:07d}"
    return f"{prefix}{digits}{person_check_letter(int(NIE_PREFIXES[prefix] + digits))}"


def make_special_nif(prefix: str, number: int) -> str:
    """The canonical K/L/M NIF for ``prefix`` and ``number`` (0 .. 9 999 999)."""
    if prefix not in SPECIAL_PERSON_PREFIXES:
        raise ValueError("prefix must be K, L or M")
    _check_range("number", number, 10**7)
    return f"{prefix}{number:07d}{person_check_letter(number)}"


def make_cif(org_letter: str, number: int) -> str:
    """The canonical entity NIF for ``org_letter`` and ``number`` (0 .. 9 999 999).

    Uses the letter control where one is required, the digit otherwise.
    """
    if org_letter not in ENTITY_LETTERS:
        raise ValueError(f"org_letter must be one of {''.join(sorted(ENTITY_LETTERS))}")
    _check_range("number", number, 10**7)
    digits = f"{number:07d}"
    return f"{org_letter}{digits}{_entity_controls(org_letter, digits)[0]}"


def make_ccc(province: int, number: int) -> str:
    """The canonical 11-digit CCC for ``province`` (1 .. 53) and ``number`` (0 .. 9 999 999)."""
    if isinstance(province, bool) or not isinstance(province, int) or province not in CCC_PROVINCES:
        raise ValueError("province must be an integer in [1, 53]")
    _check_range("number", number, 10**7)
    return f"{province:02d}{number:07d}{ccc_control(province, number)}"
