"""The study commands: ``batch``, ``export``, ``reliability`` and ``report``.

Parsers and printing only; the work is done by :func:`musclethick.study.batch.run_batch`,
:func:`musclethick.export.export_store`, :mod:`musclethick.study.reliability` (with the
statistics of :mod:`musclethick.stats`) and :func:`musclethick.reporting.build_report`, imported
when a command runs. Errors are raised for :func:`musclethick.cli.run_command`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from musclethick.cli._args import (
    add_store_argument,
    existing_dir,
    existing_file,
    mm_per_px_arg,
    positive_int,
)
from musclethick.cli._errors import EXIT_USAGE

__all__ = [
    "add_batch_arguments",
    "batch_main",
    "export_main",
    "register",
    "register_batch",
    "register_export",
    "register_reliability",
    "register_report",
    "reliability_main",
    "report_main",
]


def register(subparsers: Any) -> None:
    """Add ``batch``, ``export``, ``reliability`` and ``report`` to ``subparsers``."""
    register_batch(subparsers)
    register_export(subparsers)
    register_reliability(subparsers)
    register_report(subparsers)


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``batch`` options to ``parser``."""
    from musclethick.pipeline import METHODS

    parser.add_argument(
        "study", nargs="?", type=existing_dir, help="study folder (omit with --manifest)"
    )
    from musclethick.protocol import available_protocols

    parser.add_argument(
        "--protocol",
        default="default",
        help=f"a shipped protocol ({', '.join(available_protocols())}; 'default' takes the "
        "weeks and sites found in the study) or a protocol TOML file (default: %(default)s)",
    )
    parser.add_argument("--store", required=True, help="SQLite study store (created if absent)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--pattern",
        type=folder_pattern,
        help="folder pattern, default '{subject}/{week}/{leg}_{site}_{rep}.{ext}'",
    )
    source.add_argument(
        "--manifest",
        type=existing_file,
        help="manifest CSV: file, subject, leg, week, site, rep",
    )
    parser.add_argument(
        "--allocation", type=existing_file, help="allocation CSV: subject, leg, condition"
    )
    parser.add_argument(
        "--workers", type=positive_int, help="worker processes (default: all cores)"
    )
    parser.add_argument("--scheduler", help="dask.distributed scheduler address")
    parser.add_argument("--method", choices=METHODS, help="measurement method")
    parser.add_argument(
        "--mm-per-px", type=mm_per_px_arg, help="calibration override (mm per pixel, 0.005-2)"
    )
    parser.add_argument(
        "--calibration",
        metavar="PROFILE",
        type=existing_file,
        help="calibration profile of the display ('musclethick calibrate'); captures whose "
        "layout does not match are flagged profile_mismatch",
    )
    parser.add_argument(
        "--model", dest="model_path", type=existing_file, help="model weights (default: shipped)"
    )
    parser.add_argument(
        "--architecture",
        action="store_true",
        help="also measure pennation angle and fascicle length at every site (as "
        "'[acquisition] architecture = true' in the protocol; without it, the sites the protocol "
        "asks for)",
    )
    parser.add_argument(
        "--upside-down",
        action="store_true",
        help="the scans show the skin at the bottom (a display's up/down setting): turn every "
        "frame upright before measuring (scans measured the other way up are measured again)",
    )
    parser.add_argument("--dry-run", action="store_true", help="report what would be measured")
    parser.add_argument("--retry-failed", action="store_true", help="measure failed scans again")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def folder_pattern(text: str) -> str:
    """argparse type: a study folder pattern :func:`musclethick.study.layout.pattern_to_regex`
    accepts (a bad one is a usage error naming what is wrong)."""
    from musclethick.errors import ProtocolError
    from musclethick.study.layout import pattern_to_regex

    try:
        pattern_to_regex(text)
    except ProtocolError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def batch_main(args: argparse.Namespace) -> int:
    """Run ``musclethick batch`` from parsed arguments; returns the exit code.

    Scans left out (duplicates, files not found, unreadable, missing) are listed on stderr,
    also with ``-q``. Errors are raised for :func:`musclethick.cli.run_command`.
    """
    from musclethick.errors import UsageError
    from musclethick.study.batch import run_batch

    if args.study is None and args.manifest is None:
        raise UsageError("give a study folder or --manifest")
    summary = run_batch(
        args.study,
        protocol=args.protocol,
        store=args.store,
        pattern=args.pattern,
        manifest=args.manifest,
        allocation=args.allocation,
        workers=args.workers,
        scheduler=args.scheduler,
        method=args.method,
        mm_per_px=args.mm_per_px,
        model_path=args.model_path,
        calibration=args.calibration,
        dry_run=args.dry_run,
        retry_failed=args.retry_failed,
        progress=not args.quiet,
        architecture=args.architecture,
        upside_down=args.upside_down,
    )
    if not args.dry_run and not args.quiet:
        print(summary.discovery.render())
    print(summary.render())
    if args.dry_run and not summary.discovery.scans and not summary.discovery.left_out:
        return EXIT_USAGE  # as the real run, which refuses a study without scans
    if not args.dry_run:  # the dry run's report lists them already
        for line in summary.failure_lines():
            print(f"musclethick batch: failed: {line}", file=sys.stderr)
        for line in summary.warnings():
            print(f"musclethick batch: warning: {line}", file=sys.stderr)
        for note in (
            summary.orientation_note(),
            summary.calibration_note(),
            summary.repeats_note(),
            summary.advice(),
        ):
            if note:
                print(f"musclethick batch: note: {note}", file=sys.stderr)
    return 0


