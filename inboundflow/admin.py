from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import Appointment, Call, Lead, Organization, User


@admin.register(User)
class InboundflowUserAdmin(UserAdmin):
    fieldsets = UserAdmin.fieldsets + (("Organization", {"fields": ["organization"]}),)
    # Onboarding from the admin: a new user is given their organization on the first page.
    add_fieldsets = UserAdmin.add_fieldsets + (("Organization", {"fields": ["organization"]}),)
    list_display = ["username", "email", "organization", "is_staff"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "created_at"]
    search_fields = ["name"]


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ["__str__", "organization", "state", "started_at", "ended_at"]
    list_filter = ["state", "organization"]
    search_fields = ["caller_name", "caller_phone"]


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "organization", "call", "time_start"]
    raw_id_fields = ["call"]


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["__str__", "organization", "call", "created_at"]
    raw_id_fields = ["call"]
