"""Views: uploads with preview and progress, mappings, runs, discrepancy review, exports."""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from cdrweb.decorators import require_perm
from cdrweb.masking import masker_for, scrub
from reconciliation import exports, selectors, services
from reconciliation.forms import (
    SORTS,
    DiscrepancyFilterForm,
    DiscrepancyUpdateForm,
    MappingForm,
    RunForm,
    UploadForm,
)
from reconciliation.models import (
    CarrierUpload,
    CdrMatch,
    ColumnMapping,
    Discrepancy,
    ReconciliationRun,
)
from reconciliation.presets import PRESETS

PAGE_SIZE = 50


@dataclass(frozen=True)
class Progress:
    percent: int
    state: str
    label: str
    finished: bool
    poll_url: str


def _upload_progress(upload: CarrierUpload) -> Progress:
    finished = upload.status not in (CarrierUpload.Status.QUEUED, CarrierUpload.Status.IMPORTING)
    label = f"{upload.rows_read} of ~{upload.rows_total_estimate} rows read, {upload.rows_error} bad"
    return Progress(upload.percent, upload.status, label, finished,
                    reverse("reconciliation:upload-progress", args=[upload.pk]))


def _run_progress(run: ReconciliationRun) -> Progress:
    finished = run.status in (ReconciliationRun.Status.DONE, ReconciliationRun.Status.FAILED)
    return Progress(run.progress_percent, run.status, run.progress_label, finished,
                    reverse("reconciliation:run-progress", args=[run.pk]))


# --- uploads ------------------------------------------------------------------------------


@require_perm("reconciliation.view_carrierupload")
def upload_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.uploads_for_list(), PAGE_SIZE).get_page(request.GET.get("page"))
    mappings = ColumnMapping.objects.select_related("carrier")
    return render(request, "reconciliation/upload_list.html", {"page": page, "mappings": mappings})


