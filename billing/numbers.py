"""Phone numbers for rating: E.164 digits via phonenumbers, plus country and line type (rating.md §1)."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType

_TYPES = {
    PhoneNumberType.FIXED_LINE: "fixed",
    PhoneNumberType.MOBILE: "mobile",
    # NANP numbers are often both; we bill them as fixed [A] (carrier decks rarely split them).
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.UNKNOWN: "unknown",
}
_SIP_USER = re.compile(r"^(?:sips?|tel):([^@;]+).*$", re.IGNORECASE)


@lru_cache(maxsize=200_000)
def e164_digits(raw: str, region: str = "US") -> str:
    """E.164 digits without '+', or '' when the value is not a dialable number.

    ``region`` is the platform account's country, used for national formats; '00'/'011' and
    trunk prefixes are dropped by phonenumbers. A bare extension or 'anonymous' gives ''.
    """
    text = (raw or "").strip()
    match = _SIP_USER.match(text)
    if match:
        text = match.group(1)
    if not re.search(r"\d", text):
        return ""
    try:
        number = phonenumbers.parse(text, (region or "US").upper())
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


@lru_cache(maxsize=200_000)
def classify(digits: str) -> tuple[str, str]:
    """(ISO country, 'fixed'/'mobile'/'toll_free'/'other'/'unknown') of E.164 digits."""
    if not digits:
        return "", "unknown"
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return "", "unknown"
    # An unallocated range still tells the country by its calling code (+44 7700 900xxx → GB).
    country = phonenumbers.region_code_for_number(number) or phonenumbers.region_code_for_country_code(
        number.country_code)
    if country in ("001", "ZZ"):  # non-geographic entity / unknown code
        country = ""
    kind = _TYPES.get(phonenumbers.number_type(number), "other")
    return country, kind


# Country and line type follow from the calling code and the first national digits in practice
# (NANP area codes, mobile ranges such as UK 7x, DE 15x-17x, FR 6/7), and a full phonenumbers parse
# costs ~150 µs, so bulk rating classifies one number per (calling code + 3 digits) and reuses the
# answer for the others [A]: an approximation for dashboards only; it never changes a price.
NATIONAL_DIGITS = 3
_BY_PREFIX: dict[str, tuple[str, str]] = {}


def _calling_code_length(digits: str) -> int:
    for length in (1, 2, 3):
        if int(digits[:length] or 0) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return length
    return 3


def classify_fast(digits: str) -> tuple[str, str]:
    """:func:`classify` cached by calling code + the first national digits (see NATIONAL_DIGITS)."""
    if not digits.isdigit():
        return classify(digits)
    key = digits[: _calling_code_length(digits) + NATIONAL_DIGITS]
    hit = _BY_PREFIX.get(key)
    if hit is None:
        hit = classify(digits)
        if len(_BY_PREFIX) < 1_000_000:
            _BY_PREFIX[key] = hit
    return hit