def register_batch(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``batch`` subcommand to an argparse ``subparsers`` object."""
    parser = subparsers.add_parser(
        "batch",
        help="measure a whole study into a SQLite store (resumable, all cores or dask)",
        description="Measure a whole study into a SQLite store: resumable (a killed run restarts "
        "where it stopped), on all cores or a dask.distributed cluster.",
    )
    add_batch_arguments(parser)
    parser.set_defaults(func=batch_main)
    return parser


def register_export(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``export`` subcommand to an argparse ``subparsers`` object."""
    from musclethick.export import FORMATS

    parser = subparsers.add_parser(
        "export",
        help="thickness tables from a study store (CSV, Excel or Parquet)",
        description="Long table, session summary and wide tables with change from baseline.",
    )
    add_store_argument(parser, "study store written by 'musclethick batch'")
    parser.add_argument(
        "--format", choices=FORMATS, default="xlsx", help="output format (default: %(default)s)"
    )
    parser.add_argument("--out", required=True, help="workbook (xlsx) or folder (csv, parquet)")
    parser.add_argument("--protocol", help="protocol (default: the one the batch used)")
    parser.add_argument("--method", help="method to export (default: the latest run's)")
    parser.add_argument("--cm", action="store_true", help="lengths in cm instead of mm")
    parser.add_argument("--deidentify", action="store_true", help="pseudonyms, no files/dates")
    parser.add_argument("--key", help="pseudonym key (default: $MUSCLETHICK_PSEUDONYM_KEY)")
    parser.add_argument(
        "--include-dicom-names", action="store_true", help="add DICOM patient id and name"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.set_defaults(func=export_main)
    return parser


def export_main(args: argparse.Namespace) -> int:
    """Run ``musclethick export`` from parsed arguments (errors are raised for
    :func:`musclethick.cli.run_command`)."""
    from musclethick.export import export_store

    written = export_store(
        args.store,
        args.out,
        format=args.format,
        protocol=args.protocol,
        method=args.method,
        cm=args.cm,
        deidentify=args.deidentify,
        key=args.key,
        include_dicom_names=args.include_dicom_names,
        overwrite=args.overwrite,
    )
    for path in written:
        print(path)
    return 0


def register_reliability(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``reliability`` subcommand to an argparse ``subparsers`` object."""
    from musclethick import stats

    parser = subparsers.add_parser(
        "reliability",
        help="ICC, CV %%, typical error, SEM, MDC95 and Bland-Altman from a study store",
        description=stats.__doc__.split("\n\n")[0],
    )
    add_store_argument(parser, "study store written by 'musclethick batch'")
    parser.add_argument("--protocol", help="protocol (default: the one the batch used)")
    parser.add_argument("--method", help="method to analyse (default: the latest run's)")
    parser.add_argument(
        "--between", nargs="+", type=int, metavar="WEEK", help="weeks for between-session figures"
    )
    parser.add_argument("--cv", choices=("rms", "mean"), default="rms", help="CV %% combination")
    parser.add_argument("--out", help="write the table (CSV)")
    parser.add_argument(
        "--compare", nargs=2, metavar=("METHOD_A", "METHOD_B"), help="Bland-Altman of two methods"
    )
    parser.add_argument(
        "--raters",
        nargs=2,
        metavar=("RATER_A", "RATER_B"),
        help="Bland-Altman of two reviewers (or 'model' and a reviewer) from the reviews",
    )
    parser.add_argument("--plot", help="Bland-Altman plot (PNG) for --compare / --raters")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.set_defaults(func=reliability_main)
    return parser


def _text_table(frame: Any) -> str:
    """A DataFrame as text: columns two spaces apart, text left-aligned under its header,
    numbers right-aligned with three decimals, missing values empty."""
    import pandas as pd  # lazy: keeps the CLI start-up light

    def text(v: Any) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return ""
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    cells = {c: [text(v) for v in frame[c]] for c in frame.columns}
    numeric = {c: pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns}
    widths = {c: max([len(c), *(len(v) for v in cells[c])]) for c in frame.columns}

    def line(values: dict[str, str]) -> str:
        return "  ".join(
            values[c].rjust(widths[c]) if numeric[c] else values[c].ljust(widths[c])
            for c in frame.columns
        ).rstrip()

    rows = [line({c: c for c in frame.columns})]
    rows += [line({c: cells[c][i] for c in frame.columns}) for i in range(len(frame))]
    return "\n".join(rows)


def reliability_main(args: argparse.Namespace) -> int:
    """Run ``musclethick reliability`` from parsed arguments (errors are raised for
    :func:`musclethick.cli.run_command`). What could not be computed, and ICCs that cannot be
    trusted, are explained on stderr."""

    from musclethick.outputs import check_output_file, write_atomically
    from musclethick.stats import bland_altman, plot_bland_altman
    from musclethick.study.reliability import paired_images, paired_raters, reliability_report

    out = plot = None
    if args.out:
        out = check_output_file(
            args.out, option="--out", inputs=[args.store], overwrite=args.overwrite
        )
    if args.plot:
        plot = check_output_file(
            args.plot, option="--plot", inputs=[args.store], overwrite=args.overwrite, image=True
        )
    table = reliability_report(
        args.store,
        protocol=args.protocol,
        method=args.method,
        between_weeks=args.between,
        cv_method=args.cv,
    )
    # what the ICC's rows are, in words: sessions within a session, legs between them
    shown = table.assign(
        measured=[
            f"{int(n) if n == n else 0} {'legs' if kind.startswith('between') else 'sessions'}"
            for n, kind in zip(table["n_measured"], table["kind"], strict=True)
        ],
        # the interval the warnings speak of, in the table they refer to
        icc_21_ci95=[
            "" if lo != lo or hi != hi else f"[{lo:.2f}, {hi:.2f}]"
            for lo, hi in zip(table["icc_21_ci95_low"], table["icc_21_ci95_high"], strict=True)
        ],
    )
    columns = ["site", "kind", "measured", "icc_21", "icc_21_ci95", "icc_31", "cv_pct"]
    if set(table["measure"]) != {"thickness_mm"}:  # architecture: say which value
        columns.insert(2, "measure")
    columns += ["typical_error", "sem", "mdc95"]
    print(_text_table(shown[columns].round(3)))
    for row in table.itertuples():
        if isinstance(row.note, str) and row.note:
            measure = "" if row.measure == "thickness_mm" else f" {row.measure}"
            print(
                f"musclethick reliability: warning: {row.site} {row.kind}{measure}: {row.note}",
                file=sys.stderr,
            )
    if out is not None:
        write_atomically(out, lambda partial: table.to_csv(partial, index=False))
        print(out)
    pairs = []
    if args.compare:
        pairs.append((args.compare, paired_images(args.store, *args.compare)))
    if args.raters:
        pairs.append((args.raters, paired_raters(args.store, *args.raters, method=args.method)))
    for (name_a, name_b), (a, b) in pairs:
        if plot is not None:
            target = plot
            if len(pairs) > 1:
                target = plot.with_name(f"{plot.stem}_{name_a}_{name_b}{plot.suffix}")
            stats = plot_bland_altman(a, b, target, label_a=name_a, label_b=name_b)
            print(target)
        else:
            stats = bland_altman(a, b)
        print(
            f"Bland-Altman {name_b} - {name_a}: n={stats.n}, bias {stats.bias:.3f} mm, "
            f"95 % LoA {stats.loa_low:.3f} to {stats.loa_high:.3f} mm"
        )
    return 0


def register_report(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to an argparse ``subparsers`` object."""
    parser = subparsers.add_parser(
        "report",
        help="the study's report: HTML with plots, the condition comparison and its CIs",
        description="One self-contained HTML report of a study store: overview, quality "
        "control, trajectories and the condition comparison (mixed model and paired check), "
        "with the estimates as CSV beside it.",
    )
    add_store_argument(parser, "study store written by 'musclethick batch'")
    parser.add_argument("--out", required=True, help="the report (HTML, e.g. report.html)")
    parser.add_argument("--figures", metavar="DIR", help="also write the figures as PNG files")
    parser.add_argument("--pdf", action="store_true", help="also write OUT.pdf (needs WeasyPrint)")
    parser.add_argument(
        "--blind",
        action="store_true",
        help="show conditions as codes A, B, ... (order set by a key, not the names)",
    )
    parser.add_argument(
        "--key", help="key of the blind codes (default: $MUSCLETHICK_BLIND_KEY or the store's)"
    )
    parser.add_argument(
        "--reference", help="reference condition of the comparison (a code with --blind)"
    )
    parser.add_argument("--protocol", help="protocol (default: the one the batch used)")
    parser.add_argument("--method", help="method to report (default: the latest run's)")
    parser.add_argument(
        "--max-gallery",
        type=positive_int,
        default=120,
        metavar="N",
        help="most flagged or reviewed scans shown in the gallery (default 120)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.set_defaults(func=report_main)
    return parser


def report_main(args: argparse.Namespace) -> int:
    """Run ``musclethick report`` from parsed arguments (errors are raised for
    :func:`musclethick.cli.run_command`)."""
    from musclethick.errors import UsageError
    from musclethick.reporting import build_report

    if args.key is not None and not args.blind:
        raise UsageError("--key: only used with --blind (the key of the condition codes)")
    written = build_report(
        args.store,
        args.out,
        protocol=args.protocol,
        method=args.method,
        blind=args.blind,
        key=args.key,
        reference=args.reference,
        figures=args.figures,
        pdf=args.pdf,
        max_gallery=args.max_gallery,
        overwrite=args.overwrite,
    )
    for path in written:
        print(path)
    return 0
