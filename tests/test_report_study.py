"""``musclethick report``: the HTML page, its sections, figures and CSVs, checked against the
export's tables and hand computations; missing weeks, failed scans, one condition, blinding
and bad input."""

from __future__ import annotations

import base64
import math
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from musclethick.analysis import blind_codes
from musclethick.cli import main
from musclethick.reporting.page import SECTIONS
from musclethick.study.simulate import SimulatedStudy, simulate_images, write_store

STUDY = SimulatedStudy(n_subjects=6, effect_mm=1.0)
PROTOCOL = "rt_failure_2024"


class Page(HTMLParser):
    """Section ids, embedded images (by MIME type) and download links of a report page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[tuple[str, bytes]] = []
        self.downloads: dict[str, bytes] = {}
        self.tables: list[list[list[str]]] = []  # rows of cells, header row first
        self.tiles = 0
        self._cell: list[str] | None = None
        self.feed(text)

    def table(self, header: str) -> pd.DataFrame:
        """The first table with a column ``header``, as text."""
        rows = next(t for t in self.tables if t and header in t[0])
        return pd.DataFrame(rows[1:], columns=rows[0])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append([])
        if tag == "tr" and self.tables:
            self.tables[-1].append([])
        if tag in ("td", "th"):
            self._cell = []
        if tag == "section":
            self.sections.append(attrs["id"])
        if tag == "div" and attrs.get("class") == "tile":
            self.tiles += 1
        src = attrs.get("src") or ""
        if tag == "img" and src.startswith("data:"):
            kind, data = re.match(r"data:([^;]+);base64,(.*)", src).groups()
            self.images.append((kind, base64.b64decode(data)))
        if tag == "a" and "download" in attrs:
            self.downloads[attrs["download"]] = base64.b64decode(attrs["href"].split(",", 1)[1])


def make_store(root: Path, study: SimulatedStudy = STUDY, **options) -> Path:
    images = simulate_images(study, 4)
    return write_store(images, root / "scans", root / "study.sqlite", **options)


#: The smaller studies of single tests: one site, the generic protocol (fitted to the store).
SMALL = replace(STUDY, n_subjects=5, sites=("VL50",))


def report(store: Path, out: Path, *extra: str, protocol: str = PROTOCOL) -> int:
    return main(["report", str(store), "--out", str(out), "--protocol", protocol, *extra])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A store with flagged, failed and reviewed scans and its report (figures too)."""
    root = tmp_path_factory.mktemp("report")
    store = make_store(root, failed_fraction=0.02, flagged_fraction=0.06, reviewed=6)
    out = root / "report.html"
    assert report(store, out, "--figures", str(root / "figures")) == 0
    return store, out


# -- the page --------------------------------------------------------------------------------------


def test_page_has_every_section_and_embedded_figures(built):
    store, out = built
    page = Page(out.read_text(encoding="utf-8"))
    assert page.sections == [key for key, _ in SECTIONS]
    pngs = [data for kind, data in page.images if kind == "image/png"]
    jpegs = [data for kind, data in page.images if kind == "image/jpeg"]
    assert all(data.startswith(b"\x89PNG\r\n\x1a\n") for data in pngs)
    assert all(data.startswith(b"\xff\xd8") for data in jpegs)
    # confidence, corrections, and per quantity (thickness, echo) trajectories, change, forest
    files = sorted(p.name for p in (out.parent / "figures").iterdir())
    assert files == sorted(
        ["confidence.png", "corrections.png"]
        + [
            f"{kind}_{q}.png"
            for kind in ("trajectories", "change", "forest")
            for q in ("thickness_mm", "echo_intensity")
        ]
    )
    assert len(pngs) == len(files)
    embedded = {data for data in pngs}
    assert all((out.parent / "figures" / f).read_bytes() in embedded for f in files)
    # every flagged or reviewed scan has a tile: thumbnail + full size
    from musclethick.study.store import StudyStore

    with StudyStore(store, readonly=True) as db:
        frame = db.results_dataframe().drop_duplicates("result_id")
    worth = frame[(frame["status"] == "flagged") | (frame["reviewed_by"] != "")]
    assert page.tiles == len(worth) > 0 and len(jpegs) == 2 * len(worth)
    assert set(page.downloads) == {
        "report_comparison.csv",
        "report_model_data.csv",
        "report_summary.csv",
    }
    for name, data in page.downloads.items():
        assert (out.parent / name).read_bytes() == data


