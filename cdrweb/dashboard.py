"""The home page: the finance dashboard for every role, or what to do next when there is no data.

Filters live in the query string (see cdrweb.explorer.filters); every chart element and KPI links
to the call explorer narrowed to the calls behind it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.template.defaultfilters import floatformat
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import dateformat, timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString

from billing.models import Carrier
from cdrweb import charts, masking, rollup
from cdrweb import dashboard_selectors as sel
from cdrweb.db import without_jit
from cdrweb.explorer.filters import NONE, CallLegFilter, SelectChoices
from cdrweb.explorer.markup import call_detail_prefix
from cdrweb.explorer.periods import Period, Preset
from extraction.models import CallLeg, Connection

DEFAULT_CURRENCY = "USD"
# Upper bound on how stale a cached dashboard may be when a change slips past data_version()
# (for instance legs re-extracted in place without a new rating run).
CACHE_SECONDS = 300
BUILD_WAIT_SECONDS = 60
# Filters carried from the dashboard into explorer links (the period is passed as explicit dates).
_CARRIED = (
    "connection",
    "platform",
    "carrier",
    "direction",
    "queue",
    "wrapup",
    "country",
    "number_type",
    "rating",
    "hour",
    "weekday",
    "recon",
    "overbilled",
    "call_id",
)


# Shown in the dashboard's filter bar; other filters from a shared link are kept as hidden fields.
VISIBLE_FILTERS = ("period", "start", "end", "connection", "platform", "carrier", "direction", "queue")


@dataclass(frozen=True)
class KpiCard:
    label: str
    value: str
    previous: str
    change: str  # "+12.5 %", "" when there is nothing to compare
    trend: str  # "up" / "down" / "" (CSS class; up is red because costs rising is bad news)
    url: str


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


class Links:
    """Builds explorer URLs for the current filters, narrowed further by one chart element."""

    def __init__(self, filterset: CallLegFilter, period: Period, currency: str) -> None:
        data = filterset.form.cleaned_data
        self.base: dict[str, str] = {}
        for name in _CARRIED:
            value = data.get(name)
            if value in (None, ""):
                continue
            self.base[name] = str(value.pk if hasattr(value, "pk") else value)
        self.period = period
        self.currency = currency
        self.list_url = reverse("calls:list")

    def calls(self, period: Period | None = None, **extra: Any) -> str:
        period = period or self.period
        params = {"period": Preset.CUSTOM, "start": period.start.isoformat(), "end": period.end.isoformat()}
        params.update(self.base)
        params.update({k: str(v) for k, v in extra.items() if v is not None})
        return f"{self.list_url}?{urlencode(params)}"

    def money(self, period: Period | None = None, **extra: Any) -> str:
        """Link for a money figure: only the rated legs in the dashboard's currency make it up."""
        return self.calls(period, **extra, rating="rated", currency=self.currency)


def _pct_change(now: Decimal | int, before: Decimal | int) -> tuple[str, str]:
    if not before:
        return ("new" if now else "", "up" if now else "")
    change = (Decimal(now) - Decimal(before)) * 100 / Decimal(before)
    change = change.quantize(Decimal("0.1"))
    trend = "up" if change > 0 else "down" if change < 0 else ""
    return (f"{change:+} %", trend)


def kpi_cards(now: sel.Kpis, before: sel.Kpis, currency: str, links: Links) -> list[KpiCard]:
    """The six KPI cards with their change against the previous period."""

    def per_minute(k: sel.Kpis) -> str:
        return f"{k.cost_per_minute} {currency}" if k.cost_per_minute is not None else "–"

    rows = [
        (
            "Total cost",
            charts.money(now.total_cost, currency),
            charts.money(before.total_cost, currency),
            now.total_cost,
            before.total_cost,
            links.money(),
        ),
        ("Calls", f"{now.calls:,}", f"{before.calls:,}", now.calls, before.calls, links.calls()),
        (
            "Billed minutes",
            f"{now.billed_minutes:,}",
            f"{before.billed_minutes:,}",
            now.billed_minutes,
            before.billed_minutes,
            links.money(),
        ),
        (
            "Average cost per minute",
            per_minute(now),
            per_minute(before),
            now.cost_per_minute or 0,
            before.cost_per_minute or 0,
            links.money(),
        ),
        (
            "Unrated legs",
            f"{now.unrated_legs:,}",
            f"{before.unrated_legs:,}",
            now.unrated_legs,
            before.unrated_legs,
            links.calls(rating="unrated"),
        ),
        (
            "Open overbilled amount",
            charts.money(now.overbilled_open, currency),
            charts.money(before.overbilled_open, currency),
            now.overbilled_open,
            before.overbilled_open,
            links.calls(overbilled="open"),
        ),
    ]
    cards = []
    for label, value, previous, a, b, url in rows:
        change, trend = _pct_change(a, b)
        cards.append(KpiCard(label, value, previous, change, trend, url))
    return cards


