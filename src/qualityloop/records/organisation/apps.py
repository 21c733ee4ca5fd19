from django.apps import AppConfig


class OrganisationConfig(AppConfig):
    name = "qualityloop.records.organisation"
    label = "organisation"
    verbose_name = "Organisation"
