"""Forms for connections and runs: shape and types only; services check the business rules."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django import forms

from extraction.models import Connection
from extraction.platforms.genesys.client import REGION_CHOICES

MAX_RUN_DAYS = 400


class ConnectionForm(forms.ModelForm):
    region = forms.ChoiceField(choices=[("", "— explicit base URL instead —"), *REGION_CHOICES], required=False,
                               help_text="Genesys region: the API and login hosts follow from it")
    # Write-only: never rendered back; blank on edit keeps the stored secret.
    client_secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                                    help_text="Leave blank to keep the stored secret")
    api_token = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                                label="API token / JWT",
                                help_text="Engage Voice: the RingCentral JWT credential; Voiso: the API key. "
                                          "Leave blank to keep the stored one")
    settings = forms.JSONField(required=False, widget=forms.Textarea(attrs={"rows": 4}),
                               help_text='Platform options as JSON, e.g. {"sub_account_id": "12345"} for Engage '
                                         'Voice or {"cluster_id": "cluster1", "api_version": "v2"} for Voiso; '
                                         'tuning: poll_seconds, job_timeout_seconds, max_job_attempts, '
                                         'pages_per_commit')

    class Meta:
        model = Connection
        # client_secret is a declared field, not a model field here, so a blank never overwrites it.
        fields = ["platform", "name", "region", "base_url", "client_id", "default_region", "is_active", "settings"]

    field_order = ["platform", "name", "region", "base_url", "client_id", "client_secret", "api_token", "settings",
                   "default_region", "is_active"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initial["client_secret"] = ""
        self.initial["api_token"] = ""
        self.fields["client_id"].required = False

    def clean_settings(self) -> dict:
        value = self.cleaned_data.get("settings") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Settings must be a JSON object, e.g. {\"cluster_id\": \"cluster1\"}.")
        return value

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("region") and not data.get("base_url"):
            raise forms.ValidationError("Choose a region or give an explicit base URL.")
        if not self.instance.pk and not (data.get("client_secret") or data.get("api_token")):
            self.add_error("client_secret", "A new connection needs its client secret (or API token).")
        if data.get("platform") == "genesys" and not data.get("client_id"):
            self.add_error("client_id", "A Genesys connection needs its OAuth client id.")
        data["default_region"] = (data.get("default_region") or "US").upper()
        return data


class RunForm(forms.Form):
    connection = forms.ModelChoiceField(queryset=Connection.objects.filter(is_active=True).order_by("name"))
    start = forms.DateField(label="First day (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="Last day (UTC, inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError("The last day is before the first day.")
            if (end - start).days + 1 > MAX_RUN_DAYS:
                raise forms.ValidationError(f"Extract at most {MAX_RUN_DAYS} days at a time.")
            data["start_at"] = datetime.combine(start, time.min, tzinfo=UTC)
            data["end_at"] = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
        return data
