"""Dynamic raters: how many people a clip needs (METHOD section 4)."""


def needs_more_ratings(
    *, n_ratings: int, agreement: float, min_raters: int, max_raters: int, agreement_target: float
) -> bool:
    """Ask one more rater only while agreement is below target and fewer than max answered."""
    if n_ratings < min_raters:
        return True
    return agreement < agreement_target and n_ratings < max_raters


def serve_easy_first(
    *, reliability: float, n_shared: int, min_reliability: float = 0.3, min_shared: int = 10
) -> bool:
    """Whether a rater should get the easiest clips first instead of the most needed.

    A rater whose learned reliability has fallen below `min_reliability`, measured on at
    least `min_shared` clips shared with others, is kept away from the hard, ambiguous
    clips that need the most trustworthy ears (METHOD section 4).
    """
    return n_shared >= min_shared and reliability < min_reliability
