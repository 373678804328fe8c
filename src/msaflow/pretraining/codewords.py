"""HuBERT's first-iteration targets: k-means cluster ids ("codewords") of MFCC frames.

Hsu et al. 2021 (HuBERT §IV-C) cluster 39-d MFCC features (13 coefficients + deltas + delta-deltas,
Kaldi's MFCC as computed by torchaudio.compliance.kaldi.mfcc in fairseq's dump_mfcc_feature.py) into
100 clusters with mini-batch k-means; each audio frame's target is its cluster id. We compute the
same Kaldi-style MFCC (no dither, DC removal, pre-emphasis 0.97, Povey window, 23 mel bins from
20 Hz to Nyquist, log, DCT-II keeping 13 coefficients, cepstral lifter 22) directly on the speech
encoder's frames: a 400-sample window with a 320-sample hop is exactly the receptive field and
stride of HuBERT's convolutional encoder, so frame t of the MFCC matrix and frame t of the encoder
cover the same 25 ms of audio and there is no resampling of labels (fairseq computes MFCC at a 10 ms
hop and keeps every other label). Deltas therefore span +-2 frames of 20 ms instead of 10 ms.
"""

from __future__ import annotations

import numpy as np

from msaflow.common import MsaflowError

SAMPLE_RATE = 16000
WINDOW = 400  # samples: 25 ms, HuBERT's receptive field
HOP = 320  # samples: 20 ms, HuBERT's frame rate (50 Hz)
N_FFT = 512
N_MELS = 23  # Kaldi's MFCC default
N_CEPS = 13
LIFTER = 22.0
PREEMPHASIS = 0.97
LOW_HZ = 20.0


def n_frames(n_samples: int) -> int:
    """Frames of a HuBERT convolutional encoder (kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2) for
    `n_samples` samples; equal to floor((n - 400) / 320) + 1 (tested against transformers' formula)."""
    return max(0, (int(n_samples) - WINDOW) // HOP + 1)


def _mel(hz):
    return 1127.0 * np.log(1.0 + np.asarray(hz) / 700.0)


def mel_banks(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(N_MELS, N_FFT // 2 + 1) triangular filters, equally spaced on Kaldi's mel scale."""
    high = sample_rate / 2.0
    mel_points = np.linspace(_mel(LOW_HZ), _mel(high), N_MELS + 2)
    bin_mel = _mel(np.arange(N_FFT // 2 + 1) * sample_rate / N_FFT)
    banks = np.zeros((N_MELS, N_FFT // 2 + 1))
    for m in range(N_MELS):
        left, centre, right = mel_points[m : m + 3]
        up = (bin_mel - left) / (centre - left)
        down = (right - bin_mel) / (right - centre)
        banks[m] = np.clip(np.minimum(up, down), 0.0, None)
    return banks


def _dct_matrix() -> np.ndarray:
    """Orthonormal DCT-II, (N_CEPS, N_MELS)."""
    n = np.arange(N_MELS)
    k = np.arange(N_CEPS)[:, None]
    basis = np.cos(np.pi / N_MELS * (n + 0.5) * k) * np.sqrt(2.0 / N_MELS)
    basis[0] /= np.sqrt(2.0)
    return basis


_BANKS = mel_banks()
_DCT = _dct_matrix()
_LIFT = 1.0 + 0.5 * LIFTER * np.sin(np.pi * np.arange(N_CEPS) / LIFTER)
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / (WINDOW - 1))) ** 0.85  # Povey


def mfcc(waveform: np.ndarray) -> np.ndarray:
    """(n_frames(len), 13) Kaldi-style MFCC of a 16 kHz waveform (int16 or float in int16 scale)."""
    x = np.asarray(waveform, dtype=np.float64)
    t = n_frames(len(x))
    if t == 0:
        return np.zeros((0, N_CEPS), dtype=np.float32)
    index = np.arange(WINDOW)[None, :] + HOP * np.arange(t)[:, None]
    frames = x[index]
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = np.concatenate([frames[:, :1] * (1 - PREEMPHASIS), frames[:, 1:] - PREEMPHASIS * frames[:, :-1]], axis=1)
    spectrum = np.abs(np.fft.rfft(frames * _WINDOW, n=N_FFT)) ** 2
    log_mel = np.log(np.maximum(spectrum @ _BANKS.T, np.finfo(np.float32).eps))
    return ((log_mel @ _DCT.T) * _LIFT).astype(np.float32)


def deltas(features: np.ndarray, window: int = 2) -> np.ndarray:
    """Regression deltas over +-`window` frames, edges replicated (torchaudio's compute_deltas)."""
    if len(features) == 0:
        return features.copy()
    padded = np.pad(features, ((window, window), (0, 0)), mode="edge")
    denominator = 2 * sum(n * n for n in range(1, window + 1))
    out = np.zeros_like(features)
    for n in range(1, window + 1):
        out += n * (padded[window + n : window + n + len(features)] - padded[window - n : window - n + len(features)])
    return out / denominator


def mfcc_features(waveform: np.ndarray) -> np.ndarray:
    """(frames, 39): MFCC, deltas, delta-deltas (HuBERT's first-iteration input to k-means)."""
    c = mfcc(waveform)
    d = deltas(c)
    return np.concatenate([c, d, deltas(d)], axis=1)


def fit_codebook(features: list[np.ndarray], clusters: int, seed: int, max_frames: int = 250_000) -> np.ndarray:
    """(clusters, 39) k-means centroids over the frames of `features` (a random subset when there are
    more than `max_frames`), fairseq's learn_kmeans settings (mini-batch k-means, k-means++ init)."""
    from sklearn.cluster import MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    frames = np.concatenate([f for f in features if len(f)], axis=0) if features else np.zeros((0, 39))
    if len(frames) < clusters:
        raise MsaflowError(f"k-means needs at least {clusters} audio frames for {clusters} codewords; the corpus has "
                           f"{len(frames)}: add speech to the pretraining corpus or lower pretrain.codewords")
    rng = np.random.default_rng(seed)
    if len(frames) > max_frames:
        frames = frames[np.sort(rng.choice(len(frames), max_frames, replace=False))]
    with threadpool_limits(1):  # the same result on any machine
        km = MiniBatchKMeans(n_clusters=clusters, init="k-means++", max_iter=100, batch_size=10000, n_init=20,
                             max_no_improvement=100, reassignment_ratio=0.0, random_state=seed)
        km.fit(frames.astype(np.float64))
    return km.cluster_centers_.astype(np.float32)


def assign(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(frames,) int64 id of the nearest centroid (squared Euclidean distance)."""
    if len(features) == 0:
        return np.zeros(0, dtype=np.int64)
    f = features.astype(np.float64)
    c = centroids.astype(np.float64)
    distances = (f * f).sum(1, keepdims=True) - 2 * f @ c.T + (c * c).sum(1)[None, :]
    return distances.argmin(1).astype(np.int64)
