"""The label-efficiency benchmark measures what a new project gets: its default extractor,
normalisation and regressor are the platform's (written out in the benchmark, which does
not import Django; this test keeps the two in step)."""

from annotate.models import Project
from bench.label_efficiency.cli import (
    PLATFORM_EXTRACTOR,
    PLATFORM_NORMALISATION,
    PLATFORM_REGRESSOR,
    parse_args,
)


def test_the_benchmark_defaults_are_a_new_projects(tmp_path):
    fields = {field.name: field.default for field in Project._meta.get_fields() if field.concrete}
    assert fields["feature_extractor"] == PLATFORM_EXTRACTOR
    assert fields["feature_normalisation"] == PLATFORM_NORMALISATION
    assert fields["regressor"] == PLATFORM_REGRESSOR
    args = parse_args(["--corpus", "x", "--out", str(tmp_path)])
    assert (args.extractor, args.normalise, args.regressor) == (
        PLATFORM_EXTRACTOR,
        PLATFORM_NORMALISATION,
        PLATFORM_REGRESSOR,
    )
    # The human queue's order is chosen per round as the platform chooses it
    # (learner.cooperative.choose_queue_order, TrainedBundle.queue_order).
    assert args.selection == "auto"
