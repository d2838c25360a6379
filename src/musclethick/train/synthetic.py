"""Procedurally synthesized B-mode scans with known layers (domain randomization).

Four scanners' captures show a few muscles in a few looks. To teach the network what a muscle
is -- a region of oriented fascicle texture bounded by two bright aponeuroses -- rather than
what these four displays look like, training mixes in synthetic scans whose every layer is known
and whose appearance is drawn at random, far wider than the real data:

* **above** the target muscle: a skin line, subcutaneous fat of any thickness (0 to half the
  depth; dark lobules, bright wavy septa), sometimes a fascia;
* the **superficial aponeurosis**: a bright band of random thickness, slope and curvature, at any
  depth from above the top edge (cut off, as in cropped captures) to half the depth;
* the **belly**: fascicles at a random pennation angle, density, length and brightness over a
  speckle background (bright or dark muscle, horizontal or steep fascicles);
* the **deep aponeurosis**: bright or faint, thick or thin, from 30 % to 100 % of the depth;
* **below**: another muscle with its own fascicles, a further aponeurosis, bone (a bright line
  with an acoustic shadow) or plain deep tissue;
* then multiplicative speckle, a lateral blur (the beam), depth attenuation, time-gain ramps
  and log compression with random dynamic range.

Pure numpy + OpenCV, seeded by the generator passed in. Targets are the channels of
:mod:`musclethick.train.targets` (everything known).
"""

from __future__ import annotations

import cv2
import numpy as np

from musclethick.train.targets import (
    GROUP,
    MUSCLE,
    N_CHANNELS,
    V_GROUP,
    V_LAYER,
    V_MUSCLE,
)

__all__ = ["fat_layer", "synthetic_samples", "synthetic_scan"]


def _curve(rng, cols: int, y0: float, rows: int) -> np.ndarray:
    """A gently sloped, curved, wavy line y(x) through row ``y0`` at the centre."""
    x = np.arange(cols, dtype=np.float32) - cols / 2
    slope = rng.normal(0, 0.08)
    bend = rng.normal(0, 0.012) * rows
    wave = rng.uniform(0, 0.006) * rows * np.sin(x / rng.uniform(20, 80) + rng.uniform(0, 6))
    return (y0 + slope * x + bend * (x / cols) ** 2 * 4 + wave).astype(np.float32)


