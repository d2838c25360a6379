"""A small CNN's fascicle orientation field against the classical ridge detector (issue #14).

Usage::

    python bench/bench_fascicle_cnn.py [--data ../shared/data] [--split held-out|tune-val]
                                       [--size 192] [--epochs 40] [--rotate 0] [--seed 0]
                                       [--limit N] [--json OUT]

Reproducible (seeded, CPU, one thread) comparison on the scans of ``dltrack_fasc``, with the
split of ``bench/bench_fascicles.py`` (near-duplicate groups; ``held-out`` = the groups holding
a capture of an aponeurosis ``val`` image, ``tune`` = the rest):

1. **Train** a small fully convolutional network (~49 k parameters) on the ``tune`` scans
   only. Input: the imaging region, letterboxed (aspect kept, so angles are unchanged) to
   ``size x size``, standardised. Output: the fascicle orientation field ``(cos 2t, sin 2t)``
   at a quarter of the input's resolution. Target: each traced snippet (connected component of
   the snippet mask) gives its direction ``t`` (principal axis, as the bench's reference) to
   the output pixels it covers, dilated by one pixel; the loss (mean squared error) counts only
   those labelled pixels. Augmentation: left-right flips (``t -> -t``), gain and offset
   (``--rotate R``: also rotations by up to R deg, labels rotated with the image).
2. **Evaluate** on the ``held-out`` scans as ``bench_fascicles.py`` does: boundaries by the
   pipeline (``measure_frames``, shipped model), the reference is the median pennation angle of
   the snippets in the measured belly (:func:`bench_fascicles.reference`). The CNN's direction
   is the magnitude-weighted mean of its predicted field over the middle 80 % of the belly's
   thickness (doubled angles); its pennation angle is that of the line through the belly's
   centre (:func:`musclethick.architecture.fascicle_line`, as the shipped
   :func:`~musclethick.architecture.measure_architecture`) against the same deep aponeurosis.
3. The **classical detector** (:func:`musclethick.architecture.add_architecture`) on the same
   scans and boundaries, so both are compared like for like, and the time each takes per image
   (CNN: letterbox, forward pass, pooling and line; classical: detection and line), median.

Printed: PA MAE, bias, SD, ICC(2,1) (:func:`musclethick.stats.icc_2_1`), share with a result,
the same on the scans where both have one, the direction error in the image, ms per image and
the training wall time. ``--json OUT`` writes the figures and the per-scan rows.

``--split tune-val`` never touches the held-out scans: it trains on three quarters of the tune
groups and evaluates on the other quarter (36 scans); the defaults (input size, epochs, no
rotation) were chosen that way.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import bench_fascicles as bf  # noqa: E402

from musclethick.architecture import add_architecture, fascicle_line  # noqa: E402
from musclethick.io import read  # noqa: E402
from musclethick.pipeline import MeasureSettings, measure_frames  # noqa: E402
from musclethick.stats import icc_2_1  # noqa: E402

STRIDE = 4  # output pixels are STRIDE x STRIDE input pixels
BELLY_MARGIN = 0.1  # share of the belly's thickness left out next to each aponeurosis


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def split_of(index: list[dict], frames: dict) -> dict[str, str]:
    """``image -> "held-out" | "tune"``: the split of ``bench_fascicles.py``."""
    labels = bf.groups({k: f.pixels for k, f in frames.items()}, bf.NEAR_DUPLICATE)
    held = {labels[r["image"]] for r in index if r["nearest_apo_split"] == "val"}
    return {r["image"]: "held-out" if labels[r["image"]] in held else "tune" for r in index}


def letterbox(pixels: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """The image scaled (aspect kept) into the top-left of a ``size x size`` canvas,
    standardised over the image; and the scale (canvas px per frame px)."""
    import cv2

    rows, cols = pixels.shape
    scale = size / max(rows, cols)
    h, w = max(1, round(rows * scale)), max(1, round(cols * scale))
    small = cv2.resize(pixels.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    small = (small - small.mean()) / (small.std() + 1e-6)
    canvas = np.zeros((size, size), np.float32)
    canvas[:h, :w] = small
    return canvas, scale


def orientation_target(mask: np.ndarray, scale: float, size: int) -> np.ndarray:
    """``(3, size/STRIDE, size/STRIDE)``: ``cos 2t, sin 2t`` of the traced snippets and the
    labelled-pixel mask, at the network's output resolution."""
    import cv2

    out = size // STRIDE
    target = np.zeros((3, out, out), np.float32)
    n, labels = cv2.connectedComponents((mask > 127).astype(np.uint8), connectivity=8)
    kernel = np.ones((3, 3), np.uint8)
    for i in range(1, n):
        component = labels == i
        found = bf.snippets(component.astype(np.uint8) * 255)  # its direction, as the bench
        if not found:
            continue
        t = math.radians(2.0 * found[0][2])
        ys, xs = np.nonzero(component)
        cells = np.zeros((out, out), np.uint8)
        r = np.clip((ys * scale / STRIDE).astype(int), 0, out - 1)
        c = np.clip((xs * scale / STRIDE).astype(int), 0, out - 1)
        cells[r, c] = 1
        cells = cv2.dilate(cells, kernel).astype(bool)
        target[0][cells], target[1][cells], target[2][cells] = math.cos(t), math.sin(t), 1.0
    return target


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------
def build_model():
    """A small encoder with one skip: input ``(B, 1, S, S)``, output ``(B, 2, S/4, S/4)``."""
    import torch
    from torch import nn

    def block(i: int, o: int, stride: int = 1, dilation: int = 1, k: int = 3) -> nn.Module:
        pad = dilation * (k // 2)
        return nn.Sequential(
            nn.Conv2d(i, o, k, stride, padding=pad, dilation=dilation, bias=False),
            nn.BatchNorm2d(o),
            nn.ReLU(inplace=True),
        )

    class FieldNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc1 = nn.Sequential(block(1, 16, stride=2), block(16, 16))  # S/2
            self.enc2 = nn.Sequential(nn.MaxPool2d(2), block(16, 24), block(24, 24))  # S/4
            self.enc3 = nn.Sequential(  # S/8, wide context
                nn.MaxPool2d(2), block(24, 32), block(32, 32, dilation=2), block(32, 32, 4)
            )
            self.head = nn.Sequential(block(24 + 32, 24), nn.Conv2d(24, 2, 1))

        def forward(self, x):
            e2 = self.enc2(self.enc1(x))
            e3 = self.enc3(e2)
            up = nn.functional.interpolate(e3, size=e2.shape[-2:], mode="bilinear")
            return self.head(torch.cat([e2, up], dim=1))

    return FieldNet()


def augment(
    image: np.ndarray, target: np.ndarray, rng: np.random.Generator, rotate_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """A random left-right flip (``t -> -t``), rotation by up to ``rotate_deg`` (``t -> t +
    r``; labels rotated with the image, nearest neighbour), gain and offset."""
    import cv2

    image, target = image.copy(), target.copy()
    if rng.random() < 0.5:
        image, target = image[:, ::-1].copy(), target[:, :, ::-1].copy()
        target[1] = -target[1]
    r = float(rng.uniform(-rotate_deg, rotate_deg)) if rotate_deg > 0 else 0.0
    if r:
        size, out = image.shape[0], target.shape[-1]
        m = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), r, 1.0)
        image = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR)
        m = cv2.getRotationMatrix2D((out / 2 - 0.5, out / 2 - 0.5), r, 1.0)
        target = np.stack(
            [cv2.warpAffine(c, m, (out, out), flags=cv2.INTER_NEAREST) for c in target]
        )
        c2, s2 = math.cos(math.radians(2 * r)), math.sin(math.radians(2 * r))
        target[0], target[1] = c2 * target[0] - s2 * target[1], s2 * target[0] + c2 * target[1]
    content = image != 0
    image[content] = image[content] * rng.uniform(0.8, 1.25) + rng.uniform(-0.2, 0.2)
    return image.astype(np.float32), target.astype(np.float32)


