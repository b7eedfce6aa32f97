from django.urls import path

from cdrweb.console import views

app_name = "console"

urlpatterns = [
    path("", views.index, name="index"),
    path("fetch/", views.fetch, name="fetch"),
    path("poll/<int:pk>/", views.poll, name="poll"),
    path("export/<int:pk>.csv", views.export, name="export"),
    path("saved/", views.save, name="save"),
    path("saved/<int:pk>/delete/", views.saved_delete, name="saved-delete"),
    path("history/", views.history, name="history"),
]
