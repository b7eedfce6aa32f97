from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("", views.ratecard_list, name="ratecard-list"),
    path("cards/new/", views.ratecard_create, name="ratecard-create"),
    path("cards/import/", views.ratecard_import, name="ratecard-import"),
    path("cards/<int:pk>/", views.ratecard_detail, name="ratecard-detail"),
    path("cards/<int:pk>/edit/", views.ratecard_edit, name="ratecard-edit"),
    path("cards/<int:pk>/clone/", views.ratecard_clone, name="ratecard-clone"),
    path("cards/<int:pk>/activate/", views.ratecard_activate, name="ratecard-activate"),
    path("cards/<int:pk>/retire/", views.ratecard_retire, name="ratecard-retire"),
    path("cards/<int:pk>/preview/", views.ratecard_preview, name="ratecard-preview"),
    path("cards/<int:pk>/confirm/", views.ratecard_confirm, name="ratecard-confirm"),
    path("cards/<int:pk>/export.csv", views.ratecard_export, name="ratecard-export"),
    path("cards/<int:pk>/import/", views.ratecard_import_draft, name="ratecard-import-draft"),
    path("cards/<int:card_pk>/rates/new/", views.rate_create, name="rate-create"),
    path("rates/<int:pk>/edit/", views.rate_edit, name="rate-edit"),
    path("rates/<int:pk>/delete/", views.rate_delete, name="rate-delete"),
    path("carriers/", views.carrier_list, name="carrier-list"),
    path("carriers/new/", views.carrier_create, name="carrier-create"),
    path("carriers/<int:pk>/edit/", views.carrier_edit, name="carrier-edit"),
    path("mappings/new/", views.mapping_create, name="mapping-create"),
    path("mappings/<int:pk>/edit/", views.mapping_edit, name="mapping-edit"),
    path("mappings/<int:pk>/delete/", views.mapping_delete, name="mapping-delete"),
    path("runs/", views.run_list, name="run-list"),
    path("runs/new/", views.run_create, name="run-create"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/retry/", views.run_retry, name="run-retry"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run-progress"),
    path("costs/<int:leg_id>/", views.cost_detail, name="cost-detail"),
]
