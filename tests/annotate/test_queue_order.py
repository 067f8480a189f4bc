"""The human queue follows the active model's confidence only once it ranks errors on
development speakers (learner.cooperative.choose_queue_order); until then both the scoring
pass and the queue refresh give people a uniform draw of the pool, the same clip keeping
its place from one pass to the next."""

import numpy as np
import pytest

from annotate.learning import queue as learning_queue
from annotate.learning import scoring as learning_scoring
from annotate.models import Clip, ClipState, ModelVersion
from annotate.services.scoring import project_score
from annotate.services.training import training_run_execute, training_run_start
from learner.cooperative import QueueOrder, uniform_by_id
from tests.conftest import featured_project

pytestmark = pytest.mark.django_db

BUDGET = 5


@pytest.fixture
def trained(media_root):
    """A project of 60 clips, 40 with human labels, and its first model (nothing
    self-labelled, so every clip nobody rated stays with people)."""
    project, _, _ = featured_project(
        n_clips=60, n_labelled=40, seed=0, min_raters=2, human_budget_per_round=BUDGET
    )
    project.self_label_max_error = 0.0
    project.save()
    run = training_run_execute(run_id=training_run_start(project=project).pk)
    version = ModelVersion.objects.get(project=project, is_active=True)
    assert run.metrics["queue_order"]["order"] in {"top", "random"}  # chosen, and shown
    return project, version


def _set_order(version: ModelVersion, order: QueueOrder) -> None:
    version.metrics = {**version.metrics, "queue_order": {"order": str(order), "dev_clips": 12}}
    version.save(update_fields=["metrics"])


def _open_ids(project) -> np.ndarray:
    return np.array(
        Clip.objects.filter(learning_queue.open_pool_filter(), project=project)
        .order_by("id")
        .values_list("id", flat=True)
    )


def test_the_refresh_draws_the_queue_at_random_until_the_confidence_ranks_errors(
    trained, monkeypatch
):
    project, version = trained
    fitted = []
    real_online_queue = learning_queue.online_queue

    def counting(*args, **kwargs):
        fitted.append(1)
        return real_online_queue(*args, **kwargs)

    monkeypatch.setattr(learning_queue, "online_queue", counting)
    _set_order(version, QueueOrder.RANDOM)
    open_ids = _open_ids(project)
    order = learning_queue.queue_order(project=project)
    draw = uniform_by_id(open_ids, seed=project.pk)
    expected = open_ids[np.argsort(-draw)][:BUDGET]
    assert order.queued_ids.tolist() == expected.tolist()
    assert not fitted  # no ensemble is fitted for an order it would not use
    # The same clips on the next refresh, whatever else left the pool meanwhile.
    Clip.objects.filter(pk=int(open_ids[np.argsort(draw)[0]])).update(state=ClipState.RATED)
    assert learning_queue.queue_order(project=project).queued_ids.tolist() == expected.tolist()
    # Once the model's confidence ranks errors, the ensemble's uncertainty orders it.
    _set_order(version, QueueOrder.UNCERTAINTY)
    learning_queue.queue_order(project=project)
    assert fitted == [1]
    # No active model: nothing shows that any order beats a random draw.
    ModelVersion.objects.filter(pk=version.pk).update(is_active=False)
    assert learning_queue.active_order(project) == QueueOrder.RANDOM
    # A model trained before the choice keeps the order it had.
    ModelVersion.objects.filter(pk=version.pk).update(is_active=True, metrics={})
    assert learning_queue.active_order(project) == QueueOrder.UNCERTAINTY


@pytest.mark.parametrize("order", [QueueOrder.RANDOM, QueueOrder.UNCERTAINTY])
def test_the_scoring_pass_queues_the_clips_the_models_order_puts_first(trained, monkeypatch, order):
    project, version = trained
    real_load = learning_scoring.bundle_load

    def load_with_order(version):
        bundle = real_load(version)
        bundle.report["queue_order"] = {"order": str(order), "dev_clips": 12}
        return bundle

    monkeypatch.setattr(learning_scoring, "bundle_load", load_with_order)
    ModelVersion.objects.filter(pk=version.pk).update(scored_at=None)
    project_score(project_id=project.pk)
    queued = dict(
        Clip.objects.filter(
            project=project, state=ClipState.AWAITING_HUMANS, n_ratings=0
        ).values_list("id", "priority")
    )
    assert len(queued) == BUDGET
    ids = np.array(sorted(queued))
    draw = uniform_by_id(ids, seed=project.pk)
    if order == QueueOrder.RANDOM:
        np.testing.assert_allclose([queued[i] for i in ids], draw)
        scored = np.array(
            Clip.objects.filter(project=project, n_ratings=0).values_list("id", flat=True)
        )
        top = scored[np.argsort(-uniform_by_id(scored, seed=project.pk))][:BUDGET]
        assert sorted(top.tolist()) == ids.tolist()
    else:
        # Priorities are the confidence's (worst expected error, raised by disagreement),
        # not the draw.
        assert not np.allclose([queued[i] for i in ids], draw)
