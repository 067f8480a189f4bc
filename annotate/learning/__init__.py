"""The one door between the database and the learner.

Nothing else in annotate imports `learner`. Each module here reads a snapshot of the
database into plain arrays, calls one pure learner function, and hands back a plan
(plain data, keyed by database ids) that a service in `annotate.services` writes in
one transaction:

- `features`: the per-process feature cache (rows -> matrices) and the extractor;
- `config`: a project's learner settings (`RoundConfig`, machine-label bars);
- `settle`: a clip's ratings -> labels, agreement and raters wanted (`settle_clip`);
- `crowd`: a project's ratings -> noise and reliability of each rater (`crowd_estimates`);
- `queue`: human labels and the open pool -> the re-ranked human queue;
- `scoring`: the active model on the pool -> machine labels, revocations, queue;
- `training`: labelled clips -> a candidate model and whether it is promoted.
"""
