"""URL filters shared by the dashboard and the call explorer (django-filter, GET parameters).

Everything lives in the query string so a view can be bookmarked and shared. The dashboard uses
the same FilterSet without the period (it also needs the previous period) and applies the period
itself; the explorer applies everything, including the drill-down filters a chart link adds.
"""

from __future__ import annotations

from typing import Any

import django_filters
import django_filters.fields
from django import forms
from django.core.cache import cache
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import ExtractIsoWeekDay
from django.forms.utils import flatatt
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from billing.models import Carrier, CostRecord
from cdrweb.db import LocalHour
from cdrweb.explorer import periods
from cdrweb.explorer.markup import esc
from cdrweb.explorer.periods import Period, Preset
from extraction.models import CallLeg, Connection, Direction, Platform

NONE = "__none__"  # the "(none)" bucket of a chart: legs with no queue, wrap-up code or country
HOURS = [(str(h), f"{h:02d}:00") for h in range(24)]
WEEKDAYS = [(str(i), name) for i, name in enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], start=1)]


class PlainSelect(forms.Select):
    """A select drawn in Python (same HTML as Django's template): the template-based widget
    rendering, then the per-option dicts of ``optgroups()``, took most of the filter bar's time."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        chosen = self.format_value(value)
        found = False
        options = []
        for option_value, label in self.choices:
            if isinstance(label, list | tuple):  # grouped choices: Django's own rendering
                return self._render_grouped(name, value, attrs)
            option_value = "" if option_value is None else option_value
            # like ChoiceWidget.optgroups: only the first option with the value is selected
            selected = not found and str(option_value) in chosen
            found |= selected
            mark = " selected" if selected else ""
            options.append(f'<option value="{esc(option_value)}"{mark}>{esc(label)}</option>')
        return SafeString(
            f'<select name="{esc(name)}"{flatatt(self.build_attrs(self.attrs, attrs))}>{"".join(options)}</select>'
        )

    def _render_grouped(self, name, value, attrs) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        options = (
            (option["value"], flatatt(option["attrs"]), option["label"])
            for _, group, _ in widget["optgroups"]
            for option in group
        )
        return format_html(
            '<select name="{}"{}>{}</select>',
            widget["name"],
            flatatt(widget["attrs"]),
            format_html_join("", '<option value="{}"{}>{}</option>', options),
        )


class PlainInput(forms.TextInput):
    """A text input drawn in Python (see PlainSelect)."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        shown = format_html(' value="{}"', widget["value"]) if widget["value"] is not None else ""
        attrs_html = flatatt(widget["attrs"])
        return format_html('<input type="{}" name="{}"{}{}>', widget["type"], widget["name"], shown, attrs_html)


class PlainDateInput(forms.DateInput):
    """A date input drawn in Python (see PlainSelect)."""

    render = PlainInput.render


CHOICES_KEY = "filters:choices"
CHOICES_SECONDS = 600


class SelectChoices:
    """The connection and carrier choices of one filter form, read together with one query (UNION
    ALL, each list ordered by name) the first time either select is drawn, and kept in the shared
    cache until a connection or carrier is saved or deleted (see ``forget_choices``). Labels are
    the names, which is what both models' ``__str__`` returns."""

    def __init__(self) -> None:
        self._lists: dict[str, list[tuple[int, str]]] | None = None

    def get(self, kind: str) -> list[tuple[int, str]]:
        if self._lists is None:
            self._lists = cache.get(CHOICES_KEY)
        if self._lists is None:
            # no ordering inside the parts: SQLite refuses ORDER BY in a compound statement's parts
            connections = Connection.objects.order_by().annotate(kind=Value("connection"))
            carriers = Carrier.objects.order_by().annotate(kind=Value("carrier"))
            fields = ("kind", "pk", "name")
            rows = connections.values_list(*fields).union(carriers.values_list(*fields), all=True)
            self._lists = {"connection": [], "carrier": []}
            for row_kind, pk, name in rows.order_by("kind", "name"):
                self._lists[row_kind].append((pk, name))
            cache.set(CHOICES_KEY, self._lists, CHOICES_SECONDS)
        return self._lists[kind]


def forget_choices(sender, **kwargs) -> None:
    """Signal receiver: a connection or carrier changed, the cached choice lists are stale."""
    cache.delete(CHOICES_KEY)


