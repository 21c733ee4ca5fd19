from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, JsonResponse
from django.urls import path

from qualityloop.web.api.api import api
from qualityloop.web.views import (
    assessment,
    assessment_rounds,
    audit,
    change_control,
    complaints,
    dashboard,
    design,
    jobs,
    management_review,
    objectives,
    problem_solving,
    record_forms,
    records,
    relationship,
    retention,
    spc,
    survey,
    training,
)

admin.site.site_header = "QualityLoop administration"
admin.site.site_title = "QualityLoop admin"
admin.site.index_title = "Records"
admin.site.site_url = "/"


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", dashboard.dashboard, name="dashboard"),
    path("retention/", retention.retention_page, name="retention"),
    path("relationship/", relationship.relationship_page, name="relationship"),
    path("relationship/body/", relationship.relationship_body, name="relationship-body"),
    path("relationship/report.html", relationship.report_html, name="relationship-report-html"),
    path("relationship/report.pdf", relationship.report_pdf, name="relationship-report-pdf"),
    path("jobs/<int:job_id>/", jobs.job_page, name="job"),
    path("jobs/<int:job_id>/status/", jobs.job_status, name="job-status"),
    path("jobs/<int:job_id>/file/", jobs.job_file, name="job-file"),
    path("spc/", spc.spc_page, name="spc"),
    path("spc/raise/", spc.raise_nonconformance, name="spc-raise"),
    *training.urlpatterns,
    path("design/", design.design_page, name="design"),
    path("records/", records.record_index, name="record-index"),
    path("records/<str:kind_name>/", records.record_list, name="record-list"),
    path("records/<str:kind_name>/new/", record_forms.record_create, name="record-create"),
    path("records/<str:kind_name>/import/", jobs.record_import, name="record-import"),
    path("records/<str:kind_name>/search/<str:column_name>/", record_forms.reference_search,
         name="record-search"),
    path("records/<str:kind_name>/<str:external_id>/edit/", record_forms.record_edit,
         name="record-edit"),
    path("records/<str:kind_name>/<str:external_id>/delete/", record_forms.record_delete,
         name="record-delete"),
    *problem_solving.urlpatterns,
    *change_control.urlpatterns,
    *management_review.urlpatterns,
    *complaints.urlpatterns,
    *objectives.urlpatterns,
    path("records/<str:kind_name>/<str:external_id>/", records.record_detail,
         name="record-detail"),
    path("assessment/", assessment.assessment_page, name="assessment"),
    path("assessment/rounds/", assessment_rounds.round_list, name="assessment-rounds"),
    path("assessment/rounds/new/", assessment_rounds.round_new, name="assessment-round-new"),
    path("assessment/rounds/<str:key>/", assessment_rounds.round_detail, name="assessment-round"),
    path("assessment/rounds/<str:key>/close/", assessment_rounds.round_close,
         name="assessment-round-close"),
    path("assessment/rounds/<str:key>/import/", assessment_rounds.round_import,
         name="assessment-round-import"),
    path("survey/thanks/", survey.survey_thanks, name="survey-thanks"),
    path("survey/<str:token>/", survey.survey_form, name="survey"),
    *audit.urlpatterns,
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]
