from django.urls import path

from cdrweb.forecast import views

app_name = "forecast"

urlpatterns = [
    path("", views.index, name="index"),
    path("runs/", views.run_create, name="run-create"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run-progress"),
    path("runs/<int:pk>/forecast.csv", views.run_csv, name="run-csv"),
    path("runs/<int:pk>/forecast.json", views.run_json, name="run-json"),
    path("runs/<int:pk>/send/", views.run_send, name="run-send"),
    path("targets/", views.target_list, name="target-list"),
    path("targets/new/", views.target_create, name="target-create"),
    path("targets/<int:pk>/", views.target_edit, name="target-edit"),
]