def connect_signals() -> None:
    from django.db.models.signals import post_delete, post_save

    for model in (Connection, Carrier):
        for signal in (post_save, post_delete):
            signal.connect(forget_choices, sender=model, dispatch_uid=f"filters.choices.{model._meta.label}")


class PlainQueryChoices(django_filters.fields.ModelChoiceIterator):
    """Model choices from the form's SelectChoices, else read with one plain query. Django reads
    them with ``iterator()``, which on PostgreSQL is a server-side cursor: DECLARE, FETCH and
    CLOSE, three round trips for a dozen rows."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        if self.field.null_label is not None:
            yield (self.field.null_value, self.field.null_label)
        shared: SelectChoices | None = getattr(self.field, "shared_choices", None)
        if shared is not None:
            yield from shared.get(self.field.choices_kind)
            return
        for obj in self.queryset.all():  # a fresh clone, so each form reads the current rows
            yield self.choice(obj)


class PlainModelChoiceField(django_filters.fields.ModelChoiceField):
    iterator = PlainQueryChoices


class PlainModelChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = PlainModelChoiceField


class CallFilterForm(forms.Form):
    """Checks the period: presets, or a custom start/end no longer than about three years."""

    resolved_period: Period | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        preset = data.get("period") or ""
        start, end = data.get("start"), data.get("end")
        if not preset:
            # start/end alone in a shared link mean a custom range
            preset = Preset.CUSTOM if (start or end) else periods.DEFAULT_PRESET
        if preset == Preset.CUSTOM:
            if self.errors.get("start") or self.errors.get("end"):
                return data
            if not start or not end:
                raise forms.ValidationError("A custom period needs both a start and an end date.")
            if start > end:
                raise forms.ValidationError("The start date must be on or before the end date.")
            if (end - start).days + 1 > periods.MAX_DAYS:
                raise forms.ValidationError(f"Pick a period of at most {periods.MAX_DAYS} days.")
        data["period"] = preset
        # kept off cleaned_data: django-filter applies every cleaned_data key as a filter
        self.resolved_period = periods.resolve(preset, today=timezone.localdate(), start=start, end=end)
        return data


def _no_op(queryset: QuerySet, name: str, value: Any) -> QuerySet:
    return queryset  # applied as a whole in CallLegFilter.filter_queryset / by the dashboard


class CallLegFilter(django_filters.FilterSet):
    period = django_filters.ChoiceFilter(
        choices=Preset.choices, method=_no_op, empty_label=None, label="Period", widget=PlainSelect
    )
    start = django_filters.DateFilter(method=_no_op, label="From", widget=PlainDateInput(attrs={"type": "date"}))
    end = django_filters.DateFilter(method=_no_op, label="To", widget=PlainDateInput(attrs={"type": "date"}))
    connection = PlainModelChoiceFilter(queryset=Connection.objects.order_by("name"), widget=PlainSelect)
    platform = django_filters.ChoiceFilter(choices=Platform.choices, widget=PlainSelect)
    carrier = PlainModelChoiceFilter(
        field_name="cost_record__carrier", queryset=Carrier.objects.order_by("name"), label="Carrier",
        widget=PlainSelect,
    )
    direction = django_filters.ChoiceFilter(choices=Direction.choices, widget=PlainSelect)
    queue = django_filters.CharFilter(method="filter_queue", label="Queue", widget=PlainInput)
    # Drill-down filters added by chart links (and usable by hand in the explorer).
    wrapup = django_filters.CharFilter(method="filter_wrapup", label="Wrap-up", widget=PlainInput)
    country = django_filters.CharFilter(method="filter_country", label="Country (ISO)", widget=PlainInput)
    number_type = django_filters.ChoiceFilter(
        field_name="cost_record__number_type",
        choices=CostRecord.NumberType.choices,
        label="Number type",
        widget=PlainSelect,
    )
    rating = django_filters.ChoiceFilter(
        method="filter_rating", choices=CostRecord.Status.choices, label="Rating status", widget=PlainSelect
    )
    hour = django_filters.ChoiceFilter(method="filter_hour", choices=HOURS, label="Hour", widget=PlainSelect)
    weekday = django_filters.ChoiceFilter(
        method="filter_weekday", choices=WEEKDAYS, label="Weekday", widget=PlainSelect
    )
    overbilled = django_filters.ChoiceFilter(
        method="filter_overbilled",
        choices=[("any", "Overbilled (any status)"), ("open", "Overbilled, still open")],
        label="Overbilled",
        widget=PlainSelect,
    )
    recon = django_filters.ChoiceFilter(
        method="filter_recon",
        choices=[("matched", "Matched"), ("unmatched", "Not matched"), ("discrepancy", "With discrepancy")],
        label="Reconciliation",
        widget=PlainSelect,
    )
    call_id = django_filters.CharFilter(method="filter_call_id", label="Call id", widget=PlainInput)
    currency = django_filters.CharFilter(
        method="filter_currency", label="Currency", max_length=3, widget=PlainInput
    )

    class Meta:
        model = CallLeg
        fields: list[str] = []
        form = CallFilterForm

    def __init__(self, data=None, queryset=None, *, dashboard: bool = False, **kwargs) -> None:
        # The dashboard applies the period (it needs the previous one too) and the currency (money
        # sums only) itself; the explorer applies both as plain filters.
        self.dashboard = dashboard
        super().__init__(data if data is not None else {}, queryset, **kwargs)

    @property
    def form(self) -> CallFilterForm:
        form = super().form
        if not hasattr(form, "shared_choices"):
            form.shared_choices = SelectChoices()
            for name in ("connection", "carrier"):
                form.fields[name].shared_choices = form.shared_choices
                form.fields[name].choices_kind = name
        return form

    @property
    def resolved_period(self) -> Period:
        """The validated period (call ``is_valid()`` first)."""
        return self.form.resolved_period

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        if not self.dashboard and getattr(self.form, "resolved_period", None) is not None:
            period = self.resolved_period
            queryset = queryset.filter(started_at__gte=period.start_at, started_at__lt=period.end_at)
        return queryset

    # --- drill-down filters --------------------------------------------------------------------

    def filter_queue(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(queue_name="" if value == NONE else value)

    def filter_wrapup(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(wrapup_name="" if value == NONE else value)

    def filter_country(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == NONE:
            return queryset.filter(Q(cost_record__isnull=True) | Q(cost_record__country=""))
        return queryset.filter(cost_record__country=value.upper())

    def filter_rating(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == CostRecord.Status.UNRATED:
            # a leg billing has not reached yet counts as unrated too
            return queryset.filter(Q(cost_record__isnull=True) | Q(cost_record__status=value))
        return queryset.filter(cost_record__status=value)

    def filter_hour(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        tz = timezone.get_current_timezone()
        return queryset.annotate(_hour=LocalHour("started_at", tzinfo=tz)).filter(_hour=int(value))

    def filter_weekday(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        tz = timezone.get_current_timezone()
        return queryset.annotate(_weekday=ExtractIsoWeekDay("started_at", tzinfo=tz)).filter(_weekday=int(value))

    def filter_overbilled(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        from cdrweb.explorer.selectors import overbilled_discrepancies

        found = overbilled_discrepancies(open_only=value == "open")
        return queryset.filter(pk__in=found.filter(leg__isnull=False).values("leg_id"))

    def filter_recon(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        from reconciliation.models import CdrMatch, Discrepancy

        if value == "matched":
            return queryset.filter(pk__in=CdrMatch.objects.values("leg_id"))
        if value == "unmatched":
            return queryset.exclude(pk__in=CdrMatch.objects.filter(leg__isnull=False).values("leg_id"))
        return queryset.filter(pk__in=Discrepancy.objects.filter(leg__isnull=False, superseded=False).values("leg_id"))

    def filter_currency(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset if self.dashboard else queryset.filter(cost_record__currency=value.upper())

    def filter_call_id(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return queryset.filter(
            Q(external_call_id=value) | Q(leg_id=value) | Q(sip_call_id=value) | Q(sip_call_id_local=value)
        )

    def has_leg_only_filters(self) -> bool:
        """True when a filter narrows by a leg attribute, which carrier-only discrepancies lack."""
        data = self.form.cleaned_data
        leg_only = (
            "connection",
            "platform",
            "direction",
            "queue",
            "wrapup",
            "country",
            "number_type",
            "rating",
            "hour",
            "weekday",
            "recon",
            "call_id",
            "overbilled",
        )
        return any(data.get(name) not in (None, "") for name in leg_only)
