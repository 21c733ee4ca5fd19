from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "qualityloop.web"
    label = "web"
    verbose_name = "QualityLoop web"
