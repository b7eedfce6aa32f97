from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from cdrweb import audit, masking, selectors
from cdrweb.decorators import require_any_perm, require_perm
from cdrweb.forms import AuditFilterForm, RevealForm


@login_required
def home(request: HttpRequest) -> HttpResponse:
    from cdrweb import dashboard  # the dashboard lives beside the spine; it reads other apps

    return dashboard.render_home(request)


@require_any_perm("cdrweb.view_auditentry")
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    entries = selectors.audit_entries(
        user=filters.get("user"),
        action=filters.get("action") or "",
        start=filters.get("start"),
        end=filters.get("end"),
    )
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "cdrweb/audit_log.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


@require_POST
@require_perm("cdrweb.reveal_pii")
def reveal(request: HttpRequest) -> HttpResponse:
    """Reveal personal data on one page for a while, with a reason; always audited."""
    form = RevealForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason of at least 5 characters to reveal personal data.")
        target = request.POST.get("next", "/")
        return redirect(target if target.startswith("/") and not target.startswith("//") else "/")
    scope = form.cleaned_data["next"].split("?", 1)[0]
    masking.grant_reveal(request, scope=scope, seconds=settings.CDRWEB_REVEAL_SECONDS)
    audit.record(
        actor=request.user,
        action="pii.reveal",
        summary=f"Revealed personal data on {scope}",
        reason=form.cleaned_data["reason"],
        request=request,
    )
    messages.info(request, "Personal data is shown on this page for the next few minutes.")
    return redirect(form.cleaned_data["next"])


@require_POST
@login_required
def hide(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    masking.hide(request, scope=target.split("?", 1)[0])
    return redirect(target)


def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    message = str(exception) if exception else ""
    return render(request, "403.html", {"exception": message}, status=403)


def page_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    return render(request, "404.html", status=404)


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    return render(request, "400.html", status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "500.html", status=500)
