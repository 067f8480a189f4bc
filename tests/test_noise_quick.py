"""Smoke test of the noise benchmark on a tiny synthetic corpus: every condition has its
row, and more noise costs the model. The real figures live in docs/noise.md."""

import re

from annotate.synthetic import corpus_write
from bench.noise import main


def test_quick_run_has_a_row_for_every_condition_and_noise_costs_ccc(tmp_path, capsys):
    corpus = corpus_write(tmp_path / "syn", n_clips=30, seed=0)
    options = ["--snr", "0", "--folds", "3", "--dae-steps", "1", "--cache", str(tmp_path)]
    report = main(["--corpus", str(corpus), *options])
    rows = [line for line in report.splitlines() if line.startswith("| ") and "---" not in line]
    body = [row for row in rows if not row.startswith("| noise ")]
    # 3 normalisations x (clean, white, babble) x (none, spectral, dae, multi-condition)
    assert len(body) == 3 * 3 * 4
    for noise, snr in (("clean", "-"), ("white", "0"), ("babble", "0")):
        for front in ("none", "spectral", "dae"):
            assert (
                sum(row.startswith(f"| {noise} | {snr} | {front} | clean |") for row in body) == 3
            )
        assert (
            sum(row.startswith(f"| {noise} | {snr} | none | clean + noisy |") for row in body) == 3
        )
    # The clean reference is 100% of itself; white noise at 0 dB leaves the extractor
    # about 0 dB, and costs arousal CCC against the clean reference without a front end.
    clean = next(row for row in body if row.startswith("| clean | - | none | clean |"))
    assert "(100%)" in clean
    loud = next(row for row in body if row.startswith("| white | 0 | none | clean |"))
    out_snr = float(loud.split("|")[5])
    assert abs(out_snr) < 0.5
    arousal = [float(v) for v in re.findall(r"(-?\d\.\d{3}) \(", loud)]
    reference = [float(v) for v in re.findall(r"(-?\d\.\d{3}) \(", clean)]
    assert arousal[0] < reference[0]
    assert "dae fitted" in capsys.readouterr().out
    # A second run reads the noisy features from the cache (no denoiser is trained again)
    # and gives the same rows.
    again = main(["--corpus", str(corpus), *options, "--noise", "white", "--enhance", "dae"])
    repeated = [line for line in again.splitlines() if line.startswith("| white | 0 | dae |")]
    assert len(repeated) == 3
    assert set(repeated) <= set(body)
    assert "dae fitted" not in capsys.readouterr().out
