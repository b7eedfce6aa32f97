from django.urls import path

from cdrweb.explorer import views

app_name = "calls"

urlpatterns = [
    path("", views.call_list, name="list"),
    path("export.csv", views.call_export, name="export"),
    path("<int:pk>/", views.call_detail, name="detail"),
]
