from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "qualityloop.records.jobs"
    label = "jobs"
    verbose_name = "Background jobs"
