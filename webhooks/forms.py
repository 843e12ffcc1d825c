"""The settings page's forms. Validation lives on the model fields, shared with admin and API."""
from django import forms
from django.utils import formats
from django.utils.translation import gettext_lazy as _

from .events import EventType, in_catalogue_order
from .conf import setting
from .kinds import kind_info
from .models import ApiKey, Delivery, Integration
from .rotation import secret_typed


class IntegrationForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        label=_("Events to receive"),
        error_messages={"required": _("Choose at least one event to receive.")},
    )
    secret = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        label=_("Signing secret"),
        help_text=_("Optional. With a secret, every delivery carries X-InboundFlow-Signature."),
    )
    clear_secret = forms.BooleanField(required=False, label=_("Remove the signing secret"))

    class Meta:
        model = Integration
        fields = ["kind", "name", "target_url", "event_types", "secret", "max_per_second"]
        labels = {
            "name": _("Name"), "target_url": _("Webhook URL (must be HTTPS)"),
            "max_per_second": _("Maximum rate (requests per second)"),
        }
        widgets = {"kind": forms.HiddenInput, "max_per_second": forms.NumberInput(attrs={"step": "any", "min": "0.1"})}

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        _lengths_checked_by_the_server(self)
        if self.instance._state.adding:
            self.instance.organization = organization
            del self.fields["clear_secret"]
            # The documented flow is URL → events → Test webhook → Save: the page that shows the
            # test's outcome must still hold the secret the person typed, or Save drops it.
            # Only what this person posted is sent back; a saved secret is never rendered.
            self.fields["secret"].widget.render_value = True
        elif self.instance.secret:
            self.fields["secret"].help_text = _("A secret is set. Leave empty to keep it, or type a new one.")
        default = kind_info(self.initial.get("kind") or self.instance.kind).max_per_second
        self.fields["max_per_second"].help_text = (
            _("Empty: %(rate)s per second, the most your platform accepts.") % {"rate": formats.number_format(int(default) if default == int(default) else default)}
            if default else _("Empty: as fast as your endpoint answers (up to %(concurrency)s requests at once).")
            % {"concurrency": setting("ENDPOINT_CONCURRENCY")}
        )

    def clean_name(self):
        return self.cleaned_data["name"].strip()

    def clean_event_types(self):
        return in_catalogue_order(self.cleaned_data["event_types"])

    def clean_secret(self):
        secret = self.cleaned_data["secret"]
        if not secret and not self.instance._state.adding:
            return self.instance.secret  # blank on edit keeps the current secret
        return secret

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("clear_secret"):
            cleaned["secret"] = ""
        if "secret" in cleaned and not self.instance._state.adding:
            secret_typed(self.instance, cleaned["secret"])  # a new secret ends any rotation
            self.instance.secret = cleaned["secret"]
        return cleaned


class TestEventForm(forms.Form):
    event_type = forms.ChoiceField(choices=EventType.choices, required=False)


class EnableForm(forms.Form):
    send_held = forms.BooleanField(required=False)


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name"]
        labels = {"name": _("Name")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _lengths_checked_by_the_server(self)

    def clean_name(self) -> str:
        return self.cleaned_data["name"].strip()


class DeliveryFilterForm(forms.Form):
    """Deliveries by status, event type and day (in the organization's time zone)."""

    status = forms.ChoiceField(label=_("Status"), required=False, choices=[("", _("All"))] + Delivery.Status.choices)
    event = forms.ChoiceField(label=_("Event"), required=False, choices=[("", _("All"))] + EventType.choices)
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("since") and cleaned.get("until") and cleaned["since"] > cleaned["until"]:
            raise forms.ValidationError(_("“From” must be on or before “To”."))
        return cleaned

    def filter(self, deliveries):
        """The deliveries that match; all of them when the filters are invalid (errors shown)."""
        if not self.is_valid():
            return deliveries
        values = self.cleaned_data
        if values["status"]:
            deliveries = deliveries.filter(status=values["status"])
        if values["event"]:
            deliveries = deliveries.filter(event__event_type=values["event"])
        if values["since"]:
            deliveries = deliveries.filter(created_at__date__gte=values["since"])
        if values["until"]:
            deliveries = deliveries.filter(created_at__date__lte=values["until"])
        return deliveries


class ReplayForm(forms.Form):
    """"Send again since": a time in the organization's time zone, within the retention."""

    prefix = "replay"
    since = forms.DateTimeField(
        label=_("Since"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean_since(self):
        from .services import ServiceError, replay_since_checked  # services import forms' neighbours

        try:
            return replay_since_checked(self.cleaned_data["since"])
        except ServiceError as error:
            raise forms.ValidationError(str(error))


def _lengths_checked_by_the_server(form: forms.Form) -> None:
    """A browser silently cuts what is pasted past `maxlength`, and a cut URL is another URL:
    the server checks the length and says so instead."""
    for field in form.fields.values():
        field.widget.attrs.pop("maxlength", None)
