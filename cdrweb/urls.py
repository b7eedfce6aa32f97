from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from cdrweb import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("audit/", views.audit_log, name="audit-log"),
    path("pii/reveal/", views.reveal, name="pii-reveal"),
    path("pii/hide/", views.hide, name="pii-hide"),
    path("healthz", views.healthz, name="healthz"),
    path("calls/", include("cdrweb.explorer.urls")),
    path("console/", include("cdrweb.console.urls")),
    path("forecast/", include("cdrweb.forecast.urls")),
    path("extraction/", include("extraction.urls")),
    path("billing/", include("billing.urls")),
    path("reconciliation/", include("reconciliation.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "cdrweb.views.bad_request"
handler403 = "cdrweb.views.permission_denied"
handler404 = "cdrweb.views.page_not_found"
handler500 = "cdrweb.views.server_error"
