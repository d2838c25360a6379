"""Post-processing settings of the layer model, measured on val and the left-out formats.

Usage::

    python bench/bench_postprocess.py [--config "switch_nats=20,jump_nats_per_row=3" ...]
        [--mirror-average] [--lofo runs/l1_lofo_800x652 ...] [--json OUT]

Each ``--config`` is a set of :class:`musclethick.segment.PostprocessOptions` fields
(``""``: the defaults). Every configuration is measured through the ``measure`` path
(:func:`musclethick.train.evaluate.evaluate_model`) on the ``val`` split with the shipped
weights and on each left-out format with that run's final weights (``last.pt``), as
``bench/bench_model.py`` does. ``--mirror-average`` averages each frame's layer map with the
map of the mirrored frame (test-time augmentation) instead of the second look.

Printed per configuration and set: thickness MAE (% and px), boundary MAE, ICC(2,1), frames
without a result, ``ok`` frames, and ``ok`` frames off by more than 10 %. The model card's
"not adopted" table comes from this script.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from musclethick.segment import PostprocessOptions, load_model  # noqa: E402
from musclethick.train.dataset import left_out_images, load_split  # noqa: E402
from musclethick.train.evaluate import evaluate_model, summarise  # noqa: E402

DEFAULT_LOFO = [f"runs/l1_lofo_{s}" for s in ("800x652", "660x556", "512x512")]


def parse_config(spec: str) -> PostprocessOptions:
    """``"name=value,name=value"`` -> options (values typed like the defaults; a tuple's items
    separated by ``:``, e.g. ``brightness_look_confidence=0:0`` switches that look off)."""
    defaults = PostprocessOptions()
    kwargs = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        if not hasattr(defaults, name):
            raise SystemExit(f"bench_postprocess: unknown option {name!r}")
        default = getattr(defaults, name)
        if isinstance(default, bool):  # bool("False") is True
            if value not in ("True", "False"):
                raise SystemExit(f"bench_postprocess: {name} must be True or False")
            kwargs[name] = value == "True"
        elif isinstance(default, tuple):
            kwargs[name] = tuple(type(default[0])(v) for v in value.split(":"))
        else:
            kwargs[name] = type(default)(value)
    return PostprocessOptions(**kwargs)


def mirror_average(model) -> None:
    """Make ``model`` average each map with the mirrored frame's (and skip the second look)."""
    predictor = model._predictor
    predict = predictor.predict_small

    def averaged(frames):
        maps = predict(frames)
        flipped = predict([np.ascontiguousarray(f[:, ::-1]) for f in frames])
        return [0.5 * (a + b[:, :, ::-1]) for a, b in zip(maps, flipped, strict=True)]

    predictor.predict_small = averaged
    model.second_look = False


def print_changes(before: list, after: list) -> None:
    """The frames whose result differs between two evaluations of the same images."""
    gained = []
    for a, b in zip(before, after, strict=True):
        had, has = np.isfinite(a.thickness_pred_px), np.isfinite(b.thickness_pred_px)
        same = had == has and (not has or abs(a.thickness_pred_px - b.thickness_pred_px) < 1e-6)
        if same and (a.status, a.flags) == (b.status, b.flags):
            continue
        if has and not had:
            what = "gained"
            gained.append(b.thickness_error_fraction)
        elif had and not has:
            what = "lost"
        else:
            what = "changed" if not same else "status"
        shown = "" if not has else f"{100 * b.thickness_error_fraction:5.1f} % off"
        flags_before = ",".join(a.flags)
        error_before = 100 * a.thickness_error_fraction
        was = "" if not had else f" (was {error_before:.1f} % off, {a.status} {flags_before})"
        print(f"    {b.name} {what}: {b.status} {shown}{was} {','.join(b.flags)}")
    if gained:
        g = np.array(gained)
        print(
            f"    {g.size} gained a result: {int((g <= 0.10).sum())} within 10 % of the mask, "
            f"median {100 * np.median(g):.1f} % off"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        default=str(ROOT.parent / "shared" / "data" / "dltrack_apo"),
        help="dltrack_apo folder: split.csv, images/, masks/ (default: %(default)s)",
    )
    p.add_argument("--config", action="append", default=None, help="k=v,k=v (repeatable)")
    p.add_argument(
        "--mirror-average",
        action="store_true",
        help="average each layer map with the mirrored frame's instead of the second look",
    )
    p.add_argument(
        "--lofo",
        nargs="*",
        default=DEFAULT_LOFO,
        help="leave-one-format-out run folders, or none "
        "(default: runs/l1_lofo_{800x652,660x556,512x512})",
    )
    p.add_argument(
        "--changes",
        action="store_true",
        help="list the frames each configuration changes against the first one",
    )
    p.add_argument(
        "--json",
        default=None,
        help="write the figures (one row per configuration and set) as JSON to this path",
    )
    args = p.parse_args(argv)
    data = Path(args.data)
    split = load_split(data / "split.csv")
    sets = {"val": (None, [n for n, _, _ in split["val"]])}
    for run in map(Path, args.lofo):
        sets[run.name] = (run / "last.pt", left_out_images(run, split)[1])
    models = {k: load_model(w, verify=w is None) for k, (w, _) in sets.items()}
    if args.mirror_average:
        for m in models.values():
            mirror_average(m)
    report = []
    first: dict[str, list] = {}
    for spec in args.config or [""]:
        opts = parse_config(spec)
        print(f"== {spec or 'defaults'}{' + mirror average' if args.mirror_average else ''}")
        for key, (_, names) in sets.items():
            model = models[key]
            model.postprocess = opts
            frames = evaluate_model(model, data, names)
            s = summarise(frames)
            report.append({"config": spec, "mirror_average": args.mirror_average, "set": key, **s})
            print(
                f"  {key:18s} MAE {s['thickness_mae_percent']:5.2f} % "
                f"{s['thickness_mae_px']:6.2f} px  boundary {s['boundary_mae_px']:5.2f} px  "
                f"ICC {s['icc_2_1']:6.3f}  without result {s['n_without_result']:3d}  "
                f"ok {s['n_ok']:3d}  ok off > 10 % {s['n_ok_off_10']}  w fixes "
                f"{s['n_fixed_by_runner_up']} of {s['n_not_ok_off_10']}",
                flush=True,
            )
            if args.changes and key in first:
                print_changes(first[key], frames)
            first.setdefault(key, frames)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
