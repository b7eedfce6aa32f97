"""Call explorer pages: the filtered leg list, one call's detail, and the streamed CSV export."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django_tables2 import RequestConfig
from django_tables2.paginators import LazyPaginator

from cdrweb import audit, charts
from cdrweb.decorators import require_perm
from cdrweb.explorer import selectors
from cdrweb.explorer.filters import CallLegFilter
from cdrweb.explorer.tables import ROW_FIELDS, CallLegTable
from cdrweb.masking import Masker, PiiKind, masker_for
from extraction.models import CallLeg

PAGE_SIZE = 50
_EXPORT_PII = {"ani": PiiKind.PHONE, "dnis": PiiKind.PHONE}


def _filtered(request: HttpRequest) -> CallLegFilter:
    return CallLegFilter(request.GET, queryset=selectors.call_leg_list(CallLeg.objects.all()))


@require_perm("extraction.view_callleg")
def call_list(request: HttpRequest) -> HttpResponse:
    filterset = _filtered(request)
    if not filterset.is_valid():
        return render(request, "explorer/call_list.html", {"filterset": filterset, "table": None}, status=400)
    # RequestConfig sets table.request (read by MaskedColumn)
    table = CallLegTable(filterset.qs.only(*ROW_FIELDS))
    # LazyPaginator: no COUNT(*) over a million legs just to draw "next"
    RequestConfig(request, paginate={"per_page": PAGE_SIZE, "paginator_class": LazyPaginator}).configure(table)
    return render(
        request,
        "explorer/call_list.html",
        {
            "filterset": filterset,
            "table": table,
            "rows": table.html_rows(),
            "period": filterset.resolved_period,
            "export_query": request.GET.urlencode(),
            "can_export": request.user.has_perm("cdrweb.export_data"),
        },
    )


@require_perm("extraction.view_callleg")
def call_detail(request: HttpRequest, pk: int) -> HttpResponse:
    detail = selectors.call_detail(pk)
    timeline = ""
    if detail.segments:
        pii = masker_for(request)
        frame = pd.DataFrame.from_records(
            [
                {
                    # lanes say who (purpose + masked name), never a raw name
                    "lane": f"{s.session.participant.purpose or 'participant'} · "
                    f"{pii.name(s.session.participant.participant_name) or s.session.session_id[:8]}",
                    "segment_type": s.segment_type,
                    "start": s.segment_start,
                    "end": s.segment_end or s.segment_start,
                }
                for s in detail.segments
            ]
        )
        timeline = charts.to_html(charts.segment_timeline(frame), "segment-timeline")
    return render(
        request,
        "explorer/call_detail.html",
        {
            "detail": detail,
            "leg": detail.leg,
            "timeline": timeline,
            "back_url": reverse("calls:list"),
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


_PLAIN_NUMBER = re.compile(r"^[+-]?[\d\s().]+$")


def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas (=, @, +/- not followed by a plain number)."""
    if isinstance(value, str) and value[:1] in ("=", "@", "+", "-", "\t", "\r") and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def _csv_lines(rows: Iterator[dict[str, Any]], masker: Masker) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(selectors.EXPORT_COLUMNS)
    for row in masker.rows(rows, _EXPORT_PII):
        yield writer.writerow([_cell(row.get(c)) if row.get(c) is not None else "" for c in selectors.EXPORT_COLUMNS])


@require_perm("extraction.view_callleg", "cdrweb.export_data")
def call_export(request: HttpRequest) -> HttpResponse:
    """The filtered legs as CSV, streamed; numbers masked unless revealed on the list page."""
    filterset = CallLegFilter(request.GET, queryset=CallLeg.objects.all())
    if not filterset.is_valid():
        return render(request, "explorer/call_list.html", {"filterset": filterset, "table": None}, status=400)
    masker = masker_for(request, scope=reverse("calls:list"))
    audit.record(
        actor=request.user,
        action="calls.export",
        summary=f"Exported calls {filterset.resolved_period.label()} ({'revealed' if masker.reveal else 'masked'})",
        changes={"filters": request.GET.urlencode()},
        request=request,
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(
        _csv_lines(selectors.export_rows(filterset.qs), masker), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="calls-{stamp}.csv"'
    return response
