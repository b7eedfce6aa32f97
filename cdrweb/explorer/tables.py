"""The call explorer's table: legs with cost and reconciliation status; numbers always masked."""

from __future__ import annotations

import django_tables2 as tables
from django.utils import timezone
from django.utils.html import format_html

from cdrweb.explorer.selectors import recon_label
from cdrweb.masking import PiiKind
from cdrweb.tables import MaskedColumn


class CallLegTable(tables.Table):
    # a plain Column: DateTimeColumn compiles a template per cell, a third of the page's render time
    started_at = tables.Column(verbose_name="Started", linkify=("calls:detail", {"pk": tables.A("pk")}))
    direction = tables.Column()
    ani = MaskedColumn(kind=PiiKind.PHONE, verbose_name="From")
    dnis = MaskedColumn(kind=PiiKind.PHONE, verbose_name="To")
    queue_name = tables.Column(verbose_name="Queue")
    wrapup_name = tables.Column(verbose_name="Wrap-up")
    duration_ms = tables.Column(verbose_name="Talk s", attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    carrier = tables.Column(accessor="cost_record__carrier__name", verbose_name="Carrier", default="")
    destination = tables.Column(
        accessor="cost_record__country",
        verbose_name="Destination",
        default="",
        order_by=("cost_record__country", "cost_record__destination"),
    )
    cost = tables.Column(
        accessor="cost_record__cost",
        verbose_name="Cost",
        default="",
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
    )
    rating = tables.Column(accessor="cost_record__status", verbose_name="Rating", empty_values=())
    recon = tables.Column(accessor="recon_discrepancy", verbose_name="Reconciliation", orderable=False, empty_values=())

    class Meta:
        attrs = {"class": "calls"}
        template_name = "django_tables2/table.html"
        order_by = ("-started_at",)
        empty_text = "No calls match these filters."

    def render_started_at(self, value) -> str:
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")

    def render_duration_ms(self, value: int) -> str:
        return f"{value / 1000:.0f}"

    def render_destination(self, record) -> str:
        cost = getattr(record, "cost_record", None)
        if cost is None:
            return ""
        return f"{cost.destination} ({cost.country})".strip() if cost.country else cost.destination

    def render_cost(self, record) -> str:
        cost = record.cost_record
        return f"{cost.cost:.4f} {cost.currency}"

    def render_rating(self, value: str | None) -> str:
        value = value or "unrated"
        css = "ok" if value == "rated" else "warn"
        return format_html('<span class="badge {}">{}</span>', css, value)

    def render_recon(self, record) -> str:
        label = recon_label(record.recon_matched, record.recon_discrepancy, record.recon_discrepancy_status)
        if record.recon_discrepancy:
            css = "warn" if record.recon_discrepancy == "unbilled" else "bad"  # unbilled: in our favour
        else:
            css = "ok" if record.recon_matched else ""
        return format_html('<span class="badge {}">{}</span>', css, label)

    def value_recon(self, record) -> str:
        return recon_label(record.recon_matched, record.recon_discrepancy, record.recon_discrepancy_status)