def test_overview_counts_and_provenance(built):
    store, out = built
    text = out.read_text(encoding="utf-8")
    assert "rt_failure_2024" in text and "simulated-1.0" in text  # protocol, model version
    counts = Page(text).table("left_out")
    from musclethick.study.store import StudyStore

    with StudyStore(store, readonly=True) as db:
        results = db.results_dataframe().drop_duplicates("result_id")
    total = counts[counts["site"] == "all"].iloc[0]
    assert int(total["scans"]) == len(results) == 6 * 2 * 3 * 2 * 3
    assert int(total["failed"]) == int((results["status"] == "failed").sum())
    assert int(total["flagged"]) == int((results["status"] == "flagged").sum())
    assert int(total["reviewed"]) == int((results["reviewed_by"] != "").sum()) == 6


def test_numbers_match_the_export_and_a_hand_computation(built, tmp_path):
    store, out = built
    from musclethick.export import export_store

    export_store(store, tmp_path / "tables", format="csv", protocol=PROTOCOL)
    wide = pd.read_csv(tmp_path / "tables" / "wide_RF50.csv")
    summary = pd.read_csv(out.parent / "report_summary.csv")
    summary = summary[(summary["quantity"] == "thickness_mm") & (summary["site"] == "RF50")]
    for condition in ("FAIL", "RIR"):
        change = wide[wide["condition"] == condition]["change_mm_week_8"].dropna()
        row = summary[(summary["condition"] == condition) & (summary["week"] == 8)].iloc[0]
        assert row["mean_change"] == pytest.approx(change.mean(), abs=1e-6)
    # the paired check from the export's wide table: per subject FAIL change - RIR change
    per = wide.pivot(index="subject", columns="condition", values="change_mm_week_8").dropna()
    diff = (per["FAIL"] - per["RIR"]).to_numpy(float)
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff))
    comparison = pd.read_csv(out.parent / "report_comparison.csv")
    paired = comparison[
        (comparison["quantity"] == "thickness_mm")
        & (comparison["site"] == "RF50")
        & (comparison["week"] == 8)
        & (comparison["method"] == "paired t (change)")
    ].iloc[0]
    assert paired["contrast"] == "FAIL - RIR"
    assert paired["estimate"] == pytest.approx(diff.mean(), abs=1e-6)
    assert paired["ci95_low"] == pytest.approx(diff.mean() - half, abs=1e-6)
    # the model data CSV holds what R needs to refit the model: week-8 RF50 legs with baselines
    data = pd.read_csv(out.parent / "report_model_data.csv")
    rf8 = data[
        (data["quantity"] == "thickness_mm") & (data["site"] == "RF50") & (data["week"] == 8)
    ]
    merged = rf8.merge(wide, on=["subject", "condition", "leg"])
    assert np.allclose(merged["value"], merged["week_8"]) and np.allclose(
        merged["baseline"], merged["week_0"]
    )
    model = comparison[(comparison["method"] == "mixed model")]
    assert model["formula"].str.contains(r"~ condition \+ baseline \+ \(1 \| subject\)").all()
    assert (model["n_subjects"] == 6).all()
    text = out.read_text(encoding="utf-8")  # the R code to refit the model names the CSV
    assert "read.csv(&quot;report_model_data.csv&quot;)" in text
    assert "lme4::lmer(value ~ condition + baseline + (1 | subject)" in text.replace("&quot;", '"')


def test_report_with_missing_weeks_and_failed_scans(tmp_path):
    missing = [(s, leg, 4, "VL50") for s in ("S01", "S02") for leg in "LR"]
    store = make_store(tmp_path, SMALL, failed_fraction=0.05, sessions_missing=missing)
    out = tmp_path / "r.html"
    assert report(store, out, protocol="default") == 0
    text = out.read_text(encoding="utf-8")
    assert text.count("no scan found") >= len(missing)
    assert "failed: " in text  # failed scans are named with their message
    comparison = pd.read_csv(tmp_path / "r_comparison.csv")
    week4 = comparison[(comparison["week"] == 4) & (comparison["method"] == "mixed model")]
    week8 = comparison[(comparison["week"] == 8) & (comparison["method"] == "mixed model")]
    assert (week4["n_subjects"] == 3).all() and (week8["n_subjects"] == 5).all()


