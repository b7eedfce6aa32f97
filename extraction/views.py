"""Connection and run pages: GET renders a selector, POST calls a service and redirects."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from cdrweb.decorators import require_perm
from extraction import selectors, services
from extraction.forms import ConnectionForm, RunForm
from extraction.models import Connection, ExtractionRun


@require_perm("extraction.change_connection")
def connection_list(request: HttpRequest) -> HttpResponse:
    return render(request, "extraction/connection_list.html", {"connections": selectors.connection_list()})


@sensitive_post_parameters("client_secret", "api_token")
@require_perm("extraction.add_connection")
def connection_create(request: HttpRequest) -> HttpResponse:
    return _connection_form(request, None)


@sensitive_post_parameters("client_secret", "api_token")
@require_perm("extraction.change_connection")
def connection_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _connection_form(request, get_object_or_404(Connection, pk=pk))


def _connection_form(request: HttpRequest, connection: Connection | None) -> HttpResponse:
    form = ConnectionForm(request.POST or None, instance=connection)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_connection(connection=connection, user=request.user, data=form.cleaned_data,
                                             request=request)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Connection {saved.name} saved.")
            return redirect("extraction:connection-list")
    status = 400 if request.method == "POST" else 200
    return render(request, "extraction/connection_form.html", {"form": form, "connection": connection},
                  status=status)


@require_POST
@require_perm("extraction.change_connection")
def connection_test(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(Connection, pk=pk)
    ok, message = services.test_connection(connection=connection, user=request.user)
    (messages.success if ok else messages.error)(request, f"{connection.name}: {message}")
    return redirect("extraction:connection-list")


@require_perm("extraction.view_extractionrun")
def run_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.run_list(), 50).get_page(request.GET.get("page"))
    return render(request, "extraction/run_list.html", {"page": page})


@require_perm("extraction.add_extractionrun")
def run_create(request: HttpRequest) -> HttpResponse:
    form = RunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = services.start_extraction(connection=form.cleaned_data["connection"],
                                            start=form.cleaned_data["start_at"], end=form.cleaned_data["end_at"],
                                            user=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Extraction run {run.pk} queued.")
            return redirect("extraction:run-detail", run.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "extraction/run_form.html", {"form": form}, status=status)


@require_perm("extraction.view_extractionrun")
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(selectors.run_list(), pk=pk)
    return render(request, "extraction/run_detail.html", {
        "run": run, "chunks": run.chunks.order_by("index"), "progress": selectors.run_progress(run),
    })


@require_perm("extraction.view_extractionrun")
def run_progress(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ExtractionRun, pk=pk)
    return render(request, "cdrweb/_progress.html", {"progress": selectors.run_progress(run)})


@require_POST
@require_perm("extraction.change_extractionrun")
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = services.cancel_run(run_id=get_object_or_404(ExtractionRun, pk=pk).pk, user=request.user)
    messages.info(request, f"Run {run.pk}: {run.get_state_display().lower()}"
                  + ("" if run.finished else ", stopping after the current page"))
    return redirect("extraction:run-detail", run.pk)


@require_POST
@require_perm("extraction.change_extractionrun")
def run_resume(request: HttpRequest, pk: int) -> HttpResponse:
    run = services.resume_run(run_id=get_object_or_404(ExtractionRun, pk=pk).pk, user=request.user)
    messages.info(request, f"Run {run.pk} queued again.")
    return redirect("extraction:run-detail", run.pk)
