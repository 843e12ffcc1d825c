from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from webhooks import views as webhook_views
from webhooks.api import MeView, router

from .views import language_set

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="webhooks:integration-list"), name="home"),
    path("settings/integrations/", include("webhooks.urls")),
    path("settings/api-keys/", webhook_views.api_key_list, name="api-keys"),
    path("settings/api-keys/<str:prefix>/revoke/", webhook_views.api_key_revoke, name="api-key-revoke"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/me/", MeView.as_view(), name="api-me"),
    path("api/", include(router.urls)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("language/", language_set, name="language-set"),
    path("admin/", admin.site.urls),
]

handler400 = "webhooks.api_errors.bad_request"
handler404 = "webhooks.api_errors.not_found"
handler500 = "webhooks.api_errors.server_error"