@require_perm("reconciliation.add_carrierupload")
def upload_create(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                upload = services.create_upload(
                    carrier=data["carrier"], stream=data["file"], original_name=data["file"].name,
                    preset=data["preset"], mapping=data["mapping"], timezone_name=data["timezone"],
                    period_start=data["period_start"], period_end=data["period_end"], user=request.user,
                )
            except ValidationError as err:
                form.add_error(None, err)
            else:
                messages.info(request, "Check the preview, then confirm the import.")
                return redirect("reconciliation:upload-detail", upload.pk)
        return render(request, "reconciliation/upload_form.html", {"form": form}, status=400)
    return render(request, "reconciliation/upload_form.html", {"form": form})


@require_perm("reconciliation.view_carrierupload")
def upload_detail(request: HttpRequest, pk: int) -> HttpResponse:
    upload = get_object_or_404(CarrierUpload.objects.select_related("carrier", "mapping"), pk=pk)
    pii = masker_for(request)
    errors = [
        (e.line, e.column, e.reason if pii.reveal else scrub(e.reason))
        for e in selectors.upload_errors(upload)[:100]
    ]
    preview_errors = [
        {**e, "reason": e["reason"] if pii.reveal else scrub(e["reason"])}
        for e in upload.preview.get("sample_errors", [])
    ]
    return render(request, "reconciliation/upload_detail.html", {
        "upload": upload, "progress": _upload_progress(upload), "errors": errors,
        "preview": upload.preview, "preview_errors": preview_errors,
    })


@require_perm("reconciliation.view_carrierupload")
def upload_progress(request: HttpRequest, pk: int) -> HttpResponse:
    upload = get_object_or_404(CarrierUpload, pk=pk)
    return render(request, "cdrweb/_progress.html", {"progress": _upload_progress(upload)})


def _upload_action(request: HttpRequest, pk: int, action) -> HttpResponse:
    upload = get_object_or_404(CarrierUpload, pk=pk)
    try:
        action(upload=upload, user=request.user)
    except ValidationError as err:
        messages.error(request, " ".join(err.messages))
    return redirect("reconciliation:upload-detail", upload.pk)


@require_POST
@require_perm("reconciliation.change_carrierupload")
def upload_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    return _upload_action(request, pk, services.confirm_upload)


@require_POST
@require_perm("reconciliation.change_carrierupload")
def upload_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _upload_action(request, pk, services.cancel_upload)


@require_POST
@require_perm("reconciliation.change_carrierupload")
def upload_resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _upload_action(request, pk, services.resume_upload)


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_perm("reconciliation.view_uploadrowerror")
def upload_errors_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The error report: line, column, reason for every rejected row (values scrubbed unless revealed)."""
    upload = get_object_or_404(CarrierUpload, pk=pk)
    pii = masker_for(request, scope=reverse("reconciliation:upload-detail", args=[upload.pk]))
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["line", "column", "reason"])
        for line, column, reason in selectors.upload_errors(upload).values_list("line", "column", "reason").iterator():
            text = reason if pii.reveal else scrub(reason)
            yield writer.writerow([line, exports.safe_cell(column), exports.safe_cell(text)])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="upload-{upload.pk}-errors.csv"'
    return response


# --- mappings -----------------------------------------------------------------------------


def _mapping_form_page(request: HttpRequest, instance: ColumnMapping | None) -> HttpResponse:
    upload_id = request.GET.get("upload") or request.POST.get("upload")
    header: list[str] = []
    if upload_id and str(upload_id).isdigit():
        source = CarrierUpload.objects.filter(pk=int(upload_id)).first()
        header = list(source.preview.get("header", [])) if source else []
    initial: dict = {}
    preset = request.GET.get("preset", "")
    if instance is not None:
        initial = {"carrier": instance.carrier_id, "name": instance.name,
                   "based_on_preset": instance.based_on_preset, **instance.fields}
    elif preset in PRESETS:
        initial = {"based_on_preset": preset, **{k: v for k, v in PRESETS[preset].items() if isinstance(v, str)}}
    form = MappingForm(request.POST or None, header=header, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                saved = services.save_column_mapping(
                    carrier=form.cleaned_data["carrier"], name=form.cleaned_data["name"],
                    fields=form.mapping_fields(), based_on_preset=form.cleaned_data["based_on_preset"],
                    user=request.user, instance=instance,
                )
            except ValidationError as err:
                form.add_error(None, err)
            else:
                messages.success(request, f"Mapping {saved.name} saved.")
                return redirect("reconciliation:upload-list")
        status = 400
    return render(request, "reconciliation/mapping_form.html",
                  {"form": form, "header": header, "upload_id": upload_id or "", "instance": instance,
                   "presets": PRESETS}, status=status)


@require_perm("reconciliation.add_columnmapping")
def mapping_create(request: HttpRequest) -> HttpResponse:
    return _mapping_form_page(request, None)


@require_perm("reconciliation.change_columnmapping")
def mapping_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _mapping_form_page(request, get_object_or_404(ColumnMapping, pk=pk))


# --- runs ---------------------------------------------------------------------------------


@require_perm("reconciliation.view_reconciliationrun")
def run_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.runs_for_list(), PAGE_SIZE).get_page(request.GET.get("page"))
    form = RunForm() if request.user.has_perm("reconciliation.add_reconciliationrun") else None
    return render(request, "reconciliation/run_list.html", {"page": page, "form": form})


@require_POST
@require_perm("reconciliation.add_reconciliationrun")
def run_create(request: HttpRequest) -> HttpResponse:
    form = RunForm(request.POST)
    if form.is_valid():
        start, end = form.period()
        try:
            run = services.start_run(carrier=form.cleaned_data["carrier"], period_start=start, period_end=end,
                                     user=request.user)
        except ValidationError as err:
            form.add_error(None, err)
        else:
            messages.info(request, "Reconciliation started.")
            return redirect("reconciliation:run-detail", run.pk)
    page = Paginator(selectors.runs_for_list(), PAGE_SIZE).get_page(1)
    return render(request, "reconciliation/run_list.html", {"page": page, "form": form}, status=400)


@require_perm("reconciliation.view_reconciliationrun")
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ReconciliationRun.objects.select_related("carrier"), pk=pk)
    totals = selectors.discrepancy_totals(run)
    biggest = max((abs(t["amount"] or Decimal(0)) for t in totals), default=Decimal(0))
    bars = [
        {**t, "width": int(100 * abs(t["amount"] or 0) / biggest) if biggest else 0} for t in totals
    ]
    return render(request, "reconciliation/run_detail.html", {
        "run": run, "progress": _run_progress(run), "totals": bars,
        "can_rerun": request.user.has_perm("reconciliation.add_reconciliationrun"),
        "can_export": request.user.has_perm("cdrweb.export_data"),
    })


@require_perm("reconciliation.view_reconciliationrun")
def run_progress(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ReconciliationRun, pk=pk)
    return render(request, "cdrweb/_progress.html", {"progress": _run_progress(run)})


@require_POST
@require_perm("reconciliation.add_reconciliationrun")
def run_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ReconciliationRun, pk=pk)
    try:
        services.start_run(carrier=run.carrier, period_start=run.period_start, period_end=run.period_end,
                           user=request.user)
    except ValidationError as err:
        messages.error(request, " ".join(err.messages))
    return redirect("reconciliation:run-detail", run.pk)


@require_perm("reconciliation.view_discrepancy", "cdrweb.export_data")
def run_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    run = get_object_or_404(ReconciliationRun.objects.select_related("carrier"), pk=pk)
    name = f"discrepancies-{run.carrier.name}-{run.period_start:%Y-%m-%d}-run{run.pk}".replace(" ", "_")
    if fmt == "csv":
        response = StreamingHttpResponse(exports.iter_csv(exports.run_discrepancies(run)),
                                         content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    pii = masker_for(request, scope=reverse("reconciliation:run-detail", args=[run.pk]))
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it after streaming
    exports.write_xlsx(run, spool, pii)
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=f"{name}.xlsx",
                        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


# --- review -------------------------------------------------------------------------------


@require_perm("reconciliation.view_discrepancy")
def discrepancy_list(request: HttpRequest) -> HttpResponse:
    form = DiscrepancyFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    qs = selectors.discrepancies_for_review(
        run_id=data.get("run"), types=data.get("type"), statuses=data.get("status"),
        min_amount=data.get("min_amount"), start=data.get("start"), end=data.get("end"),
    ).order_by(SORTS.get(data.get("sort") or "", "-amount_at_stake"), "id")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reconciliation/discrepancy_list.html",
                  {"form": form, "page": page, "query": query.urlencode(), "sort_query": _without(query, "sort")},
                  status=200 if form.is_valid() or not request.GET else 400)


def _without(query, key: str) -> str:
    copy = query.copy()
    copy.pop(key, None)
    return copy.urlencode()


@require_perm("reconciliation.view_discrepancy")
def discrepancy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    d = get_object_or_404(
        Discrepancy.objects.select_related("run__carrier", "carrier_cdr__upload", "leg__conversation",
                                           "leg__cost_record__rate", "leg__cost_record__rate_card", "assignee"),
        pk=pk,
    )
    form = DiscrepancyUpdateForm(request.POST or None, initial={"status": d.status, "assignee": d.assignee_id})
    status = 200
    if request.method == "POST":
        if not request.user.has_perm("reconciliation.change_discrepancy"):
            raise PermissionDenied("You need the permission: reconciliation.change_discrepancy")
        if form.is_valid():
            note = form.cleaned_data["note"]
            if note and not request.user.has_perm("reconciliation.add_discrepancynote"):
                raise PermissionDenied("You need the permission: reconciliation.add_discrepancynote")
            try:
                services.change_discrepancy(discrepancy=d, user=request.user, status=form.cleaned_data["status"],
                                            assignee=form.cleaned_data["assignee"], note=note, request=request)
            except ValidationError as err:
                form.add_error(None, err)
            else:
                messages.success(request, "Discrepancy updated.")
                return redirect("reconciliation:discrepancy-detail", d.pk)
        status = 400
    match = CdrMatch.objects.filter(run=d.run, carrier_cdr=d.carrier_cdr).first() if d.carrier_cdr else None
    cost = getattr(d.leg, "cost_record", None) if d.leg else None
    return render(request, "reconciliation/discrepancy_detail.html", {
        "d": d, "cdr": d.carrier_cdr, "leg": d.leg, "cost": cost, "match": match, "form": form,
        "notes": d.notes.select_related("author"),
        "can_change": request.user.has_perm("reconciliation.change_discrepancy"),
    }, status=status)
