"""Speech enhancement front ends, audio in and audio out at 16 kHz, scikit-learn style.

    enhancer = RecurrentDenoiser(random_state=0).fit(noisy_clips, clean_clips)
    cleaner = enhancer.transform(field_recordings)     # a list of float32 arrays

Two of them, both gains on the noisy short-time spectrum, resynthesised with the noisy
phase (same length, same dtype):

- `SpectralGain`: a Wiener-style gain from a noise spectrum estimated on the quietest
  frames of each clip. Nothing to learn: `fit` only checks and records its arguments.
- `RecurrentDenoiser`: the seed's recurrent denoising autoencoder (section 3: a BLSTM of
  2 layers of 30 mapping noisy MFCC to clean ones, trained with MSE on noisy/clean pairs
  at 0-12 dB SNR), here a bidirectional GRU over standardised log-power spectrum frames
  that predicts a time-frequency mask. It is trained on pairs of noisy and clean audio
  (the caller adds the noise, e.g. with learner.noise), on power-law compressed
  magnitudes, for a fixed number of steps on random excerpts, capped in frames, so that a
  fit costs minutes on one core. Enhancing audio rather than features keeps it in front of
  any extractor.
"""

from collections.abc import Sequence
from typing import Any

import librosa
import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

SR = 16000
_EPS = 1e-10


def _check_clips(clips: Sequence[ArrayLike], what: str) -> list[NDArray[np.float32]]:
    arrays = [np.asarray(clip, dtype=np.float32) for clip in clips]
    for i, clip in enumerate(arrays):
        if clip.ndim != 1:
            raise ValueError(f"{what}[{i}] must be 1-d mono audio, got shape {clip.shape}")
    return arrays


class _Spectra:
    """STFT and its inverse with one set of parameters."""

    n_fft: int
    hop: int

    def _stft(self, audio: NDArray[np.float32]) -> NDArray[np.complex64]:
        padded = audio if audio.size >= self.n_fft else np.pad(audio, (0, self.n_fft - audio.size))
        spec: NDArray[np.complex64] = librosa.stft(padded, n_fft=self.n_fft, hop_length=self.hop)
        return spec

    def _resynthesise(
        self, spec: NDArray[np.complex64], gain: NDArray[Any], like: NDArray[Any]
    ) -> NDArray[np.float32]:
        audio = librosa.istft(
            spec * gain, hop_length=self.hop, n_fft=self.n_fft, length=max(like.size, self.n_fft)
        )
        return np.asarray(audio[: like.size], dtype=like.dtype)

    def transform(self, X: Sequence[ArrayLike]) -> list[NDArray[np.float32]]:
        """Each clip of `X` enhanced (1-d float audio at 16 kHz), same length and dtype."""
        out = []
        for clip in _check_clips(X, "X"):
            if clip.size == 0:
                out.append(clip.copy())
                continue
            spec = self._stft(clip)
            out.append(self._resynthesise(spec, self._gain(spec), clip))
        return out

    def _gain(self, spec: NDArray[np.complex64]) -> NDArray[np.float32]:
        raise NotImplementedError


class SpectralGain(_Spectra):
    """Wiener-style spectral gain with a per-clip noise estimate.

    The noise power spectrum is the mean of the `noise_share` quietest frames of the clip
    (by energy); the gain of a time-frequency bin is `max(1 - over_subtraction * noise /
    power, floor)`, with the noisy power smoothed over three frames against musical noise.
    """

    def __init__(
        self,
        n_fft: int = 512,
        hop: int = 128,
        noise_share: float = 0.1,
        over_subtraction: float = 1.0,
        floor: float = 0.1,
    ) -> None:
        self.n_fft = n_fft
        self.hop = hop
        self.noise_share = noise_share
        self.over_subtraction = over_subtraction
        self.floor = floor

    def fit(
        self, X: Sequence[ArrayLike] | None = None, y: Sequence[ArrayLike] | None = None
    ) -> "SpectralGain":
        """Nothing to learn; returns self (for a pipeline that fits every front end)."""
        if not 0 < self.noise_share <= 1:
            raise ValueError(f"noise_share must be in (0, 1], got {self.noise_share}")
        self.fitted_ = True
        return self

    def _gain(self, spec: NDArray[np.complex64]) -> NDArray[np.float32]:
        power = np.abs(spec) ** 2
        energy = power.sum(axis=0)
        n_quiet = max(1, int(np.ceil(self.noise_share * energy.size)))
        noise = power[:, np.argsort(energy)[:n_quiet]].mean(axis=1, keepdims=True)
        padded = np.pad(power, ((0, 0), (1, 1)), mode="edge")
        smooth = (padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]) / 3.0
        gain = np.maximum(1.0 - self.over_subtraction * noise / (smooth + _EPS), self.floor)
        out: NDArray[np.float32] = gain.astype(np.float32)
        return out


