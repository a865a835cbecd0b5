"""Mode metrics for toy mixtures, as in VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018).

A generated sample is *high quality* when its distance to the nearest mode centre, divided by the
mode's standard deviation, is below `threshold` (3 in both papers). A mode is *covered* when it is
the nearest mode of at least one high-quality sample. `kl_modes` is the reverse KL
KL(p_gen || uniform) between the histogram of high-quality samples over modes and the uniform
distribution, natural log (0 when every mode gets the same share, log K when one mode gets all).
`dominant_mode` is the index of the mode with the most high-quality samples and `dominant_share` its share of them
(NaN without any): a collapsed generator that rotates shows as a dominant mode that changes between evaluations.
"""

from __future__ import annotations

import torch

from wgan_repro.evaluate import metrics as M

HQ_THRESHOLD = 3.0  # std-normalised distance under which a sample counts as high quality (VEEGAN, PacGAN)


def mode_metrics(samples: torch.Tensor, modes: torch.Tensor, std: float,
                 threshold: float = HQ_THRESHOLD) -> dict[str, float]:
    """Modes covered, high-quality share, KL of the mode histogram and the dominant mode with its share (M.MODES,
    M.HIGH_QUALITY, M.KL_MODES, M.DOMINANT_MODE, M.DOMINANT_SHARE) of samples (N, 2) against mode centres (K, 2)."""
    dist = torch.cdist(samples, modes.to(samples)) / std  # (N, K), in the samples' dtype (fp64 runs: float64)
    nearest_dist, nearest = dist.min(dim=1)
    hq = nearest_dist < threshold
    counts = torch.bincount(nearest[hq], minlength=len(modes)).double()  # (K,)
    if counts.sum() > 0:
        p = counts / counts.sum()
        kl = float((p[p > 0] * torch.log(p[p > 0] * len(modes))).sum())
    else:
        kl = float("nan")  # no high-quality sample: the mode histogram is undefined
    top = int(counts.argmax()) if counts.sum() > 0 else float("nan")
    share = float(counts.max() / counts.sum()) if counts.sum() > 0 else float("nan")
    return {M.MODES.key: int((counts > 0).sum()), M.HIGH_QUALITY.key: float(hq.double().mean()),
            M.KL_MODES.key: kl, M.DOMINANT_MODE.key: top, M.DOMINANT_SHARE.key: share}

