from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "qualityloop.records.quality"
    label = "quality"
    verbose_name = "Quality system"
