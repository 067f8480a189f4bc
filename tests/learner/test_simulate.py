import csv

import numpy as np
import pytest

from learner.agreement import clip_agreement, rater_reliability
from learner.raters import rater_noise, rater_noise_each
from learner.simulate import CremaVotes, CrowdSimulator, load_corpus
from tests.conftest import SHARED_DATA


def write_corpus(root, *, ratings=False, n=40):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    categories = ["anger", "sadness", "happiness", "neutral", "calm"]
    with (root / "clips.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "clip_id",
                "path",
                "speaker",
                "category",
                "intensity",
                "valence",
                "arousal",
                "agreement",
            ]
        )
        for i in range(n):
            writer.writerow(
                [
                    f"c{i}",
                    f"audio/c{i}.wav",
                    f"s{i % 4}",
                    categories[i % 5],
                    "1.0",
                    f"{rng.uniform(-1, 1):.2f}",
                    f"{rng.uniform(-1, 1):.2f}",
                    "1.0" if i % 2 else "0.3",
                ]
            )
    if ratings:
        (root / "ratings.csv").write_text(
            "clip_id,rater_id,arousal,valence\nc0,a,0.5,0.1\nc0,b,0.3,-0.2\n"
        )
    return load_corpus(root)


def ratings_table(crowd, target):
    """(n_clips, n_raters) ratings of one target, NaN where the rater did not rate."""
    table = np.full((len(crowd.corpus.clip_ids), crowd.n_raters), np.nan)
    for clip in range(len(table)):
        for rater in crowd.raters_of(clip):
            table[clip, rater] = crowd.rating(clip, int(rater))[target]
    return table


def test_simulation_is_deterministic_and_on_scale(tmp_path):
    corpus = write_corpus(tmp_path / "c")
    a = CrowdSimulator(corpus, random_state=1)
    b = CrowdSimulator(corpus, random_state=1)
    assert a.rating(3, 7) == b.rating(3, 7)
    assert a.rating(3, 7) != CrowdSimulator(corpus, random_state=2).rating(3, 7)
    values = [v for i in range(40) for v in a.rating(i, 0).values()]
    assert all(-1 <= v <= 1 for v in values)


def test_each_clip_draws_its_own_raters_from_the_crowd(tmp_path):
    corpus = write_corpus(tmp_path / "c", n=60)
    crowd = CrowdSimulator(corpus, n_raters=30, raters_per_clip=5, random_state=0)
    assert crowd.n_available(0) == 5
    panels = [crowd.raters_of(i) for i in range(60)]
    assert all(len(set(p.tolist())) == 5 for p in panels)  # five distinct people a clip
    # The first rating is not always the same person's (a fixed first rater would put
    # that person's bias into every single-rated clip).
    assert len({int(p[0]) for p in panels}) > 10
    assert crowd.nth_rating(4, 2) == crowd.rating(4, int(panels[4][2]))
    # A rating names its rater, the same name on every clip they rate.
    assert crowd.nth_rater(4, 2) == f"rater{int(panels[4][2])}"


def test_replays_ratings_csv_exactly(tmp_path):
    corpus = write_corpus(tmp_path / "c", ratings=True)
    crowd = CrowdSimulator(corpus)
    assert crowd.replayed
    assert crowd.n_available(0) == 2
    assert crowd.rating(0, 1) == {"arousal": 0.3, "valence": -0.2}
    assert [crowd.nth_rater(0, k) for k in range(2)] == ["a", "b"]


def test_lower_listener_agreement_means_more_disagreement(tmp_path):
    corpus = write_corpus(tmp_path / "c", n=200)
    crowd = CrowdSimulator(corpus, n_raters=10, unreliable_share=0.0)
    spread = np.array(
        [clip_agreement(row, scale_min=-1, scale_max=1) for row in ratings_table(crowd, "arousal")]
    )
    high, low = corpus.agreement == 1.0, corpus.agreement == 0.3
    assert spread[high].mean() > spread[low].mean() + 0.05


def test_learned_reliability_finds_the_unreliable_raters(tmp_path):
    corpus = write_corpus(tmp_path / "c", n=200)
    crowd = CrowdSimulator(corpus, n_raters=12, unreliable_share=0.25, random_state=3)
    table = ratings_table(crowd, "arousal")
    reliability = rater_reliability(table)
    assert reliability[crowd.reliable_].min() > reliability[~crowd.reliable_].max()
    clips, raters = np.nonzero(~np.isnan(table))
    values = table[clips, raters][:, None]
    pooled = rater_noise([values[clips == c] for c in range(len(table))])
    noise = rater_noise_each(clips, raters, values, pooled)[:, 0]
    assert noise[crowd.reliable_].max() < noise[~crowd.reliable_].min()
    gold = np.nanmean(table, axis=1)
    assert np.corrcoef(gold, corpus.gold[:, corpus.targets.index("arousal")])[0, 1] > 0.9


def test_crema_d_votes_make_real_confusions():
    votes_csv = SHARED_DATA / "crema_d" / "votes_voice.csv"
    if not votes_csv.is_file():
        pytest.skip(f"CREMA-D votes not found at {votes_csv} (../shared/data is absent)")
    votes = CremaVotes.load(votes_csv)
    rng = np.random.default_rng(0)
    heard = [votes.draw("anger", 1.0, rng)[0] for _ in range(500)]
    share = heard.count("anger") / len(heard)
    assert 0.4 < share < 0.95  # real listeners often hear something else
    assert {"neutral", "disgust"} & set(heard)