def _with_urls(df: pd.DataFrame, make) -> pd.DataFrame:
    df = df.copy()
    df["url"] = [make(row) for row in df.itertuples(index=False)] if not df.empty else []
    return df


def _key(value: str) -> str:
    return value or NONE


def build_dashboard(filterset: CallLegFilter, *, currency: str | None) -> dict[str, Any]:
    """All numbers, tables and figures of the dashboard for a validated filterset."""
    legs = filterset.qs
    period = filterset.resolved_period
    previous = period.previous()
    data = filterset.form.cleaned_data
    carrier: Carrier | None = data.get("carrier")
    # the daily/hourly rollups answer the leg aggregates when the filters allow (same numbers)
    rolled = rollup.filters_for(data) if rollup.is_ready() else None
    # one scan of the legs covers both periods: KPIs, cost per day, carriers and currencies
    totals = sel.daily_totals(legs, Period(previous.start, period.end), rollup=rolled)
    found = sel.currencies(totals, period)
    currency = (
        (currency or "").upper() or (found[0] if found else None) or (carrier.currency if carrier else DEFAULT_CURRENCY)
    )
    discrepancies = sel.scoped_discrepancies(legs, carrier=carrier, leg_filters=filterset.has_leg_only_filters())
    links = Links(filterset, period, currency)

    over_now = sel.overbilled_by_carrier(discrepancies, period, currency=currency)
    open_now = sum(over_now["overbilled_open"], Decimal("0"))
    open_before = sel.overbilled_open(discrepancies, previous, currency=currency)
    now = sel.kpis(totals, period, currency=currency, overbilled_open=open_now)
    before = sel.kpis(totals, previous, currency=currency, overbilled_open=open_before)
    breakdown = sel.cost_breakdown(legs, period, currency=currency, rollup=rolled)

    per_day = _with_urls(
        sel.cost_per_day(totals, period, currency=currency),
        lambda r: links.money(Period(r.day, r.day), carrier=_int_or_none(r.carrier_id)),
    )
    by_country = _with_urls(sel.cost_by_country(breakdown), lambda r: links.money(country=_key(r.key)))
    by_type = _with_urls(sel.cost_by_number_type(breakdown), lambda r: links.money(number_type=r.key))
    by_queue = _with_urls(sel.cost_by_queue(breakdown), lambda r: links.money(queue=_key(r.key)))
    by_wrapup = _with_urls(sel.cost_by_wrapup(breakdown), lambda r: links.money(wrapup=_key(r.key)))
    heat = _with_urls(
        sel.calls_by_hour_weekday(legs, period, rollup=rolled), lambda r: links.calls(weekday=r.weekday, hour=r.hour)
    )
    over = _with_urls(
        sel.overbilled_by_month(discrepancies, period, currency=currency),
        lambda r: links.calls(_month_period(r.month), carrier=_int_or_none(r.carrier_id), overbilled="any"),
    )
    summary = sel.carrier_summary(totals, over_now, period, currency=currency)
    carriers = [
        {
            "name": row.carrier or "(no carrier)",
            "cost": charts.money(row.cost, currency),
            "calls": row.calls,
            "minutes": (Decimal(int(row.billed_seconds)) / 60).quantize(Decimal("0.01")),
            "overbilled": charts.money(row.overbilled, currency),
            "overbilled_open": charts.money(row.overbilled_open, currency),
            "has_overbilled": bool(row.overbilled),
            "url": links.money(carrier=_int_or_none(row.carrier_id)),
            "countries_url": f"?{_dashboard_query(filterset, carrier=_int_or_none(row.carrier_id))}",
            "overbilled_url": links.calls(carrier=_int_or_none(row.carrier_id), overbilled="any"),
        }
        for row in summary.itertuples(index=False)
    ]
    figures = [
        ("cost-per-day", "Cost per day by carrier", per_day, charts.cost_per_day, True),
        ("cost-by-country", "Cost by destination country", by_country, charts.cost_by_country, True),
        ("cost-by-type", "Cost by number type", by_type, charts.cost_by_number_type, True),
        ("cost-by-queue", "Cost by queue", by_queue, charts.cost_by_queue, True),
        ("cost-by-wrapup", "Cost by wrap-up code", by_wrapup, charts.cost_by_wrapup, True),
        ("calls-heatmap", "Calls by hour of day and weekday", heat, charts.calls_heatmap, False),
        (
            "overbilled-by-month",
            "Overbilled amount by carrier per month (last 6 months)",
            over,
            charts.overbilled_by_month,
            True,
        ),
    ]
    rendered = [
        {
            "id": div_id,
            "title": title,
            "html": charts.to_html(func(df, currency) if money else func(df), div_id) if not df.empty else "",
        }
        for div_id, title, df, func, money in figures
    ]
    top = sel.top_costly_calls(legs, period, currency=currency, rollup=rolled)
    return {
        "period": period,
        "previous": previous,
        "currency": currency,
        "other_currencies": [c for c in found if c != currency],
        "kpis": kpi_cards(now, before, currency, links),
        "carriers": carriers,
        "charts": rendered,
        "top_calls": top,
        "explorer_url": links.calls(),
    }


