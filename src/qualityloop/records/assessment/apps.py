from django.apps import AppConfig


class AssessmentConfig(AppConfig):
    name = "qualityloop.records.assessment"
    label = "assessment"
    verbose_name = "TQM assessment surveys"
