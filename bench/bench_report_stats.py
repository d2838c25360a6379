"""Coverage and false-positive rate of the report's condition comparison on simulated studies.

Each seed draws a study from :func:`musclethick.study.simulate.simulate_images` (18 subjects,
between-subject SD 3 mm, image measurement SD 0.5 mm, individual response SD 0.5 mm at the
last week, weeks 0/4/8, 3 images per session), aggregates it with the export's rules and runs
:func:`musclethick.analysis.compare_conditions`. With a true effect (+1.0 mm at week 8) it
counts how often each method's 95 % CI covers the truth; with none, how often the CI excludes
0 (the false-positive rate; 5 % expected).

    python bench/bench_report_stats.py --seeds 500
    python bench/bench_report_stats.py --seeds 500 --design between
    python bench/bench_report_stats.py --seeds 400 --joint   # + the joint model it replaced
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from dataclasses import replace

import pandas as pd

from musclethick.analysis import QUANTITIES, change_table, compare_conditions, study_design
from musclethick.export import aggregate_sessions
from musclethick.protocol import Protocol, Site
from musclethick.study.simulate import SimulatedStudy, simulate_images


def joint_fit(changes: pd.DataFrame, reference: str) -> dict[int, tuple[float, float]]:
    """The alternative the report does not use: one mixed model over all post-baseline weeks,
    ``value ~ condition * week + baseline + (1 | subject)`` with one residual variance
    (parametrized as week intercepts and per-week condition effects, the same model).
    Returns ``{week: (estimate, 95 % CI half-width)}`` with the report's df rule."""
    from scipy import stats
    from statsmodels.regression.mixed_linear_model import MixedLM

    data = changes[(changes["week"] != changes["week"].min()) & changes["baseline"].notna()]
    weeks = sorted(data["week"].unique())
    exog = pd.DataFrame(index=data.index)
    for week in weeks:
        exog[f"week_{week}"] = (data["week"] == week).astype(float)
        exog[f"effect_{week}"] = ((data["week"] == week) & (data["condition"] != reference)).astype(
            float
        )
    exog["baseline"] = data["baseline"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = MixedLM(data["value"], exog, groups=data["subject"]).fit(reml=True)
    df = data["subject"].nunique() - 3
    q = stats.t.ppf(0.975, df)
    return {w: (float(fit.params[f"effect_{w}"]), q * float(fit.bse[f"effect_{w}"])) for w in weeks}


def run(
    study: SimulatedStudy, seeds: range, *, joint: bool = False
) -> dict[tuple[str, int], list[bool]]:
    """``{(method, week): [CI covers the truth, ...]}`` over ``seeds``."""
    protocol = Protocol(name="sim", sites=(Site("RF50", "RF"),), weeks=study.weeks)
    hits: dict[tuple[str, int], list[bool]] = {}
    for seed in seeds:
        sessions = aggregate_sessions(simulate_images(study, seed), protocol)
        design = study_design(sessions, order=study.conditions)
        changes = change_table(sessions, baseline_week=study.weeks[0])
        table = compare_conditions(
            changes,
            design,
            quantity=QUANTITIES[0],
            baseline_week=study.weeks[0],
            sites=["RF50"],
        )
        for row in table.itertuples(index=False):
            truth = study.true_effect_mm(row.week)
            key = (row.method, row.week)
            hits.setdefault(key, []).append(bool(row.ci95_low <= truth <= row.ci95_high))
        if joint:
            for week, (estimate, half) in joint_fit(changes, design.reference).items():
                truth = study.true_effect_mm(week)
                key = ("joint mixed model", week)
                hits.setdefault(key, []).append(bool(abs(estimate - truth) <= half))
    return hits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200, help="simulated studies per effect")
    parser.add_argument(
        "--design",
        choices=("within", "between"),
        default="within",
        help="within-subject (one condition per leg) or between-subject (default: %(default)s)",
    )
    parser.add_argument(
        "--subjects",
        type=int,
        default=18,
        help="subjects per simulated study (default: %(default)s)",
    )
    parser.add_argument("--response-sd", type=float, default=0.5, help="mm at the last week")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds start here")
    parser.add_argument(
        "--effects",
        type=lambda text: tuple(float(v) for v in text.split(",")),
        default=(1.0, 0.0),
        help="which runs: 1 (coverage of +1 mm) and/or 0 (false positives), e.g. '0' (1,0)",
    )
    parser.add_argument(
        "--joint",
        action="store_true",
        help="also the joint model over all weeks (one residual variance) the report does not use",
    )
    args = parser.parse_args(argv)
    base = SimulatedStudy(
        n_subjects=args.subjects,
        sites=("RF50",),
        design=args.design,
        response_sd_mm=args.response_sd,
    )
    print(
        f"{args.seeds} simulated {args.design}-subject studies per effect: {args.subjects} "
        f"subjects, between-subject SD {base.between_sd_mm} mm, image SD "
        f"{base.measurement_sd_mm} mm, response SD {args.response_sd} mm"
    )
    # independent seeds for the two runs (on the same seeds the estimates would differ by the
    # effect exactly, and the false-positive rate be 1 - the coverage)
    first = args.first_seed
    runs = {
        1.0: range(first, first + args.seeds),
        0.0: range(first + args.seeds, first + 2 * args.seeds),
    }
    for effect, seeds in runs.items():
        if effect not in args.effects:
            continue
        start = time.perf_counter()
        hits = run(replace(base, effect_mm=effect), seeds, joint=args.joint)
        seconds = time.perf_counter() - start
        for (method, week), covered in sorted(hits.items()):
            n = len(covered)
            rate = sum(covered) / n
            se = math.sqrt(rate * (1 - rate) / n)
            if effect:
                what = f"coverage of the true {base.effect_mm * week / base.weeks[-1]:+.2f} mm"
                value = rate
            else:
                what = "false-positive rate (CI excludes 0)"
                value = 1 - rate
            print(
                f"  effect {effect:+.1f} mm, week {week}, {method:<18} {what}: "
                f"{100 * value:5.1f} % (+- {100 * se:.1f}, n = {n})"
            )
        print(f"  ({seconds:.0f} s, {seconds / args.seeds * 1000:.0f} ms per study)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
