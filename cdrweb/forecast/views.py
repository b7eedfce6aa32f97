"""Forecast pages: pick codes and run, watch progress, read the result, export it, hand it off."""

from __future__ import annotations

import csv
from datetime import timedelta
from types import SimpleNamespace

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from cdrweb import audit
from cdrweb.decorators import require_perm
from cdrweb.forecast import charts, selectors, services
from cdrweb.forecast.forms import ForecastForm, HandoffTargetForm, PlanningGroupFormSet, SendForm
from cdrweb.forecast.models import ForecastRun, HandoffTarget

VIEW = "cdrweb.view_dashboard"
RUN = "cdrweb.run_forecast"
EXPORT = "cdrweb.export_data"


def _code_choices() -> list[tuple[str, str]]:
    today = timezone.localdate()
    found = selectors.wrapup_code_choices(start=today - timedelta(days=services.MAX_LOOKBACK_DAYS), end=today)
    return [(c.code, c.label) for c in found]


def _index(request: HttpRequest, form: ForecastForm, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "runs": selectors.recent_runs(),
        "can_run": request.user.has_perm(RUN),
        "can_manage_targets": request.user.has_perm("cdrweb.change_handofftarget"),
    }
    return render(request, "forecast/index.html", context, status=status)


@require_perm(VIEW)
def index(request: HttpRequest) -> HttpResponse:
    return _index(request, ForecastForm(code_choices=_code_choices()))


@require_POST
@require_perm(VIEW, RUN)
def run_create(request: HttpRequest) -> HttpResponse:
    form = ForecastForm(request.POST, code_choices=_code_choices())
    if not form.is_valid():
        return _index(request, form, status=400)
    try:
        with transaction.atomic():
            run = services.start_forecast_run(user=request.user, **form.cleaned_data)
    except ValidationError as exc:
        form.add_error(None, exc)
        return _index(request, form, status=400)
    messages.success(request, f"Forecast #{run.pk} started.")
    return redirect("forecast:run-detail", run.pk)


def _progress(run: ForecastRun) -> SimpleNamespace:
    label = run.error if run.state == ForecastRun.State.FAILED else f"{run.codes_done} of {run.codes_total} codes"
    return SimpleNamespace(
        percent=run.percent, state=run.get_state_display(), label=label, finished=run.finished,
        poll_url=reverse("forecast:run-progress", args=[run.pk]),
    )


@require_perm(VIEW)
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ForecastRun, pk=pk)
    series = list(selectors.run_series(run=run))
    points = selectors.run_points(run=run)
    cards = []
    for s in series:
        mine = points[points["wrapup_code"] == s.wrapup_code]
        cards.append({
            "series": s,
            "chart": charts.forecast_chart(mine, title=s.label, confidence_pct=run.confidence_pct),
            "forecast_rows": list(mine[mine["kind"] == "forecast"].itertuples()),
        })
    targets = selectors.active_targets()
    context = {
        "run": run,
        "progress": _progress(run),
        "cards": cards,
        "can_send": request.user.has_perm(RUN) and run.state == ForecastRun.State.DONE,
        "can_export": request.user.has_perm(EXPORT),
        "send_form": SendForm(targets=targets),
        "handoffs": selectors.handoffs_for_run(run=run),
    }
    return render(request, "forecast/run_detail.html", context)


@require_perm(VIEW)
def run_progress(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ForecastRun, pk=pk)
    response = render(request, "cdrweb/_progress.html", {"progress": _progress(run)})
    if run.finished:
        response["HX-Refresh"] = "true"  # reload once so the finished charts appear
    return response


@require_perm(VIEW, EXPORT)
def run_csv(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ForecastRun, pk=pk)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="forecast-{run.pk}.csv"'
    csv.writer(response).writerows(services.forecast_csv_rows(run=run))
    return response


@require_perm(VIEW, EXPORT)
def run_json(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ForecastRun, pk=pk)
    response = HttpResponse(services.forecast_json(run=run), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="forecast-{run.pk}.json"'
    return response


@require_POST
@require_perm(VIEW, RUN)
def run_send(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ForecastRun, pk=pk)
    form = SendForm(request.POST, targets=selectors.active_targets())
    if not form.is_valid():
        messages.error(request, "Pick an active hand-off target.")
        return redirect("forecast:run-detail", run.pk)
    try:
        with transaction.atomic():
            services.request_handoff(run=run, target=form.cleaned_data["target"], user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Sending to “{form.cleaned_data['target']}”; the result is listed below.")
    return redirect("forecast:run-detail", run.pk)


@require_perm("cdrweb.view_handofftarget")
def target_list(request: HttpRequest) -> HttpResponse:
    context = {
        "targets": HandoffTarget.objects.select_related("connection").prefetch_related("mappings"),
        "can_manage": request.user.has_perm("cdrweb.change_handofftarget"),
        "can_add": request.user.has_perm("cdrweb.add_handofftarget"),
    }
    return render(request, "forecast/target_list.html", context)


def _save_target(request: HttpRequest, target: HandoffTarget | None) -> HttpResponse:
    instance = target or HandoffTarget()
    form = HandoffTargetForm(request.POST or None, instance=instance)
    formset = PlanningGroupFormSet(request.POST or None, instance=instance, prefix="mappings")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        before = audit.snapshot(target) if target else {}
        with transaction.atomic():
            saved = form.save()
            formset.instance = saved
            formset.save()
            audit.record(
                actor=request.user, action="forecast.target." + ("update" if target else "create"),
                obj=saved, summary=f"Hand-off target “{saved.name}” saved",
                changes={**audit.diff(before, audit.snapshot(saved)),
                         "mappings": [f"{m.wrapup_code}={m.planning_group_id}" for m in saved.mappings.all()]},
                request=request,
            )
        messages.success(request, f"Saved “{saved.name}”.")
        return redirect("forecast:target-list")
    status = 400 if request.method == "POST" else 200
    return render(request, "forecast/target_form.html",
                  {"form": form, "formset": formset, "target": target}, status=status)


@sensitive_post_parameters("secret")
@require_perm("cdrweb.add_handofftarget")
def target_create(request: HttpRequest) -> HttpResponse:
    return _save_target(request, None)


@sensitive_post_parameters("secret")
@require_perm("cdrweb.change_handofftarget")
def target_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _save_target(request, get_object_or_404(HandoffTarget, pk=pk))
