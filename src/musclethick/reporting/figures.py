"""The report's figures: matplotlib :class:`~matplotlib.figure.Figure` objects (Agg, no pyplot).

Each function takes the report's tables and returns a figure, or ``None`` when there is nothing
to draw; :func:`png` turns a figure into PNG bytes. Colours follow the conditions' order, so a
condition has the same colour in every figure.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from musclethick.analysis import Quantity

__all__ = [
    "change_figure",
    "colours",
    "confidence_figure",
    "corrections_figure",
    "forest_figure",
    "png",
    "trajectory_figure",
]

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
_DPI = 100


def colours(conditions: Sequence[str]) -> dict[str, str]:
    """A colour per condition, in order (an unlabelled condition ``""`` is grey)."""
    table = {c: _PALETTE[i % len(_PALETTE)] for i, c in enumerate(c for c in conditions if c)}
    table[""] = "0.5"
    return table


def _figure(width: float, height: float, **margins: float) -> Figure:
    """A figure with fixed margins in inches (a layout engine would draw it twice)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI)
    inches = {"left": 0.75, "right": 0.2, "bottom": 0.55, "top": 0.55, **margins}
    figure.subplots_adjust(
        left=inches["left"] / width,
        right=1.0 - inches["right"] / width,
        bottom=inches["bottom"] / height,
        top=1.0 - inches["top"] / height,
        wspace=0.3,
        hspace=0.45,
    )
    return figure


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _label(quantity: Quantity) -> str:
    return f"{quantity.label} ({quantity.unit})"


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 3)
    return (n + cols - 1) // cols, cols


