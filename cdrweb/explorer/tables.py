"""The call explorer's table: legs with cost and reconciliation status; numbers always masked.

django-tables2 sorts and paginates; the page's rows are drawn by :meth:`CallLegTable.html_rows` in
one pass, because its per-cell machinery (a signature inspection and a template node per cell) took
most of the page's time while the query took two milliseconds.
"""

from __future__ import annotations

import django_tables2 as tables
from django.utils import timezone
from django.utils.safestring import SafeString

from cdrweb import masking
from cdrweb.explorer.markup import call_detail_prefix, esc
from cdrweb.explorer.selectors import recon_label
from cdrweb.masking import PiiKind
from cdrweb.tables import MaskedColumn

EMPTY = "\u2014"  # django-tables2's default for an empty cell
_NUM = ' class="num"'


# The leg and cost record fields html_rows draws; the list page loads only these (and the
# reconciliation annotations), not the thirty-odd columns of a leg and its cost record.
ROW_FIELDS = (
    "started_at",
    "direction",
    "ani",
    "dnis",
    "queue_name",
    "wrapup_name",
    "duration_ms",
    "cost_record__carrier_id",
    "cost_record__carrier__name",
    "cost_record__country",
    "cost_record__destination",
    "cost_record__cost",
    "cost_record__currency",
    "cost_record__status",
)


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

    def render_rating(self, value: str | None, record=None) -> str:
        cost = getattr(record, "cost_record", None) if record is not None else None
        status = cost.status if cost is not None else (value or "unrated")
        return _badge("ok" if status == "rated" else "warn", value or "unrated")

    def render_recon(self, record) -> str:
        label = recon_label(record.recon_matched, record.recon_discrepancy, record.recon_discrepancy_status)
        if record.recon_discrepancy:
            css = "warn" if record.recon_discrepancy == "unbilled" else "bad"  # unbilled: in our favour
        else:
            css = "ok" if record.recon_matched else ""
        return _badge(css, label)

    def value_recon(self, record) -> str:
        return recon_label(record.recon_matched, record.recon_discrepancy, record.recon_discrepancy_status)

    def html_rows(self) -> list[SafeString]:
        """The current page's rows as HTML: the cells the columns above define, numbers masked by
        the request's masker (looked up once, not per cell). The data must carry ROW_FIELDS."""
        masker = masking.masker_for(self.request) if getattr(self, "request", None) else masking.MASKED
        detail = esc(call_detail_prefix())
        rows = []
        for n, bound in enumerate(self.page.object_list):
            leg = bound.record
            cost = getattr(leg, "cost_record", None)
            carrier = cost.carrier if cost is not None and cost.carrier_id else None
            cells = (
                f'<td><a href="{detail}{esc(leg.pk)}/">{esc(self.render_started_at(leg.started_at))}</a></td>',
                f"<td>{esc(leg.get_direction_display() or EMPTY)}</td>",
                f"<td>{esc(masker(leg.ani, PiiKind.PHONE) if leg.ani else EMPTY)}</td>",
                f"<td>{esc(masker(leg.dnis, PiiKind.PHONE) if leg.dnis else EMPTY)}</td>",
                f"<td>{esc(leg.queue_name or EMPTY)}</td>",
                f"<td>{esc(leg.wrapup_name or EMPTY)}</td>",
                f"<td{_NUM}>"
                f"{esc(self.render_duration_ms(leg.duration_ms) if leg.duration_ms is not None else EMPTY)}</td>",
                f"<td>{esc(carrier.name if carrier is not None else '')}</td>",
                f"<td>{esc(self.render_destination(leg) if cost is not None and cost.country else '')}</td>",
                f"<td{_NUM}>{esc(self.render_cost(leg) if cost is not None and cost.cost is not None else '')}</td>",
                f"<td>{self.render_rating(cost.get_status_display() if cost is not None else None, leg)}</td>",
                f"<td>{self.render_recon(leg)}</td>",
            )
            rows.append(SafeString(f'<tr class="{"even" if n % 2 == 0 else "odd"}">{"".join(cells)}</tr>'))
        return rows


def _badge(css: str, label: str) -> SafeString:
    return SafeString(f'<span class="badge {esc(css)}">{esc(label)}</span>')
