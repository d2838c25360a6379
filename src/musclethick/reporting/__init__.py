"""The study report: ``musclethick report STORE --out report.html``.

One self-contained HTML page a PI can open and a statistician can check: overview (protocol,
scan counts, missing scans, provenance), quality control (gallery of flagged and reviewed
scans, confidence, corrections, within-session reliability), trajectories (every leg and the
group means by week, change from baseline) and the condition comparison (mixed model and paired
check per site and week, forest plot, effects in mm, % and relative to the MDC95 and the
smallest worthwhile change). Beside the page: the comparison, the model data and the group
summaries as CSV (``REPORT_comparison.csv``, ...), optionally the figures as PNG files
(``--figures DIR``) and a PDF (``--pdf``, with WeasyPrint when it is installed).

Modules: :mod:`.content` (what the report says, from the store), :mod:`.figures` (matplotlib),
:mod:`.gallery` (overlay thumbnails), :mod:`.page` (HTML); the statistics live in
:mod:`musclethick.analysis` and :mod:`musclethick.stats`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musclethick.errors import UsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from musclethick.reporting.content import ReportContent

__all__ = ["build_report", "make_figures"]

HTML_SUFFIXES = (".html", ".htm")


def make_figures(content: ReportContent) -> dict[str, Figure]:
    """Every figure of the report by file name (figures with nothing to draw left out)."""
    from musclethick.reporting import figures as fig

    made: dict[str, Figure | None] = {
        "confidence.png": fig.confidence_figure(content.confidence),
        "corrections.png": fig.corrections_figure(content.corrections),
    }
    conditions = content.design.conditions
    for quantity in content.quantities:
        column = quantity.column
        made[f"trajectories_{column}.png"] = fig.trajectory_figure(
            content.changes[column],
            content.summaries[column],
            quantity=quantity,
            sites=content.sites,
            conditions=conditions,
        )
        made[f"change_{column}.png"] = fig.change_figure(
            content.summaries[column],
            quantity=quantity,
            sites=content.sites,
            conditions=conditions,
            baseline_week=content.protocol.baseline_week,
        )
        if content.design.comparable:
            made[f"forest_{column}.png"] = fig.forest_figure(content.comparison, quantity=quantity)
    return {name: figure for name, figure in made.items() if figure is not None}


def _pdf_writer():
    """WeasyPrint's ``HTML`` class, or ``None`` when it is not installed or cannot load."""
    if importlib.util.find_spec("weasyprint") is None:
        return None
    try:
        from weasyprint import HTML
    except (ImportError, OSError):  # its system libraries (Pango) are missing
        return None
    return HTML


def _outputs(
    store: Path, out: Path, *, figures: Path | None, pdf: bool, overwrite: bool
) -> dict[str, Path]:
    """Check every output before any work (never an input, replaced only with overwrite)."""
    from musclethick.outputs import check_output_file, check_output_folder

    if out.suffix.lower() not in HTML_SUFFIXES:
        raise UsageError(
            f"--out {out}: the report is an HTML page; give a name ending in .html "
            f"(e.g. --out {out.with_suffix('.html')})"
        )
    paths = {"html": check_output_file(out, option="--out", inputs=[store], overwrite=overwrite)}
    for name in ("comparison", "model_data", "summary"):
        paths[name] = check_output_file(
            out.with_name(f"{out.stem}_{name}.csv"),
            option="--out",
            inputs=[store],
            overwrite=overwrite,
        )
    if pdf:
        if _pdf_writer() is None:
            raise UsageError(
                "--pdf: no HTML-to-PDF converter: install WeasyPrint (pip install "
                "'musclethick[pdf]'; it needs the Pango library), or leave --pdf out and print "
                "the HTML report to PDF from a browser"
            )
        paths["pdf"] = check_output_file(
            out.with_suffix(".pdf"), option="--pdf", inputs=[store], overwrite=overwrite
        )
    if figures is not None:
        paths["figures"] = check_output_folder(
            figures, option="--figures", inputs=[store], overwrite=overwrite, names=None
        )
    return paths


def build_report(
    store: str | Path,
    out: str | Path,
    *,
    protocol: Any = None,
    method: str | None = None,
    blind: bool = False,
    key: str | None = None,
    reference: str | None = None,
    figures: str | Path | None = None,
    pdf: bool = False,
    max_gallery: int = 120,
    overwrite: bool = False,
) -> list[Path]:
    """Make the study report of a store (``musclethick report``).

    Parameters
    ----------
    store : str or path-like
        Study store (only read, except that the first ``blind`` report of a store without a
        key keeps a new one in it, like ``export --deidentify``).
    out : str or path-like
        The HTML page (``.html``); the CSVs go beside it (``OUT_comparison.csv``,
        ``OUT_model_data.csv``, ``OUT_summary.csv``).
    protocol : Protocol or str or path-like, optional
        Default: the protocol the batch recorded.
    method : str, optional
        Method to report (default: the latest run's).
    blind : bool
        Conditions as codes A, B, ... everywhere.
    key : str, optional
        Key of the codes (see :func:`musclethick.reporting.content.gather`).
    reference : str, optional
        Reference condition of the comparison (default: the protocol's last).
    figures : str or path-like, optional
        Folder for the figures as PNG files.
    pdf : bool
        Also write ``OUT.pdf`` (needs WeasyPrint).
    max_gallery : int
        Most scans in the gallery.
    overwrite : bool
        Replace existing outputs.

    Returns
    -------
    list of Path
        Files written.
    """
    from musclethick.outputs import write_atomically
    from musclethick.reporting.content import gather
    from musclethick.reporting.figures import png
    from musclethick.reporting.gallery import render_tile
    from musclethick.reporting.page import render_html

    store, out = Path(store), Path(out)
    if not store.is_file():
        raise UsageError(f"{store}: no such study store; give the file 'musclethick batch' wrote")
    paths = _outputs(
        store,
        out,
        figures=None if figures is None else Path(figures),
        pdf=pdf,
        overwrite=overwrite,
    )
    content = gather(
        store,
        protocol=protocol,
        method=method,
        blind=blind,
        key=key,
        reference=reference,
        max_gallery=max_gallery,
    )
    images = {name: png(figure) for name, figure in make_figures(content).items()}
    tiles = [render_tile(stored) for stored in content.gallery]
    csvs = {
        "comparison": content.comparison.to_csv(index=False),
        "model_data": content.model_data.to_csv(index=False),
        "summary": _summary_csv(content),
    }
    downloads = {paths[name].name: text for name, text in csvs.items()}
    page = render_html(content, images, tiles, downloads)
    written = [write_atomically(paths["html"], lambda p: p.write_text(page, encoding="utf-8"))]
    for name, text in csvs.items():
        written.append(
            write_atomically(paths[name], lambda p, t=text: p.write_text(t, encoding="utf-8"))
        )
    if "figures" in paths:
        for name, data in images.items():
            written.append(
                write_atomically(paths["figures"] / name, lambda p, d=data: p.write_bytes(d))
            )
    if "pdf" in paths:
        writer = _pdf_writer()
        written.append(
            write_atomically(
                paths["pdf"], lambda p: writer(string=page, base_url=str(out.parent)).write_pdf(p)
            )
        )
    return written


def _summary_csv(content: ReportContent) -> str:
    import pandas as pd

    tables = [
        summary.assign(quantity=column)[["quantity", *summary.columns]]
        for column, summary in content.summaries.items()
    ]
    return pd.concat(tables, ignore_index=True).to_csv(index=False) if tables else ""
