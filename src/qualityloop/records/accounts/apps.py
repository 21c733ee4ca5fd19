from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "qualityloop.records.accounts"
    label = "accounts"
    verbose_name = "Users, roles and API tokens"

    def ready(self) -> None:
        from qualityloop.records.accounts import signals

        signals.connect()
        # Sent once per app after every migrate (and flush); once, for this app, is enough.
        post_migrate.connect(signals.roles_after_migrate, sender=self,
                             dispatch_uid="accounts.roles_after_migrate")
