"""Admin for the audit log, and PII masking for every admin screen.

Any registered model that declares ``pii_fields`` gets its admin wrapped (in CdrwebConfig.ready)
so those fields show masked in lists and forms and cannot be edited there, unless the user
revealed the page. One masking layer, applied to the whole admin site.
"""

from __future__ import annotations

from django.contrib import admin

from cdrweb import masking
from cdrweb.fields import EncryptedTextField
from cdrweb.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_name", "action", "object_type", "object_id"]
    list_filter = ["action"]
    search_fields = ["action", "actor_name", "object_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _masked_display(name: str, kind: masking.PiiKind):
    def display(self, obj):
        request = getattr(self, "_pii_request", None)
        masker = masking.masker_for(request) if request is not None else masking.MASKED
        return masker(getattr(obj, name), kind)

    display.short_description = name.replace("_", " ")
    display.__name__ = f"masked_{name}"
    return display


class PiiAdminMixin:
    """Show ``model.pii_fields`` through the masking layer; never as editable inputs."""

    def _pii(self) -> dict[str, masking.PiiKind]:
        return dict(getattr(self.model, "pii_fields", {}))

    def changelist_view(self, request, extra_context=None):
        self._pii_request = request
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        self._pii_request = request
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_list_display(self, request):
        pii = self._pii()
        return [f"masked_{name}" if name in pii else name for name in super().get_list_display(request)]

    def get_fields(self, request, obj=None):
        pii = self._pii()
        return [f"masked_{name}" if name in pii else name for name in super().get_fields(request, obj)]

    def get_fieldsets(self, request, obj=None):
        pii = self._pii()
        fieldsets = super().get_fieldsets(request, obj)
        return [
            (title, {**opts, "fields": [f"masked_{f}" if f in pii else f for f in opts.get("fields", ())]})
            for title, opts in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *(f"masked_{n}" for n in self._pii())]

    def get_search_fields(self, request):
        # Searching masked columns would let a user probe for a number: not without reveal.
        fields = super().get_search_fields(request)
        if masking.is_revealed(request):
            return fields
        pii = self._pii()
        return [f for f in fields if f.lstrip("^=@").split("__")[0] not in pii]


class SecretsHiddenAdminMixin:
    """Never render an encrypted field (client secrets, API keys, tokens) in any admin screen."""

    def _secrets(self) -> set[str]:
        return {f.name for f in self.model._meta.concrete_fields if isinstance(f, EncryptedTextField)}

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or ()), *self._secrets()]

    def get_fields(self, request, obj=None):
        return [f for f in super().get_fields(request, obj) if f not in self._secrets()]

    def get_fieldsets(self, request, obj=None):
        secrets = self._secrets()
        return [
            (title, {**opts, "fields": [f for f in opts.get("fields", ()) if f not in secrets]})
            for title, opts in super().get_fieldsets(request, obj)
        ]

    def get_readonly_fields(self, request, obj=None):
        return [f for f in super().get_readonly_fields(request, obj) if f not in self._secrets()]

    def get_list_display(self, request):
        return [f for f in super().get_list_display(request) if f not in self._secrets()]


def mask_registered_admins(site: admin.AdminSite = admin.site) -> None:
    """Wrap every registered admin: PII through the masking layer, secrets never shown."""
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, SecretsHiddenAdminMixin):
            continue
        pii = getattr(model, "pii_fields", None) or {}
        mixins: tuple[type, ...] = (SecretsHiddenAdminMixin,)
        attrs = {}
        if pii:
            mixins = (PiiAdminMixin, SecretsHiddenAdminMixin)
            attrs = {f"masked_{name}": _masked_display(name, kind) for name, kind in pii.items()}
        model_admin.__class__ = type(f"Masked{type(model_admin).__name__}", (*mixins, type(model_admin)), attrs)
