"""REST API (Django REST framework): integrations and their deliveries, scoped to the caller's
organization. Validation is the model's, shared with the settings page and the admin.
"""
from rest_framework import mixins, routers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from drf_spectacular.utils import OpenApiResponse, extend_schema

from inboundflow.models import Call

from . import services
from .api_errors import object_body
from .events import EventType
from .models import Attempt, Delivery, Integration
from .validators import validate_event_types


class IntegrationSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        allow_empty=False,
        validators=[validate_event_types],
    )
    secret = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=200)
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = Integration
        fields = [
            "id", "kind", "name", "target_url", "secret", "has_secret", "event_types", "state",
            "disabled_reason", "disabled_cause", "disabled_at", "consecutive_failures", "last_success_at",
            "last_failure_at", "last_error", "created_at", "updated_at",
        ]
        read_only_fields = [
            "state", "disabled_reason", "disabled_cause", "disabled_at", "consecutive_failures", "last_success_at",
            "last_failure_at", "last_error", "created_at", "updated_at",
        ]

    def get_has_secret(self, integration: Integration) -> bool:
        return bool(integration.secret)

    def validate_name(self, value: str) -> str:
        return value.strip()


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


class EnableRequestSerializer(serializers.Serializer):
    send_held = serializers.BooleanField(required=False, default=False)


class IntegrationViewSet(OrganizationScoped, viewsets.ModelViewSet):
    serializer_class = IntegrationSerializer

    def get_queryset(self):
        return Integration.objects.filter(organization_id=self.organization_id())

    def perform_create(self, serializer):
        serializer.save(organization_id=self.organization_id())

    @extend_schema(
        request=TestRequestSerializer,
        responses={200: AttemptSerializer},
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
        return Response(AttemptSerializer(attempt).data)

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


router = routers.DefaultRouter()
router.register("integrations", IntegrationViewSet, basename="integration")
router.register("deliveries", DeliveryViewSet, basename="delivery")
router.register("calls", CallViewSet, basename="call")
