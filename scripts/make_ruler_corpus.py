"""Render the synthetic ruler corpus of tests/data/rulers (screen captures with a depth scale).

Each capture is a flat scanner display with a speckled imaging area and a depth scale beside
it, drawn from known parameters: the true mm per px, the distance between ticks (1, 5 or
10 mm, minor/major hierarchy), printed numbers (every 0.5, 1 or 2 cm, in cm or mm, or none),
left or right side, dark or light display, mirrored captures, JPEG compression, and
sometimes a depth read-out ("D 4.2 cm"). ``truth.csv`` records the parameters: the tests and
``bench/bench_calibration.py`` compare the reader against ``mm_per_px`` from it, never
against the reader's own output.

Needs the DejaVu Sans font (Debian ``fonts-dejavu-core``); the rendered files are committed,
so the tests do not. Usage: ``python scripts/make_ruler_corpus.py`` (deterministic, seeded).
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "rulers"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WIDTH, HEIGHT = 360, 480
BOX = (70, 40, 290, 460)  # imaging area x0, y0, x1, y1 (half-open)

# (tick_mm, major_every_mm, label_every_mm, unit): the scale styles
STYLES = [
    (10.0, 10.0, 10.0, "mm"),  # Telemed-like: a tick per cm, numbers in mm
    (10.0, 10.0, 20.0, "cm"),  # numbers every 2 cm, in cm
    (5.0, 5.0, 10.0, "cm"),  # GE Logiq-like: a tick every 5 mm, "1 2 3 4" every second tick
    (5.0, 10.0, 5.0, "cm"),  # numbers every 0.5 cm ("0.5", "1.0", ...)
    (1.0, 5.0, 10.0, "mm"),  # 1 mm minor ticks, long every 5 mm, numbers in mm every cm
    (5.0, 10.0, 10.0, "mm"),  # minor every 5 mm, numbers every cm in mm
    (10.0, 10.0, 0.0, ""),  # unlabelled (unconfirmed unless a depth read-out is shown)
    (5.0, 5.0, 0.0, ""),  # unlabelled 5 mm ticks (the 10 mm assumption is wrong here)
]
MM_PER_PX = [0.0867, 0.1, 0.11, 0.125]


def _speckle(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    small = rng.gamma(1.5, 40.0, size=(shape[0] // 3 + 1, shape[1] // 3 + 1))
    tex = cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    bands = 60 * (np.sin(np.linspace(0, 9, shape[0]))[:, None] > 0.95)
    return np.clip(tex + bands + 20, 0, 255).astype(np.uint8)


def _label(value_mm: float, unit: str, label_every_mm: float) -> str:
    if unit == "mm":
        return f"{value_mm:g}"
    cm = value_mm / 10.0
    return f"{cm:.1f}" if label_every_mm % 10 else f"{cm:g}"


def render(
    *,
    mm_per_px: float,
    style: tuple[float, float, float, str],
    side: str,
    light: bool,
    depth_text: bool | str,
    seed: int,
    panel: tuple[str, ...] = (),
) -> np.ndarray:
    tick_mm, major_mm, label_mm, unit = style
    rng = np.random.default_rng(seed)
    bg, ink = (232, 40) if light else (24, 220)
    img = Image.new("L", (WIDTH, HEIGHT), bg)
    x0, y0, x1, y1 = BOX
    img.paste(Image.fromarray(_speckle(rng, (y1 - y0, x1 - x0))), (x0, y0))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 11)
    depth_mm = (y1 - y0) * mm_per_px
    n = int(np.floor(depth_mm / tick_mm + 1e-9))
    line_x = x1 + 6 if side == "right" else x0 - 7
    direction = 1 if side == "right" else -1
    draw.line([(line_x, y0), (line_x, y1 - 1)], fill=ink)
    for k in range(n + 1):
        value = k * tick_mm
        y = round(y0 + value / mm_per_px)
        major = abs(value / major_mm - round(value / major_mm)) < 1e-6
        length = 9 if major else 4
        xa, xb = sorted((line_x, line_x + direction * length))
        draw.line([(xa, y), (xb, y)], fill=ink, width=2 if major else 1)
        if label_mm and abs(value / label_mm - round(value / label_mm)) < 1e-6:
            text = _label(value, unit, label_mm)
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            w, h = right - left, bottom - top
            tx = line_x + direction * 13 if side == "right" else line_x - 13 - w
            draw.text((tx - left, y - h / 2 - top), text, fill=ink, font=font)
    if depth_text:
        text = depth_text if isinstance(depth_text, str) else f"D {depth_mm / 10:.1f} cm"
        draw.text((8 if side == "right" else WIDTH - 80, 10), text, fill=ink, font=font)
    for k, text in enumerate(panel):  # a parameter panel below the read-out's place
        draw.text((6 if side == "right" else WIDTH - 62, 60 + 16 * k), text, fill=ink, font=font)
    return np.asarray(img)


#: Scales a reader can take at the wrong size (a new-user trial, 2026-12-01): numbers without a
#: unit that read as mm and as cm alike, and a value with a unit on the display that is not the
#: depth. ``(name, mm per px, style, depth read-out or "", panel lines, confirmable)``:
#: confirmable when something on screen decides the scale (a depth read-out).
_H = BOX[3] - BOX[1]
TRAPS = [
    ("cm_0_5_10", 100.0 / _H, (10.0, 10.0, 50.0, "cm"), "", (), False),
    ("cm_0_5_10_D10cm", 100.0 / _H, (10.0, 10.0, 50.0, "cm"), "D 10.0 cm", (), True),
    ("cm_0_5_10_15_20", 200.0 / _H, (10.0, 50.0, 50.0, "cm"), "", (), False),
    # a tick every 2 mm: as cm the ticks would be 2 cm apart, no standard step: they decide
    ("mm_by_2", 30.0 / _H, (2.0, 2.0, 2.0, "mm"), "", (), True),
    ("mm_by_2_40mm", 40.0 / _H, (2.0, 10.0, 2.0, "mm"), "", (), True),
    # a tick every mm (as cm: every cm, a standard step too): nothing decides but a read-out
    ("mm_by_2_1mm_ticks", 20.0 / _H, (1.0, 2.0, 2.0, "mm"), "", (), False),
    ("mm_by_2_1mm_ticks_D2cm", 20.0 / _H, (1.0, 2.0, 2.0, "mm"), "D 2.0 cm", (), True),
    ("width_20mm", 0.1, (5.0, 5.0, 0.0, ""), "", ("Width", "20mm"), False),
    ("focus_2cm", 0.1, (5.0, 5.0, 0.0, ""), "", ("Focus", "2.0cm"), False),
    ("probe_50mm", 0.1, (5.0, 5.0, 0.0, ""), "", ("L12-5", "50mm"), False),
    ("scale_bar_1cm", 0.1, (5.0, 5.0, 0.0, ""), "", ("1cm",), False),
    # short ticks every 5 mm, long ones every cm: a read-out of twice the image's depth (the
    # whole depth beside a zoomed image) would put the long ticks 2 cm apart
    ("ranked_D4.2cm", 0.1, (5.0, 10.0, 0.0, ""), "D 4.2 cm", (), True),
    ("ranked_D84mm", 0.1, (5.0, 10.0, 0.0, ""), "D 84 mm", (), False),
]


def _row(file, mm_per_px, style, side, light, mirrored, jpeg, depth_readout, confirmable) -> dict:
    """One row of ``truth.csv``: the parameters a capture was drawn with."""
    return {
        "file": file,
        "mm_per_px": mm_per_px,
        "tick_mm": style[0],
        "major_mm": style[1],
        "label_every_mm": style[2],
        "label_unit": style[3],
        "side": side,
        "display": "light" if light else "dark",
        "mirrored": int(mirrored),
        "jpeg": int(jpeg),
        "depth_readout": int(depth_readout),
        "confirmable": int(confirmable),
    }


def render_traps(rows: list[dict]) -> None:
    """The :data:`TRAPS` as ``trap_<name>.png`` with their rows in ``truth.csv``."""
    for i, (name, mm_per_px, style, depth, panel, confirmable) in enumerate(TRAPS):
        side = "right" if i % 2 == 0 else "left"
        img = render(
            mm_per_px=mm_per_px,
            style=style,
            side=side,
            light=False,
            depth_text=depth,
            seed=100 + i,
            panel=panel,
        )
        file = f"trap_{name}.png"
        Image.fromarray(img).save(OUT / file, optimize=True)
        rows.append(
            _row(
                file,
                round(mm_per_px, 6),
                style,
                side,
                False,
                False,
                False,
                bool(depth),
                confirmable,
            )
        )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    combos = list(itertools.product(range(len(STYLES)), range(len(MM_PER_PX))))
    for i, (s, m) in enumerate(combos):
        style = STYLES[s]
        side = "right" if i % 2 == 0 else "left"
        light = i % 5 == 3
        mirrored = i % 7 == 2
        jpeg = i % 3 == 1
        depth_text = not style[2] and m % 2 == 0
        mm_per_px = MM_PER_PX[m]
        img = render(
            mm_per_px=mm_per_px,
            style=style,
            side=side,
            light=light,
            depth_text=depth_text,
            seed=i,
        )
        if mirrored:
            img = np.ascontiguousarray(img[:, ::-1])
        name = f"ruler_{i:02d}.{'jpg' if jpeg else 'png'}"
        if jpeg:
            Image.fromarray(img).save(OUT / name, quality=80)
        else:
            Image.fromarray(img).save(OUT / name, optimize=True)
        confirmable = bool(style[2]) or depth_text
        shown_side = ("left" if side == "right" else "right") if mirrored else side
        rows.append(
            _row(name, mm_per_px, style, shown_side, light, mirrored, jpeg, depth_text, confirmable)
        )
    render_traps(rows)
    with (OUT / "truth.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} captures -> {OUT}")


if __name__ == "__main__":
    main()
