"""Admin for operators. Secrets are never listed; the secret field is write-only."""
from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from . import services
from .models import ApiKey, Attempt, Delivery, Event, Integration

# The library's own key model is unused: keys belong to an organization (ApiKey below).
admin.site.unregister(APIKey)


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    list_display = ["prefix", "name", "organization", "created", "last_used_at", "revoked"]
    list_filter = ["revoked", "created"]
    search_fields = ["name", "prefix", "organization__name"]

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "last_used_at", "revoked_at")


class IntegrationAdminForm(forms.ModelForm):
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to keep the current secret."),
    )

    class Meta:
        model = Integration
        fields = "__all__"

    def clean_secret(self):
        return self.cleaned_data["secret"] or self.instance.secret


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    form = IntegrationAdminForm
    list_display = ["name", "kind", "origin", "organization", "state", "consecutive_failures", "last_success_at", "last_failure_at"]
    list_filter = ["kind", "origin", "state"]
    search_fields = ["name", "organization__name"]
    readonly_fields = ["consecutive_failures", "last_success_at", "last_failure_at", "last_error", "created_at", "updated_at"]
    actions = ["reenable", "reenable_and_send_held", "send_test"]

    @admin.action(description=_("Re-enable (keep held deliveries held)"))
    def reenable(self, request, queryset):
        for integration in queryset:
            services.integration_enable(integration=integration)
        self.message_user(request, _("Re-enabled %(count)d integration(s).") % {"count": len(queryset)})

    @admin.action(description=_("Re-enable and send held deliveries"))
    def reenable_and_send_held(self, request, queryset):
        released = sum(services.integration_enable(integration=i, send_held=True) for i in queryset)
        self.message_user(
            request,
            _("Re-enabled %(count)d integration(s); %(released)d held deliveries sent.")
            % {"count": len(queryset), "released": released},
        )

    @admin.action(description=_("Send test webhook"))
    def send_test(self, request, queryset):
        for integration in queryset:
            attempt = services.integration_send_test(integration=integration)
            outcome = attempt.status_code or attempt.get_error_class_display()
            level = messages.SUCCESS if attempt.succeeded else messages.ERROR
            self.message_user(
                request,
                _("%(name)s: %(outcome)s in %(ms)d ms.") % {"name": integration.name, "outcome": outcome, "ms": attempt.duration_ms},
                level,
            )


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "duration_ms", "succeeded", "status_code", "error_class", "error_message", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "event", "integration", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["status", "integration__kind", "event__event_type"]
    search_fields = ["id", "integration__name"]
    list_select_related = ["event", "integration"]
    inlines = [AttemptInline]
    actions = ["redeliver"]

    @admin.action(description=_("Redeliver (same delivery_id)"))
    def redeliver(self, request, queryset):
        done = 0
        for delivery in queryset.select_related("integration"):
            try:
                services.delivery_redeliver(delivery=delivery)
                done += 1
            except services.ServiceError as error:
                self.message_user(request, f"{delivery.id}: {error}", messages.WARNING)
        self.message_user(request, _("%(count)d delivery(ies) queued for redelivery.") % {"count": done})


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["event_type", "organization", "occurred_at", "is_test", "source_id"]
    list_filter = ["event_type", "is_test"]
