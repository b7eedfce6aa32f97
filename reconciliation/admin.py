"""Admin: read-mostly views of imports and results; phone numbers masked via cdrweb.masking."""

from __future__ import annotations

from django.contrib import admin

from cdrweb.masking import MASKED, PiiKind
from reconciliation.models import (
    CarrierCdr,
    CarrierUpload,
    ColumnMapping,
    Discrepancy,
    DiscrepancyNote,
    ReconciliationRun,
)


@admin.register(ColumnMapping)
class ColumnMappingAdmin(admin.ModelAdmin):
    list_display = ("carrier", "name", "based_on_preset", "updated_at")


@admin.register(CarrierUpload)
class CarrierUploadAdmin(admin.ModelAdmin):
    list_display = ("id", "carrier", "original_name", "status", "rows_imported", "rows_error", "created_at")
    list_filter = ("status", "carrier")
    readonly_fields = [f.name for f in CarrierUpload._meta.fields]


@admin.register(CarrierCdr)
class CarrierCdrAdmin(admin.ModelAdmin):
    list_display = ("id", "carrier", "line_number", "sip_call_id", "start_utc", "masked_from", "masked_to", "charge")
    list_filter = ("carrier",)
    exclude = ("from_raw", "to_raw", "from_e164", "to_e164", "raw_line")
    readonly_fields = ("masked_from", "masked_to")

    @admin.display(description="from")
    def masked_from(self, obj: CarrierCdr) -> str:
        return MASKED(obj.from_raw, PiiKind.PHONE)

    @admin.display(description="to")
    def masked_to(self, obj: CarrierCdr) -> str:
        return MASKED(obj.to_raw, PiiKind.PHONE)

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    list_display = ("id", "carrier", "period_start", "period_end", "status", "discrepancy_count")
    readonly_fields = [f.name for f in ReconciliationRun._meta.fields]


@admin.register(Discrepancy)
class DiscrepancyAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "type", "cause", "status", "amount_at_stake", "currency")
    list_filter = ("type", "status")
    readonly_fields = [f.name for f in Discrepancy._meta.fields if f.name not in ("status", "assignee")]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the review workflow (audited) is the only way to change a discrepancy


@admin.register(DiscrepancyNote)
class DiscrepancyNoteAdmin(admin.ModelAdmin):
    list_display = ("id", "discrepancy", "author", "created_at", "masked_text")

    @admin.display(description="text")
    def masked_text(self, obj: DiscrepancyNote) -> str:
        return MASKED(obj.text, PiiKind.TEXT)

    exclude = ("text",)
    readonly_fields = ("masked_text",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False
