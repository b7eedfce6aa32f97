"""Billing pages: carriers, trunk mappings, rate card versions and rates, CSV import/export,
rating runs and the per-leg cost explanation. GET renders a selector; POST calls a service."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from billing import csv_io, selectors, services
from billing.forms import (
    CarrierForm,
    CloneForm,
    ConfirmForm,
    DraftImportForm,
    ImportForm,
    RateCardForm,
    RateForm,
    RatePeriodForm,
    RetireForm,
    TrunkMappingForm,
)
from billing.models import Carrier, CarrierTrunkMapping, CostRecord, Rate, RateCard, RatingRun
from cdrweb.decorators import require_perm

_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def _errors(form, exc: ValidationError) -> None:
    for message in exc.messages:
        form.add_error(None, message)


def _form_page(request: HttpRequest, form, title: str, *, back: str, status: int = 200, **extra) -> HttpResponse:
    return render(request, "billing/form.html", {"form": form, "title": title, "back": back, **extra}, status=status)


# --- carriers ----------------------------------------------------------------------------------


@require_perm("billing.view_carrier")
def carrier_list(request: HttpRequest) -> HttpResponse:
    carriers = Carrier.objects.all()
    mappings = CarrierTrunkMapping.objects.select_related("carrier")
    return render(request, "billing/carrier_list.html", {"carriers": carriers, "mappings": mappings})


@require_perm("billing.add_carrier")
def carrier_create(request: HttpRequest) -> HttpResponse:
    return _carrier_form(request, None)


@require_perm("billing.change_carrier")
def carrier_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _carrier_form(request, get_object_or_404(Carrier, pk=pk))


def _carrier_form(request: HttpRequest, carrier: Carrier | None) -> HttpResponse:
    form = CarrierForm(request.POST or None, instance=carrier)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_carrier(actor=request.user, carrier=Carrier.objects.filter(pk=getattr(
                carrier, "pk", None)).first(), request=request, **form.cleaned_data)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"Carrier {saved.name} saved.")
            return redirect("billing:carrier-list")
    status = 400 if request.method == "POST" else 200
    return _form_page(request, form, f"Carrier {carrier}" if carrier else "New carrier",
                      back="billing:carrier-list", status=status)


@require_perm("billing.add_carriertrunkmapping")
def mapping_create(request: HttpRequest) -> HttpResponse:
    return _mapping_form(request, None)


@require_perm("billing.change_carriertrunkmapping")
def mapping_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _mapping_form(request, get_object_or_404(CarrierTrunkMapping, pk=pk))


def _mapping_form(request: HttpRequest, mapping: CarrierTrunkMapping | None) -> HttpResponse:
    form = TrunkMappingForm(request.POST or None, instance=mapping)
    if request.method == "POST" and form.is_valid():
        original = CarrierTrunkMapping.objects.filter(pk=getattr(mapping, "pk", None)).first()
        try:
            services.save_trunk_mapping(actor=request.user, mapping=original, request=request, **form.cleaned_data)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, "Trunk mapping saved; re-rate the period for it to apply to past calls.")
            return redirect("billing:carrier-list")
    status = 400 if request.method == "POST" else 200
    return _form_page(request, form, "Trunk mapping", back="billing:carrier-list", status=status)


@require_POST
@require_perm("billing.delete_carriertrunkmapping")
def mapping_delete(request: HttpRequest, pk: int) -> HttpResponse:
    services.delete_trunk_mapping(actor=request.user, mapping=get_object_or_404(CarrierTrunkMapping, pk=pk),
                                  request=request)
    messages.success(request, "Trunk mapping deleted.")
    return redirect("billing:carrier-list")


# --- rate card versions ------------------------------------------------------------------------


@require_perm("billing.view_ratecard")
def ratecard_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in RateCard.Status.values:
        status = ""
    cards = selectors.rate_card_list(status=status)
    return render(request, "billing/ratecard_list.html",
                  {"cards": cards, "status": status, "statuses": RateCard.Status.choices})


@require_perm("billing.view_ratecard")
def ratecard_detail(request: HttpRequest, pk: int) -> HttpResponse:
    card = get_object_or_404(RateCard.objects.select_related("carrier", "corrects", "superseded_by"), pk=pk)
    search = request.GET.get("q", "")[:50]
    direction = request.GET.get("direction", "")
    if direction not in ("", "inbound", "outbound"):
        direction = ""
    page = Paginator(selectors.rates_of_card(card=card, search=search, direction=direction), 100).get_page(
        request.GET.get("page"))
    editable = card.status == RateCard.Status.DRAFT or (card.status == RateCard.Status.ACTIVE
                                                        and not services.card_is_used(card))
    preview = card.rating_runs.filter(kind=RatingRun.Kind.PREVIEW).first() if card.corrects_id else None
    return render(request, "billing/ratecard_detail.html", {
        "card": card, "page": page, "search": search, "direction": direction, "editable": editable,
        "used": services.card_is_used(card), "preview": preview, "clone_form": CloneForm(),
        "retire_form": RetireForm(), "import_form": DraftImportForm(),
    })


@require_perm("billing.add_ratecard")
def ratecard_create(request: HttpRequest) -> HttpResponse:
    form = RateCardForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        carrier = values.pop("carrier")
        try:
            card = services.create_rate_card(actor=request.user, carrier=carrier, request=request, **values)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"Draft {card} created: add rates, then activate it.")
            return redirect("billing:ratecard-detail", card.pk)
    return _form_page(request, form, "New rate card version (draft)", back="billing:ratecard-list",
                      status=400 if request.method == "POST" else 200)


@require_perm("billing.change_ratecard")
def ratecard_edit(request: HttpRequest, pk: int) -> HttpResponse:
    card = get_object_or_404(RateCard, pk=pk)
    form = RateCardForm(request.POST or None, instance=card)
    form.fields["carrier"].disabled = True
    if request.method == "POST" and form.is_valid():
        values = {k: v for k, v in form.cleaned_data.items() if k != "carrier"}
        try:
            services.update_rate_card(actor=request.user, card=RateCard.objects.get(pk=pk), request=request, **values)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, "Rate card saved.")
            return redirect("billing:ratecard-detail", pk)
    return _form_page(request, form, f"Edit {card}", back="billing:ratecard-list",
                      status=400 if request.method == "POST" else 200)


@require_POST
@require_perm("billing.add_ratecard")
def ratecard_clone(request: HttpRequest, pk: int) -> HttpResponse:
    card = get_object_or_404(RateCard, pk=pk)
    correction = request.POST.get("kind") == "correction"
    form = CloneForm(request.POST)
    if not correction and not form.is_valid():
        messages.error(request, "A new version needs a valid effective-from date.")
        return redirect("billing:ratecard-detail", pk)
    try:
        draft = services.clone_rate_card(actor=request.user, card=card, correction=correction, request=request,
                                         effective_from=None if correction else form.cleaned_data["effective_from"])
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("billing:ratecard-detail", pk)
    messages.success(request, f"{'Correction' if correction else 'New version'} draft {draft} created.")
    return redirect("billing:ratecard-detail", draft.pk)


@require_POST
@require_perm("billing.change_ratecard")
def ratecard_activate(request: HttpRequest, pk: int) -> HttpResponse:
    card = get_object_or_404(RateCard, pk=pk)
    try:
        run = services.activate_rate_card(actor=request.user, card=card, request=request)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("billing:ratecard-detail", pk)
    messages.success(request, f"{card} is live from {card.effective_from:%Y-%m-%d %H:%M} UTC.")
    return redirect("billing:run-detail", run.pk) if run else redirect("billing:ratecard-detail", pk)


@require_POST
@require_perm("billing.change_ratecard")
def ratecard_retire(request: HttpRequest, pk: int) -> HttpResponse:
    card = get_object_or_404(RateCard, pk=pk)
    form = RetireForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the UTC date-time the version stops pricing calls.")
        return redirect("billing:ratecard-detail", pk)
    try:
        run = services.retire_rate_card(actor=request.user, card=card, request=request, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("billing:ratecard-detail", pk)
    messages.success(request, f"{card} retired.")
    return redirect("billing:run-detail", run.pk) if run else redirect("billing:ratecard-detail", pk)


@require_POST
@require_perm("billing.change_ratecard", "billing.add_ratingrun")
def ratecard_preview(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(RateCard, pk=pk)
    try:
        run = services.preview_correction(actor=request.user, draft=draft)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("billing:ratecard-detail", pk)
    return redirect("billing:run-detail", run.pk)


@require_POST
@require_perm("billing.change_ratecard", "billing.add_ratingrun")
def ratecard_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(RateCard, pk=pk)
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the old prices were wrong (at least 3 characters).")
        return redirect("billing:ratecard-detail", pk)
    try:
        run = services.confirm_correction(actor=request.user, draft=draft, reason=form.cleaned_data["reason"],
                                          request=request)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("billing:ratecard-detail", pk)
    messages.success(request, f"Correction {draft} confirmed; re-rating the calls it covers.")
    return redirect("billing:run-detail", run.pk) if run else redirect("billing:ratecard-detail", pk)


@require_perm("billing.view_ratecard", "billing.view_rate")
def ratecard_export(request: HttpRequest, pk: int) -> HttpResponse:
    card = get_object_or_404(RateCard, pk=pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = re.sub(r"[^\w.-]+", "_", f"{card.carrier.name}_v{card.version}.csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    csv_io.write_rate_card_csv(card.rates.order_by("direction", "prefix", "band"), response)
    return response


def _stash_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "billing_imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


@require_perm("billing.add_ratecard", "billing.add_rate")
def ratecard_import(request: HttpRequest) -> HttpResponse:
    """Upload → dry-run preview with line-numbered errors → commit (the stashed file, unchanged)."""
    token = request.POST.get("token", "")
    committing = request.method == "POST" and request.POST.get("action") == "commit" and _TOKEN.match(token)
    form = ImportForm(request.POST or None, request.FILES or None)
    if committing:
        form.fields["file"].required = False
    context: dict = {"form": form}
    if request.method == "POST" and form.is_valid():
        stash = _stash_dir() / f"{token}.csv"
        if committing:
            if not stash.exists():
                messages.error(request, "That preview has expired; upload the file again.")
                return redirect("billing:ratecard-import")
            data = stash.read_bytes()
        else:
            data = form.cleaned_data["file"].read()
            token = uuid.uuid4().hex
            stash = _stash_dir() / f"{token}.csv"
            stash.write_bytes(data)
        result = services.import_rate_card(
            actor=request.user, data=data, carrier_name=form.cleaned_data["carrier"].strip(),
            currency=form.cleaned_data["currency"], effective_from=form.cleaned_data["effective_from"],
            increment=form.cleaned_data["increment"], make_default=form.cleaned_data["make_default"],
            dry_run=not committing, request=request,
        )
        if committing and result.ok:
            stash.unlink(missing_ok=True)
            messages.success(request, f"Imported {len(result.rows)} rates as {result.card}.")
            if result.run:
                return redirect("billing:run-detail", result.run.pk)
            return redirect("billing:ratecard-detail", result.card.pk)
        context.update(result=result, token=token, sample=result.rows[:50])
        return render(request, "billing/ratecard_import.html", context, status=200 if result.ok else 400)
    status = 400 if request.method == "POST" else 200
    return render(request, "billing/ratecard_import.html", context, status=status)


@require_POST
@require_perm("billing.change_ratecard", "billing.add_rate")
def ratecard_import_draft(request: HttpRequest, pk: int) -> HttpResponse:
    card = get_object_or_404(RateCard, pk=pk)
    form = DraftImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a CSV file.")
        return redirect("billing:ratecard-detail", pk)
    result = services.import_rates_into_draft(actor=request.user, card=card, data=form.cleaned_data["file"].read(),
                                              request=request)
    if result.errors:
        for error in result.errors[:50]:
            messages.error(request, str(error))
        messages.error(request, f"{len(result.errors)} error(s); nothing was changed.")
    else:
        messages.success(request, f"Draft now has {len(result.rows)} rates from the CSV.")
    return redirect("billing:ratecard-detail", pk)


# --- rates -------------------------------------------------------------------------------------


@require_perm("billing.add_rate")
def rate_create(request: HttpRequest, card_pk: int) -> HttpResponse:
    card = get_object_or_404(RateCard, pk=card_pk)
    return _rate_form(request, card, None)


@require_perm("billing.change_rate")
def rate_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rate = get_object_or_404(Rate.objects.select_related("rate_card"), pk=pk)
    return _rate_form(request, rate.rate_card, rate)


def _rate_form(request: HttpRequest, card: RateCard, rate: Rate | None) -> HttpResponse:
    form = RateForm(request.POST or None, instance=rate)
    if request.method == "POST" and form.is_valid():
        original = Rate.objects.filter(pk=getattr(rate, "pk", None)).first()
        try:
            services.save_rate(actor=request.user, card=card, rate=original, request=request, **form.cleaned_data)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, "Rate saved.")
            return redirect("billing:ratecard-detail", card.pk)
    return _form_page(request, form, f"Rate of {card}", back="billing:ratecard-list",
                      status=400 if request.method == "POST" else 200, card=card)


@require_POST
@require_perm("billing.delete_rate")
def rate_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rate = get_object_or_404(Rate, pk=pk)
    card_pk = rate.rate_card_id
    try:
        services.delete_rate(actor=request.user, rate=rate, request=request)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, "Rate deleted.")
    return redirect("billing:ratecard-detail", card_pk)


# --- rating runs and costs ---------------------------------------------------------------------


@require_perm("billing.view_ratingrun")
def run_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(RatingRun.objects.select_related("carrier", "rate_card"), 50).get_page(request.GET.get("page"))
    form = RatePeriodForm(request.POST or None) if request.user.has_perm("billing.add_ratingrun") else None
    return render(request, "billing/run_list.html", {"page": page, "form": form})


@require_POST
@require_perm("billing.add_ratingrun")
def run_create(request: HttpRequest) -> HttpResponse:
    form = RatePeriodForm(request.POST)
    if not form.is_valid():
        page = Paginator(RatingRun.objects.all(), 50).get_page(1)
        return render(request, "billing/run_list.html", {"page": page, "form": form}, status=400)
    run = services.start_rating_run(actor=request.user, reason=f"requested by {request.user.username}",
                                    **form.cleaned_data)
    messages.success(request, f"Rating run {run.pk} queued.")
    return redirect("billing:run-detail", run.pk)


@require_perm("billing.view_ratingrun")
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(RatingRun.objects.select_related("carrier", "rate_card", "rate_card__corrects"), pk=pk)
    return render(request, "billing/run_detail.html", {
        "run": run, "progress": selectors.run_progress(run), "confirm_form": ConfirmForm(),
        "can_confirm": request.user.has_perm("billing.change_ratecard") and run.kind == RatingRun.Kind.PREVIEW
        and run.state == RatingRun.State.DONE and run.rate_card and run.rate_card.status == RateCard.Status.DRAFT,
    })


@require_POST
@require_perm("billing.add_ratingrun")
def run_retry(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(RatingRun, pk=pk)
    try:
        services.retry_rating_run(actor=request.user, run=run)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, f"Run {run.pk} resumes from leg id {run.cursor_leg_id}.")
    return redirect("billing:run-detail", pk)


@require_perm("billing.view_ratingrun")
def run_progress(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(RatingRun, pk=pk)
    return render(request, "cdrweb/_progress.html", {"progress": selectors.run_progress(run)})


@require_perm("billing.view_costrecord")
def cost_detail(request: HttpRequest, leg_id: int) -> HttpResponse:
    """Why a leg costs what it costs; ``?partial=1`` (or htmx) renders just the explanation."""
    record = get_object_or_404(
        CostRecord.objects.select_related("leg", "carrier", "rate_card", "rate"), leg_id=leg_id
    )
    context = {"record": record, "leg": record.leg, "explanation": selectors.cost_explanation(record)}
    partial = request.GET.get("partial") or request.headers.get("HX-Request")
    template = "billing/_cost_explanation.html" if partial else "billing/cost_detail.html"
    return render(request, template, context)
