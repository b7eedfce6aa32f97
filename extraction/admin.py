"""Read-only admin screens; PII fields are masked by cdrweb.admin's wrapper (models' pii_fields)."""

from __future__ import annotations

from django.contrib import admin

from extraction.models import CallLeg, Connection, Conversation, ExtractionChunk, ExtractionRun, Participant


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Connection)
class ConnectionAdmin(ReadOnlyAdmin):
    list_display = ["name", "platform", "region", "base_url", "is_active", "last_success_at"]
    exclude = ["client_secret"]  # secrets are never rendered; edit connections in the app (write-only)


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["conversation_id", "connection", "conversation_start", "conversation_end", "is_open"]
    exclude = ["raw"]


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdmin):
    list_display = ["participant_id", "purpose", "participant_name"]
    exclude = ["attributes"]  # free participant data (genesys-cloud.md §9)


@admin.register(CallLeg)
class CallLegAdmin(ReadOnlyAdmin):
    list_display = ["leg_id", "direction", "ani", "dnis", "started_at", "duration_ms", "sip_call_id"]


@admin.register(ExtractionRun)
class ExtractionRunAdmin(ReadOnlyAdmin):
    list_display = ["pk", "connection", "start", "end", "state", "pages_fetched", "conversations", "call_legs"]


@admin.register(ExtractionChunk)
class ExtractionChunkAdmin(ReadOnlyAdmin):
    list_display = ["run", "index", "kind", "state", "job_state", "pages_fetched", "attempts"]
