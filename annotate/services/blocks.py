"""Admins block a rater from one project, and unblock them.

A block (RaterBlock) stops the rater getting clips or rating in the project (the rating
path checks it); with `exclude_ratings` their ratings also leave the labels, so whenever
that changes the rater's clips are settled again (annotate.services.ratings.clips_resettle).
"""

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q

from annotate.errors import NotFound, ValidationError
from annotate.models import Project, RaterBlock, Rating
from annotate.services.assignments import assignments_release
from annotate.services.audit import audit_record, fields_of

BLOCK_FIELDS = ["reason", "exclude_ratings"]
MAX_REASON = 200


def _resettle(*, project: Project, rater: User) -> None:
    from annotate.services.ratings import clips_resettle

    clips_resettle(project=project, rater=rater)


def rater_of_project(*, project: Project, user_id: int) -> User:
    """A user who rates in the project (a member, or someone with ratings there), else
    NotFound: nobody outside the project can be blocked in it."""
    raters = Rating.objects.filter(clip__project=project).values("rater")
    user = (
        User.objects.filter(pk=user_id)
        .filter(Q(pk__in=project.members.values("pk")) | Q(pk__in=raters))
        .first()
    )
    if user is None:
        raise NotFound("this rater does not exist or is not in this project", code="no_rater")
    return user


def rater_block(
    *, project: Project, rater: User, by: User, reason: str, exclude_ratings: bool
) -> RaterBlock:
    """Block `rater` in `project` (or change an existing block's reason and exclusion),
    audit-logged. When the exclusion of their ratings changes, their clips are settled
    again in the same transaction."""
    if rater.pk == by.pk:
        raise ValidationError("you cannot block yourself", code="self_block")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise ValidationError(
            f"reason must be text of at most {MAX_REASON} characters", code="bad_reason"
        )
    if not isinstance(exclude_ratings, bool):
        raise ValidationError("exclude_ratings must be true or false", code="bad_exclude")
    with transaction.atomic():
        block = RaterBlock.objects.select_for_update().filter(project=project, rater=rater).first()
        before = fields_of(block, BLOCK_FIELDS) if block else {}
        was_excluded = bool(block and block.exclude_ratings)
        if block is None:
            block = RaterBlock(project=project, rater=rater)
        block.blocked_by, block.reason, block.exclude_ratings = by, reason, exclude_ratings
        block.save()
        audit_record(
            actor=by,
            project=project,
            action="rater.block",
            target=block,
            before=before,
            after={"rater": rater.pk, **fields_of(block, BLOCK_FIELDS)},
        )
        if was_excluded != exclude_ratings:
            _resettle(project=project, rater=rater)
    assignments_release(project=project, rater=rater)
    return block


def rater_unblock(*, project: Project, rater: User, by: User) -> None:
    """Lift the rater's block in `project`, audit-logged; their ratings, if excluded,
    count again. Unblocking someone who is not blocked is NotFound."""
    with transaction.atomic():
        block = RaterBlock.objects.select_for_update().filter(project=project, rater=rater).first()
        if block is None:
            raise NotFound("this rater is not blocked in this project", code="not_blocked")
        audit_record(
            actor=by,
            project=project,
            action="rater.unblock",
            target=block,
            before={"rater": rater.pk, **fields_of(block, BLOCK_FIELDS)},
            after={},
        )
        excluded = block.exclude_ratings
        block.delete()
        if excluded:
            _resettle(project=project, rater=rater)
