"""REST API (Django REST framework): integrations and their deliveries, the REST Hooks and
event catalog that automation platforms use, all scoped to the caller's organization (an API
key's, or a logged-in person's). Validation is the model's, shared with the settings page and
the admin.
"""
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field, inline_serializer,
)
from rest_framework import mixins, routers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from inboundflow.models import Call

from . import api_schema, catalog, pacing, platforms, rotation, services  # noqa: F401 (api_schema registers the key scheme)
from .api_errors import object_body
from .events import EventType, in_catalogue_order
from .models import DUPLICATE_SUBSCRIPTION, Attempt, Delivery, Integration
from .payloads import canonical_json
from .signing import standard_secret
from .validators import validate_event_types


class SecretRotationSerializer(serializers.Serializer):
    previous_valid_until = serializers.DateTimeField(help_text="Until then the previous secret signs too.")
    documented_signature_uses = serializers.ChoiceField(
        rotation.WHICH_SECRET,
        help_text="Which secret X-InboundFlow-Signature is made with: the previous one until "
        "use-new-secret is called or the overlap ends.",
    )


class IntegrationSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        allow_empty=False,
        validators=[validate_event_types],
    )
    secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=200,
        help_text="Never returned. The answer to the request that sets it carries `standard_webhooks_secret`: "
        "the same secret as Standard Webhooks and Svix libraries take it (`whsec_…`).",
    )
    has_secret = serializers.SerializerMethodField()
    secret_rotation = serializers.SerializerMethodField()
    effective_max_per_second = serializers.SerializerMethodField(
        help_text="The rate the engine holds this integration to: max_per_second, or the platform's default."
    )

    class Meta:
        model = Integration
        fields = [
            "id", "kind", "origin", "name", "target_url", "secret", "has_secret", "secret_rotation", "event_types", "state",
            "max_per_second", "effective_max_per_second", "paused_until",
            "disabled_reason", "disabled_cause", "disabled_at", "consecutive_failures", "last_success_at",
            "last_failure_at", "last_error", "created_at", "updated_at",
        ]
        read_only_fields = [
            "origin", "state", "paused_until", "disabled_reason", "disabled_cause", "disabled_at", "consecutive_failures",
            "last_success_at", "last_failure_at", "last_error", "created_at", "updated_at",
        ]
        extra_kwargs = {
            "max_per_second": {"help_text": "Requests per second at most, by all workers together (0.1–1000); null: "
                               "the platform's default (Zapier and Make 25/s), none for a custom endpoint."},
            "paused_until": {"help_text": "A 429 or 503 with Retry-After pauses the integration until then."},
        }

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_effective_max_per_second(self, integration: Integration) -> float | None:
        return pacing.rate_of(integration)

    def get_has_secret(self, integration: Integration) -> bool:
        return bool(integration.secret)

    @extend_schema_field(SecretRotationSerializer(allow_null=True))
    def get_secret_rotation(self, integration: Integration) -> dict | None:
        return rotation.rotation_view(integration)

    def to_representation(self, integration):
        data = super().to_representation(integration)
        # a secret set by this request: its Standard Webhooks form, in this answer only
        if getattr(self, "_validated_data", {}).get("secret"):
            data["standard_webhooks_secret"] = standard_secret(integration.secret)
        return data

    def update(self, instance, validated_data):
        if "secret" in validated_data:  # typed by hand: replaces the secret, ends any rotation
            rotation.secret_typed(instance, validated_data["secret"])
        return super().update(instance, validated_data)

    def validate_name(self, value: str) -> str:
        return value.strip()

    def validate_event_types(self, value: list) -> list:
        return in_catalogue_order(value)  # as the settings page keeps them

    def save(self, **kwargs):
        """A platform's subscription edited into another's URL and events is a 400, not a 500."""
        try:
            with transaction.atomic():
                return super().save(**kwargs)
        except IntegrityError:
            raise ValidationError({"event_types": [str(DUPLICATE_SUBSCRIPTION)]})


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = [
            "number", "started_at", "duration_ms", "succeeded", "status_code", "error_class",
            "error_message", "response_excerpt",
        ]


