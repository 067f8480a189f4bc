"""Simulated crowds for tests and benchmarks, honest about what is real.

Where a corpus has `ratings.csv`, raters are replayed exactly. Otherwise a rater of a
clip answers like a real CREMA-D listener: for a clip whose intended category is c, a
real CREMA-D clip of category c (and matching level) is drawn, one of its real votes is
drawn from its vote distribution, and that category's coordinates times the vote's
intensity is what the simulated listener perceived. Rater-specific bias and noise are
added, and a share of raters is unreliable. Clips whose category CREMA-D lacks (calm,
surprise, boredom, or anything unseen) fall back to the corpus gold plus noise scaled by
the clip's listener agreement when the corpus has one.

Real: the audio, the intended categories, the agreement statistics and CREMA-D's vote
distributions. Simulated: the rater identities and each rater's values.
"""

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from learner.corpus import gold_targets, ratings_csv_path, read_clips_csv, read_ratings_csv

# (valence, arousal, dominance) after Russell & Mehrabian (1977), as in the corpus format.
COORDINATES = {
    "anger": (-0.51, 0.59, 0.25),
    "boredom": (-0.65, -0.62, -0.33),
    "disgust": (-0.60, 0.35, 0.11),
    "fear": (-0.64, 0.60, -0.43),
    "happiness": (0.81, 0.51, 0.46),
    "sadness": (-0.63, -0.27, -0.33),
    "neutral": (0.0, 0.0, 0.0),
    "calm": (0.68, -0.46, 0.06),
    "surprise": (0.40, 0.67, -0.13),
}
CREMA_CATEGORIES = ("anger", "disgust", "fear", "happiness", "neutral", "sadness")


@dataclass
class Corpus:
    """A corpus in the shared format, as arrays: one row per clip."""

    root: Path
    clip_ids: list[str]
    paths: list[str]
    speakers: NDArray[np.object_]
    categories: list[str]
    intensity: NDArray[np.float64]
    gold: NDArray[np.float64]  # (n_clips, n_targets), NaN where absent
    targets: tuple[str, ...]
    agreement: NDArray[np.float64]  # listener agreement, NaN where unknown
    ratings: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # replayable crowd
    rating_raters: dict[str, list[str]] = field(default_factory=dict)  # who gave each rating


def _number(raw: str | None) -> float:
    if raw is None:
        return np.nan
    try:
        return float(raw)
    except (TypeError, ValueError):
        return np.nan


def load_corpus(root: Path) -> Corpus:
    """A corpus folder (clips.csv, and ratings.csv when there is one) as arrays; raises
    as `learner.corpus.read_clips_csv` and `read_ratings_csv` do for unusable files."""
    root = Path(root)
    rows = read_clips_csv(root)
    targets = gold_targets(rows)
    ratings: dict[str, list[dict[str, float]]] = {}
    rating_raters: dict[str, list[str]] = {}
    if ratings_csv_path(root).is_file():
        for _, row in read_ratings_csv(root):
            values = {t: _number(row.get(t)) for t in targets}
            ratings.setdefault(row["clip_id"], []).append(values)
            rating_raters.setdefault(row["clip_id"], []).append(row["rater_id"])
    return Corpus(
        root=root,
        clip_ids=[r["clip_id"] for r in rows],
        paths=[r["path"] for r in rows],
        speakers=np.array([r.get("speaker") or f"clip-{r['clip_id']}" for r in rows], dtype=object),
        categories=[(r.get("category") or "").strip().lower() for r in rows],
        intensity=np.array([_number(r.get("intensity")) for r in rows]),
        gold=np.array([[_number(r.get(t)) for t in targets] for r in rows]).reshape(len(rows), -1),
        targets=targets,
        agreement=np.array([_number(r.get("agreement")) for r in rows]),
        ratings=ratings,
        rating_raters=rating_raters,
    )


@dataclass(frozen=True)
class CremaVotes:
    """CREMA-D's real vote distributions per intended category and level."""

    by_category: dict[str, list[tuple[NDArray[np.float64], NDArray[np.float64]]]]

    @classmethod
    def load(cls, path: Path) -> "CremaVotes":
        by_category: dict[str, list[tuple[NDArray[np.float64], NDArray[np.float64]]]] = {}
        with Path(path).open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                votes = np.array([_number(row[f"votes_{c}"]) for c in CREMA_CATEGORIES])
                level = np.array([_number(row[f"intensity_{c}"]) for c in CREMA_CATEGORIES])
                if np.nansum(votes) > 0:
                    key = f"{row['intended']}:{row['level']}"
                    by_category.setdefault(key, []).append((votes, np.nan_to_num(level, nan=0.5)))
                    by_category.setdefault(row["intended"], []).append(
                        (votes, np.nan_to_num(level, nan=0.5))
                    )
        return cls(by_category)

    def draw(
        self, category: str, intensity: float, rng: np.random.Generator
    ) -> tuple[str, float] | None:
        """One real listener's answer to a clip of this category: (category, intensity)."""
        level = "HI" if intensity >= 0.9 else "MD" if intensity >= 0.5 else "LO"
        pool = self.by_category.get(f"{category}:{level}") or self.by_category.get(category)
        if not pool:
            return None
        votes, intensities = pool[rng.integers(len(pool))]
        chosen = rng.choice(len(CREMA_CATEGORIES), p=votes / votes.sum())
        return CREMA_CATEGORIES[chosen], float(intensities[chosen])


