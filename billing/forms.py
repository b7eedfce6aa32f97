"""Billing forms: shape and types only; business rules live in services."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import available_timezones

from django import forms

from billing.csv_io import parse_increment
from billing.models import Carrier, CarrierTrunkMapping, Rate, RateCard

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class UtcDateTimeField(forms.DateTimeField):
    """A date or date-time entered as UTC (our times are all UTC)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"})

    def to_python(self, value):
        result = super().to_python(value)
        if result is None:
            return None
        return result.replace(tzinfo=UTC) if result.tzinfo is None else result.astimezone(UTC)


class CarrierForm(forms.ModelForm):
    class Meta:
        model = Carrier
        fields = ["name", "currency", "default_region", "callid_match", "default_increment_first",
                  "default_increment_next", "is_default", "duration_tolerance_seconds", "cost_tolerance",
                  "fuzzy_window_seconds"]

    def _get_validation_exclusions(self):
        # The service moves the default flag from the old default (carrier_single_default),
        # so the form must not reject a second default before the service runs.
        exclude = super()._get_validation_exclusions()
        exclude.add("is_default")
        return exclude

    def clean_currency(self) -> str:
        value = self.cleaned_data["currency"].strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise forms.ValidationError("Use a 3-letter ISO currency code, e.g. USD.")
        return value

    def clean_default_region(self) -> str:
        return self.cleaned_data["default_region"].strip().upper()


class TrunkMappingForm(forms.ModelForm):
    class Meta:
        model = CarrierTrunkMapping
        fields = ["carrier", "match_field", "match_value", "direction", "priority"]


class RateCardForm(forms.ModelForm):
    effective_from = UtcDateTimeField(help_text="UTC, inclusive")
    effective_to = UtcDateTimeField(required=False, help_text="UTC, exclusive; empty = until the next version")
    timezone = forms.ChoiceField(choices=[(z, z) for z in sorted(available_timezones())], initial="UTC",
                                 help_text="IANA zone for time bands")

    class Meta:
        model = RateCard
        fields = ["carrier", "name", "currency", "effective_from", "effective_to", "default_increment_first",
                  "default_increment_next", "rounding", "seconds_rule", "money_decimals", "timezone"]

    def clean_money_decimals(self) -> int:
        value = self.cleaned_data["money_decimals"]
        if not 2 <= value <= 6:
            raise forms.ValidationError("Between 2 and 6 places (rating.md §5).")
        return value

    def clean_currency(self) -> str:
        return CarrierForm.clean_currency(self)  # type: ignore[arg-type]


class RateForm(forms.ModelForm):
    class Meta:
        model = Rate
        fields = ["prefix", "destination", "direction", "rate_per_minute", "connect_fee", "min_billable_seconds",
                  "minimum_cost", "increment_first", "increment_next", "band", "band_weekdays", "band_start",
                  "band_end"]
        widgets = {"band_start": forms.TimeInput(attrs={"type": "time"}),
                   "band_end": forms.TimeInput(attrs={"type": "time"})}

    def clean_prefix(self) -> str:
        value = self.cleaned_data["prefix"].strip().lstrip("+")
        if value and not (value.isdigit() and len(value) <= 15):
            raise forms.ValidationError("E.164 digits only (a leading + is allowed), up to 15.")
        return value

    def clean(self):
        data = super().clean()
        for name in ("rate_per_minute", "connect_fee", "minimum_cost"):
            if data.get(name) is not None and data[name] < 0:
                self.add_error(name, "Must not be negative.")
        if bool(data.get("increment_first")) != bool(data.get("increment_next")):
            self.add_error("increment_next", "Give both first and next, or neither (card default).")
        return data


class CloneForm(forms.Form):
    effective_from = UtcDateTimeField(help_text="UTC; the new prices apply to calls answered from then on")


class RetireForm(forms.Form):
    effective_to = UtcDateTimeField(help_text="UTC; calls answered from then on are no longer priced by it")


class ConfirmForm(forms.Form):
    reason = forms.CharField(max_length=200, min_length=3, help_text="why the old prices were wrong")


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV with the documented header; max 20 MB")
    carrier = forms.CharField(max_length=100, help_text="existing or new carrier name")
    currency = forms.CharField(max_length=3, initial="USD")
    effective_from = UtcDateTimeField(help_text="UTC")
    increment = forms.CharField(max_length=11, required=False, help_text="card default, e.g. 60/6")
    make_default = forms.BooleanField(required=False, label="Default carrier (legs no trunk mapping claims)")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload is not None and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 20 MB.")
        return upload

    def clean_increment(self) -> tuple[int, int] | None:
        text = self.cleaned_data["increment"].strip()
        if not text:
            return None
        try:
            return parse_increment(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class DraftImportForm(forms.Form):
    file = forms.FileField(help_text="replaces every rate of this draft")


class RatePeriodForm(forms.Form):
    start = UtcDateTimeField()
    end = UtcDateTimeField()
    carrier = forms.ModelChoiceField(queryset=Carrier.objects.all(), required=False)

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise forms.ValidationError("The end must be after the start.")
        return data


def midnight_utc(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