def test_single_condition_study_says_why_there_is_no_comparison(tmp_path):
    single = replace(SMALL, conditions=("FAIL", "FAIL"))
    store = make_store(tmp_path, single)
    out = tmp_path / "r.html"
    assert report(store, out, "--figures", str(tmp_path / "fig"), protocol="default") == 0
    text = out.read_text(encoding="utf-8")
    assert "No condition comparison: One condition (FAIL) in the study" in text
    assert not list((tmp_path / "fig").glob("forest_*"))
    assert pd.read_csv(tmp_path / "r_comparison.csv").empty
    assert (tmp_path / "fig" / "trajectories_thickness_mm.png").is_file()


def test_baseline_only_study_says_there_is_nothing_to_compare_yet(tmp_path):
    store = make_store(tmp_path, replace(SMALL, weeks=(0,)))
    out = tmp_path / "r.html"
    assert report(store, out, protocol="default") == 0
    assert "has values with a baseline yet: nothing to compare" in out.read_text(encoding="utf-8")


def test_between_subject_study(tmp_path):
    store = make_store(tmp_path, replace(SMALL, design="between", n_subjects=8))
    out = tmp_path / "r.html"
    assert report(store, out, protocol="default") == 0
    comparison = pd.read_csv(tmp_path / "r_comparison.csv")
    assert set(comparison["method"]) == {"mixed model", "Welch t (change)"}
    assert "between-subject" in out.read_text(encoding="utf-8")


# -- blinding --------------------------------------------------------------------------------------


def test_blind_report_holds_codes_not_conditions(built, tmp_path):
    store, _ = built
    out = tmp_path / "blind.html"
    assert report(store, out, "--blind", "--key", "secret") == 0
    data = pd.read_csv(tmp_path / "blind_model_data.csv")
    assert set(data["condition"]) == {"A", "B"}
    comparison = pd.read_csv(tmp_path / "blind_comparison.csv")
    assert set(comparison["contrast"]) <= {"A - B"}
    summary = pd.read_csv(tmp_path / "blind_summary.csv")
    assert set(summary["condition"]) == {"A", "B"}
    text = out.read_text(encoding="utf-8")
    assert "Blind report" in text
    for name in ("FAIL - RIR", "RIR - FAIL", "FAIL mean", "RIR mean", ">FAIL<", ">RIR<"):
        assert name not in text
    # one code per condition, set by the key (analysis.blind_codes); unblinded, the same rows
    plain = pd.read_csv(built[1].parent / "report_model_data.csv")
    pairs = set(zip(plain["condition"], data["condition"], strict=True))
    codes = blind_codes(["FAIL", "RIR"], b"secret")
    assert pairs == set(codes.items())


def test_blind_key_is_made_once_and_kept_in_the_store(tmp_path, monkeypatch):
    from musclethick.reporting.content import _blind_key
    from musclethick.study.store import StudyStore

    monkeypatch.delenv("MUSCLETHICK_BLIND_KEY", raising=False)
    store = tmp_path / "s.sqlite"
    with StudyStore(store):
        pass
    first = _blind_key(store, None, None)
    with StudyStore(store, readonly=True) as db:
        kept = db.get_meta("pseudonym_key")
    assert kept and first == kept.encode() == _blind_key(store, None, kept)
    monkeypatch.setenv("MUSCLETHICK_BLIND_KEY", "from-env")
    assert _blind_key(store, None, kept) == b"from-env"
    assert _blind_key(store, "given", kept) == b"given"