class _MaskNetwork(nn.Module):
    """Standardised log-power frames -> a mask in (0, 1) per bin and frame."""

    def __init__(self, n_bins: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.inp = nn.Linear(n_bins, hidden)
        self.rnn = nn.GRU(hidden, hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, n_bins)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(torch.tanh(self.inp(frames)))
        mask: torch.Tensor = torch.sigmoid(self.out(h))
        return mask


class RecurrentDenoiser(_Spectra):
    """A recurrent denoising autoencoder that predicts a spectral mask.

    Input: log power spectrum frames of the noisy audio, standardised per bin with the
    training inputs' statistics. Network: a linear layer to `hidden` units, a
    bidirectional GRU of `layers` layers, a linear layer and a sigmoid: a gain in (0, 1)
    per bin. Loss: mean squared error between the masked noisy magnitude and the clean
    one, both raised to `compression` (0.3, which weights quiet bins more than plain
    magnitudes and less than logs). Adam, `n_steps` batches of `batch_size` random
    excerpts of `chunk_frames` frames from at most `max_frames` training frames.

    `random_state` seeds the excerpts and the initial weights; a fit neither reads nor
    changes torch's global random state.

    Attributes
    ----------
    mean_, scale_ : per-bin standardisation of the input log power
    module_ : the trained network (eval mode)
    loss_curve_ : training loss per step
    """

    def __init__(
        self,
        n_fft: int = 512,
        hop: int = 128,
        hidden: int = 64,
        layers: int = 2,
        compression: float = 0.3,
        n_steps: int = 400,
        batch_size: int = 16,
        chunk_frames: int = 128,
        max_frames: int = 100_000,
        learning_rate: float = 3e-3,
        random_state: int | None = 0,
    ) -> None:
        self.n_fft = n_fft
        self.hop = hop
        self.hidden = hidden
        self.layers = layers
        self.compression = compression
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.chunk_frames = chunk_frames
        self.max_frames = max_frames
        self.learning_rate = learning_rate
        self.random_state = random_state

    def _log_power(self, magnitude: NDArray[np.float32]) -> NDArray[np.float32]:
        out: NDArray[np.float32] = np.log(magnitude**2 + _EPS).astype(np.float32)
        return out

    def fit(self, X: Sequence[ArrayLike], y: Sequence[ArrayLike]) -> "RecurrentDenoiser":
        """Learn to map noisy clips `X` to the clean clips `y` (pairs of equal length)."""
        noisy, clean = _check_clips(X, "X"), _check_clips(y, "y")
        if len(noisy) != len(clean) or not noisy:
            raise ValueError(f"{len(noisy)} noisy clips for {len(clean)} clean ones")
        rng = np.random.default_rng(self.random_state)
        inputs, targets, magnitudes = [], [], []
        frames = 0
        for i in rng.permutation(len(noisy)):
            if noisy[i].shape != clean[i].shape:
                raise ValueError(f"X[{i}] and y[{i}] differ in length")
            if frames >= self.max_frames or noisy[i].size == 0:
                continue
            mag = np.abs(self._stft(noisy[i])).T.astype(np.float32)  # (frames, bins)
            inputs.append(self._log_power(mag))
            magnitudes.append(mag)
            targets.append(np.abs(self._stft(clean[i])).T.astype(np.float32))
            frames += len(mag)
        stacked = np.concatenate(inputs)
        self.mean_ = stacked.mean(axis=0)
        self.scale_ = np.where(stacked.std(axis=0) > 0, stacked.std(axis=0), 1.0)
        seed = int(rng.integers(2**31))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.module_ = _MaskNetwork(len(self.mean_), self.hidden, self.layers)
            self.loss_curve_ = self._train(inputs, magnitudes, targets, rng)
        self.module_.eval()
        return self

    def _train(
        self,
        inputs: list[NDArray[np.float32]],
        magnitudes: list[NDArray[np.float32]],
        targets: list[NDArray[np.float32]],
        rng: np.random.Generator,
    ) -> list[float]:
        optimiser = torch.optim.Adam(self.module_.parameters(), lr=self.learning_rate)
        lengths = np.array([len(x) for x in inputs])
        curve = []
        for _ in range(self.n_steps):
            picks = rng.choice(len(inputs), size=self.batch_size, p=lengths / lengths.sum())
            width = int(min(self.chunk_frames, lengths[picks].min()))
            batch_in, batch_mag, batch_target = [], [], []
            for i in picks:
                start = int(rng.integers(lengths[i] - width + 1))
                batch_in.append((inputs[i][start : start + width] - self.mean_) / self.scale_)
                batch_mag.append(magnitudes[i][start : start + width])
                batch_target.append(targets[i][start : start + width])
            mask = self.module_(torch.from_numpy(np.stack(batch_in).astype(np.float32)))
            estimate = (mask * torch.from_numpy(np.stack(batch_mag))) ** self.compression
            target = torch.from_numpy(np.stack(batch_target)) ** self.compression
            loss = torch.mean((estimate - target) ** 2)
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            curve.append(float(loss.detach()))
        return curve

    def _gain(self, spec: NDArray[np.complex64]) -> NDArray[np.float32]:
        if not hasattr(self, "module_"):
            raise RuntimeError("RecurrentDenoiser is not fitted: call fit first")
        frames = (self._log_power(np.abs(spec).T.astype(np.float32)) - self.mean_) / self.scale_
        with torch.inference_mode():
            mask = self.module_(torch.from_numpy(frames[None].astype(np.float32)))[0]
        return np.asarray(mask.numpy().T, dtype=np.float32)


ENHANCERS: dict[str, type[SpectralGain | RecurrentDenoiser]] = {
    "spectral": SpectralGain,
    "dae": RecurrentDenoiser,
}


def make_enhancer(name: str, **params: Any) -> SpectralGain | RecurrentDenoiser:
    """An enhancement front end by name: "spectral" or "dae"."""
    try:
        cls = ENHANCERS[name]
    except KeyError:
        raise ValueError(f"unknown enhancer {name!r}; known: {', '.join(ENHANCERS)}") from None
    return cls(**params)
