from django.urls import path

from annotate.api import (
    assignments,
    audits,
    auth,
    clips,
    dashboard,
    export,
    inspector,
    operations,
    priors,
    projects,
    raters,
    stopping,
    training,
)

urlpatterns = [
    path("auth/token/", auth.TokenApi.as_view(), name="auth-token"),
    path("priors/", priors.PriorListApi.as_view(), name="prior-list"),
    path("projects/", projects.ProjectListApi.as_view(), name="project-list"),
    path(
        "projects/<int:project_id>/prior/", priors.ProjectPriorApi.as_view(), name="project-prior"
    ),
    path("projects/<int:project_id>/", projects.ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<int:project_id>/next/", projects.ProjectNextApi.as_view(), name="project-next"),
    path(
        "projects/<int:project_id>/progress/",
        projects.ProjectProgressApi.as_view(),
        name="project-progress",
    ),
    path(
        "projects/<int:project_id>/stats/", projects.ProjectStatsApi.as_view(), name="project-stats"
    ),
    path(
        "projects/<int:project_id>/raters/",
        raters.ProjectRatersApi.as_view(),
        name="project-raters",
    ),
    path(
        "projects/<int:project_id>/raters/<int:user_id>/block/",
        raters.RaterBlockApi.as_view(),
        name="rater-block",
    ),
    path(
        "projects/<int:project_id>/raters/<int:user_id>/unblock/",
        raters.RaterUnblockApi.as_view(),
        name="rater-unblock",
    ),
    path(
        "projects/<int:project_id>/audits/",
        audits.ProjectAuditsApi.as_view(),
        name="project-audits",
    ),
    path("clips/<int:clip_id>/", inspector.ClipDetailApi.as_view(), name="clip-detail"),
    path(
        "projects/<int:project_id>/clips/", clips.ClipCollectionApi.as_view(), name="project-clips"
    ),
    path(
        "projects/<int:project_id>/export/labels/",
        export.ProjectLabelExportApi.as_view(),
        name="project-export-labels",
    ),
    path(
        "projects/<int:project_id>/export/ratings/",
        export.ProjectRatingExportApi.as_view(),
        name="project-export-ratings",
    ),
    path("clips/<int:clip_id>/audio/", assignments.ClipAudioApi.as_view(), name="clip-audio"),
    path(
        "assignments/<int:assignment_id>/rating/",
        assignments.RatingCreateApi.as_view(),
        name="rating-create",
    ),
    path(
        "assignments/<int:assignment_id>/audio/",
        assignments.AssignmentAudioApi.as_view(),
        name="assignment-audio",
    ),
    path("ratings/", assignments.RatingListApi.as_view(), name="rating-list"),
    path(
        "projects/<int:project_id>/retrain/",
        training.ProjectRetrainApi.as_view(),
        name="project-retrain",
    ),
    path(
        "projects/<int:project_id>/training-runs/",
        training.ProjectTrainingRunListApi.as_view(),
        name="project-training-runs",
    ),
    path(
        "projects/<int:project_id>/models/",
        training.ProjectModelListApi.as_view(),
        name="project-models",
    ),
    path(
        "training-runs/<int:run_id>/", training.TrainingRunDetailApi.as_view(), name="training-run"
    ),
    path(
        "training-runs/<int:run_id>/cancel/",
        training.TrainingRunCancelApi.as_view(),
        name="training-run-cancel",
    ),
    path(
        "projects/<int:project_id>/stop-signal/",
        stopping.ProjectStopSignalApi.as_view(),
        name="project-stop-signal",
    ),
    path(
        "projects/<int:project_id>/dashboard/",
        dashboard.ProjectDashboardApi.as_view(),
        name="project-dashboard",
    ),
    path(
        "projects/<int:project_id>/settings/",
        operations.ProjectSettingsApi.as_view(),
        name="project-settings",
    ),
    path(
        "projects/<int:project_id>/pause/",
        operations.ProjectPauseApi.as_view(),
        name="project-pause",
    ),
    path(
        "projects/<int:project_id>/resume/",
        operations.ProjectResumeApi.as_view(),
        name="project-resume",
    ),
    path(
        "projects/<int:project_id>/model-versions/",
        operations.ProjectVersionLabelsApi.as_view(),
        name="project-model-versions",
    ),
    path(
        "model-versions/<int:version_id>/revoke/",
        operations.ModelVersionRevokeApi.as_view(),
        name="model-version-revoke",
    ),
    path(
        "projects/<int:project_id>/audit-log/",
        operations.ProjectAuditLogApi.as_view(),
        name="project-audit-log",
    ),
]