def train(
    images: np.ndarray,
    targets: np.ndarray,
    *,
    epochs: int,
    seed: int = 0,
    batch: int = 8,
    lr: float = 3e-3,
    rotate_deg: float = 0.0,
    log=print,
):
    """Train :func:`build_model` on ``images (N, S, S)`` and ``targets (N, 3, S/4, S/4)``;
    the loss counts only labelled pixels. Returns the model (eval mode)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(images) / batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    model.train()
    for epoch in range(epochs):
        order, total, count = rng.permutation(len(images)), 0.0, 0
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            pairs = [augment(images[i], targets[i], rng, rotate_deg) for i in idx]
            x = torch.from_numpy(np.stack([a for a, _ in pairs]))
            y = torch.from_numpy(np.stack([t for _, t in pairs]))
            pred = model(x[:, None])
            valid = y[:, 2:3]
            loss = (((pred - y[:, :2]) ** 2) * valid).sum() / (2 * valid.sum() + 1e-6)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total, count = total + loss.item() * len(idx), count + len(idx)
        if log is not None and (epoch % 10 == 9 or epoch == epochs - 1):
            log(f"  epoch {epoch + 1:3d}/{epochs}: loss {total / count:.4f}")
    model.eval()
    return model


def cnn_direction(model, pixels: np.ndarray, superficial, deep, size: int) -> float | None:
    """Image-up direction (deg) of the predicted field over the middle of the belly."""
    import torch

    canvas, scale = letterbox(pixels, size)
    with torch.no_grad():
        field = model(torch.from_numpy(canvas)[None, None])[0].numpy()
    out = field.shape[-1]
    centres = (np.arange(out) + 0.5) * STRIDE / scale - 0.5  # frame px of output cells
    xs = centres[centres < pixels.shape[1]]
    top, bottom = np.asarray(superficial.y_at(xs), float), np.asarray(deep.y_at(xs), float)
    thick = bottom - top
    ok = np.isfinite(top) & np.isfinite(bottom) & (thick > 0)
    lo = np.where(ok, top + BELLY_MARGIN * thick, np.inf)
    hi = np.where(ok, bottom - BELLY_MARGIN * thick, -np.inf)
    ys = centres[:, None]
    inside = (ys > lo[None, :]) & (ys < hi[None, :])
    if not inside.any():
        return None
    c = float(field[0][:, : xs.size][inside].sum())
    s = float(field[1][:, : xs.size][inside].sum())
    return 0.5 * math.degrees(math.atan2(s, c))


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------
def figures(rows: list[dict], method: str, subset: set[str] | None = None) -> dict:
    """PA MAE, bias, SD, ICC(2,1), share with a result and direction MAE of ``method``."""
    rows = [r for r in rows if subset is None or r["image"] in subset]
    done = [r for r in rows if r[f"{method}_pa"] is not None]
    out: dict = {"n": len(rows), "with_result": len(done)}
    out["share_with_result"] = len(done) / len(rows) if rows else float("nan")
    if not done:
        return out
    est = np.array([r[f"{method}_pa"] for r in done])
    ref = np.array([r["pa_ref"] for r in done])
    err = est - ref
    directions = np.array([r[f"{method}_direction"] - r["direction_ref"] for r in done])
    directions = (directions + 90.0) % 180.0 - 90.0
    out.update(
        mae=float(np.mean(np.abs(err))),
        bias=float(np.mean(err)),
        sd=float(np.std(err, ddof=1)) if err.size > 1 else float("nan"),
        icc_2_1=float(icc_2_1(np.column_stack([ref, est]))) if err.size >= 3 else float("nan"),
        within_2deg=float(np.mean(np.abs(err) <= 2.0)),
        direction_mae=float(np.mean(np.abs(directions))),
    )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        default=str(REPO.parent / "shared" / "data"),
        help="data folder holding dltrack_fasc/ (default: %(default)s)",
    )
    p.add_argument("--size", type=int, default=192, help="network input (px, square)")
    p.add_argument(
        "--epochs",
        type=int,
        default=40,
        help="training epochs over the training scans (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the initial weights, batch order and augmentation (default: %(default)s)",
    )
    p.add_argument("--rotate", type=float, default=0.0, help="rotation augmentation (deg)")
    p.add_argument(
        "--split",
        choices=("held-out", "tune-val"),
        default="held-out",
        help="evaluate on held-out (train on tune) or, to choose settings, on a quarter of "
        "the tune groups (train on the rest)",
    )
    p.add_argument("--limit", type=int, default=None, help="first N scans of each split")
    p.add_argument("--json", help="write the figures and the per-scan rows")
    args = p.parse_args(argv)

    import cv2
    import torch

    torch.set_num_threads(1)
    root = Path(args.data) / "dltrack_fasc"
    index = list(csv.DictReader(open(root / "index.csv", newline="")))
    frames = {r["image"]: next(iter(read(root / "images" / r["image"]))) for r in index}
    split = split_of(index, frames)
    tune = [r for r in index if split[r["image"]] == "tune"]
    held = [r for r in index if split[r["image"]] == "held-out"]
    if args.split == "tune-val":  # choosing settings: a quarter of the tune groups evaluated
        labels = bf.groups({k: f.pixels for k, f in frames.items()}, bf.NEAR_DUPLICATE)
        names = sorted({labels[r["image"]] for r in tune})
        chosen = np.random.default_rng(1).choice(names, len(names) // 4, replace=False)
        val = set(chosen.tolist())
        held = [r for r in tune if labels[r["image"]] in val]
        tune = [r for r in tune if labels[r["image"]] not in val]
    tune, held = tune[: args.limit], held[: args.limit]

    def snippet_mask(r: dict) -> np.ndarray:
        mask = cv2.imread(str(root / "masks" / r["image"]), cv2.IMREAD_GRAYSCALE)
        return mask[frames[r["image"]].region.slices()]

    images, targets = [], []
    for r in tune:
        canvas, scale = letterbox(frames[r["image"]].pixels, args.size)
        images.append(canvas)
        targets.append(orientation_target(snippet_mask(r), scale, args.size))
    images_np, targets_np = np.stack(images), np.stack(targets)
    model = build_model()
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"{len(index)} scans: training on {len(tune)} scans ({args.size} px input, "
        f"{n_params} parameters, {args.epochs} epochs, seed {args.seed}, 1 thread; "
        f"{int(targets_np[:, 2].sum())} labelled output pixels); evaluating on {len(held)} "
        f"{args.split}"
    )
    t0 = time.perf_counter()
    model = train(images_np, targets_np, epochs=args.epochs, seed=args.seed, rotate_deg=args.rotate)
    train_s = time.perf_counter() - t0
    print(f"  training wall time {train_s:.0f} s ({train_s / 60:.1f} min)")

    settings = MeasureSettings(architecture=False)  # boundaries as bench_fascicles (model)
    results = list(measure_frames([frames[r["image"]] for r in held], settings))
    rows, cnn_ms, classical_ms = [], [], []
    for r, result in zip(held, results, strict=True):
        frame = frames[r["image"]]
        if result.superficial is None or result.deep is None or result.status == "failed":
            continue
        ref = bf.reference(
            bf.snippets(snippet_mask(r)), result.superficial, result.deep, frame.shape
        )
        if ref is None:
            continue
        t = time.perf_counter()
        measured = add_architecture(frame, result)
        classical_ms.append(1000 * (time.perf_counter() - t))
        a = measured.architecture
        t = time.perf_counter()
        direction = cnn_direction(model, frame.pixels, result.superficial, result.deep, args.size)
        line = None
        if direction is not None:
            line = fascicle_line(result.superficial, result.deep, direction, shape=frame.shape)
        cnn_ms.append(1000 * (time.perf_counter() - t))
        rows.append(
            {
                "image": r["image"],
                "size": f"{r['width']}x{r['height']}",
                "pa_ref": ref[0],
                "direction_ref": ref[1],
                "classical_pa": None if a is None else a.pennation_deg,
                "classical_direction": None if a is None or a.line is None else bf._direction(a),
                "classical_flags": [] if a is None else list(a.flags),
                "cnn_pa": None if line is None else line.pennation_deg,
                "cnn_direction": direction,
            }
        )
    both = {r["image"] for r in rows if r["classical_pa"] is not None and r["cnn_pa"] is not None}
    summary = {
        "split": args.split,
        "scans": len(held),
        "with_reference": len(rows),
        "train": {
            "scans": len(tune),
            "size_px": args.size,
            "epochs": args.epochs,
            "seed": args.seed,
            "rotate_deg": args.rotate,
            "parameters": n_params,
            "wall_s": train_s,
        },
        "cnn": figures(rows, "cnn"),
        "classical": figures(rows, "classical"),
        "cnn_paired": figures(rows, "cnn", both),
        "classical_paired": figures(rows, "classical", both),
        "ms_per_image": {
            "cnn": float(np.median(cnn_ms)) if cnn_ms else float("nan"),
            "classical": float(np.median(classical_ms)) if classical_ms else float("nan"),
        },
    }
    print(
        f"\n== {args.split}: {len(held)} scans, {len(rows)} with traced snippets in the belly "
        "(deep aponeurosis found by the pipeline, reference and estimate)"
    )
    header = "detector", "PA MAE", "bias", "SD", "ICC(2,1)", "with a result", "dir. MAE", "ms/img"
    print("  {:<22} {:>7} {:>7} {:>6} {:>8} {:>15} {:>8} {:>7}".format(*header))
    for name, key, paired in (
        ("CNN", "cnn", "cnn_paired"),
        ("classical (ridges)", "classical", "classical_paired"),
    ):
        for label, s in ((name, summary[key]), (f"  both (n {len(both)})", summary[paired])):
            share = f"{100 * s['share_with_result']:.1f} % ({s['with_result']})"
            ms = f"{summary['ms_per_image'][key]:.1f}" if s is summary[key] else ""
            print(
                f"  {label:<22} {s.get('mae', math.nan):6.2f}° {s.get('bias', math.nan):+6.2f}°"
                f" {s.get('sd', math.nan):5.2f}° {s.get('icc_2_1', math.nan):8.3f} {share:>15}"
                f" {s.get('direction_mae', math.nan):7.2f}° {ms:>7}"
            )
    print(f"  training: {len(tune)} scans, {train_s:.0f} s wall on one thread")
    if args.json:
        Path(args.json).write_text(json.dumps({**summary, "rows": rows}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
