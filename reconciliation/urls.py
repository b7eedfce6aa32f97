from django.urls import path

from reconciliation import views

app_name = "reconciliation"

urlpatterns = [
    path("uploads/", views.upload_list, name="upload-list"),
    path("uploads/new/", views.upload_create, name="upload-create"),
    path("uploads/<int:pk>/", views.upload_detail, name="upload-detail"),
    path("uploads/<int:pk>/progress/", views.upload_progress, name="upload-progress"),
    path("uploads/<int:pk>/confirm/", views.upload_confirm, name="upload-confirm"),
    path("uploads/<int:pk>/cancel/", views.upload_cancel, name="upload-cancel"),
    path("uploads/<int:pk>/resume/", views.upload_resume, name="upload-resume"),
    path("uploads/<int:pk>/errors.csv", views.upload_errors_csv, name="upload-errors"),
    path("mappings/new/", views.mapping_create, name="mapping-create"),
    path("mappings/<int:pk>/", views.mapping_edit, name="mapping-edit"),
    path("runs/", views.run_list, name="run-list"),
    path("runs/new/", views.run_create, name="run-create"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run-progress"),
    path("runs/<int:pk>/rerun/", views.run_rerun, name="run-rerun"),
    path("runs/<int:pk>/export.csv", views.run_export, {"fmt": "csv"}, name="run-export-csv"),
    path("runs/<int:pk>/export.xlsx", views.run_export, {"fmt": "xlsx"}, name="run-export-xlsx"),
    path("discrepancies/", views.discrepancy_list, name="discrepancy-list"),
    path("discrepancies/<int:pk>/", views.discrepancy_detail, name="discrepancy-detail"),
]
