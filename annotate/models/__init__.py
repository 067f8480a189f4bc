from annotate.models.clips import QUEUE_ORDER, Clip, ClipState, ReferenceLabel
from annotate.models.labels import Label, LabelSource
from annotate.models.learning import ClipFeatures, ModelVersion, RunState, RunTrigger, TrainingRun
from annotate.models.priors import Prior
from annotate.models.projects import FeatureNormalisation, Project, Target
from annotate.models.raters import RaterNoise, RaterProfile, Role
from annotate.models.ratings import Assignment, AssignmentStatus, Rating, RatingSource

__all__ = [
    "QUEUE_ORDER",
    "Assignment",
    "AssignmentStatus",
    "Clip",
    "ClipFeatures",
    "ClipState",
    "FeatureNormalisation",
    "Label",
    "LabelSource",
    "ModelVersion",
    "Prior",
    "Project",
    "RaterNoise",
    "RaterProfile",
    "Rating",
    "RatingSource",
    "ReferenceLabel",
    "Role",
    "RunState",
    "RunTrigger",
    "Target",
    "TrainingRun",
]
