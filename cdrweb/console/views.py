"""SQL console pages. Results are masked inside the database (vtables.py), per request."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cdrweb import audit, masking
from cdrweb.console import chart, selectors, services
from cdrweb.console.forms import ChartForm, QueryForm, SaveQueryForm
from cdrweb.console.models import QueryHistory, SavedQuery
from cdrweb.console.validate import QueryRefused
from cdrweb.decorators import require_perm

PERM = "cdrweb.use_sql_console"
PAGE_SIZE = 50


def _revealed(request: HttpRequest) -> bool:
    """Reveal is granted per page; the whole console shares the index page's scope."""
    return masking.is_revealed(request, scope=reverse("console:index"))


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "schema": selectors.schema(),
        "saved": selectors.saved_queries_for(request.user),
        "recent": selectors.history_for(request.user)[:10],
        "save_form": SaveQueryForm(initial={"sql": extra["form"]["sql"].value() or ""}, auto_id="save_%s"),
        "max_rows": settings.SQL_CONSOLE_MAX_ROWS,
        **extra,
    }


def _result_context(request: HttpRequest, run: services.ConsoleRun) -> dict[str, Any]:
    """Paged rows and the chart for a run's result (already masked by the database)."""
    if run.result is None:
        return {"run": run}
    result = run.result
    page = Paginator(result.rows, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [[_display(v) for v in row] for row in page.object_list]
    numeric = chart.numeric_columns(result.columns, result.rows)
    chart_form = ChartForm(request.GET if "y" in request.GET else None, columns=result.columns, numeric=numeric)
    figure = None
    if chart_form.is_bound and chart_form.is_valid():
        data = chart_form.cleaned_data
        figure = chart.result_figure(
            result.columns, result.rows, x=data["x"], y=data["y"], series=data["series"] or "",
            kind=data["kind"] or "bar",
        )
    return {
        "run": run, "result": result, "page": page, "rows": rows,
        "chart_form": chart_form if numeric else None, "figure": figure,
    }


def _show_history(request: HttpRequest, history: QueryHistory) -> HttpResponse:
    form = QueryForm(initial={"sql": history.sql})
    if history.status == QueryHistory.Status.WAITING:
        progress = selectors.fetch_progress(history)
        if not progress.finished or (progress.failed and request.GET.get("run") != "1"):
            return render(request, "console/index.html",
                          _context(request, form=form, waiting=history, progress=progress))
    run = services.run_query(
        user=request.user, sql=history.sql, reveal=_revealed(request), history=history, request=request
    )
    return render(request, "console/index.html", _context(request, form=form, **_result_context(request, run)))


@require_http_methods(["GET", "POST"])
@require_perm(PERM)
def index(request: HttpRequest) -> HttpResponse:
    """The console: schema browser, editor, saved queries, and the result of a query."""
    if request.method == "GET":
        if request.GET.get("h", "").isdigit():
            history = get_object_or_404(QueryHistory, pk=int(request.GET["h"]), user=request.user)
            return _show_history(request, history)
        initial = {}
        if request.GET.get("saved", "").isdigit():
            saved = get_object_or_404(SavedQuery, pk=int(request.GET["saved"]), owner=request.user)
            initial["sql"] = saved.sql
        return render(request, "console/index.html", _context(request, form=QueryForm(initial=initial)))

    form = QueryForm(request.POST)
    if not form.is_valid():
        return render(request, "console/index.html", _context(request, form=form), status=400)
    sql = form.cleaned_data["sql"]
    if not form.cleaned_data["skip_plan"]:
        try:
            plan = services.plan(sql=sql)
        except QueryRefused:
            plan = None  # run_query records the refusal and shows it
        if plan is not None and plan.needs_extraction:
            return render(request, "console/index.html", _context(request, form=form, plan=plan))
    run = services.run_query(user=request.user, sql=sql, reveal=_revealed(request), request=request)
    status = 400 if run.history.status == QueryHistory.Status.REFUSED else 200
    return render(request, "console/index.html",
                  _context(request, form=form, **_result_context(request, run)), status=status)


@require_POST
@require_perm(PERM)
def fetch(request: HttpRequest) -> HttpResponse:
    """Confirming a plan: start the extraction runs in the background; the page then waits."""
    form = QueryForm(request.POST)
    if not form.is_valid():
        return render(request, "console/index.html", _context(request, form=form), status=400)
    try:
        history = services.start_fetch(user=request.user, sql=form.cleaned_data["sql"], request=request)
    except (QueryRefused, ValidationError) as err:
        form.add_error(None, err.messages if isinstance(err, ValidationError) else str(err))
        return render(request, "console/index.html", _context(request, form=form), status=400)
    messages.info(request, "Fetching the missing data; the query runs when the extraction finishes.")
    return redirect(f"{reverse('console:index')}?h={history.pk}")


@require_GET
@require_perm(PERM)
def poll(request: HttpRequest, pk: int) -> HttpResponse:
    """The waiting query's progress partial; once the runs finish, htmx reloads the page."""
    history = get_object_or_404(QueryHistory, pk=pk, user=request.user)
    progress = selectors.fetch_progress(history)
    response = render(request, "cdrweb/_progress.html", {"progress": progress})
    if progress.finished:
        response["HX-Refresh"] = "true"
    return response


@require_GET
@require_perm(PERM, "cdrweb.export_data")
def export(request: HttpRequest, pk: int) -> HttpResponse:
    """The whole (row-capped) result as CSV, masked the same way as the page."""
    history = get_object_or_404(QueryHistory, pk=pk, user=request.user)
    run = services.run_query(
        user=request.user, sql=history.sql, reveal=_revealed(request), history=history, request=request
    )
    if run.result is None:
        messages.error(request, run.error)
        return redirect(f"{reverse('console:index')}?h={history.pk}")
    buffer = io.StringIO()
    count = services.write_csv(run.result, buffer)
    audit.record(actor=request.user, action="console.export", obj=history,
                 summary=f"Exported {count} rows as CSV", changes={"revealed": run.history.revealed},
                 request=request)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="console-{history.pk}.csv"'
    return response


@require_POST
@require_perm(PERM)
def save(request: HttpRequest) -> HttpResponse:
    form = SaveQueryForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the query a name (up to 120 characters).")
        return redirect("console:index")
    try:
        saved = services.save_query(user=request.user, **form.cleaned_data)
    except ValidationError as err:
        messages.error(request, " ".join(err.messages))
        return redirect("console:index")
    messages.success(request, f"Saved the query as “{saved.name}”.")
    return redirect(f"{reverse('console:index')}?saved={saved.pk}")


@require_POST
@require_perm(PERM)
def saved_delete(request: HttpRequest, pk: int) -> HttpResponse:
    if services.delete_saved_query(user=request.user, pk=pk):
        messages.info(request, "Deleted the saved query.")
    return redirect("console:index")


@require_GET
@require_perm(PERM)
def history(request: HttpRequest) -> HttpResponse:
    """The user's own query history, newest first."""
    page = Paginator(selectors.history_for(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "console/history.html", {"page": page})
