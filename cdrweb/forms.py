from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from cdrweb.models import AuditEntry


class RevealForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        min_length=5,
        widget=forms.TextInput(attrs={"placeholder": "Why do you need to see personal data?"}),
    )
    next = forms.CharField(max_length=2000)

    def clean_next(self) -> str:
        value = self.cleaned_data["next"]
        if not value.startswith("/") or value.startswith("//"):
            raise forms.ValidationError("Invalid page.")
        return value


class AuditFilterForm(forms.Form):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.order_by("username"), required=False)
    action = forms.ChoiceField(required=False)
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        actions = AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct()
        self.fields["action"].choices = [("", "any")] + [(a, a) for a in actions]
