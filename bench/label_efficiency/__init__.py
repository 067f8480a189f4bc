"""Label efficiency: human ratings each strategy needs to approach full supervision.

    python -m bench.label_efficiency --corpus ../shared/data/emodb [--corpus DIR ...] --out DIR
        [--quick] [--seeds 5] [--folds 5] [--extractor compare16k|librosa|egemaps|compare]
        [--normalise none|speaker|corpus] [--regressor linear_clipped|linear|mlp|pls|svr|...]
        [--raters 3] [--strategies a,b] [--selection auto|top|proportional]
        [--jobs N] [--platform] [--prior CORPUS_DIR ...] [--prior-normalisation auto]

The protocol of METHOD.md section 6, on any corpus in the shared format, by default on
what a new project gets (cli.PLATFORM_EXTRACTOR, ..._NORMALISATION, ..._REGRESSOR:
ComParE 2016 at 16 kHz, features as extracted, the clipped ridge). Speaker folds
(test speakers, development speakers, the rest a pool with a small labelled seed set)
are repeated over seeds. A human query reveals one more rating of a clip (cost 1): from
ratings.csv where the corpus has one, else from a simulated crowd drawing on real
CREMA-D votes (learner.simulate). A clip's label weights each rating by its rater's
learnt noise, as the platform's does (learner.raters.clip_label; `--labels mean`: plain
means); its gold is that label from all its raters. The development speakers are rated
by `--raters` people and given to every strategy free (the cooperative ones use them to
calibrate and choose; every strategy learns its raters' noise from them too). Each round
every strategy trains on what it has, is evaluated on the test speakers, and spends the
same budget of ratings:

- random: random clips, a fixed number of raters each;
- uncertainty: the clips a bootstrap ensemble disagrees on most, fixed raters;
- self_training: random clips for humans, and the ensemble's most confident clips
  labelled by the model;
- cooperative: the platform's round (learner.training.train_round): calibrated
  confidence labels the clips whose expected error is no worse than a human label's;
  humans get the least confident (learner.cooperative.decide), fixed raters;
- cooperative_dynamic: as cooperative, but a clip starts with one rater and gets more
  while its label is less certain than a fixed panel's (learner.raters.settle_clip, as
  the platform);
- random_dynamic: random clips with dynamic raters, no machine labels: what the rater
  rule alone does, without the cooperative choice of clips;
- diagnostics, only on request, never results: cooperative_oracle is
  cooperative_dynamic with a perfect confidence (the model's real error against gold),
  an upper bound on what better confidence could buy; cooperative_coverage sends
  people the unconfident clips farthest from the rated ones (greedy sampling) instead
  of the least confident; random_coverage does that without machine labels.

With `--prior CORPUS_DIR` (repeatable; the corpus under test itself lends a fold's worth
of speakers from outside test and development, taken out of every strategy's pool),
random_prior, cooperative_prior and cooperative_dynamic_prior run next to their cold
twins on the same splits: the prior (trained as the platform's train_prior) picks the
cooperative strategies' seed set, and every round chooses on the development speakers
between the cold model and one learning with the prior (learner.prior.PLATFORM_MODES),
as a project does (docs/transfer.md).

`--platform` instead drives one split through the real platform (bench.platform_mode).

The package: `protocol` (splits, the labeller, corpus preparation, the round loop),
`strategies` (a registry of the strategies above), `report` (curves, the 95 % point,
plots, tables) and `cli` (this command).
"""

import os

# One thread per process: comparable timings, and no oversubscription on small machines.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from bench.label_efficiency.cli import main
from bench.label_efficiency.protocol import (
    MACHINE_LABEL_TARGET_ERROR,
    Labeller,
    Split,
    development_ratings,
    make_split,
    prepare_corpus,
    run_once,
    speaker_folds,
)
from bench.label_efficiency.report import cost_grid, summarise
from bench.label_efficiency.strategies import DIAGNOSTICS, REGISTRY, STRATEGIES

__all__ = [
    "DIAGNOSTICS",
    "MACHINE_LABEL_TARGET_ERROR",
    "REGISTRY",
    "STRATEGIES",
    "Labeller",
    "Split",
    "cost_grid",
    "development_ratings",
    "main",
    "make_split",
    "prepare_corpus",
    "run_once",
    "speaker_folds",
    "summarise",
]