class CrowdSimulator:
    """A pool of raters for one corpus; `rating(clip, rater)` is deterministic.

    Parameters
    ----------
    corpus : Corpus
    votes : CremaVotes or None
        Real crowd behaviour to draw perceived categories from (None: gold + noise).
    n_raters : int
        Size of the crowd.
    raters_per_clip : int or None
        How many of the crowd rate any one clip (None: all of them). Each clip draws its
        own raters, in its own order (`raters_of`): on a crowd platform different people
        rate different clips, so a clip's first rating is not always the same person's.
    unreliable_share : float
        Share of raters with large noise and bias.
    random_state : int

    Attributes
    ----------
    bias_, noise_ : per rater; reliable_ : bool per rater (the truth tests compare with)
    """

    def __init__(
        self,
        corpus: Corpus,
        votes: CremaVotes | None = None,
        n_raters: int = 20,
        raters_per_clip: int | None = None,
        unreliable_share: float = 0.15,
        random_state: int = 0,
    ) -> None:
        self.corpus = corpus
        self.votes = votes
        self.n_raters = n_raters
        self.raters_per_clip = (
            n_raters if raters_per_clip is None else min(raters_per_clip, n_raters)
        )
        self.unreliable_share = unreliable_share
        self.random_state = random_state
        rng = np.random.default_rng(random_state)
        self.reliable_ = rng.permutation(n_raters) >= round(unreliable_share * n_raters)
        n_targets = len(corpus.targets)
        self.bias_ = np.where(
            self.reliable_[:, None],
            rng.normal(0, 0.08, (n_raters, n_targets)),
            rng.normal(0, 0.35, (n_raters, n_targets)),
        )
        self.noise_ = np.where(
            self.reliable_, rng.uniform(0.05, 0.15, n_raters), rng.uniform(0.4, 0.7, n_raters)
        )

    @property
    def replayed(self) -> bool:
        return bool(self.corpus.ratings)

    def n_available(self, clip: int) -> int:
        """How many distinct raters this clip can get."""
        if self.replayed:
            return len(self.corpus.ratings.get(self.corpus.clip_ids[clip], []))
        return self.raters_per_clip

    def raters_of(self, clip: int) -> NDArray[np.int64]:
        """Who rates a clip, in the order they come to it: a draw of `raters_per_clip` of
        the crowd of its own (replayed: the clip's ratings in file order)."""
        if self.replayed:
            return np.arange(self.n_available(clip))
        return self._rng(clip, -1).permutation(self.n_raters)[: self.raters_per_clip]

    def nth_rater(self, clip: int, k: int) -> str:
        """Who gives the clip's k-th rating: the same name whichever clip they rate
        (replayed: ratings.csv's rater_id, or one of its own where that is empty)."""
        if self.replayed:
            clip_id = self.corpus.clip_ids[clip]
            return self.corpus.rating_raters[clip_id][k] or f"{clip_id}#{k}"
        return f"rater{int(self.raters_of(clip)[k])}"

    def nth_rating(self, clip: int, k: int) -> dict[str, float]:
        """The clip's k-th rating: `rating` by the k-th of `raters_of(clip)`."""
        return self.rating(clip, int(self.raters_of(clip)[k]))

    def _rng(self, clip: int, rater: int) -> np.random.Generator:
        key = f"{self.random_state}:{self.corpus.clip_ids[clip]}:{rater}".encode()
        return np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))

    def perceived(self, clip: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """What a listener hears before their own bias and noise, per target."""
        corpus = self.corpus
        category, intensity = corpus.categories[clip], corpus.intensity[clip]
        drawn = None
        if self.votes is not None and category in CREMA_CATEGORIES:
            drawn = self.votes.draw(category, 1.0 if np.isnan(intensity) else intensity, rng)
        if drawn is not None:
            heard, strength = drawn
            coords = dict(zip(("valence", "arousal", "dominance"), COORDINATES[heard], strict=True))
            return np.array([coords[t] * max(strength, 0.2) for t in corpus.targets])
        agreement = corpus.agreement[clip]
        spread = 0.15 if np.isnan(agreement) else 0.05 + 0.4 * (1.0 - agreement)
        noisy: NDArray[np.float64] = corpus.gold[clip] + rng.normal(0, spread, len(corpus.targets))
        return noisy

    def rating(self, clip: int, rater: int) -> dict[str, float]:
        """Rater `rater`'s values for clip index `clip`, clipped to [-1, 1]."""
        if self.replayed:
            return dict(self.corpus.ratings[self.corpus.clip_ids[clip]][rater])
        rng = self._rng(clip, rater)
        values = (
            self.perceived(clip, rng)
            + self.bias_[rater]
            + rng.normal(0, self.noise_[rater], len(self.corpus.targets))
        )
        return {
            t: float(np.clip(v, -1, 1)) for t, v in zip(self.corpus.targets, values, strict=True)
        }