def trajectory_figure(
    changes: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    quantity: Quantity,
    sites: Sequence[str],
    conditions: Sequence[str],
) -> Figure | None:
    """Value by week per site: every subject's leg (thin, by condition) and the group means
    with 95 % CIs (thick, dodged a little per condition)."""
    from matplotlib.collections import LineCollection

    if changes.empty:
        return None
    palette = colours(conditions)
    rows, cols = _grid(len(sites))
    figure = _figure(4.2 * cols, 3.4 * rows)
    axes = figure.subplots(rows, cols, squeeze=False, sharex=True)
    weeks = sorted(changes["week"].unique())
    span = (max(weeks) - min(weeks)) if len(weeks) > 1 else 1.0
    for index, site in enumerate(sites):
        ax = axes[index // cols][index % cols]
        part = changes[changes["site"] == site].sort_values("week")
        for condition, legs in part.groupby("condition", sort=False):
            lines = [
                leg[["week", "value"]].to_numpy(float)
                for _, leg in legs.groupby(["subject", "leg"], sort=False)
            ]
            ax.add_collection(
                LineCollection(lines, colors=palette.get(condition, "0.5"), lw=0.7, alpha=0.35)
            )
        ax.autoscale_view()
        mine = summary[summary["site"] == site]
        named = [c for c in conditions if c in set(mine["condition"])]
        for i, condition in enumerate(named):
            rows_c = mine[mine["condition"] == condition].sort_values("week")
            shift = (i - (len(named) - 1) / 2) * 0.03 * span
            x = rows_c["week"].to_numpy(float) + shift
            mean = rows_c["mean"].to_numpy(float)
            low = mean - rows_c["ci95_low"].to_numpy(float)
            high = rows_c["ci95_high"].to_numpy(float) - mean
            ax.errorbar(
                x,
                mean,
                yerr=np.vstack([low, high]),
                color=palette.get(condition, "0.5"),
                lw=2.2,
                capsize=3,
                marker="o",
                label=f"{condition} mean, 95 % CI",
            )
        ax.set_title(site)
        ax.set_xticks(weeks)
        ax.set_xlabel("week")
        ax.set_ylabel(_label(quantity))
        ax.grid(alpha=0.3)
    for index in range(len(sites), rows * cols):
        axes[index // cols][index % cols].set_visible(False)
    axes[0][0].legend(fontsize=8, loc="best")
    figure.suptitle(f"{quantity.label.capitalize()} by week: each leg and the group means")
    return figure


def change_figure(
    summary: pd.DataFrame,
    *,
    quantity: Quantity,
    sites: Sequence[str],
    conditions: Sequence[str],
    baseline_week: int,
) -> Figure | None:
    """Mean change from baseline with 95 % CI per condition, week and site."""
    part = summary[summary["week"] != baseline_week]
    if part.empty or not np.isfinite(part["mean_change"].to_numpy(float)).any():
        return None
    palette = colours(conditions)
    rows, cols = _grid(len(sites))
    figure = _figure(4.2 * cols, 3.2 * rows)
    axes = figure.subplots(rows, cols, squeeze=False, sharex=True)
    weeks = sorted(summary["week"].unique())
    span = (max(weeks) - min(weeks)) if len(weeks) > 1 else 1.0
    for index, site in enumerate(sites):
        ax = axes[index // cols][index % cols]
        mine = summary[summary["site"] == site]
        named = [c for c in conditions if c in set(mine["condition"])]
        for i, condition in enumerate(named):
            rows_c = mine[mine["condition"] == condition].sort_values("week")
            shift = (i - (len(named) - 1) / 2) * 0.03 * span
            mean = rows_c["mean_change"].to_numpy(float)
            low = np.nan_to_num(mean - rows_c["change_ci95_low"].to_numpy(float))
            high = np.nan_to_num(rows_c["change_ci95_high"].to_numpy(float) - mean)
            ax.errorbar(
                rows_c["week"].to_numpy(float) + shift,
                mean,
                yerr=np.vstack([low, high]),
                color=palette.get(condition, "0.5"),
                marker="o",
                capsize=3,
                lw=1.8,
                label=condition,
            )
        ax.axhline(0.0, color="0.4", lw=0.8)
        ax.set_title(site)
        ax.set_xticks(weeks)
        ax.set_xlabel("week")
        ax.set_ylabel(f"change from week {baseline_week} ({quantity.unit})")
        ax.grid(alpha=0.3)
    for index in range(len(sites), rows * cols):
        axes[index // cols][index % cols].set_visible(False)
    axes[0][0].legend(fontsize=8, loc="best")
    figure.suptitle(f"Change in {quantity.label} from baseline (mean, 95 % CI)")
    return figure


def forest_figure(comparison: pd.DataFrame, *, quantity: Quantity) -> Figure | None:
    """Forest plot: the difference in change from baseline per site and week, mixed model
    and paired check, with 0 and the smallest worthwhile change (+-SWC, grey)."""
    part = comparison[comparison["quantity"] == quantity.column]
    if part.empty:
        return None
    labels = list(dict.fromkeys(zip(part["contrast"], part["site"], part["week"], strict=True)))
    figure = _figure(9.0, 1.2 + 0.5 * len(labels), left=2.3, right=1.9, top=0.4)
    ax = figure.add_subplot()
    model = ("o", "black", -0.12)
    styles = {"mixed model": model, "OLS (one leg per subject)": model}
    check = ("s", "#1f77b4", 0.12)
    y_of = {label: len(labels) - 1 - i for i, label in enumerate(labels)}
    shown = set()
    for row in part.itertuples(index=False):
        y0 = y_of[(row.contrast, row.site, row.week)]
        marker, colour, dy = styles.get(row.method, check)
        if np.isfinite(row.swc) and (row.site, row.week) not in shown:
            ax.plot([-row.swc, row.swc], [y0, y0], color="0.85", lw=9, solid_capstyle="butt")
            shown.add((row.site, row.week))
        if not np.isfinite(row.estimate):
            continue
        ax.plot([row.ci95_low, row.ci95_high], [y0 + dy] * 2, color=colour, lw=1.6)
        ax.plot(row.estimate, y0 + dy, marker=marker, color=colour, ms=6, ls="none")
    ax.axvline(0.0, color="0.3", lw=0.8)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(
        [f"{site} week {week}  ({contrast})" for contrast, site, week in reversed(labels)]
    )
    from matplotlib.lines import Line2D

    methods = list(dict.fromkeys(part["method"]))
    handles = [
        Line2D([], [], color=styles.get(m, check)[1], marker=styles.get(m, check)[0], label=m)
        for m in methods
    ]
    handles.append(Line2D([], [], color="0.85", lw=8, label="+-SWC"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_xlabel(f"difference in change from baseline ({quantity.unit}), 95 % CI")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"Condition comparison: {quantity.label}")
    return figure


def confidence_figure(confidence: pd.DataFrame) -> Figure | None:
    """Histogram of the model's confidence per batch status."""
    values = confidence.dropna(subset=["confidence"])
    values = values[values["status"] != "failed"]
    if values.empty:
        return None
    figure = _figure(6.0, 3.0, top=0.4)
    ax = figure.add_subplot()
    bins = np.linspace(0.0, 1.0, 26)
    for status, colour in (("ok", "#2ca02c"), ("flagged", "#ff7f0e")):
        part = values[values["status"] == status]["confidence"].to_numpy(float)
        if len(part):
            ax.hist(part, bins=bins, alpha=0.7, color=colour, label=f"{status} (n = {len(part)})")
    ax.set_xlabel("confidence")
    ax.set_ylabel("results")
    ax.legend(fontsize=8)
    ax.set_title("Confidence of the measurements")
    return figure


def corrections_figure(corrections: pd.DataFrame) -> Figure | None:
    """Model vs reviewer thickness of corrected results, with the line of identity."""
    if corrections.empty:
        return None
    figure = _figure(4.2, 3.8, top=0.4)
    ax = figure.add_subplot()
    model = corrections["model_mm"].to_numpy(float)
    reviewed = corrections["reviewed_mm"].to_numpy(float)
    ax.scatter(model, reviewed, s=18, color="#d62728", alpha=0.8)
    finite = np.concatenate([model, reviewed])
    finite = finite[np.isfinite(finite)]
    if len(finite):
        low, high = float(finite.min()), float(finite.max())
        pad = max(1.0, 0.05 * (high - low))
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="0.4", lw=0.8)
    ax.set_xlabel("model thickness (mm)")
    ax.set_ylabel("reviewer thickness (mm)")
    ax.set_title(f"Corrections in review (n = {len(corrections)})")
    ax.grid(alpha=0.3)
    return figure
