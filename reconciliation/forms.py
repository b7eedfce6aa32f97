"""Forms: shapes and types only; business rules live in services."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from billing.models import Carrier
from reconciliation.models import ColumnMapping, Discrepancy, DiscrepancyType
from reconciliation.presets import COLUMN_KEYS, DURATION_UNITS, PRESET_LABELS

MAX_UPLOAD_BYTES = 2 * 1024**3


class DateInput(forms.DateInput):
    input_type = "date"


class UploadForm(forms.Form):
    carrier = forms.ModelChoiceField(queryset=Carrier.objects.all())
    period_start = forms.DateField(widget=DateInput, help_text="first day billed")
    period_end = forms.DateField(widget=DateInput, help_text="last day billed (inclusive)")
    file = forms.FileField(help_text="CSV, or CSV inside gzip or zip")
    preset = forms.ChoiceField(
        required=False, choices=[("", "— saved mapping instead —"), *PRESET_LABELS.items()],
        help_text="the carrier's export format",
    )
    mapping = forms.ModelChoiceField(
        queryset=ColumnMapping.objects.select_related("carrier"), required=False,
        help_text="a custom mapping saved for this carrier",
    )
    timezone = forms.CharField(required=False, help_text="IANA zone of local times, overrides the mapping")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 2 GB.")
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if bool(data.get("preset")) == bool(data.get("mapping")):
            raise forms.ValidationError("Choose either a preset or a saved mapping.")
        mapping = data.get("mapping")
        if mapping and data.get("carrier") and mapping.carrier_id != data["carrier"].pk:
            self.add_error("mapping", "This mapping belongs to another carrier.")
        return data


def _column_field(key: str, header: list[str]) -> forms.Field:
    if header:
        return forms.ChoiceField(required=False, choices=[("", "—"), *[(h, h) for h in header]], label=key)
    return forms.CharField(required=False, max_length=255, label=key)


class MappingForm(forms.Form):
    """A custom mapping made from a file's header (column pickers) or typed by hand."""

    carrier = forms.ModelChoiceField(queryset=Carrier.objects.all())
    name = forms.CharField(max_length=100)
    based_on_preset = forms.ChoiceField(
        required=False, choices=[("", "—"), *PRESET_LABELS.items()],
        help_text="keeps that preset's format options (answer time, sign of prices)",
    )
    start_format = forms.CharField(initial="iso", max_length=64, help_text="iso, or a strptime pattern")
    timezone = forms.CharField(initial="UTC", max_length=64, help_text="IANA zone of times without offset")
    duration_unit = forms.ChoiceField(choices=[(u, u) for u in DURATION_UNITS], initial="seconds")
    currency = forms.CharField(required=False, max_length=255, help_text="a column, or a fixed code such as =EUR")
    delimiter = forms.CharField(required=False, max_length=2, strip=False, help_text="empty: detected")
    encoding = forms.CharField(required=False, max_length=32, help_text="empty: detected")

    def __init__(self, *args, header: list[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.header = header or []
        for key in COLUMN_KEYS:
            self.fields[key] = _column_field(key, self.header)
        if self.header:
            self.fields["currency_column"] = forms.ChoiceField(
                required=False, choices=[("", "—"), *[(h, h) for h in self.header]], label="currency column"
            )

    def mapping_fields(self) -> dict[str, str]:
        data = self.cleaned_data
        out = {k: data[k] for k in (*COLUMN_KEYS, "start_format", "timezone", "duration_unit") if data.get(k)}
        currency = data.get("currency_column") or data.get("currency")
        if currency:
            out["currency"] = currency
        for key in ("delimiter", "encoding"):
            if data.get(key):
                out[key] = data[key]
        return out


class RunForm(forms.Form):
    carrier = forms.ModelChoiceField(queryset=Carrier.objects.all())
    period_start = forms.DateField(widget=DateInput)
    period_end = forms.DateField(widget=DateInput, help_text="inclusive")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("period_start") and data.get("period_end") and data["period_end"] < data["period_start"]:
            raise forms.ValidationError("The period ends before it starts.")
        return data

    def period(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.cleaned_data["period_start"], time.min, tzinfo=UTC)
        end = datetime.combine(self.cleaned_data["period_end"] + timedelta(days=1), time.min, tzinfo=UTC)
        return start, end


SORTS = {
    "amount": "amount_at_stake", "-amount": "-amount_at_stake", "start": "start_utc", "-start": "-start_utc",
    "type": "type", "status": "status", "updated": "-updated_at",
}


class DiscrepancyFilterForm(forms.Form):
    run = forms.IntegerField(required=False, widget=forms.HiddenInput)
    type = forms.MultipleChoiceField(required=False, choices=DiscrepancyType.choices,
                                     widget=forms.CheckboxSelectMultiple)
    status = forms.MultipleChoiceField(required=False, choices=Discrepancy.Status.choices,
                                       widget=forms.CheckboxSelectMultiple)
    min_amount = forms.DecimalField(required=False, max_digits=18, decimal_places=6, label="amount ≥")
    start = forms.DateField(required=False, widget=DateInput, label="from")
    end = forms.DateField(required=False, widget=DateInput, label="to")
    sort = forms.ChoiceField(required=False, choices=[(k, k) for k in SORTS])


def reviewers():
    user_model = get_user_model()
    perm = Q(groups__permissions__codename="change_discrepancy") | Q(user_permissions__codename="change_discrepancy")
    return user_model.objects.filter(Q(is_active=True) & (perm | Q(is_superuser=True))).distinct().order_by("username")


class DiscrepancyUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=Discrepancy.Status.choices)
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = reviewers()