def test_blind_review_queue_never_shows_condition_or_week():
    from musclethick._napari._review import item_text
    from musclethick.study.store import QueueItem

    item = QueueItem(
        result_id=3,
        scan_id=3,
        path="/data/S07/week12/L_RF50_2.png",
        frame_index=0,
        region_index=0,
        subject="S07",
        leg="L",
        condition="FAIL",
        week=12,
        site="RF50",
        rep=2,
        status="flagged",
        flags=(),
        message="",
        confidence=0.4,
        thickness_mm=20.0,
        method="model",
        model_version="1",
        revision=0,
        decision=None,
    )
    text = item_text(item, blind=True)
    assert "FAIL" not in text and "12" not in text and "S07" not in text
    assert "FAIL" not in item_text(item)  # the condition is never shown, blind or not


# -- bad input: one line, no traceback -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "pattern"),
    [
        (["--out", "{tmp}/r.txt"], 2, r"--out .*r\.txt: the report is an HTML page; give a name"),
        (["--out", "{tmp}/r.html", "--reference", "X"], 2, r"--reference X: not a condition"),
        (["--out", "{tmp}/r.html", "--key", "k"], 2, r"--key: only used with --blind"),
        (["--out", "{store}"], 2, r"--out .*: the report is an HTML page"),
        (["--out", "{tmp}/exists.html"], 2, r"exists; add --overwrite"),
    ],
)
def test_bad_options_are_one_line(built, tmp_path, capsys, args, code, pattern):
    store, _ = built
    (tmp_path / "exists.html").write_text("x")
    args = [a.format(tmp=tmp_path, store=store) for a in args]
    assert main(["report", str(store), *args]) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert re.search(pattern, err), err
    assert (tmp_path / "exists.html").read_text() == "x"


