"""A project's labels -> whether a retraining can run, and if not, how many more ratings
it needs (the minimum learner.training.train_round asks for, on its own speaker split)."""

import numpy as np

from annotate.models import Clip, Label, LabelSource, Project
from learner.training import LabelledSet, development_mask

__all__ = ["MIN_DEV_HUMAN_CLIPS", "MIN_TRAIN_CLIPS", "training_shortfall"]

# learner.training.train_round's minimum: clips on training speakers (any live label) and
# human-labelled clips on development speakers (learner.training.development_mask).
MIN_TRAIN_CLIPS, MIN_DEV_HUMAN_CLIPS = 10, 5


def training_shortfall(project: Project) -> str | None:
    """Why the project cannot train yet (a sentence with how many more ratings it needs),
    or None; counts the clips the learner counts, split on its development speakers."""
    rows = Label.objects.filter(clip__project=project, revoked_at__isnull=True).values_list(
        "clip_id", "clip__speaker", "source"
    )
    speaker: dict[int, str] = {}
    human: dict[int, bool] = {}
    for clip_id, clip_speaker, source in rows:
        speaker[clip_id] = clip_speaker or f"clip-{clip_id}"
        human[clip_id] = human.get(clip_id, False) or source == LabelSource.HUMAN
    ids = sorted(speaker)
    data = LabelledSet.build(
        clip_ids=ids,
        X=np.zeros((len(ids), 0)),
        y=np.zeros((len(ids), 0)),
        agreement=np.full(len(ids), np.nan),
        groups=[speaker[c] for c in ids],
        human=[human[c] for c in ids],
    )
    dev = development_mask(data, project.pk) if ids else np.zeros(0, dtype=bool)
    n_train, n_dev = int((~dev).sum()), int((dev & data.human).sum())
    short_train = max(0, MIN_TRAIN_CLIPS - n_train)
    short_dev = max(0, MIN_DEV_HUMAN_CLIPS - n_dev)
    if not short_train and not short_dev:
        return None
    more_clips = short_train + short_dev
    unlabelled = Clip.objects.filter(project=project).exclude(pk__in=ids)
    needed = list(
        unlabelled.order_by("-n_ratings").values_list("n_ratings", "ratings_wanted")[:more_clips]
    )
    more_ratings = sum(max(1, max(wanted, project.min_raters) - n) for n, wanted in needed)
    sentence = (
        f"Too few human labels to train: {n_train} labelled clips on training speakers "
        f"(need {MIN_TRAIN_CLIPS}) and {n_dev} human-labelled on development speakers "
        f"(need {MIN_DEV_HUMAN_CLIPS})."
    )
    if len(needed) < more_clips:
        return (
            f"{sentence} The project has only {len(needed)} clips without a label: import "
            f"at least {more_clips - len(needed)} more clips (from more than one speaker), "
            f"then about {more_ratings + (more_clips - len(needed)) * project.min_raters} "
            "more ratings."
        )
    return (
        f"{sentence} About {more_clips} more clips need a settled human label: roughly "
        f"{more_ratings} more ratings."
    )
