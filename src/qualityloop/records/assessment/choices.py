from django.db import models


class RoundStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class ResponseSource(models.TextChoices):
    WEB = "web", "Web form"
    IMPORT = "import", "Imported file"
