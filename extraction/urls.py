from django.urls import path

from extraction import views

app_name = "extraction"

urlpatterns = [
    path("connections/", views.connection_list, name="connection-list"),
    path("connections/new/", views.connection_create, name="connection-create"),
    path("connections/<int:pk>/", views.connection_edit, name="connection-edit"),
    path("connections/<int:pk>/test/", views.connection_test, name="connection-test"),
    path("runs/", views.run_list, name="run-list"),
    path("runs/new/", views.run_create, name="run-create"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run-progress"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("runs/<int:pk>/resume/", views.run_resume, name="run-resume"),
]