class DeliverySerializer(serializers.ModelSerializer):
    delivery_id = serializers.UUIDField(source="id", read_only=True)
    event = serializers.CharField(source="event.event_type", read_only=True)
    occurred_at = serializers.DateTimeField(source="event.occurred_at", read_only=True)
    is_test = serializers.BooleanField(source="event.is_test", read_only=True)
    attempt_set = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "delivery_id", "integration", "event", "occurred_at", "is_test", "status", "attempts",
            "next_attempt_at", "created_at", "completed_at", "attempt_set",
        ]


class CallSerializer(serializers.ModelSerializer):
    """A call with its whole text: where a payload cut to fit 100 KB points (`full_text_url`)."""

    call_id = serializers.UUIDField(source="id", read_only=True)

    class Meta:
        model = Call
        fields = [
            "call_id", "state", "caller_phone", "caller_name", "caller_email", "started_at", "ended_at",
            "duration_seconds", "summary", "transcript", "intent", "urgency", "recording_url",
            "transferred_at", "transferred_to_label", "transferred_to_number", "transfer_reason",
        ]


class OrganizationScoped:
    def organization_id(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no user
            return None
        organization_id = self.request.user.organization_id
        if organization_id is None:
            raise NotFound("Your account does not belong to an organization.")
        return organization_id


class TestRequestSerializer(serializers.Serializer):
    event_type = serializers.ChoiceField(EventType.choices, required=False, allow_blank=True, allow_null=True)


class RotateRequestSerializer(serializers.Serializer):
    overlap_hours = serializers.FloatField(
        required=False, min_value=0, max_value=24 * 30,
        help_text="How long the previous secret stays valid (default WEBHOOKS_SECRET_OVERLAP, 24 h); 0 ends it at once.",
    )


class SignedWithSerializer(serializers.Serializer):
    x_inboundflow_signature = serializers.ChoiceField(rotation.WHICH_SECRET, allow_null=True)
    webhook_signature = serializers.ListField(child=serializers.ChoiceField(rotation.WHICH_SECRET))


class TestAttemptSerializer(AttemptSerializer):
    signed_with = serializers.SerializerMethodField()

    class Meta(AttemptSerializer.Meta):
        fields = [*AttemptSerializer.Meta.fields, "signed_with"]

    @extend_schema_field(SignedWithSerializer)
    def get_signed_with(self, attempt: Attempt) -> dict:
        return rotation.signed_with(self.context["integration"], at=attempt.request_timestamp)


class EnableRequestSerializer(serializers.Serializer):
    send_held = serializers.BooleanField(required=False, default=False)


class ReplayRequestSerializer(serializers.Serializer):
    since = serializers.DateTimeField(
        help_text="Deliveries created from this time on (ISO 8601; UTC unless it says otherwise), "
        "within the retention (WEBHOOKS_RETENTION_DAYS, 30 days).",
    )
    dry_run = serializers.BooleanField(required=False, default=False, help_text="Only count; send nothing.")

    def validate_since(self, value):
        try:
            return services.replay_since_checked(value)
        except services.ServiceError as error:
            raise ValidationError(str(error))


class ReplaySerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    dry_run = serializers.BooleanField()
    failed = serializers.IntegerField(help_text="Failed deliveries sent again (or that would be).")
    held = serializers.IntegerField(help_text="Held deliveries sent again (or that would be).")


class RotatedSerializer(IntegrationSerializer):
    secret = serializers.CharField(help_text="The new secret, as a receiver is given it. Shown only here.")
    standard_webhooks_secret = serializers.CharField(help_text="The same secret as Standard Webhooks and Svix libraries take it.")

    class Meta(IntegrationSerializer.Meta):
        fields = [*IntegrationSerializer.Meta.fields, "standard_webhooks_secret"]


class IntegrationViewSet(OrganizationScoped, viewsets.ModelViewSet):
    serializer_class = IntegrationSerializer

    def get_queryset(self):
        return Integration.objects.filter(organization_id=self.organization_id())

    def perform_create(self, serializer):
        serializer.save(organization_id=self.organization_id(), origin=Integration.Origin.API)

    @extend_schema(
        request=TestRequestSerializer,
        responses={200: TestAttemptSerializer},
        description="Send a sample of a subscribed event type now; recorded as a test, never counted.",
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        integration = self.get_object()
        event_type = object_body(request, TestRequestSerializer).get("event_type")
        try:
            attempt = services.integration_send_test(integration=integration, event_type=event_type)
        except services.ServiceError as error:
            raise ValidationError({"event_type": str(error)})
        return Response(TestAttemptSerializer(attempt, context={"integration": integration}).data)

    @extend_schema(
        request=RotateRequestSerializer,
        responses={200: RotatedSerializer, 409: OpenApiResponse(description="A rotation with an overlap is already in progress.")},
        description="Give the integration a new random signing secret, shown once in this answer (as typed "
        "and as `whsec_…` for Standard Webhooks libraries). The previous one stays valid for the overlap: "
        "webhook-signature carries both, X-InboundFlow-Signature stays on the previous one until "
        "use-new-secret is called or the overlap ends.",
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        integration = self.get_object()
        hours = object_body(request, RotateRequestSerializer).get("overlap_hours")
        try:
            new = rotation.integration_secret_rotate(
                integration=integration, overlap_seconds=None if hours is None else hours * 3600
            )
        except rotation.RotationError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response({**self.get_serializer(integration).data, **rotation.secret_shown(new)})

    @extend_schema(
        request=None,
        responses={200: IntegrationSerializer, 409: OpenApiResponse(description="No rotation is in progress.")},
        description="During a rotation: make X-InboundFlow-Signature with the new secret from now on.",
    )
    @action(detail=True, methods=["post"], url_path="use-new-secret")
    def use_new_secret(self, request, pk=None):
        integration = self.get_object()
        try:
            rotation.integration_secret_use_new(integration=integration)
        except rotation.RotationError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(integration).data)

    @extend_schema(
        request=EnableRequestSerializer,
        responses={200: IntegrationSerializer},
        description="Re-enable; with send_held, also send the deliveries held while disabled (`released` says how many).",
    )
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        integration = self.get_object()
        send_held = object_body(request, EnableRequestSerializer)["send_held"]
        released = services.integration_enable(integration=integration, send_held=send_held)
        return Response({**self.get_serializer(integration).data, "released": released})

    @extend_schema(request=None, responses={200: IntegrationSerializer})
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        integration = self.get_object()
        services.integration_disable(integration=integration, by=request.user.get_username())
        return Response(self.get_serializer(integration).data)

    @extend_schema(
        request=ReplayRequestSerializer,
        responses={200: ReplaySerializer, 409: OpenApiResponse(description="The integration is disabled.")},
        description="Send again what failed or was held since a time (tests excepted): the same delivery_ids "
        "and bodies, each a new round of attempts, paced by the endpoint's concurrency like any delivery. "
        "With dry_run, only count.",
    )
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        integration = self.get_object()
        asked = object_body(request, ReplayRequestSerializer)
        try:
            counts = services.integration_replay(integration=integration, since=asked["since"], dry_run=asked["dry_run"])
        except services.IntegrationDisabledError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(ReplaySerializer({**asked, **counts}).data)


class DeliveryViewSet(OrganizationScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = DeliverySerializer

    def get_queryset(self):
        deliveries = (
            Delivery.objects.filter(integration__organization_id=self.organization_id())
            .select_related("event")
            .prefetch_related("attempt_set")
            .order_by("-created_at")
        )
        params = self.request.query_params
        if "integration" in params:
            deliveries = deliveries.filter(integration_id=serializers.UUIDField().to_internal_value(params["integration"]))
        if "status" in params:
            deliveries = deliveries.filter(
                status=serializers.ChoiceField(Delivery.Status.choices).to_internal_value(params["status"])
            )
        return deliveries

    @extend_schema(
        request=None,
        responses={202: DeliverySerializer, 409: OpenApiResponse(description="Already pending, or the integration is disabled.")},
        description="Send again with the same delivery_id and body, starting a new round of retries.",
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        delivery = self.get_object()
        try:
            services.delivery_redeliver(delivery=delivery)
        except services.ServiceError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        delivery.refresh_from_db()
        return Response(self.get_serializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class CallViewSet(OrganizationScoped, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = CallSerializer

    def get_queryset(self):
        return Call.objects.filter(organization_id=self.organization_id())


# --- What automation platforms use -----------------------------------------------------


class MeView(OrganizationScoped, APIView):
    """The platforms' "test authentication": which organization the credentials act for."""

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "id": serializers.UUIDField(),
                "name": serializers.CharField(),
                "api_key": inline_serializer("MeKey", {"name": serializers.CharField(), "prefix": serializers.CharField()}, allow_null=True),
            },
        ),
        examples=[OpenApiExample("With an API key", value={
            "id": "3f1c2b7e-9a51-4a7e-8d4b-2f9a6c1e0b42", "name": "Main Street Auto",
            "api_key": {"name": "Zapier", "prefix": "Xk3v9QbL"},
        })],
    )
    def get(self, request):
        organization_id = self.organization_id()
        api_key = getattr(request.user, "api_key", None)
        organization = api_key.organization if api_key else request.user.organization
        return Response({
            "id": str(organization_id),
            "name": organization.name,
            "api_key": {"name": api_key.name, "prefix": api_key.prefix} if api_key else None,
        })


class HookSerializer(serializers.ModelSerializer):
    event = serializers.ChoiceField(
        choices=EventType.choices, write_only=True, required=False, help_text="One event type (or give `events`)."
    )
    events = serializers.ListField(
        source="event_types",
        child=serializers.ChoiceField(choices=EventType.choices),
        allow_empty=False,
        required=False,
        validators=[validate_event_types],
        help_text="The event types to receive, in the catalogue's order.",
    )
    secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=200,
        help_text="Optional: with a secret, every delivery carries X-InboundFlow-Signature.",
    )

    class Meta:
        model = Integration
        fields = ["id", "target_url", "event", "events", "kind", "name", "secret", "state", "created_at"]
        read_only_fields = ["state", "created_at"]
        extra_kwargs = {
            "kind": {"required": False, "help_text": "Inferred from the URL (Zapier, Make, n8n hosts) unless given."},
            "name": {"required": False, "help_text": "Shown in the dashboard; made from the platform and events unless given."},
        }
        validators = []  # subscribing twice is not an error: the same hook comes back

    def validate_name(self, value: str) -> str:
        return value.strip()

    def validate(self, attrs):
        event = attrs.pop("event", None)
        if event and "event_types" in attrs:
            raise ValidationError({"event": [_("Give either “event” or “events”, not both.")]})
        if event:
            attrs["event_types"] = [event]
        if not attrs.get("event_types"):
            raise ValidationError({"events": [_("Choose at least one event to receive.")]})
        return attrs


HOOK_EXAMPLE = {
    "id": "0b6f3d1e-5c2a-4f7b-9e1d-7a8c6b5d4e3f", "target_url": "https://hooks.zapier.com/hooks/catch/123456/abcdef/",
    "events": ["call.completed"], "kind": "zapier", "name": "Zapier · call.completed", "state": "active",
    "created_at": "2026-11-28T09:00:00.000000Z",
}


@extend_schema(examples=[
    OpenApiExample("Subscribe (Zapier)", request_only=True,
                   value={"target_url": "https://hooks.zapier.com/hooks/catch/123456/abcdef/", "event": "call.completed"}),
    OpenApiExample("Subscribe to several (n8n)", request_only=True,
                   value={"target_url": "https://n8n.example.com/webhook/5f0c…", "events": ["call.completed", "lead.created"]}),
    OpenApiExample("A subscription", response_only=True, value=HOOK_EXAMPLE),
])
class HookViewSet(
    OrganizationScoped, mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin, viewsets.GenericViewSet,
):
    """REST Hooks: subscribe a URL to events, check that it still exists, unsubscribe it. A hook
    the platform ended by answering 410 Gone is no longer found here."""

    serializer_class = HookSerializer

    def get_queryset(self):
        return platforms.hooks_live(organization_id=self.organization_id())

    @extend_schema(
        responses={
            201: HookSerializer,
            200: OpenApiResponse(HookSerializer, description="Already subscribed: the same hook (made live again if a 410 had ended it)."),
        },
        description="Subscribe `target_url` to one event (`event`) or several (`events`). Idempotent: the same URL and events give the same hook.",
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        hook, created = platforms.hook_subscribe(
            organization_id=self.organization_id(), target_url=fields["target_url"], event_types=fields["event_types"],
            kind=fields.get("kind", ""), name=fields.get("name", ""), secret=fields.get("secret", ""),
        )
        return Response(self.get_serializer(hook).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(description="Unsubscribe: the hook and its delivery history are removed; nothing more is sent to it.")
    def destroy(self, request, *args, **kwargs):
        return super().destroy(request, *args, **kwargs)


class EventTypeSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=EventType.choices)
    label = serializers.DictField(child=serializers.CharField(), help_text="The documentation's trigger name, by language (fr, en).")
    description = serializers.DictField(child=serializers.CharField(), help_text="What fires it, by language (fr, en).")
    schema = serializers.JSONField(help_text="JSON Schema (draft 2020-12) of the delivered body.")


SAMPLES_LIMIT = serializers.IntegerField(min_value=1, max_value=100)


class EventTypeViewSet(OrganizationScoped, viewsets.ViewSet):
    """The four event types: what they mean, the schema of their bodies, and recent samples."""

    lookup_field = "type"
    lookup_value_regex = r"[a-z]+\.[a-z]+"
    serializer_class = EventTypeSerializer

    def _event_type(self, value: str) -> str:
        if value not in EventType.values:
            raise NotFound(_("Unknown event type “%(type)s”. Known: %(known)s.") % {"type": value, "known": ", ".join(EventType.values)})
        return value

    @extend_schema(responses=EventTypeSerializer(many=True))
    def list(self, request):
        return Response([catalog.event_type_entry(value) for value in EventType.values])

    @extend_schema(responses=EventTypeSerializer)
    def retrieve(self, request, type=None):
        return Response(catalog.event_type_entry(self._event_type(type)))

    @extend_schema(
        parameters=[OpenApiParameter("limit", OpenApiTypes.INT, description="How many (1–100, default 3).")],
        responses={200: OpenApiResponse(
            inline_serializer("SampleBodies", {"bodies": serializers.ListField(child=serializers.JSONField())}),
            description="A JSON array of bodies, newest first, byte for byte as they were delivered; the documentation's example when none was delivered yet.",
            examples=[OpenApiExample("call.completed", value=[catalog.example_body(EventType.CALL_COMPLETED)])],
        )},
        description="Recent bodies of this type, as delivered to the organization's hooks: what a platform shows while its user maps fields.",
    )
    @action(detail=True)
    def samples(self, request, type=None):
        event_type = self._event_type(type)
        try:
            limit = SAMPLES_LIMIT.run_validation(request.query_params.get("limit", 3))
        except ValidationError as error:
            raise ValidationError({"limit": error.detail})
        bodies = platforms.samples_recent(organization_id=self.organization_id(), event_type=event_type, limit=limit)
        bodies = bodies or [canonical_json(catalog.example_body(event_type)).encode()]
        return HttpResponse(b"[" + b",".join(bodies) + b"]", content_type="application/json")


router = routers.DefaultRouter()
router.register("integrations", IntegrationViewSet, basename="integration")
router.register("deliveries", DeliveryViewSet, basename="delivery")
router.register("calls", CallViewSet, basename="call")
router.register("hooks", HookViewSet, basename="hook")
router.register("event-types", EventTypeViewSet, basename="event-type")
