"""The job record: what the pages poll while work runs off the request path."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from qualityloop.records.jobs.choices import JobState

__all__ = ["Job", "JobState"]


class Job(models.Model):
    """One piece of background work (a relationship fit, a report, an import) and how it went.

    ``key`` names the work itself (e.g. the relationship answer for one unit and day) so that a
    page can reuse a job already under way or just finished instead of starting the same work
    twice. ``result`` is a small JSON reference to what the job made (a file under the data
    folder, counts); ``error`` says in words why a failed job failed.
    """

    kind = models.CharField(max_length=40)
    key = models.CharField(max_length=200, blank=True, db_index=True)
    title = models.CharField(max_length=200)
    params = models.JSONField(default=dict, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_state_display().lower()}, {self.progress}%)"

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)