def test_missing_store_and_empty_store(tmp_path, capsys):
    assert main(["report", str(tmp_path / "none.sqlite"), "--out", str(tmp_path / "r.html")]) == 2
    assert "none.sqlite: file not found" in capsys.readouterr().err
    from musclethick.study.store import StudyStore

    with StudyStore(tmp_path / "empty.sqlite"):
        pass
    assert main(["report", str(tmp_path / "empty.sqlite"), "--out", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err.strip()
    assert "no results to report" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_pdf_without_a_converter_is_a_usage_error(built, tmp_path, capsys, monkeypatch):
    import musclethick.reporting as reporting

    monkeypatch.setattr(reporting, "_pdf_writer", lambda: None)
    store, _ = built
    assert main(["report", str(store), "--out", str(tmp_path / "r.html"), "--pdf"]) == 2
    err = capsys.readouterr().err
    assert "--pdf: no HTML-to-PDF converter: install WeasyPrint" in err
    assert not (tmp_path / "r.html").exists()  # checked before any work


@pytest.mark.slow
def test_pdf(built, tmp_path):
    pytest.importorskip("weasyprint")
    store, _ = built
    assert report(store, tmp_path / "r.html", "--pdf") == 0
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")


# -- the demo study --------------------------------------------------------------------------------


@pytest.mark.slow
def test_report_of_the_demo_study(tmp_path, sample_images):
    from musclethick.study.batch import run_batch
    from musclethick.study.demo import make_demo_study

    scans = sorted(sample_images.glob("*.png"))[:2]
    if not scans:
        pytest.skip("sample_images/ has no PNG scans")
    source = tmp_path / "source"
    source.mkdir()
    for scan in scans:
        (source / scan.name).symlink_to(scan)
    demo = make_demo_study(tmp_path / "demo", source=source, subjects=4, weeks=(0, 4), reps=2)
    store = tmp_path / "demo" / "study.sqlite"
    run_batch(
        demo.root,
        protocol=demo.protocol,
        allocation=demo.allocation,
        store=store,
        method="edges",
        workers=1,
        progress=False,
    )
    out = tmp_path / "report.html"
    assert main(["report", str(store), "--out", str(out)]) == 0
    page = Page(out.read_text(encoding="utf-8"))
    assert page.sections == [key for key, _ in SECTIONS]
    assert sum(kind == "image/png" for kind, _ in page.images) >= 4
    text = out.read_text(encoding="utf-8")
    assert "demo_rt_failure" in text and "0.5 mm (protocol)" in text
    short = page.table("usable")
    named = {(r.subject, r.leg, int(r.week), r.site) for r in short.itertuples()}
    for rel in (*demo.missing, *demo.corrupt):  # the scans left out on purpose are named
        subject, week, name = rel.split("/")
        leg, site, _ = name.split("_")
        assert (subject, leg, int(week.removeprefix("week")), site) in named
    assert "failed" in " ".join(short["why"])  # the corrupt file, with its message
    comparison = pd.read_csv(tmp_path / "report_comparison.csv")
    assert set(comparison["contrast"]) == {"FAIL - RIR"} and (comparison["week"] == 4).all()
    thickness = comparison[comparison["quantity"] == "thickness_mm"]
    assert (thickness["swc"] == 0.5).all() and (thickness["swc_source"] == "protocol").all()


def test_sessions_whose_repeats_disagree_are_listed(tmp_path):
    # one repeat of S02 R week 4 moved 6 mm: its session spreads by far more than 10 %
    images = simulate_images(SMALL, 4)
    at = images.index[
        (images.subject == "S02") & (images.leg == "R") & (images.week == 4) & (images.rep == 2)
    ]
    images.loc[at, "thickness_mm"] += 6.0
    store = write_store(
        images, tmp_path / "scans", tmp_path / "s.sqlite", flagged_fraction=0, failed_fraction=0
    )
    out = tmp_path / "r.html"
    assert report(store, out, protocol="default") == 0
    text = out.read_text()
    assert "1 session(s) whose repeated images spread by more than 10 %" in text
    table = Page(text).table("spread_pct")
    assert table[["subject", "leg", "week", "site"]].values.tolist() == [["S02", "R", "4", "VL50"]]
    from musclethick.study.store import StudyStore

    with StudyStore(store, readonly=True) as db:
        stored = db.results_dataframe()
    same = (stored.subject == "S02") & (stored.leg == "R") & (stored.week == 4)
    stored = stored[same & (stored.line == "mean")]
    values = stored.thickness_mm  # as stored (the simulated values, rounded to whole pixels)
    expected = 100 * (values.max() - values.min()) / values.median()
    assert len(values) == 3 and expected > 20
    assert float(table.spread_pct.iloc[0]) == pytest.approx(expected, abs=0.05)


def test_no_disagreeing_repeats_is_said(tmp_path):
    images = simulate_images(SMALL, 4)
    spread = images.groupby(["subject", "leg", "week"]).thickness_mm.agg(
        lambda v: 100 * (v.max() - v.min()) / v.median()
    )
    assert spread.max() < 10  # the simulated repeats agree (measurement SD 0.5 mm)
    store = write_store(images, tmp_path / "scans", tmp_path / "s.sqlite", reviewed=0)
    out = tmp_path / "r.html"
    assert report(store, out, protocol="default") == 0
    assert "No session's repeated images spread by more than 10 % of their median" in (
        out.read_text()
    )


def test_a_short_session_of_scans_without_a_pixel_size_says_so():
    """Scans measured in px only are in the store but not in the tables in mm: the report's
    short sessions name them and why, not "no scan found" (found by a new-user trial)."""
    from musclethick.protocol import load_protocol
    from musclethick.reporting.content import short_sessions

    def line(result_id, mm_per_px, status="ok"):
        return {
            "result_id": result_id, "subject": "S01", "leg": "L", "week": 0, "site": "VL50",
            "qc_status": status, "file": f"/study/S01/L_VL50_{result_id}.png", "message": "",
            "review_reason": "", "reviewed_by": "", "mm_per_px": mm_per_px,
        }  # fmt: skip

    lines = pd.DataFrame([line(1, 0.1), line(2, None), line(3, None, "flagged")])
    images = pd.DataFrame([{"subject": "S01", "leg": "L", "week": 0, "site": "VL50"}])
    excluded = pd.DataFrame(columns=["subject", "leg", "week", "site", "file", "reason", "detail"])
    (row,) = short_sessions(lines, images, excluded, load_protocol("default")).itertuples()
    assert (row.usable, row.expected) == (1, 3)
    assert "no scan found" not in row.why
    assert row.why.count("has no pixel size (thickness in px only)") == 2
    assert "L_VL50_2.png" in row.why and "L_VL50_3.png" in row.why