def _int_or_none(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _month_period(month) -> Period:
    import calendar

    last = calendar.monthrange(month.year, month.month)[1]
    return Period(month.replace(day=1), month.replace(day=last))


def _dashboard_query(filterset: CallLegFilter, **override: Any) -> str:
    params = {k: v for k, v in filterset.data.items() if k not in override and v not in ("", None)}
    params.update({k: v for k, v in override.items() if v is not None})
    return urlencode(params)


def _next_steps(request: HttpRequest) -> list[dict[str, str | None]]:
    user = request.user
    steps = []
    if user.has_perm("extraction.add_connection"):
        steps.append(
            {
                "text": "Add a platform connection (Genesys Cloud, RingCX or Voiso).",
                "url": _url("extraction:connection-list"),
                "action": "Add a connection",
            }
        )
    if user.has_perm("extraction.add_extractionrun"):
        steps.append(
            {
                "text": "Run an extraction to bring in the calls.",
                "url": _url("extraction:run-list"),
                "action": "Run an extraction",
            }
        )
    if user.has_perm("reconciliation.add_carrierupload"):
        steps.append(
            {
                "text": "Upload a carrier CDR file to reconcile it against the platform's calls.",
                "url": _url("reconciliation:upload-list"),
                "action": "Upload a CDR file",
            }
        )
    if not steps:
        steps.append(
            {
                "text": "No calls have been extracted yet. An administrator adds a connection and "
                "runs the first extraction; the dashboard fills in after that.",
                "url": None,
                "action": "",
            }
        )
    return steps


def render_home(request: HttpRequest) -> HttpResponse:
    """The dashboard for users who may see it, the next steps when there is nothing yet.

    A view already drawn for the same filter parameters, day and data costs a few cache reads (the
    session, the user's permissions, the filter choices, the view), the version query and one
    query for the top calls' numbers: no filter form is built."""
    if not request.user.has_perm("cdrweb.view_dashboard"):
        return render(request, "cdrweb/home.html", {"no_access": True})
    version = sel.data_version()
    if not sel.has_legs(version):
        return render(
            request,
            "cdrweb/home.html",
            {
                "empty": True,
                "next_steps": _next_steps(request),
                "has_connection": Connection.objects.exists(),
            },
        )
    key = _cache_key(request.GET, version)
    found = cache.get(key)
    if found is None:
        filterset = CallLegFilter(request.GET, queryset=CallLeg.objects.all(), dashboard=True)
        if not filterset.is_valid():
            context = {"form": filterset.form, "filter_bar": filter_bar(filterset)}
            return render(request, "cdrweb/home.html", context, status=400)
        found = cached_dashboard(filterset, key)
    context = _hydrate(found)
    rows = top_call_rows(context["top_calls"], masking.masker_for(request))
    context["body"] = SafeString(found["body_head"] + top_calls_table(rows, context["currency"]) + found["body_tail"])
    return render(request, "cdrweb/home.html", context)


# The views people open first: the unfiltered dashboard of every period preset.
WARM_QUERIES = ("", *(f"period={preset}" for preset in Preset.values if preset != Preset.CUSTOM))


def warm_views() -> int:
    """Draw each of WARM_QUERIES into the cache unless it is there for the current data; returns
    how many were drawn. The worker runs this every minute (see cdrweb.schedules), so after new
    calls, a rating run or a review change the first visitor finds the common views ready."""
    version = sel.data_version()
    if not sel.has_legs(version):
        return 0
    drawn = 0
    for query in WARM_QUERIES:
        data = QueryDict(query)
        key = _cache_key(data, version)
        if cache.get(key) is not None:
            continue
        filterset = CallLegFilter(data, queryset=CallLeg.objects.all(), dashboard=True)
        if filterset.is_valid():
            cached_dashboard(filterset, key)
            drawn += 1
    return drawn


def filter_bar(filterset: CallLegFilter) -> SafeString:
    """The filter form's HTML (call ``is_valid()`` first)."""
    form = filterset.form
    period = getattr(form, "resolved_period", None)
    hidden = [field for field in form if field.name not in VISIBLE_FILTERS and field.value()]
    context = {"form": form, "hidden": hidden, "previous": period.previous() if period is not None else None}
    return SafeString(render_to_string("cdrweb/_dashboard_filters.html", context))


@dataclass(frozen=True)
class TopCall:
    """One row of the top calls table. The cache holds it without ``number`` (no PII there, see
    _dehydrate); each request adds the leg's number and masks it with its own masker."""

    pk: int
    before: str  # the row's HTML up to the number cell, escaped already
    after: str  # the row's HTML after the number cell
    number: str = ""


def _top_call(leg: CallLeg, detail: str) -> TopCall:
    """The top calls row of ``leg`` (with its cost record and ``overbilled``), split around the number.

    Drawn in Python in one pass: a template loop over 20 rows x 8 cells cost as much as the rest of
    a cached page."""
    cost = leg.cost_record
    overbilled = (
        format_html('<span class="badge bad">{}</span>', floatformat(leg.overbilled, 2)) if leg.overbilled else ""
    )
    before = format_html(
        '<tr><td><a href="{}{}/">{}</a></td><td>{}</td><td>',
        detail,
        leg.pk,
        dateformat.format(timezone.localtime(leg.started_at), "Y-m-d H:i"),
        leg.direction,
    )
    after = format_html(
        '</td><td>{} {}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>',
        cost.destination,
        cost.country,
        cost.carrier or "",
        cost.billable_seconds,
        floatformat(cost.cost, 4),
        overbilled,
    )
    return TopCall(leg.pk, str(before), str(after), leg.dnis_e164 or leg.dnis)


def top_call_rows(top: list[TopCall], pii: masking.Masker) -> list[SafeString]:
    """The top calls table's rows, each number masked by ``pii``."""
    return [SafeString(row.before + conditional_escape(pii.phone(row.number)) + row.after) for row in top]


_TOP_CALLS_HEAD = (
    '<section class="card">\n<h2>Top {} costliest calls</h2>\n<table>\n  <thead><tr><th>Started</th>'
    '<th>Direction</th><th>Number</th><th>Destination</th><th>Carrier</th><th class="num">Billed s</th>'
    '<th class="num">Cost ({})</th><th class="num">Overbilled</th></tr></thead>\n  <tbody>\n'
)
_NO_TOP_CALLS = '<tr><td colspan="8" class="empty">No rated calls in this period.</td></tr>'


def top_calls_table(rows: list[SafeString], currency: str) -> SafeString:
    """The top calls section around its masked rows (per request, so drawn in Python)."""
    head = format_html(_TOP_CALLS_HEAD, len(rows), currency)
    return SafeString(head + ("\n".join(rows) or _NO_TOP_CALLS) + "\n  </tbody>\n</table>\n</section>")


def _known(query: QueryDict) -> list[tuple[str, list[str]]]:
    """The query's filter parameters (those CallLegFilter reads), sorted."""
    return sorted((name, values) for name, values in query.lists() if name in CallLegFilter.base_filters)


def _known_query(query: QueryDict) -> str:
    return urlencode([(name, value) for name, values in _known(query) for value in values])


def _cache_key(query: QueryDict, version: str) -> str:
    """The cache key of one view: its filter parameters as sent, today's date where the presets
    resolve it (the time zone too), the data version, and the connection and carrier lists that
    the filter bar offers (cached themselves until one of those changes)."""
    choices = SelectChoices()
    lists = (choices.get("connection"), choices.get("carrier"))
    # parameters the filters ignore do not make a new view (nor a new build)
    parts = (_known(query), str(timezone.localdate()), settings.TIME_ZONE, version, lists)
    return "dashboard:v4:" + hashlib.sha256(repr(parts).encode()).hexdigest()


def cached_dashboard(filterset: CallLegFilter, key: str) -> dict[str, Any]:
    """build_dashboard plus the filter bar and the aggregate blocks drawn as HTML, kept in the
    cache under ``key`` (see _cache_key) until the data changes or for CACHE_SECONDS at most.
    Returns the entry as cached (see _dehydrate); ``filterset`` must be valid.

    When several people open the same cold view at once, one request computes it and the others
    wait for its result (up to BUILD_WAIT_SECONDS) instead of all scanning the legs in parallel.
    """
    lock = key + ":building"
    if not cache.add(lock, 1, BUILD_WAIT_SECONDS):
        deadline = time.monotonic() + BUILD_WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.1)
            found = cache.get(key)
            if found is not None:
                return found
    try:
        with without_jit():
            found = build_dashboard(filterset, currency=filterset.form.cleaned_data.get("currency"))
        found["computed_at"] = timezone.now()
        detail = call_detail_prefix()
        found["top_calls"] = [_top_call(leg, detail) for leg in found["top_calls"]]
        found["body_head"], found["body_tail"] = _body(found, filterset)
        found = _dehydrate(found)
        cache.set(key, found, CACHE_SECONDS)
    finally:
        cache.delete(lock)
    return found


