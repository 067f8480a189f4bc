import numpy as np
import pytest

from learner.cooperative import QueueOrder
from learner.training import LabelledSet, RoundConfig, TrainedBundle, speaker_split, train_round


def labelled(n=300, seed=0, speakers=10):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 12)).astype(np.float32)
    noise = 0.03 + 0.3 * (np.abs(X[:, 0]) > 1)
    y = np.column_stack([np.tanh(0.6 * X[:, 1]), np.tanh(0.4 * X[:, 2])])
    y = y + noise[:, None] * rng.normal(size=y.shape)
    y[::7, 1] = np.nan
    return LabelledSet(
        clip_ids=np.arange(n),
        X=X,
        y=y,
        agreement=np.clip(1 - noise, 0, 1),
        groups=np.array([f"s{i % speakers}" for i in range(n)], dtype=object),
        weight=np.ones(n),
        human=np.ones(n, dtype=bool),
    )


def config(**kw):
    return RoundConfig(targets=("arousal", "valence"), extractor_key="test-1", **kw)


def test_speaker_split_keeps_speakers_whole():
    data = labelled()
    dev = speaker_split(data.groups, dev_fraction=0.25, random_state=1)
    assert set(data.groups[dev]).isdisjoint(set(data.groups[~dev]))
    assert 0.15 < dev.mean() < 0.4


def test_train_round_scores_evaluates_and_picks_a_threshold(tmp_path):
    data = labelled()
    dev = speaker_split(data.groups, dev_fraction=0.25, random_state=0)
    bundle = train_round(
        data.subset(~dev),
        data.subset(dev),
        config(target_error=0.15, feature_normalisation="speaker"),
    )
    assert bundle.feature_normalisation == "speaker"
    scores = bundle.predict(data.X[:20])
    assert scores.values.shape == scores.expected_error.shape == (20, 2)
    assert scores.agreement.shape == (20,)
    quality = bundle.evaluate(data.X[dev], data.y[dev])
    assert quality["arousal"] > 0.8
    assert 0.0 <= bundle.self_label_threshold <= 0.15
    assert bundle.report["dev_self_label_share"] > 0
    # The noise grows with |X[:, 0]|: on development speakers it was not calibrated on,
    # the confidence ranks the real errors.
    assert bundle.report["confidence_rank"]["arousal"] > 0.3
    assert bundle.report["confidence_rank"]["valence"] > 0.1
    # So the human queue puts the least confident clips first.
    assert bundle.report["queue_order"] == {"order": "top", "dev_clips": int(dev.sum())}
    assert bundle.queue_order == QueueOrder.UNCERTAINTY
    path = tmp_path / "models" / "b.bundle"
    digest = bundle.save(path)
    assert len(digest) == 64
    loaded = TrainedBundle.load(path)
    np.testing.assert_array_equal(loaded.predict(data.X[:5]).values, scores.values[:5])
    assert loaded.targets == ("arousal", "valence")
    assert loaded.feature_normalisation == "speaker"  # scored on the scale it learned on
    assert not list(path.parent.glob(".tmp-*"))


def test_a_bundle_scores_the_feature_cache_rows_as_their_float64_copies():
    data = labelled()
    dev = speaker_split(data.groups, dev_fraction=0.25, random_state=0)
    bundle = train_round(data.subset(~dev), data.subset(dev), config(regressor="linear_clipped"))
    rows = data.X[:40]
    assert rows.dtype == np.float32
    as_stored, widened = bundle.predict(rows), bundle.predict(rows.astype(np.float64))
    np.testing.assert_array_equal(as_stored.values, widened.values)
    np.testing.assert_array_equal(as_stored.expected_error, widened.expected_error)
    np.testing.assert_array_equal(as_stored.agreement, widened.agreement)
    # the agreement returned is the engine's own (predicted once, used twice)
    np.testing.assert_array_equal(
        as_stored.agreement, bundle.confidence.agreement_.predict(rows.astype(np.float64))
    )


def test_too_few_labels_say_so():
    data = labelled(n=12)
    with pytest.raises(ValueError, match="too few labelled clips"):
        train_round(data.subset(np.arange(12) < 8), data.subset(np.arange(12) >= 8), config())


def test_a_bundle_of_another_format_is_refused(tmp_path):
    import json
    import zipfile

    path = tmp_path / "old.bundle"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.json", json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="bundle format 99"):
        TrainedBundle.load(path)


