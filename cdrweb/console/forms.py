"""Console forms: shape and types only; the rules live in validate.py and services.py."""

from __future__ import annotations

from django import forms

from cdrweb.console.chart import KINDS
from cdrweb.console.validate import MAX_SQL_CHARS


class QueryForm(forms.Form):
    sql = forms.CharField(
        max_length=MAX_SQL_CHARS,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 10, "cols": 100, "spellcheck": "false", "class": "sql"}),
        label="SQL",
    )
    skip_plan = forms.BooleanField(required=False, widget=forms.HiddenInput)


class SaveQueryForm(forms.Form):
    name = forms.CharField(max_length=120, strip=True)
    sql = forms.CharField(max_length=MAX_SQL_CHARS, strip=True, widget=forms.HiddenInput)


class ChartForm(forms.Form):
    """x/y/series pickers over the result's columns (y: numeric columns only)."""

    x = forms.ChoiceField()
    y = forms.ChoiceField()
    series = forms.ChoiceField(required=False)
    kind = forms.ChoiceField(choices=[(k, k) for k in KINDS], initial="bar", required=False)

    def __init__(self, *args, columns: list[str], numeric: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["x"].choices = [(c, c) for c in columns]
        self.fields["y"].choices = [(c, c) for c in numeric]
        self.fields["series"].choices = [("", "(none)")] + [(c, c) for c in columns]
