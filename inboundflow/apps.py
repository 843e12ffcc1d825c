from django.apps import AppConfig


class InboundflowConfig(AppConfig):
    name = "inboundflow"
    verbose_name = "InboundFlow"
