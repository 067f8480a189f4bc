"""The plans the platform writes: a scoring pass, the online queue, promotion and the
machine-label bars (pure functions of arrays)."""

import numpy as np
import pytest

from learner.cooperative import Action, online_queue, scoring_plan
from learner.raters import human_label_error
from learner.training import machine_label_bars, should_promote


def plan(values, expected, live, **kwargs):
    options = {
        "agreement": None,
        "self_label_threshold": 0.1,
        "revoke_tolerance": 0.2,
        "human_budget": 1,
        "min_raters": 2,
        "max_raters": 5,
    }
    return scoring_plan(
        values=np.array(values, dtype=float),
        expected_error=np.array(expected, dtype=float),
        live_machine_labels=np.array(live, dtype=float),
        **{**options, **kwargs},
    )


def test_confident_clips_are_labelled_and_kept_labels_stay():
    p = plan([[0.5], [0.3], [0.9]], [[0.05], [0.05], [0.05]], [[np.nan], [0.25], [0.5]])
    assert [d.action for d in p.decisions] == [Action.SELF_LABEL] * 3
    assert list(p.label[:, 0]) == [True, False, True]  # new; still holds; contradicted
    assert list(p.revoke[:, 0]) == [False, False, True]
    assert list(p.disagrees[:, 0]) == [False, False, True]


def test_unconfident_clips_lose_their_machine_labels_and_the_budget_goes_to_humans():
    p = plan([[0.5], [0.3], [1.7]], [[0.5], [0.3], [0.05]], [[0.5], [np.nan], [np.nan]])
    assert [d.action for d in p.decisions] == [Action.ASK_HUMANS, Action.DEFER, Action.SELF_LABEL]
    assert p.decisions[0].n_raters == 2
    assert list(p.revoke[:, 0]) == [True, False, False]
    assert not p.disagrees.any()  # revoked because not confident, not because contradicted
    assert p.values[2, 0] == 1.0  # clipped to the scale


def test_a_live_machine_label_is_kept_within_the_margin_above_the_threshold():
    """Labelling needs the threshold (0.1), keeping a label the margin too (0.125): a
    clip near the threshold is not labelled and revoked by successive models in turn."""
    p = plan(
        [[0.5], [0.5], [0.5], [0.5]],
        [[0.12], [0.12], [0.13], [0.12]],
        [[0.5], [np.nan], [0.5], [0.9]],  # kept; never labelled; over the margin; contradicted
        human_budget=4,
    )
    assert [d.action for d in p.decisions] == [Action.SELF_LABEL] + [Action.ASK_HUMANS] * 3
    assert list(p.revoke[:, 0]) == [False, False, True, True]
    assert not p.label.any()
    unmargined = plan([[0.5]], [[0.12]], [[0.5]], keep_margin=0.0)
    assert unmargined.revoke[0, 0]
    assert unmargined.decisions[0].action != Action.SELF_LABEL


def test_values_are_clipped_to_each_targets_scale():
    p = plan([[4.0, -3.0]], [[0.0, 0.0]], [[np.nan, np.nan]], scale_min=[1, -1], scale_max=[5, 1])
    np.testing.assert_array_equal(p.values, [[4.0, -1.0]])


def test_online_queue_sends_the_clips_the_ensemble_is_least_sure_about():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ [0.5, -0.2, 0.1]
    far = np.vstack([rng.normal(size=(5, 3)), 8 + rng.normal(size=(2, 3))])
    queue = online_queue(X, y[:, None], far, budget=2)
    assert set(queue.queued.tolist()) == {5, 6}
    assert queue.uncertainty[queue.queued].min() > queue.uncertainty[:5].max()


def test_a_candidate_is_kept_out_only_when_clearly_worse():
    dev = {"arousal": 0.6, "valence": 0.3}
    assert should_promote(has_active=False, comparison=None, dev_ccc=dev, active_dev_ccc=None)
    close = {"diff": -0.05, "low": -0.2, "high": 0.05}
    worse = {"diff": -0.2, "low": -0.3, "high": -0.05}
    assert should_promote(has_active=True, comparison=close, dev_ccc=dev, active_dev_ccc=dev)
    assert not should_promote(has_active=True, comparison=worse, dev_ccc=dev, active_dev_ccc=dev)
    better_before = {"arousal": 0.8, "valence": None}
    assert not should_promote(
        has_active=True, comparison=None, dev_ccc=dev, active_dev_ccc=better_before
    )


def test_machine_labels_must_be_as_good_as_a_panels_human_label():
    assert machine_label_bars(
        target_error=0.2, max_self_label_error=0.15, crowd_noise=[np.nan], panel=3
    ) == (0.2, 0.15)
    cap = human_label_error([0.3, 0.2], 3)
    assert machine_label_bars(
        target_error=0.2, max_self_label_error=0.15, crowd_noise=[0.3, 0.2], panel=3
    ) == (pytest.approx(cap), pytest.approx(cap))
    assert machine_label_bars(
        target_error=0.2,
        max_self_label_error=0.15,
        crowd_noise=[0.3, 0.2],
        panel=3,
        as_good_as_humans=False,
    ) == (0.2, 0.15)
