"""Recognisable personal values planted in every model that declares ``pii_fields``, and the forms a leak
could take (E.164, digits only, national number; full name and surname; e-mail local part).

Models are found generically through ``apps.get_models()``, so a new model with ``pii_fields`` is
planted and scanned without touching this file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import phonenumbers
from django.apps import apps

from cdrweb.masking import PiiKind

# Ofcom's drama range 020 7946 0xxx and NANP 555-01xx are reserved for fiction: safe to plant.
_UK_DRAMA = "+44207946{:04d}"
_SURNAMES = ("Quaxworth", "Vandersloot", "Tremayne", "Oduyemi", "Featherstonhaugh", "Zbigniewska", "Marchbanks",
             "Okonkwo-Hale", "Llewellyn", "Ravensworth", "Achterberg", "Szczepanik")
_GIVEN = ("Zebulon", "Philippa", "Ignatius", "Ottoline", "Barnaby", "Henrietta")
ROWS_PER_MODEL = 3


@dataclass
class Planted:
    """Every value a page must never show unmasked, with the human-readable forms it may take."""

    phones: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    models: dict[str, int] = field(default_factory=dict)  # model label -> rows planted

    def needles(self) -> set[str]:
        """The substrings whose presence in a page, export or log is a leak."""
        out: set[str] = set()
        for raw in self.phones:
            out |= phone_forms(raw)
        for name in self.names:
            out.add(name)
            surname = name.split()[-1]
            if len(surname) >= 7:
                out.add(surname)
        for email in self.emails:
            out.add(email.split("@")[0])
        return out


def phone_forms(raw: str) -> set[str]:
    """E.164, digits only, national significant number and the national format of a phone value."""
    text = re.sub(r"^(?:tel|sips?):", "", str(raw), flags=re.IGNORECASE).split("@")[0].strip()
    digits = re.sub(r"\D", "", text)
    if len(digits) < 8:  # extensions and short codes are not identifying on their own
        return set()
    forms = {digits, "+" + digits}
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return forms
    national = str(number.national_number)
    if len(national) >= 8:
        forms.add(national)
        forms.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
        forms.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
    return forms


def pii_models() -> list[type]:
    return [m for m in apps.get_models() if getattr(m, "pii_fields", None)]


def _text_value(name: str, phone: str, email: str) -> str:
    return f"Spoke to {name}; call back on {phone} or write to {email} about the refund."


def plant(extra_rows: dict[type, list] | None = None) -> Planted:
    """Overwrite the first rows of every PII model with distinctive values; return what was planted.

    Also collects every personal value already stored (the demo's numbers and person names) so the
    scan covers real data as well as the planted rows.
    """
    planted = Planted()
    serial = 0
    for model in pii_models():
        fields: dict[str, PiiKind] = {k: PiiKind(v) for k, v in model.pii_fields.items()}
        pks = list(model.objects.order_by("pk").values_list("pk", flat=True)[:ROWS_PER_MODEL])
        for pk in pks:
            changes = {}
            for name, kind in fields.items():
                serial += 1
                phone = _UK_DRAMA.format(serial)
                person = f"{_GIVEN[serial % len(_GIVEN)]} {_SURNAMES[serial % len(_SURNAMES)]}"
                email = f"zq.leak{serial}@example.org"
                if kind == PiiKind.PHONE:
                    changes[name] = phone
                    planted.phones.add(phone)
                elif kind == PiiKind.NAME:
                    changes[name] = person
                    planted.names.add(person)
                elif kind == PiiKind.EMAIL:
                    changes[name] = email
                    planted.emails.add(email)
                else:
                    changes[name] = _text_value(person, phone, email)
                    planted.names.add(person)
                    planted.phones.add(phone)
                    planted.emails.add(email)
            model.objects.filter(pk=pk).update(**changes)
        planted.models[model._meta.label] = len(pks)
        _collect_existing(model, fields, planted)
    return planted


def _collect_existing(model: type, fields: dict[str, PiiKind], planted: Planted) -> None:
    """Add the stored phone numbers and person names of a PII model to the scan set."""
    for name, kind in fields.items():
        values = set(model.objects.exclude(**{name: ""}).values_list(name, flat=True).distinct()[:500])
        if kind == PiiKind.PHONE:
            planted.phones |= {v for v in values if v}
        elif kind == PiiKind.NAME:
            # Participant names also hold IVR/flow labels ("Main Menu") that are not personal;
            # only values shaped like a person's name (two capitalised words) are scanned.
            planted.names |= {v for v in values if v and re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z'-]+", v)
                              and v.split()[1] not in {"Menu", "Queue", "Flow", "Line", "Support", "Sales"}}
        elif kind == PiiKind.EMAIL:
            planted.emails |= {v for v in values if v and "@" in v}


def find_leaks(text: str, needles: set[str]) -> list[str]:
    """Needles present in ``text``; phone forms must stand alone (not inside a longer digit run)."""
    hits = []
    for needle in needles:
        if needle not in text:
            continue
        if needle.lstrip("+").isdigit():
            pattern = r"(?<!\d)" + re.escape(needle) + r"(?!\d)"
            if not re.search(pattern, text):
                continue
        hits.append(needle)
    return sorted(hits)
