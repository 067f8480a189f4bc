from annotate.models.campaign import AuditEntry, MachineLabelAudit, ProjectSnapshot, RaterBlock
from annotate.models.clips import EASY_FIRST_ORDER, QUEUE_ORDER, Clip, ClipState, ReferenceLabel
from annotate.models.labels import Label, LabelSource
from annotate.models.learning import (
    ClipFeatures,
    ModelVersion,
    RunOutcome,
    RunState,
    RunTrigger,
    TrainingRun,
)
from annotate.models.priors import Prior
from annotate.models.projects import FeatureNormalisation, Project, Target
from annotate.models.raters import RaterNoise, RaterProfile, Role
from annotate.models.ratings import Assignment, AssignmentStatus, Rating, RatingSource
from annotate.models.sessions import UserSession

__all__ = [
    "EASY_FIRST_ORDER",
    "QUEUE_ORDER",
    "Assignment",
    "AssignmentStatus",
    "AuditEntry",
    "Clip",
    "ClipFeatures",
    "ClipState",
    "FeatureNormalisation",
    "Label",
    "LabelSource",
    "MachineLabelAudit",
    "ModelVersion",
    "Prior",
    "Project",
    "ProjectSnapshot",
    "RaterBlock",
    "RaterNoise",
    "RaterProfile",
    "Rating",
    "RatingSource",
    "ReferenceLabel",
    "Role",
    "RunOutcome",
    "RunState",
    "RunTrigger",
    "Target",
    "TrainingRun",
    "UserSession",
]
