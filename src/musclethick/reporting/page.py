"""The report as one self-contained HTML page (figures and downloads embedded as data URIs).

:func:`render_html` is pure: :class:`~musclethick.reporting.content.ReportContent`, PNG bytes
of the figures, gallery tiles and CSV texts in, HTML text out. Tables are written by
:meth:`pandas.DataFrame.to_html`; the click-to-enlarge gallery is CSS only (``:target``).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from musclethick.reporting.content import ReportContent
    from musclethick.reporting.gallery import Tile

__all__ = ["SECTIONS", "render_html"]

#: Section ids and titles, in order.
SECTIONS = (
    ("overview", "1. Overview"),
    ("quality", "2. Quality control"),
    ("trajectories", "3. Trajectories"),
    ("comparison", "4. Condition comparison"),
    ("methods", "5. Methods"),
)

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1180px;padding:0 1.2em 3em;color:#222;line-height:1.4}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.5em}nav a{margin-right:1em}.meta{color:#555;font-size:.9em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img.fig{max-width:100%;border:1px solid #eee;margin:.4em 0}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em}
.blind{background:#e8f0fe;border-left:4px solid #1a73e8;padding:.4em .8em}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}
.gallery{display:flex;flex-wrap:wrap;gap:.6em}
.tile{width:224px;font-size:.75em;border:1px solid #ddd;padding:2px;background:#fafafa}
.tile img{width:220px;display:block}.tile .missing{height:90px;color:#a00;padding:.3em}
.lightbox{display:none;position:fixed;inset:0;background:rgba(0,0,0,.85);z-index:9;
text-align:center;padding-top:2em}
.lightbox:target{display:block}.lightbox img{max-width:95%;max-height:85vh}
.lightbox p{color:#fff}
@page{size:A4 landscape;margin:10mm}
@media print{body{max-width:none;font-size:9pt}table{font-size:7pt}
.lightbox{display:none!important}h2{break-before:page}.tile{break-inside:avoid}}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _number(value: object, digits: int) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return "–"
        if float(value).is_integer() and abs(value) < 1e6 and digits == 0:
            return str(int(value))
        return f"{value:.{digits}f}"
    return str(value) if value == value else "–"  # NaN of object columns


def _table(
    frame: pd.DataFrame, *, digits: int | Mapping[str, int] = 2, max_rows: int | None = None
) -> str:
    """A data frame as an HTML table, numbers rounded (``digits`` per column or for all)."""
    if frame.empty:
        return "<p><em>(none)</em></p>"
    shown = frame if max_rows is None else frame.head(max_rows)
    out = shown.copy().astype(object)
    for column in out.columns:
        d = digits.get(column, 2) if isinstance(digits, Mapping) else digits
        out[column] = [_number(v, d) for v in shown[column]]
    text = out.to_html(index=False, escape=True, border=0)
    if max_rows is not None and len(frame) > max_rows:
        text += f"<p><em>... and {len(frame) - max_rows} more rows (in the CSV).</em></p>"
    return text


def _figure(data: bytes | None, alt: str) -> str:
    if data is None:
        return ""
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="fig" alt="{_e(alt)}" src="data:image/png;base64,{encoded}">'


def _download(name: str, text: str) -> str:
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return f'<a download="{_e(name)}" href="data:text/csv;base64,{encoded}">{_e(name)}</a>'


def _ci(estimate: float, low: float, high: float, unit: str = "") -> str:
    if not np.isfinite(estimate):
        return "–"
    unit = f" {unit}" if unit else ""
    return f"{estimate:+.2f}{unit} [{low:+.2f}, {high:+.2f}]"


def _p(value: float) -> str:
    if not np.isfinite(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


# -- sections -----------------------------------------------------------------------------------


def _overview(content: ReportContent) -> str:
    proto = content.protocol
    sites = ", ".join(
        f"{s.name} ({s.muscle_name or s.muscle}, {s.images} image(s))" for s in proto.sites
    )
    composites = "; ".join(f"{c.name} = mean of {' + '.join(c.sites)}" for c in proto.composites)
    conditions = ", ".join(content.design.conditions) or "none"
    if content.blind:
        conditions = f"{len(content.design.conditions)} condition(s), coded {conditions}"
    swc = (
        f"{proto.smallest_worthwhile_change_mm:g} mm (protocol)"
        if proto.smallest_worthwhile_change_mm
        else "not named by the protocol: 0.2 x between-subject SD at baseline"
    )
    items = [
        ("Protocol", f"{proto.name}: {proto.description}" if proto.description else proto.name),
        ("Protocol file", proto.source or "-"),
        ("Sites", sites + (f"; composite {composites}" if composites else "")),
        ("Weeks", ", ".join(map(str, proto.weeks)) + f" (baseline week {proto.baseline_week})"),
        ("Conditions", conditions),
        ("Design", content.design.message),
        (
            "Subjects",
            f"{content.design.n_subjects} found"
            + (f" ({proto.subjects} planned)" if proto.subjects else ""),
        ),
        (
            "Aggregation",
            f"image = mean of the lines; session = {proto.aggregation.images} of the images"
            + (
                ", image farthest from the median dropped"
                if proto.aggregation.drop_worst_image
                else ""
            ),
        ),
        ("Smallest worthwhile change", swc),
    ]
    rows = "".join(
        f"<tr><th>{_e(k)}</th><td style='text-align:left'>{_e(v)}</td></tr>" for k, v in items
    )
    parts = [f"<table>{rows}</table>"]
    parts.append("<h3>Scans per site and week</h3>")
    parts.append(
        "<p>scans: current scans with a result; measured: not failed; reviewed: with a review "
        "decision; left out: missing files, duplicates, unreadable files and manifest rows "
        "without a file (not counted anywhere else).</p>"
    )
    parts.append(_table(content.counts, digits=0))
    parts.append("<h3>Missing and unusable scans</h3>")
    if content.short.empty:
        parts.append("<p>Every expected session has all its images.</p>")
    else:
        parts.append(
            f"<p>{len(content.short)} session(s) have fewer usable images than the protocol "
            "expects (expected sessions: every leg found for a subject x the protocol's weeks "
            "x its sites):</p>"
        )
        parts.append(_table(content.short, digits=0, max_rows=300))
    parts.append("<h3>Repeats that disagree</h3>")
    tolerance = content.protocol.aggregation.repeat_tolerance_pct
    if content.disagreeing.empty:
        parts.append(
            f"<p>No session's repeated images spread by more than {tolerance:g} % of their "
            "median.</p>"
        )
    else:
        parts.append(
            f"<p>{len(content.disagreeing)} session(s) whose repeated images spread by more "
            f"than {tolerance:g} % of their median (largest - smallest): at least one of each "
            "measured another line, whatever its status. Their session values are in the "
            "tables as measured; review them ('musclethick review' lists them right after the "
            "flagged results):</p>"
        )
        digits = {"week": 0, "n_images": 0, "spread_pct": 1, "thickness_mm": 2}
        parts.append(_table(content.disagreeing, digits=digits, max_rows=300))
    if not content.excluded.empty:
        parts.append("<h3>Scans left out of every table</h3>")
        parts.append(_table(content.excluded, digits=0, max_rows=300))
    parts.append("<h3>Provenance</h3>")
    parts.append(
        f"<p>Method reported: <b>{_e(content.method)}</b>. Runs of the batch (model version "
        "and sha256 of its weights, protocol, counts):</p>"
    )
    parts.append(_table(content.runs, digits=0))
    parts.append("<p>Calibration of the measured results (pixel size in mm):</p>")
    parts.append(_table(content.calibration, digits=4))
    return "".join(parts)


def _gallery(content: ReportContent, tiles: Sequence[Tile]) -> str:
    if not tiles:
        return "<p>No flagged or reviewed scans.</p>"
    parts = [
        f"<p>{content.gallery_total} flagged or reviewed result(s)"
        + (
            f"; the {len(tiles)} shown are the unreviewed ones first, lowest confidence first"
            if len(tiles) < content.gallery_total
            else ""
        )
        + ". Click a picture for full size (superficial boundary in one colour, deep in "
        "another, measurement lines and values drawn).</p>",
        '<div class="gallery" id="gallery">',
    ]
    boxes = []
    for tile in tiles:
        anchor = f"scan-{tile.result_id}"
        if tile.thumbnail is None or tile.full is None:
            picture = f'<div class="missing">cannot show the scan: {_e(tile.problem)}</div>'
        else:
            thumb = base64.b64encode(tile.thumbnail).decode("ascii")
            full = base64.b64encode(tile.full).decode("ascii")
            picture = (
                f'<a href="#{anchor}"><img alt="{_e(tile.caption)}" '
                f'src="data:image/jpeg;base64,{thumb}"></a>'
            )
            boxes.append(
                f'<div class="lightbox" id="{anchor}"><a href="#gallery">'
                f'<img alt="{_e(tile.caption)}" src="data:image/jpeg;base64,{full}"></a>'
                f"<p>{_e(tile.caption)} (click to close)</p></div>"
            )
        parts.append(f'<div class="tile">{picture}{_e(tile.caption)}</div>')
    parts.append("</div>")
    parts.extend(boxes)
    return "".join(parts)


def _quality(content: ReportContent, figures: Mapping[str, bytes], tiles: Sequence[Tile]) -> str:
    from musclethick.stats import bland_altman

    parts = ["<h3>Flagged and reviewed scans</h3>", _gallery(content, tiles)]
    parts.append("<h3>Confidence</h3>")
    parts.append(_figure(figures.get("confidence.png"), "confidence histogram"))
    parts.append("<h3>Review</h3>")
    parts.append(_table(content.decisions, digits=0))
    corrections = content.corrections
    if not corrections.empty:
        parts.append(_figure(figures.get("corrections.png"), "model vs reviewer"))
        if len(corrections) >= 2:
            agreement = bland_altman(corrections["model_mm"], corrections["reviewed_mm"])
            parts.append(
                f"<p>Corrections (reviewer - model): n = {agreement.n}, mean "
                f"{agreement.bias:+.2f} mm, SD {agreement.sd:.2f} mm, 95 % limits of agreement "
                f"{agreement.loa_low:+.2f} to {agreement.loa_high:+.2f} mm; largest "
                f"{corrections['difference_mm'].abs().max():.2f} mm.</p>"
            )
        parts.append(_table(corrections.drop(columns=["result_id"]), digits=2, max_rows=100))
    else:
        parts.append("<p>No corrections.</p>")
    parts.append("<h3>Within-session reliability</h3>")
    parts.append(
        "<p>Repeated images of a session (the first k of every session with k images): ICC(3,1) "
        "and ICC(2,1) with 95 % CI, CV %, typical error, SEM and MDC95 of a single image "
        "(musclethick.stats; the MDC95 of a session mean of k images is smaller by about "
        "sqrt(k)).</p>"
    )
    for quantity in content.quantities:
        table = content.reliability.get(quantity.column)
        if table is None:
            continue
        columns = ["site", "kind", "n_measured", "icc_31", "icc_31_ci95_low", "icc_31_ci95_high"]
        columns += ["icc_21", "cv_pct", "typical_error", "sem", "mdc95", "note"]
        parts.append(f"<p><b>{_e(quantity.label)}</b> ({_e(quantity.unit)})</p>")
        parts.append(
            _table(
                table.reindex(columns=columns),
                digits={
                    "n_measured": 0,
                    "icc_31": 3,
                    "icc_31_ci95_low": 3,
                    "icc_31_ci95_high": 3,
                    "icc_21": 3,
                },
            )
        )
    return "".join(parts)


def _trajectories(content: ReportContent, figures: Mapping[str, bytes]) -> str:
    parts = [
        "<p>Each thin line is one subject's leg (colour = condition); thick lines are the "
        "condition means with 95 % CIs (t). Composites are the mean of their sites' session "
        "values.</p>"
    ]
    for quantity in content.quantities:
        column = quantity.column
        parts.append(f"<h3>{_e(quantity.label.capitalize())} ({_e(quantity.unit)})</h3>")
        parts.append(_figure(figures.get(f"trajectories_{column}.png"), "trajectories"))
        parts.append(_figure(figures.get(f"change_{column}.png"), "change from baseline"))
        summary = content.summaries[column]
        columns = ["site", "condition", "week", "n", "mean", "sd", "ci95_low", "ci95_high"]
        columns += ["n_change", "mean_change", "change_ci95_low", "change_ci95_high"]
        shown = summary[[*columns, "mean_change_pct"]]
        parts.append(_table(shown, digits={"n": 0, "week": 0, "n_change": 0}, max_rows=200))
    return "".join(parts)


def _comparison(
    content: ReportContent, figures: Mapping[str, bytes], downloads: Mapping[str, str]
) -> str:
    design = content.design
    if not design.comparable:
        return f'<p class="note">No condition comparison: {_e(design.message)}</p>'
    if content.comparison.empty:
        week = content.protocol.baseline_week
        return (
            f'<p class="note">No condition comparison: {_e(design.message)} But no week after '
            f"the baseline (week {week}) has values with a baseline yet: nothing to compare.</p>"
        )
    parts = [f"<p>{_e(design.message)}</p>"]
    parts.append(
        "<p>The difference in change from baseline between conditions, per site and week, "
        "from a linear mixed model fitted at each post-baseline week, with the paired "
        "difference in change (Welch's t between subjects) beside it as a check. Effects in "
        "mm, in % of the mean baseline value, and relative to the MDC95 of a single image and "
        "to the smallest worthwhile change (SWC).</p>"
    )
    for quantity in content.quantities:
        part = content.comparison[content.comparison["quantity"] == quantity.column]
        if part.empty:
            continue
        parts.append(f"<h3>{_e(quantity.label.capitalize())} ({_e(quantity.unit)})</h3>")
        parts.append(_figure(figures.get(f"forest_{quantity.column}.png"), "forest plot"))
        rows = []
        for row in part.itertuples(index=False):
            rows.append(
                {
                    "site": row.site,
                    "week": row.week,
                    "contrast": row.contrast,
                    "method": row.method,
                    f"estimate [95 % CI] ({quantity.unit})": _ci(
                        row.estimate, row.ci95_low, row.ci95_high
                    ),
                    "% of baseline [95 % CI]": _ci(
                        row.estimate_pct, row.ci95_low_pct, row.ci95_high_pct
                    ),
                    "p": _p(row.p_value),
                    "df": row.df,
                    "subjects": row.n_subjects,
                    "legs": row.n_obs,
                    "/ MDC95": row.estimate_per_mdc95,
                    "SWC": row.swc,
                    "/ SWC": row.estimate_per_swc,
                    "CI vs SWC": row.vs_swc,
                    "note": row.note,
                }
            )
        import pandas as pd

        parts.append(
            _table(pd.DataFrame(rows), digits={"week": 0, "df": 0, "subjects": 0, "legs": 0})
        )
    first = content.comparison.iloc[0] if not content.comparison.empty else None
    reference = design.reference or ""
    other = design.contrasts()[0][0] if design.contrasts() else ""
    site = first["site"] if first is not None else "SITE"
    week = int(first["week"]) if first is not None else 8
    n_fixed = 2 + len(design.contrasts())
    data_file = next((n for n in downloads if n.endswith("model_data.csv")), "model_data.csv")
    parts.append("<h3>Model, formula and how to reproduce it</h3>")
    parts.append(
        "<pre>"
        + _e(
            "Mixed model (statsmodels MixedLM, REML), fitted separately at each post-baseline "
            "week w\non the legs with a value at w and at baseline:\n"
            "    value[w] ~ condition + baseline + (1 | subject)\n"
            f"condition: treatment coding, reference {reference}; baseline: the same leg's "
            f"value at week {content.protocol.baseline_week}.\n"
            f"95 % CI: estimate +- t(0.975, df) x SE, df = subjects - {n_fixed} (fixed effects: "
            "intercept, condition, baseline).\n\n"
            "In R (lme4), from the model-data CSV:\n"
            f'    d <- read.csv("{data_file}")\n'
            f'    d <- subset(d, quantity == "thickness_mm" & site == "{site}" & week == {week})\n'
            f'    d$condition <- relevel(factor(d$condition), ref = "{reference}")\n'
            "    fit <- lme4::lmer(value ~ condition + baseline + (1 | subject), data = d)\n"
            f'    est <- lme4::fixef(fit)["condition{other}"]\n'
            f'    se <- sqrt(vcov(fit)["condition{other}", "condition{other}"])\n'
            f"    est + c(-1, 1) * qt(0.975, length(unique(d$subject)) - {n_fixed}) * se\n"
        )
        + "</pre>"
    )
    links = " · ".join(_download(name, text) for name, text in downloads.items())
    parts.append(f"<p>Downloads: {links}</p>")
    return "".join(parts)


_METHODS = """
<p><b>Values.</b> A scan's thickness is the mean of its measurement lines (the reviewed value
when a reviewer corrected it; rejected and failed scans count nowhere); a session's value is the
mean (or median, per protocol) of its images; composites are the mean of their sites' session
values. These are the tables of <code>musclethick export</code>.</p>
<p><b>Change from baseline</b> is a leg's session value minus the same leg's baseline value;
group means and their 95 % CIs use the t distribution (scipy).</p>
<p><b>Condition comparison.</b> At each post-baseline week a linear mixed model
<code>value ~ condition + baseline + (1 | subject)</code> (statsmodels MixedLM, REML) gives the
baseline-adjusted difference in change from baseline between conditions; one fit per week is the
condition x week model with its own baseline slope and variances at each week (a single joint
fit with one residual variance gave 95 % CIs that covered the truth at week 8 in only 87 % of
400 simulated studies whose individual responses grow with time, against 93 % per week). With
one leg per subject the model is ordinary least squares. CIs use t with subjects - 3 degrees of
freedom (3 fixed effects with two conditions, one more for each further condition). The check
beside it is the paired t interval of the per-subject difference in change (within-subject
designs) or Welch's interval of the difference in mean change (between-subject designs).</p>
<p><b>Relative effects.</b> % of the mean baseline value of the legs in the model; the MDC95
(1.96 x sqrt(2) x SEM of a single image, within-session repeats) is an individual-level threshold
shown for scale; the smallest worthwhile change is the protocol's
(<code>[analysis] smallest_worthwhile_change_mm</code>) or 0.2 x the between-subject SD of
baseline values. "CI vs SWC" says where the whole 95 % CI lies.</p>
<p><b>Blinding.</b> With <code>--blind</code> the conditions are shown as codes whose order is
set by a key (HMAC), not by their names; the report, its figures and CSVs hold no condition name.
Unblind by making the report without <code>--blind</code>.</p>
"""


def render_html(
    content: ReportContent,
    figures: Mapping[str, bytes],
    tiles: Sequence[Tile],
    downloads: Mapping[str, str],
) -> str:
    """The report page.

    Parameters
    ----------
    content : ReportContent
        What to show.
    figures : mapping of str to bytes
        PNG bytes by file name (``trajectories_thickness_mm.png``, ``forest_...``, ...).
    tiles : sequence of Tile
        Gallery tiles.
    downloads : mapping of str to str
        CSV texts by file name, embedded as download links.
    """
    nav = " ".join(f'<a href="#{key}">{_e(title)}</a>' for key, title in SECTIONS)
    blind = (
        '<p class="blind">Blind report: conditions are shown as codes '
        f"({', '.join(content.design.conditions)}).</p>"
        if content.blind
        else ""
    )
    bodies = {
        "overview": _overview(content),
        "quality": _quality(content, figures, tiles),
        "trajectories": _trajectories(content, figures),
        "comparison": _comparison(content, figures, downloads),
        "methods": _METHODS,
    }
    sections = "".join(
        f'<section id="{key}"><h2>{_e(title)}</h2>{bodies[key]}</section>'
        for key, title in SECTIONS
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Study report: {_e(content.study)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Study report: {_e(content.study)}</h1>"
        f"<p class='meta'>Store {_e(content.store)} · made {_e(content.generated_at)} UTC by "
        f"musclethick {_e(content.version)} · research use only, not diagnosis</p>"
        f"{blind}<nav>{nav}</nav>{sections}</body></html>\n"
    )
