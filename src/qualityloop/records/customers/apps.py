from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "qualityloop.records.customers"
    label = "customers"
    verbose_name = "Customers"
