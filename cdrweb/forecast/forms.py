"""Forecast forms: shape and type checks only; business rules live in services/engine."""

from __future__ import annotations

from django import forms

from cdrweb.forecast import engine, services
from cdrweb.forecast.models import HandoffTarget, PlanningGroupMapping

CONFIDENCE_CHOICES = [(80, "80%"), (90, "90%"), (95, "95%")]


class ForecastForm(forms.Form):
    wrapup_codes = forms.MultipleChoiceField(
        label="Wrap-up codes", widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Pick at least one wrap-up code."},
    )
    horizon_days = forms.IntegerField(label="Horizon (days)", initial=30)
    confidence_pct = forms.TypedChoiceField(
        label="Confidence", choices=CONFIDENCE_CHOICES, coerce=int, initial=90
    )
    lookback_days = forms.IntegerField(label="History window (days)", initial=91)

    def __init__(self, *args, code_choices: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["wrapup_codes"].choices = code_choices

    def clean_wrapup_codes(self) -> list[str]:
        codes = self.cleaned_data["wrapup_codes"]
        if len(codes) > services.MAX_CODES:
            raise forms.ValidationError(f"Pick at most {services.MAX_CODES} wrap-up codes ({len(codes)} picked).")
        return codes

    def clean_horizon_days(self) -> int:
        value = self.cleaned_data["horizon_days"]
        try:
            engine.validate_horizon(value)
        except engine.SeriesError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value

    def clean_lookback_days(self) -> int:
        value = self.cleaned_data["lookback_days"]
        if not services.MIN_LOOKBACK_DAYS <= value <= services.MAX_LOOKBACK_DAYS:
            raise forms.ValidationError(
                f"The history window must be between {services.MIN_LOOKBACK_DAYS} and "
                f"{services.MAX_LOOKBACK_DAYS} days: at least {engine.MIN_HISTORY_DAYS} days of history are needed."
            )
        return value


class SendForm(forms.Form):
    target = forms.ModelChoiceField(queryset=HandoffTarget.objects.none(), label="Send to")

    def __init__(self, *args, targets, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = targets


class HandoffTargetForm(forms.ModelForm):
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="HMAC-SHA256 key. Write-only: leave blank to keep the current one.",
    )

    class Meta:
        model = HandoffTarget
        fields = [
            "name", "kind", "url", "secret", "timeout_seconds", "max_attempts", "backoff_seconds",
            "connection", "business_unit_id", "week_start_day", "is_active",
        ]

    def clean_secret(self) -> str:
        value = self.cleaned_data.get("secret") or ""
        # Blank means "keep": never echo or clear a stored secret by accident.
        return value or (self.instance.secret if self.instance.pk else "")

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        if kind == HandoffTarget.Kind.WEBHOOK:
            if not data.get("url"):
                self.add_error("url", "A webhook target needs a URL.")
            if not data.get("secret"):
                self.add_error("secret", "A webhook target needs a signing secret.")
        elif kind == HandoffTarget.Kind.GENESYS_WFM:
            if not data.get("connection"):
                self.add_error("connection", "Pick the Genesys connection whose credentials to use.")
            if not data.get("business_unit_id"):
                self.add_error("business_unit_id", "Give the WFM business unit id.")
        if data.get("backoff_seconds") is not None and not 0 <= data["backoff_seconds"] <= 60:
            self.add_error("backoff_seconds", "Backoff must be between 0 and 60 seconds.")
        return data


PlanningGroupFormSet = forms.inlineformset_factory(
    HandoffTarget,
    PlanningGroupMapping,
    fields=["wrapup_code", "planning_group_id"],
    extra=3,
    can_delete=True,
)