def _oriented_noise(rng, rows: int, cols: int, angle_deg: float, length: int) -> np.ndarray:
    """White noise smeared along ``angle_deg`` (from the horizontal, rows down): streaks."""
    noise = rng.standard_normal((rows, cols)).astype(np.float32)
    k = max(3, length | 1)
    kernel = np.zeros((k, k), np.float32)
    c = k // 2
    t = np.deg2rad(angle_deg)
    dx, dy = np.cos(t), np.sin(t)
    for s in np.linspace(-c, c, 2 * k):
        kernel[round(float(c + s * dy)), round(float(c + s * dx))] = 1.0
    kernel /= kernel.sum()
    out = cv2.filter2D(noise, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return out / (out.std() + 1e-6)


def _muscle_texture(rng, rows: int, cols: int) -> np.ndarray:
    """Fascicles over a speckled background, intensity ~ level (random look)."""
    level = rng.uniform(0.12, 0.75)
    angle = rng.uniform(-40, 40) if rng.random() < 0.8 else rng.uniform(-5, 5)
    length = int(rng.integers(7, 41))
    streaks = _oriented_noise(rng, rows, cols, angle, length)
    # sparse bright fascicles (a power of the positive streaks) or dense fine ones
    sharp = rng.uniform(1.0, 2.5)
    contrast = rng.uniform(0.15, 1.2)
    fasc = np.clip(streaks, 0, None) ** sharp
    fasc = np.minimum(fasc / (fasc.mean() + 1e-6), 5.0)
    base = cv2.GaussianBlur(rng.standard_normal((rows, cols)).astype(np.float32), (0, 0), 2.0)
    tex = level * (1.0 + 0.2 * base + contrast * 0.5 * (fasc - 1.0))
    return np.clip(tex, 0.01, None)


def _fat_texture(rng, rows: int, cols: int) -> np.ndarray:
    """Hypoechoic lobules with bright wavy, mostly horizontal septa."""
    level = rng.uniform(0.04, 0.35)
    blobs = cv2.GaussianBlur(
        rng.standard_normal((rows, cols)).astype(np.float32), (0, 0), rng.uniform(1.0, 3.0)
    )
    tex = level * (1.0 + rng.uniform(0.1, 0.35) * blobs / (blobs.std() + 1e-6))
    yy = np.arange(rows, dtype=np.float32)[:, None]
    for _ in range(int(rng.integers(0, 7))):
        centre = _curve(rng, cols, rng.uniform(0, rows), max(rows, 40))[None, :]
        width = rng.uniform(0.5, 1.8)
        line = np.exp(-0.5 * ((yy - centre) / width) ** 2)
        if rng.random() < 0.6:  # broken septa
            gaps = cv2.resize(
                (rng.random((1, max(2, cols // 12))) > 0.35).astype(np.float32),
                (cols, 1),
                interpolation=cv2.INTER_NEAREST,
            )
            line = line * gaps
        tex = np.maximum(tex, level * rng.uniform(2.0, 6.0) * line)
    return np.clip(tex, 0.005, None)


def fat_layer(rng: np.random.Generator, rows: int, cols: int, level: float) -> np.ndarray:
    """A subcutaneous-like strip ``(rows, cols)`` to insert into a real scan whose muscle has
    grey level ``level``: hypoechoic fat with septa (as in the synthetic scans), speckled,
    sometimes with a bright skin line at its top; grey levels 0-255."""
    tex = _fat_texture(rng, rows, cols)
    tex = tex / (np.median(tex) + 1e-6) * level * rng.uniform(0.2, 0.7)
    speckle = rng.rayleigh(1.0, size=(rows, cols)).astype(np.float32)
    speckle = cv2.GaussianBlur(speckle, (0, 0), sigmaX=rng.uniform(0.8, 2.0), sigmaY=0.6)
    tex = tex * (0.3 + 0.7 * speckle / speckle.mean())
    if rng.random() < 0.5:
        thick = int(rng.integers(1, 5))
        tex[:thick] = np.maximum(tex[:thick], level * rng.uniform(1.2, 2.5))
    return np.clip(tex, 0, 255).astype(np.float32)


def _band(rng, rows: int, cols: int, level: float) -> np.ndarray:
    """Aponeurosis: bright, striated along its length, sometimes fragmented."""
    streaks = _oriented_noise(rng, rows, cols, rng.normal(0, 3), int(rng.integers(15, 41)))
    tex = level * (1.0 + 0.3 * streaks)
    if rng.random() < 0.3:
        gaps = cv2.resize(
            (rng.random((1, max(2, cols // 20))) > 0.25).astype(np.float32),
            (cols, 1),
            interpolation=cv2.INTER_LINEAR,
        )
        tex = tex * (0.25 + 0.75 * gaps)
    return np.clip(tex, 0.01, None)


def synthetic_scan(
    rng: np.random.Generator, shape: tuple[int, int] = (240, 168)
) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic B-mode scan and its targets.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : (rows, cols)

    Returns
    -------
    image : ndarray of uint8, shape ``shape``
    target : ndarray of float32, shape ``(*shape, N_CHANNELS)``
    """
    rows, cols = int(shape[0]), int(shape[1])
    yy = np.arange(rows, dtype=np.float32)[:, None]
    # layer boundaries (rows, per column), from the top
    sup_in = (
        rng.uniform(-0.02, 0.5) * rows if rng.random() < 0.85 else rng.uniform(0.0, 0.06) * rows
    )
    sup_th = rng.uniform(0.015, 0.05) * rows
    belly = rng.uniform(0.18, 0.75) * rows
    if rng.random() < 0.9:  # usually the deep aponeurosis is in view
        belly = min(belly, max(0.12 * rows, 0.95 * rows - sup_in))
    deep_th = rng.uniform(0.008, 0.04) * rows
    s_in = _curve(rng, cols, sup_in, rows)  # inner (lower) edge of the superficial band
    s_out = s_in - sup_th * rng.uniform(0.8, 1.2, size=1).astype(np.float32)
    d_in = s_in + belly + _curve(rng, cols, 0.0, rows) * 0.5  # inner (upper) edge of the deep band
    d_in = np.maximum(d_in, s_in + 0.1 * rows)
    d_out = d_in + deep_th
    # layer classes
    cls = np.full((rows, cols), 4, np.int8)
    cls[yy < d_out[None, :]] = 3
    cls[yy < d_in[None, :]] = 2
    cls[yy < s_in[None, :]] = 1
    cls[yy < s_out[None, :]] = 0
    # intensities
    img = np.zeros((rows, cols), np.float32)
    above = _fat_texture(rng, rows, cols)
    skin = rng.random() < 0.6
    if skin:
        skin_th = rng.uniform(1.0, 4.0)
        skin_y = min(float(s_out.min()) - 2, rng.uniform(0, 0.03) * rows)
        above = np.where(
            np.abs(yy - skin_y) < skin_th, rng.uniform(0.8, 2.0) * above.mean() * 4, above
        )
    belly_tex = _muscle_texture(rng, rows, cols)
    level = float(np.percentile(belly_tex, 90))
    sup_band = _band(rng, rows, cols, level * rng.uniform(1.2, 3.0))
    deep_level = level * (rng.uniform(1.2, 3.0) if rng.random() < 0.75 else rng.uniform(0.7, 1.2))
    deep_band = _band(rng, rows, cols, deep_level)
    below_kind = rng.choice(["muscle", "muscle_apo", "bone", "plain"], p=[0.35, 0.3, 0.2, 0.15])
    below = (
        _muscle_texture(rng, rows, cols)
        if below_kind in ("muscle", "muscle_apo")
        else level * rng.uniform(0.3, 1.0) * (1 + 0.3 * rng.standard_normal((rows, cols)))
    ).astype(np.float32)
    muscle = np.zeros((rows, cols), np.float32)
    muscle_known = np.ones((rows, cols), np.float32)
    if below_kind == "muscle_apo":
        n_in = d_out + rng.uniform(0.15, 0.5) * rows + _curve(rng, cols, 0, rows) * 0.3
        n_band = (yy >= n_in[None, :]) & (yy < n_in[None, :] + rng.uniform(2, 8))
        below = np.where(n_band, _band(rng, rows, cols, level * rng.uniform(1.0, 3.0)), below)
        second = (yy >= d_out[None, :]) & (yy < n_in[None, :])
        muscle[second] = 1.0
        muscle_known[yy >= n_in[None, :]] = 0.0
        muscle_known[n_band] = 1.0
    elif below_kind == "muscle":
        muscle[cls == 4] = 1.0
        muscle_known[cls == 4] = 0.0  # how far the next muscle reaches is not drawn
    elif below_kind == "bone":
        b_y = d_out + rng.uniform(0.1, 0.4) * rows + _curve(rng, cols, 0, rows) * 0.5
        line = np.exp(-0.5 * ((yy - b_y[None, :]) / rng.uniform(1.0, 3.0)) ** 2)
        shadow = yy > b_y[None, :] + 2
        below = below * np.where(shadow, rng.uniform(0.05, 0.3), 1.0) + line * level * rng.uniform(
            3, 7
        )
        muscle_known[cls == 4] = 1.0
    else:
        muscle_known[cls == 4] = 0.0
    img = np.select(
        [cls == 0, cls == 1, cls == 2, cls == 3], [above, sup_band, belly_tex, deep_band], below
    ).astype(np.float32)
    muscle[cls == 2] = 1.0
    # imaging: speckle, beam blur, attenuation, log compression
    speckle = rng.rayleigh(1.0, size=(rows, cols)).astype(np.float32)
    speckle = cv2.GaussianBlur(speckle, (0, 0), sigmaX=rng.uniform(0.8, 2.2), sigmaY=0.6)
    img = img * (0.25 + 0.75 * speckle / speckle.mean())
    img = cv2.GaussianBlur(img, (0, 0), sigmaX=rng.uniform(0.5, 1.6), sigmaY=rng.uniform(0.3, 0.9))
    img = img * np.exp(-rng.uniform(0.0, 2.0) * yy / rows)
    dyn = rng.uniform(5, 60)
    img = np.log1p(dyn * img / (np.percentile(img, 99) + 1e-6)) / np.log1p(dyn)
    img = np.clip(255.0 * img * rng.uniform(0.7, 1.1), 0, 255).astype(np.uint8)
    target = np.zeros((rows, cols, N_CHANNELS), np.float32)
    for k in range(5):
        target[..., k] = cls == k
    target[..., V_LAYER] = 1.0
    target[..., GROUP] = np.stack(
        [target[..., 0] + target[..., 1], target[..., 2], target[..., 3] + target[..., 4]], -1
    )
    target[..., V_GROUP] = 1.0
    target[..., MUSCLE] = muscle * muscle_known
    target[..., V_MUSCLE] = muscle_known
    return img, target


def synthetic_samples(n: int, shape: tuple[int, int], *, seed: int = 0):
    """``n`` synthetic scans as a :class:`~musclethick.train.dataset.SampleSet` (targets x 255,
    like loaded samples), drawn from their own seeded generator."""
    from musclethick.train.dataset import SampleSet
    from musclethick.types import PixelBox

    rng = np.random.default_rng([seed, 20261129])
    rows, cols = int(shape[0]), int(shape[1])
    images = np.zeros((n, rows, cols), np.uint8)
    targets = np.zeros((n, rows, cols, N_CHANNELS), np.uint8)
    for i in range(n):
        img, tgt = synthetic_scan(rng, (rows, cols))
        images[i] = img
        targets[i] = np.rint(tgt * 255.0).astype(np.uint8)
    box = PixelBox(0, 0, cols, rows)
    return SampleSet(
        tuple(f"synthetic_{i:05d}" for i in range(n)),
        images,
        targets,
        ((cols, rows),) * n,
        (box,) * n,
    )