def test_compare_on_dev_tells_a_better_model_from_a_worse_one():
    from learner.training import compare_on_dev

    data = labelled(n=400)
    dev = speaker_split(data.groups, dev_fraction=0.25, random_state=0)
    good = train_round(data.subset(~dev), data.subset(dev), config())
    few = np.zeros(len(data), dtype=bool)
    few[np.flatnonzero(~dev)[:25]] = True
    weak = train_round(data.subset(few), data.subset(dev), config())
    better = compare_on_dev(good, weak, data.X[dev], data.y[dev])
    assert better["low"] > 0
    worse = compare_on_dev(weak, good, data.X[dev], data.y[dev])
    assert worse["high"] < 0
    assert worse["diff"] == pytest.approx(-better["diff"])


def with_machine_labels(data, machine, y_machine):
    """`data` with the clips in `machine` relabelled by a model (y_machine), weight 0.5."""
    y = data.y.copy()
    y[machine] = y_machine
    human = ~machine
    return LabelledSet(
        clip_ids=data.clip_ids,
        X=data.X,
        y=y,
        agreement=np.where(human, data.agreement, np.nan),
        groups=data.groups,
        weight=np.where(human, 1.0, 0.5),
        human=human,
    )


def test_machine_labels_that_hurt_on_dev_are_left_out():
    data = labelled(n=400)
    dev = speaker_split(data.groups, dev_fraction=0.25, random_state=0)
    machine = ~dev & (np.arange(len(data)) % 3 != 0)
    # A collapsed earlier model: every machine label squeezed toward zero.
    squeezed = with_machine_labels(data, machine, 0.1 * data.y[machine])
    bundle = train_round(squeezed.subset(~dev), data.subset(dev), config())
    assert bundle.report["machine_labels_used"] is False
    human_only = train_round(data.subset(~dev & ~machine), data.subset(dev), config())
    np.testing.assert_allclose(
        bundle.predict(data.X[dev]).values, human_only.predict(data.X[dev]).values
    )


def test_machine_labels_that_help_on_dev_are_kept():
    data = labelled(n=400)
    dev = speaker_split(data.groups, dev_fraction=0.25, random_state=0)
    machine = ~dev & (np.arange(len(data)) % 10 != 0)  # few humans, many good machine labels
    clean = np.column_stack([np.tanh(0.6 * data.X[:, 1]), np.tanh(0.4 * data.X[:, 2])])
    accurate = with_machine_labels(data, machine, clean[machine])
    bundle = train_round(accurate.subset(~dev), data.subset(dev), config())
    assert bundle.report["machine_labels_used"] is True


def test_refit_deploys_more_data_but_compares_the_held_out_fit(tmp_path):
    from learner.training import compare_on_dev

    data = labelled(n=400)
    dev = speaker_split(data.groups, dev_fraction=0.25, random_state=0)
    candidate = train_round(data.subset(~dev), data.subset(dev), config())
    deployed = candidate.refit(data, config())
    assert deployed.report["refit_clips"] == len(data)
    assert deployed.self_label_threshold == candidate.self_label_threshold
    assert deployed.confidence is candidate.confidence
    assert deployed.holdout_model is candidate.model
    # The deployed model has seen the development clips; its held-out twin has not.
    seen = deployed.evaluate(data.X[dev], data.y[dev])["arousal"]
    unseen = deployed.evaluate(data.X[dev], data.y[dev], holdout=True)["arousal"]
    assert unseen == candidate.evaluate(data.X[dev], data.y[dev])["arousal"]
    assert seen > unseen
    path = tmp_path / "deployed.bundle"
    deployed.save(path)
    loaded = TrainedBundle.load(path)
    np.testing.assert_array_equal(
        loaded.comparable_model.predict(data.X[:5]), candidate.model.predict(data.X[:5])
    )
    # Versions are compared through their held-out fits: a refit is no flattering rival.
    same = compare_on_dev(candidate, loaded, data.X[dev], data.y[dev])
    assert same["diff"] == pytest.approx(0.0)


def test_confidence_rank_needs_enough_development_clips_on_each_side():
    data = labelled(n=40, speakers=4)
    dev = speaker_split(data.groups, dev_fraction=0.25, random_state=0)
    assert dev.sum() < 20  # fewer than 10 a side
    bundle = train_round(data.subset(~dev), data.subset(dev), config())
    assert bundle.report["confidence_rank"] == {"arousal": None, "valence": None}
    # Unmeasured is not shown to rank: the queue is a random draw.
    assert bundle.queue_order == QueueOrder.RANDOM


def test_a_bundle_from_before_the_queue_order_was_chosen_orders_by_uncertainty(tmp_path):
    data = labelled(n=120)
    dev = speaker_split(data.groups, dev_fraction=0.25, random_state=0)
    bundle = train_round(data.subset(~dev), data.subset(dev), config())
    del bundle.report["queue_order"]
    bundle.save(tmp_path / "old.bundle")
    assert TrainedBundle.load(tmp_path / "old.bundle").queue_order == QueueOrder.UNCERTAINTY
