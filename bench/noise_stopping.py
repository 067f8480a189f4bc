"""Rater noise under sequential rating: how far each estimate of a label's standard error
falls from the label's real error.

The platform asks one more rater while a clip's ratings disagree
(learner.raters.needs_another_rater), and ratings are clipped to the scale. Both bias the
noise read from the ratings. A simulated crowd like the demo's (annotate.synthetic
DEMO_CROWD) rates uniform truths in [-0.9, 0.9]; for each estimate of each rater's noise,
the RMS of the labels' reported standard error (learner.raters.settled_label_error) is
compared with the RMS of their real error:

- `each`: learner.raters.rater_noise_each as the platform runs it: each shared clip
  weighted by the inverse variance of its squared distance from the other raters' mean,
  then scaled to the pooled noise (its mean variance per shared rating is the crowd's
  pooled noise^2);
- `unweighted`: the same with every shared clip counting alike, as the platform did
  before (a clip shared with noisy raters then says as much about a rater as one shared
  with careful raters);
- `uncalibrated`: `each` without the scaling;
- `first_pairs`: learner.raters.rater_noise_from_pairs, each rater's noise from the
  first two ratings of every clip, which are taken before any stopping decision (least
  squares on (r_a - r_b)^2 = s_a^2 + s_b^2);

    python -m bench.noise_stopping [--seeds 5] [--clips 300]
"""

import argparse

import numpy as np
from numpy.typing import NDArray

from learner.raters import (
    needs_another_rater,
    rater_noise,
    rater_noise_each,
    rater_noise_from_pairs,
    settled_label_error,
    weighted_label,
)

NOISE = np.array([0.28, 0.31, 0.34, 0.36, 0.40, 0.70])
BIAS = np.array([0.02, -0.03, 0.0, 0.04, -0.02, 0.15])
CROWD = 0.41  # the noise the stopping rule assumes


def simulate(seed: int, n_clips: int) -> tuple[NDArray, ...]:
    """Long-form ratings (clip, rater, value, rank within the clip) and each clip's truth."""
    rng = np.random.default_rng(seed)
    clips, raters, values, ranks, truth = [], [], [], [], []
    for clip in range(n_clips):
        true = rng.uniform(-0.9, 0.9)
        truth.append(true)
        given: list[float] = []
        for rank, rater in enumerate(rng.permutation(len(NOISE))):
            value = float(np.clip(true + BIAS[rater] + NOISE[rater] * rng.normal(), -1, 1))
            given.append(value)
            clips.append(clip)
            raters.append(rater)
            values.append(value)
            ranks.append(rank)
            if rank >= 1 and not needs_another_rater(
                np.array(given)[:, None],
                np.array([CROWD]),
                target_error=CROWD / np.sqrt(3),
                max_raters=len(NOISE),
            ):
                break
    return tuple(np.array(a) for a in (clips, raters, values, ranks, truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--clips", type=int, default=300)
    args = parser.parse_args()
    names = ("real", "each", "unweighted", "uncalibrated", "first_pairs")
    rms: dict[str, list[float]] = {name: [] for name in names}
    per_rater: dict[str, list[NDArray]] = {name: [] for name in names}
    for seed in range(args.seeds):
        clips, raters, values, ranks, truth = simulate(seed, args.clips)
        by_clip = [clips == c for c in np.unique(clips)]
        pooled = rater_noise([values[m][:, None] for m in by_clip])[0]
        each = rater_noise_each(clips, raters, values[:, None], [pooled])[:, 0]
        estimates = {
            "each": each,
            "unweighted": rater_noise_each(
                clips, raters, values[:, None], [pooled], weighted=False
            )[:, 0],
            "uncalibrated": rater_noise_each(
                clips, raters, values[:, None], [pooled], calibrate=False
            )[:, 0],
            "first_pairs": rater_noise_from_pairs(clips, raters, values[:, None], ranks, [pooled])[
                :, 0
            ],
        }
        squares = (values - truth[clips]) ** 2
        per_rater["real"].append(np.sqrt(np.bincount(raters, squares) / np.bincount(raters)))
        for name, noise in estimates.items():
            per_rater[name].append(noise)
            reported = [
                settled_label_error(values[m][:, None], noise[raters[m]][:, None])[0]
                for m in by_clip
            ]
            rms[name].append(float(np.sqrt(np.mean(np.square(reported)))))
        errors = [
            weighted_label(values[m][:, None], each[raters[m]][:, None])[0][0] - truth[c]
            for c, m in enumerate(by_clip)
        ]
        rms["real"].append(float(np.sqrt(np.mean(np.square(errors)))))
    print(f"RMS standard error of the labels, {args.seeds} seeds x {args.clips} clips")
    for name, values_ in rms.items():
        print(f"  {name:<12} mean {np.mean(values_):.3f}  per seed {np.round(values_, 3).tolist()}")
    print(f"Each rater's noise (mean over seeds; set {NOISE.tolist()}, then clipped)")
    for name, noises in per_rater.items():
        print(f"  {name:<12} {np.round(np.mean(noises, axis=0), 3).tolist()}")
    print("Each rater's noise against their real error, relative: mean / RMS over seeds")
    real = np.array(per_rater["real"])
    for name in names[1:]:
        relative = np.array(per_rater[name]) / real - 1
        mean, spread = relative.mean(axis=0), np.sqrt((relative**2).mean(axis=0))
        print(f"  {name:<12} {np.round(mean, 3).tolist()} / {np.round(spread, 3).tolist()}")


if __name__ == "__main__":
    main()
