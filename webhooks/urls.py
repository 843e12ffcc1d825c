from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.integration_list, name="integration-list"),
    path("new/", views.integration_create, name="integration-create"),
    path("demo/call/", views.demo_simulate_call, name="demo-call"),
    path("<uuid:pk>/", views.integration_detail, name="integration-detail"),
    path("<uuid:pk>/test/", views.integration_test, name="integration-test"),
    path("<uuid:pk>/enable/", views.integration_enable, name="integration-enable"),
    path("<uuid:pk>/disable/", views.integration_disable, name="integration-disable"),
    path("<uuid:pk>/send-held/", views.integration_send_held, name="integration-send-held"),
    path("<uuid:pk>/replay/", views.integration_replay, name="integration-replay"),
    path("<uuid:pk>/delete/", views.integration_delete, name="integration-delete"),
    path("<uuid:pk>/secret/rotate/", views.integration_secret_rotate, name="integration-secret-rotate"),
    path("<uuid:pk>/secret/use-new/", views.integration_secret_use_new, name="integration-secret-use-new"),
    path("deliveries/<uuid:pk>/", views.delivery_detail, name="delivery-detail"),
    path("alerts/<int:pk>/seen/", views.alert_seen, name="alert-seen"),
    path("deliveries/<uuid:pk>/redeliver/", views.delivery_redeliver, name="delivery-redeliver"),
]