TOP_CALLS_MARKER = "<!-- cdrweb:top-calls -->"


def _body(context: dict[str, Any], filterset: CallLegFilter) -> tuple[str, str]:
    """The page's content for this view (filter bar, KPI cards, carriers, charts) drawn once per
    cache entry, split where the top calls table goes: it holds aggregates and links only, the
    same for every user, so a request only adds the table with its numbers masked."""
    html = render_to_string(
        "cdrweb/_dashboard_body.html",
        {
            **context,
            "filter_bar": filter_bar(filterset),
            "query": _known_query(filterset.data),
            "top_calls_marker": SafeString(TOP_CALLS_MARKER),
        },
    )
    head, tail = html.split(TOP_CALLS_MARKER)
    return head, tail


def _dehydrate(context: dict[str, Any]) -> dict[str, Any]:
    """What goes into the cache: the top calls without their numbers, so no phone number ever
    sits in the cache (Redis in the scale-out setup); the rest are aggregates without PII."""
    return {**context, "top_calls": [(row.pk, row.before, row.after) for row in context["top_calls"]]}


def _hydrate(cached: dict[str, Any]) -> dict[str, Any]:
    """Add the cached top calls' numbers (one query on 20 primary keys), in their cached order;
    a leg deleted since the entry was made drops out."""
    rows = cached["top_calls"]
    numbers = {
        pk: e164 or raw
        for pk, e164, raw in CallLeg.objects.filter(pk__in=[pk for pk, _, _ in rows]).values_list(
            "pk", "dnis_e164", "dnis"
        )
    }
    top = [TopCall(pk, before, after, numbers[pk]) for pk, before, after in rows if pk in numbers]
    return {**cached, "top_calls": top}
