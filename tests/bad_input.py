"""The bad-input corpus: what careful but hostile users and real folders do to musclethick.

Each :class:`Case` builds its own small files (real PNG/DICOM/video fixtures, real SQLite
stores made by the real ``batch`` command), runs one real command line and states what must
hold afterwards: the exit code, one line on stderr that names the file or option and the fix,
no traceback, inputs unchanged, and the rows or files that must survive (counted by
:func:`run_case` as expected / found, so "rows lost" = expected - found).

Used by ``tests/test_bad_input.py`` (every case, in CI) and ``bench/bench_bad_input.py`` (the
figures of the README: cases tried, rows lost, tracebacks), which runs every case as a real
``python -m musclethick`` process.

Cases marked ``unprivileged`` need file permissions to be enforced (read-only folders,
unreadable files): they run in a subprocess, which as root drops the capabilities that let
root ignore permissions (``CAP_DAC_OVERRIDE``, ``CAP_DAC_READ_SEARCH``); where that is not
possible they are skipped. Cases marked ``subprocess`` send signals to the running command.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import hashlib
import io
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"
SAMPLE_IMAGES = REPO_ROOT / "sample_images"

# -- fixtures -----------------------------------------------------------------------------


def write_scan(path: Path, *, thickness_px: int = 50, seed: int = 0, cols: int = 160) -> Path:
    """A small grey PNG with two bright aponeurosis-like bands ``thickness_px`` apart."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    top = 24
    rows = top + thickness_px + 40
    image = rng.normal(60.0, 20.0, (rows, cols))
    image[top - 8 : top] += 150.0
    image[top + thickness_px : top + thickness_px + 10] += 150.0
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
    return path


def write_tiny(path: Path, shape: tuple[int, int]) -> Path:
    """A valid PNG too small to measure (1 x 1, 1 x N)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, 128, np.uint8)).save(path)
    return path


def copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def make_study(root: Path, *, subjects: int = 2, weeks: Sequence[int] = (0,), reps: int = 3):
    """``S01/week0/L_VL50_1.png``...: subjects x 2 legs x weeks x reps synthetic scans, each
    with its own thickness (so no two files are identical)."""
    paths = []
    seed = 0
    for s in range(1, subjects + 1):
        for leg in "LR":
            for week in weeks:
                for rep in range(1, reps + 1):
                    path = root / f"S{s:02d}" / f"week{week}" / f"{leg}_VL50_{rep}.png"
                    paths.append(write_scan(path, thickness_px=40 + seed % 11, seed=seed))
                    seed += 1
    return paths


def run_cli(argv: Sequence[str]) -> tuple[int, str, str]:
    """Run ``musclethick ARGV`` in this process: ``(exit code, stdout, stderr)``."""
    from musclethick.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def batch(d: Path, study: str = "study", store: str = "s.sqlite", *extra: str) -> None:
    """Measure ``d/study`` into ``d/store`` with the real batch command (edges, 1 worker)."""
    argv = ["batch", str(d / study), "--store", str(d / store), "--method", "edges"]
    argv += ["--mm-per-px", "0.1", "--workers", "1", "-q", *extra]
    code, _, err = run_cli(argv)
    if code != 0:
        raise RuntimeError(f"setting up the store failed: {err}")


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def measured_files(table: Path, names: Sequence[str]) -> tuple[int, int]:
    """``(len(names), how many of them have a row that is not failed in the CSV table)``."""
    rows = csv_rows(table) if table.is_file() else []
    good = {Path(r["file"]).name for r in rows if r["status"] in ("ok", "flagged") and r["line"]}
    return len(names), sum(name in good for name in names)


def store_scans(store: Path) -> set[str]:
    """Relative paths of the scans with current (not superseded) results."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT DISTINCT s.relpath FROM scans s JOIN results r ON r.scan_id = s.id "
            "WHERE r.superseded = 0"
        )
        return {r[0] for r in rows}
    finally:
        db.close()


def read_only(*paths: Path) -> None:
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)


# -- the cases ----------------------------------------------------------------------------


def _nothing(_: Path) -> None:
    return None


@dataclass(frozen=True)
class Case:
    """One bad input and what must hold after it.

    Attributes
    ----------
    name : str
        Short id (``area-what``).
    argv : callable
        ``argv(folder)``: the command line, without ``musclethick``.
    exit_code : int
        Expected exit code (0 also when some inputs failed, 1 failure, 2 usage error, 130
        interrupted).
    message : str
        Regular expression one stderr line must match (``""``: nothing required).
    setup : callable
        ``setup(folder)`` builds the inputs.
    survivors : callable, optional
        ``survivors(folder) -> (expected, found)`` or ``(expected, found, stale)``: rows, scans
        or files that must be there, how many of them are, and how many that must not be
        there (deleted or duplicate scans) are.
    may_change : tuple of str
        Globs (relative to the folder) of files that existed before and may be written (the
        store, an output replaced with ``--overwrite``); every other file must be unchanged.
    unprivileged : bool
        Needs file permissions to be enforced.
    action : callable, optional
        ``action(process, folder)`` for cases run as a process that is interrupted.
    stdout : str
        Regular expression stdout must match (``""``: nothing required).
    forbidden : str
        Regular expression that must appear neither on stdout nor on stderr.
    """

    name: str
    argv: Callable[[Path], list[str]]
    exit_code: int
    message: str = ""
    setup: Callable[[Path], None] = _nothing
    survivors: Callable[[Path], tuple[int, ...]] | None = None
    may_change: tuple[str, ...] = ("*.sqlite", "*.sqlite-wal", "*.sqlite-shm")
    unprivileged: bool = False
    action: Callable[[subprocess.Popen, Path], None] | None = None
    stdout: str = ""
    forbidden: str = ""

    @property
    def needs_subprocess(self) -> bool:
        return self.unprivileged or self.action is not None


@dataclass
class Outcome:
    """What running a case gave."""

    case: Case
    exit_code: int
    stdout: str
    stderr: str
    expected: int = 0
    found: int = 0
    stale: int = 0
    changed: list[str] = field(default_factory=list)

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stderr

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.found)

    def problems(self) -> list[str]:
        """What does not hold (empty when the case passes)."""
        out = []
        if self.exit_code != self.case.exit_code:
            out.append(f"exit code {self.exit_code}, expected {self.case.exit_code}")
        if self.traceback:
            out.append("traceback printed")
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        if self.case.message and not any(re.search(self.case.message, x) for x in lines):
            out.append(f"no stderr line matches {self.case.message!r}")
        if self.case.stdout and not re.search(self.case.stdout, self.stdout):
            out.append(f"stdout does not match {self.case.stdout!r}")
        if self.case.forbidden and re.search(self.case.forbidden, self.stdout + self.stderr):
            out.append(f"printed {self.case.forbidden!r}")
        if self.case.exit_code == 2 and len(lines) != 1:
            out.append(f"a usage error prints {len(lines)} lines, not one")
        if self.lost:
            out.append(f"{self.lost} of {self.expected} rows/files lost")
        if self.stale:
            out.append(f"{self.stale} stale rows/scans kept (deleted or duplicate)")
        if self.changed:
            out.append(f"inputs written: {', '.join(self.changed)}")
        return out


def _hashes(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and os.access(path, os.R_OK):
            out[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _restore_permissions(folder: Path) -> None:
    for here, dirs, files in os.walk(folder):
        os.chmod(here, 0o755)
        for name in dirs:
            os.chmod(os.path.join(here, name), 0o755)
        for name in files:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(here, name), 0o644)


_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def _drop_root_file_powers() -> None:  # runs in the child, before exec
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _child_env() -> dict[str, str]:
    """The environment of a child ``musclethick``: the same package as this process imports."""
    import musclethick

    env = dict(os.environ)
    package_root = str(Path(musclethick.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def spawn(argv: Sequence[str], *, unprivileged: bool = False) -> subprocess.Popen:
    """Start ``python -m musclethick ARGV`` (as a process whose file permissions apply).

    The child gets Ctrl-C's default action back: a test run started in the background (``cmd
    &`` in a non-interactive shell) inherits SIGINT ignored, and Python then never raises
    KeyboardInterrupt, as in a terminal's background job.
    """
    drop = unprivileged and os.geteuid() == 0

    def preexec() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if drop:
            _drop_root_file_powers()

    return subprocess.Popen(
        [sys.executable, "-m", "musclethick", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
        preexec_fn=preexec,
        start_new_session=True,
    )


def permissions_enforced(folder: Path) -> bool:
    """Whether an unprivileged subprocess is refused a file with mode 000 here."""
    probe = folder / "probe"
    probe.write_text("x")
    probe.chmod(0)
    try:
        preexec = _drop_root_file_powers if os.geteuid() == 0 else None
        code = "import sys\ntry:\n open(sys.argv[1]).read()\nexcept OSError:\n sys.exit(3)\n"
        done = subprocess.run(
            [sys.executable, "-c", code, str(probe)], preexec_fn=preexec, capture_output=True
        )
        return done.returncode == 3
    except OSError:
        return False
    finally:
        probe.chmod(0o644)
        probe.unlink()


def run_case(case: Case, folder: Path, *, in_process: bool = True) -> Outcome:
    """Build the case's inputs in ``folder``, run it, and check what survived."""
    folder.mkdir(parents=True, exist_ok=True)
    case.setup(folder)
    before = _hashes(folder)
    argv = case.argv(folder)
    try:
        if in_process and not case.needs_subprocess:
            code, out, err = run_cli(argv)
        else:
            process = spawn(argv, unprivileged=case.unprivileged)
            if case.action is not None:
                case.action(process, folder)
            out, err = process.communicate(timeout=300)
            code = process.returncode
            if code is not None and code < 0:  # killed by a signal
                code = 128 - code
    finally:
        _restore_permissions(folder)
    outcome = Outcome(case, code, out, err)
    after = _hashes(folder)
    for name, digest in before.items():
        if any(Path(name).match(glob) for glob in case.may_change):
            continue
        if after.get(name) != digest:
            outcome.changed.append(name)
    if case.survivors is not None:
        counts = case.survivors(folder)
        outcome.expected, outcome.found = counts[0], counts[1]
        outcome.stale = counts[2] if len(counts) > 2 else 0
    return outcome


# -- measure ------------------------------------------------------------------------------

GOOD = ("good_1.png", "good_2.png")


def _good(d: Path) -> None:
    for i, name in enumerate(GOOD):
        write_scan(d / "in" / name, thickness_px=45 + 5 * i, seed=i)


def _measure(
    d: Path,
    *extra: str,
    inputs: Sequence[str] = ("in",),
    method: str | None = "edges",
    mm_per_px: str | None = "0.1",
    out: str = "out.csv",
) -> list[str]:
    """``measure`` of ``d/in`` (edges, 0.1 mm/px) into ``d/out.csv``, quiet, plus ``extra``."""
    argv = ["measure", *(str(d / i) for i in inputs)]
    if method:
        argv += ["--method", method]
    if mm_per_px:
        argv += ["--mm-per-px", mm_per_px]
    return [*argv, "--out", str(d / out), "-q", *extra]


def _good_rows(d: Path, table: str = "out.csv") -> tuple[int, int]:
    return measured_files(d / table, GOOD)


def _with(builder: Callable[[Path], object]) -> Callable[[Path], None]:
    """Setup: the two good scans plus what ``builder`` adds."""

    def setup(d: Path) -> None:
        _good(d)
        builder(d)

    return setup


def _bad_file_case(name: str, builder: Callable[[Path], object], message: str) -> Case:
    """A bad file among good ones: its failed row, the good rows kept, exit code 0."""
    return Case(
        name=f"measure-{name}",
        argv=lambda d: _measure(d),
        exit_code=0,
        message=message,
        setup=_with(builder),
        survivors=_good_rows,
    )


def _slow_inputs(d: Path) -> None:
    for i in range(60):
        write_scan(d / "in" / f"scan_{i:03d}.png", thickness_px=40 + i % 9, seed=i, cols=480)


def _wait_for_rows(path: Path, n: int, process: subprocess.Popen, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if path.is_file():
            lines = path.read_text(encoding="utf-8").count("\n")
            if lines > n:
                return lines
        time.sleep(0.02)
    raise RuntimeError(f"{path}: no {n} rows before the command ended")


def _interrupt(sig: int) -> Callable[[subprocess.Popen, Path], None]:
    def action(process: subprocess.Popen, d: Path) -> None:
        seen = _wait_for_rows(d / "out.csv.partial", 8, process)
        (d / "rows_before_signal").write_text(str(seen))
        os.killpg(process.pid, sig)

    return action


def _rows_kept(table: str) -> Callable[[Path], tuple[int, int]]:
    """Complete rows seen in the partial file before the signal must all be in ``table``."""

    def survivors(d: Path) -> tuple[int, int]:
        seen = int((d / "rows_before_signal").read_text()) - 1  # minus the header
        path = d / table
        found = len(csv_rows(path)) if path.is_file() else 0
        return seen, min(seen, found)

    return survivors


def _overlay_inputs(d: Path) -> None:
    write_scan(d / "in" / "a" / "scan.png", seed=1)
    write_scan(d / "in" / "b" / "scan.png", seed=2, thickness_px=60)
    copy(TEST_DATA / "dicom" / "us_multiframe.dcm", d / "in" / "a" / "scan.dcm")


def _overlays_written(d: Path) -> tuple[int, int]:
    # a/scan.png, b/scan.png and the 4 frames of a/scan.dcm: 6 frames, 6 distinct PNGs
    return 6, len(list((d / "overlays").rglob("*.png")))


def _tiny_among_good_model(d: Path) -> None:
    copy(SAMPLE_IMAGES / "dltrack_512x512_img_00053.png", d / "in" / "good_1.png")
    copy(TEST_DATA / "images" / "muscle.bmp", d / "in" / "good_2.png")
    write_tiny(d / "in" / "dot.png", (1, 1))
    write_tiny(d / "in" / "row.png", (1, 40))
    write_tiny(d / "in" / "col.png", (40, 1))


def _existing_out(d: Path) -> None:
    _good(d)
    (d / "out.csv").write_text("file,line\nprevious,results\n")


MEASURE_CASES = [
    Case(
        "measure-tiny-images-model",
        lambda d: _measure(d, method=None),
        0,
        r"dot\.png: image of 1 x 1 px is too small",
        _tiny_among_good_model,
        _good_rows,
    ),
    Case(
        "measure-tiny-images-edges",
        lambda d: _measure(d),
        0,
        r"row\.png: image of 1 x 40 px is too small",
        _with(
            lambda d: (
                write_tiny(d / "in" / "dot.png", (1, 1)),
                write_tiny(d / "in" / "row.png", (1, 40)),
            )
        ),
        _good_rows,
    ),
    _bad_file_case(
        "truncated-png",
        lambda d: (d / "in" / "cut.png").write_bytes((d / "in" / GOOD[0]).read_bytes()[:300]),
        r"cut\.png",
    ),
    _bad_file_case("empty-png", lambda d: (d / "in" / "empty.png").write_bytes(b""), r"empty\.png"),
    _bad_file_case(
        "text-as-png",
        lambda d: copy(TEST_DATA / "images" / "not_an_image.png", d / "in" / "notes.png"),
        r"notes\.png",
    ),
    _bad_file_case(
        "broken-dicom",
        lambda d: (d / "in" / "broken.dcm").write_bytes(
            b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI"
        ),
        r"broken\.dcm",
    ),
    _bad_file_case(
        "dicom-without-pixels",
        lambda d: copy(TEST_DATA / "dicom" / "no_pixels.dcm", d / "in" / "np.dcm"),
        r"np\.dcm",
    ),
    _bad_file_case(
        "empty-video",
        lambda d: copy(TEST_DATA / "video" / "empty.mp4", d / "in" / "empty.mp4"),
        r"empty\.mp4",
    ),
    _bad_file_case(
        "unsupported-file",
        lambda d: (d / "in" / "x.mkv").write_bytes(b"\x1a\x45\xdf\xa3 not really"),
        "",
    ),
    Case(
        "measure-only-bad-inputs",
        lambda d: _measure(d, inputs=("in/cut.png",)),
        1,
        r"cut\.png",
        lambda d: (d / "in").mkdir() or (d / "in" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n"),
        lambda d: (1, len(csv_rows(d / "out.csv"))),  # its failed row is written
    ),
    Case(
        "measure-out-is-an-input",
        lambda d: _measure(d, out=f"in/{GOOD[0]}"),
        2,
        r"--out .*good_1\.png: is the input .* inputs are never written",
        _good,
    ),
    Case(
        "measure-boundaries-is-an-input",
        lambda d: _measure(d, "--boundaries", str(d / "in" / GOOD[1])),
        2,
        r"--boundaries .*good_2\.png: is the input",
        _good,
        lambda d: (0, 0) if not (d / "out.csv").exists() else (1, 0),  # nothing written
    ),
    Case(
        "measure-overlays-is-an-input-file",
        lambda d: _measure(d, "--overlays", str(d / "in" / GOOD[0])),
        2,
        r"--overlays .*good_1\.png: is a file, not a folder",
        _good,
    ),
    Case(
        "measure-overlays-holds-the-inputs",
        lambda d: _measure(d, "--overlays", str(d / "in")),
        2,
        r"--overlays .*in: holds the input .* choose a folder outside the inputs",
        _good,
    ),
    Case(
        "measure-overlays-inside-the-input-folder",  # its PNGs would be measured next time
        lambda d: _measure(d, "--overlays", str(d / "in" / "ov")),
        2,
        r"--overlays .*ov: lies inside the input folder .*in, so its images would be measured "
        r"as scans next time; choose a folder outside the inputs",
        _good,
        lambda d: (0, 0) if not (d / "in" / "ov").exists() else (1, 0),  # nothing written
    ),
    Case(
        "measure-overlays-same-stem-in-two-folders",
        lambda d: _measure(d, "--overlays", str(d / "overlays")),
        0,
        "",
        _overlay_inputs,
        _overlays_written,
    ),
    Case(
        "measure-overlays-folder-not-empty",
        lambda d: _measure(d, "--overlays", str(d / "ov")),
        2,
        r"--overlays .*ov: already holds keep\.png; add --overwrite",
        _with(lambda d: write_scan(d / "ov" / "keep.png")),
    ),
    Case(
        "measure-out-exists",
        lambda d: _measure(d),
        2,
        r"--out .*out\.csv: exists; add --overwrite",
        _existing_out,
    ),
    Case(
        "measure-out-exists-overwrite",
        lambda d: _measure(d, "--overwrite"),
        0,
        "",
        _existing_out,
        _good_rows,
        may_change=("out.csv",),
    ),
    Case(
        "measure-out-is-a-folder",
        lambda d: _measure(d, out="in"),
        2,
        r"--out .*in: is a folder; give a file name",
        _good,
    ),
    Case(
        "measure-out-below-a-file",
        lambda d: _measure(d, out=f"in/{GOOD[0]}/r.csv"),
        2,
        r"--out .*good_1\.png/r\.csv: .*good_1\.png is a file, not a folder",
        _good,
    ),
    Case(
        "measure-out-read-only-folder",
        lambda d: _measure(d, out="locked/r.csv"),
        2,
        r"--out .*r\.csv: folder .*locked is not writable",
        lambda d: (_good(d), (d / "locked").mkdir(), read_only(d / "locked")),
        unprivileged=True,
    ),
    Case(
        "measure-boundaries-read-only-folder",
        lambda d: _measure(d, "--boundaries", str(d / "locked" / "b.json")),
        2,
        r"--boundaries .*b\.json: folder .*locked is not writable",
        lambda d: (_good(d), (d / "locked").mkdir(), read_only(d / "locked")),
        lambda d: (0, 0) if not (d / "out.csv").exists() else (1, 0),  # checked before work
        unprivileged=True,
    ),
    Case(
        "measure-unreadable-file",
        lambda d: _measure(d),
        0,
        r"secret\.dcm: cannot be opened \(Permission denied\); fix its permissions",
        _with(
            lambda d: copy(TEST_DATA / "dicom" / "us_single.dcm", d / "in" / "secret.dcm").chmod(0)
        ),
        _good_rows,
        unprivileged=True,
    ),
    Case(
        "measure-unreadable-sub-folder",
        lambda d: _measure(d),
        0,
        r"in/closed: folder cannot be read \(Permission denied\)",
        _with(
            lambda d: (
                write_scan(d / "in" / "closed" / "hidden.png"),
                (d / "in" / "closed").chmod(0),
            )
        ),
        _good_rows,
        unprivileged=True,
    ),
    Case(
        "measure-frames-0:0:1",
        lambda d: _measure(d, "--frames", "0:0:1"),
        2,
        r"--frames 0:0:1: .*selects no frame",
        _good,
    ),
    Case(
        "measure-frames-5-on-stills",
        lambda d: _measure(d, "--frames", "5"),
        0,
        "",
        _good,
        _good_rows,
    ),
    Case(
        "measure-frames-garbage",
        lambda d: _measure(d, "--frames", "1-x"),
        2,
        r"--frames 1-x",
        _good,
    ),
    Case(
        "measure-lines-repeated",
        lambda d: _measure(d, "--lines", "0.5,0.5"),
        2,
        r"--lines: repeated fraction",
        _good,
    ),
    Case(
        "measure-lines-out-of-range",
        lambda d: _measure(d, "--lines", "0.5,1.5"),
        2,
        r"--lines",
        _good,
    ),
    Case(
        "measure-mm-per-px-zero",
        lambda d: _measure(d, mm_per_px="0"),
        2,
        r"--mm-per-px: must be a finite number > 0",
        _good,
    ),
    Case(
        "measure-mm-per-px-nan",
        lambda d: _measure(d, mm_per_px="nan"),
        2,
        r"--mm-per-px: must be a finite number > 0",
        _good,
    ),
    Case(
        "measure-mm-per-px-inf",
        lambda d: _measure(d, mm_per_px="inf"),
        2,
        r"--mm-per-px: must be a finite number > 0",
        _good,
    ),
    Case(
        "measure-depth-negative",
        lambda d: ["measure", str(d / "in"), "--depth-mm", "-40", "--out", str(d / "o.csv")],
        2,
        r"--depth-mm: must be a finite number > 0",
        _good,
    ),
    Case(
        "measure-best-frames-0",
        lambda d: _measure(d, "--best-frames", "0"),
        2,
        r"--best-frames",
        _good,
    ),
    Case(
        "measure-glob-matches-nothing",
        lambda d: _measure(d, inputs=("in/*.dcm",)),
        2,
        r"in/\*\.dcm: pattern matches no supported file",
        _good,
    ),
    Case(
        "measure-input-does-not-exist",
        lambda d: _measure(d, inputs=("nothere",)),
        2,
        r"nothere: no such file or folder",
        _good,
    ),
    Case(
        "measure-empty-folder",
        lambda d: _measure(d, inputs=("empty",)),
        2,
        r"no DICOM, video or image files in",
        lambda d: (d / "empty").mkdir(),
    ),
    Case(
        "measure-unknown-option",
        lambda d: _measure(d, "--colour"),
        2,
        r"unrecognized arguments: --colour",
        _good,
    ),
    Case(
        "measure-model-not-found",
        lambda d: [
            "measure",
            str(d / "in"),
            "--model",
            str(d / "none.pt"),
            "--out",
            str(d / "o.csv"),
        ],
        2,
        r"argument --model: .*none\.pt: file not found",
        _good,
    ),
    Case(
        "measure-calibration-profile-not-found",
        lambda d: _measure(d, "--calibration", str(d / "none.toml"), mm_per_px=None),
        2,
        r"argument --calibration: .*none\.toml: file not found",
        _good,
    ),
    Case(
        "calibrate-out-is-the-capture",
        lambda d: ["calibrate", str(d / "in" / GOOD[0]), "--out", str(d / "in" / GOOD[0])],
        2,
        r"--out .*good_1\.png: is the input .* inputs are never written",
        _good,
    ),
    Case(
        "calibrate-capture-not-found",
        lambda d: ["calibrate", str(d / "nothere.png"), "--out", str(d / "p.toml")],
        2,
        r"nothere\.png: file not found",
    ),
    Case(
        "measure-ctrl-c",
        lambda d: _measure(d),
        130,
        r"interrupted after \d+ of 60 file\(s\); their rows are in .*out\.csv",
        _slow_inputs,
        _rows_kept("out.csv"),
        action=_interrupt(signal.SIGINT),
    ),
    Case(
        "measure-kill-9",
        lambda d: _measure(d),
        128 + signal.SIGKILL,
        "",
        _slow_inputs,
        _rows_kept("out.csv.partial"),
        action=_interrupt(signal.SIGKILL),
    ),
]

# -- batch --------------------------------------------------------------------------------


def _study(d: Path) -> None:
    make_study(d / "study")


def _batch(d: Path, *extra: str, study: str = "study") -> list[str]:
    argv = ["batch", str(d / study), "--store", str(d / "s.sqlite"), "--method", "edges"]
    return [*argv, "--mm-per-px", "0.1", "--workers", "1", "-q", *extra]


def _scans_in_store(expected: int) -> Callable[[Path], tuple[int, int, int]]:
    """``expected`` distinct scans measured, and none more (duplicates are not)."""

    def survivors(d: Path) -> tuple[int, int, int]:
        n = len(store_scans(d / "s.sqlite"))
        return expected, min(n, expected), max(0, n - expected)

    return survivors


def _foreign(d: Path) -> None:
    _study(d)
    db = sqlite3.connect(d / "clinic.db")
    db.execute("CREATE TABLE patients (id INTEGER, name TEXT)")
    db.execute("INSERT INTO patients VALUES (1, 'Doe^Jane')")
    db.commit()
    db.close()


def _duplicates(d: Path) -> None:
    _study(d)
    week0 = d / "study" / "S01" / "week0"
    copy(week0 / "L_VL50_1.png", week0 / "L_VL50_1.PNG")
    copy(week0 / "L_VL50_1.png", d / "study" / "S01" / "wk0" / "L_VL50_1.png")
    copy(week0 / "L_VL50_2.png", week0 / "L_VL50_4.png")  # saved twice under two reps
    write_scan(week0 / "L_VL50_01.png", thickness_px=70, seed=99)  # other pixels, same rep


def _manifest(d: Path) -> None:
    _study(d)
    lines = ["file,subject,leg,week,site,rep"]
    for path in sorted((d / "study").rglob("*.png")):
        subject, week, name = path.relative_to(d / "study").parts
        leg, site, rep = name[:-4].split("_")
        lines.append(f"study/{subject}/{week}/{name},{subject},{leg},{week},{site},{rep}")
    lines.append("study/S03/week0/L_VL50_1.png,S03,L,week0,VL50,1")  # no such file
    (d / "manifest.csv").write_text("\n".join(lines) + "\n")


def _recorded_failure(path_part: str, expected_scans: int) -> Callable[[Path], tuple[int, int]]:
    def survivors(d: Path) -> tuple[int, int]:
        db = sqlite3.connect(f"file:{d / 's.sqlite'}?mode=ro", uri=True)
        try:
            failures = db.execute("SELECT path FROM failures").fetchall()
        finally:
            db.close()
        recorded = any(path_part in row[0] for row in failures)
        return expected_scans + 1, len(store_scans(d / "s.sqlite")) + recorded

    return survivors


def _current_results_per_scan(store: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT s.path, COUNT(*) FROM results r JOIN scans s ON s.id = r.scan_id "
            "WHERE r.superseded = 0 GROUP BY s.path"
        )
        return dict(rows.fetchall())
    finally:
        db.close()


def _kill_batch(process: subprocess.Popen, d: Path) -> None:
    deadline = time.monotonic() + 120
    seen = 0
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(sqlite3.Error):
            seen = len(_current_results_per_scan(d / "s.sqlite"))
        if seen >= 4:
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    (d / "results_before_kill").write_text(str(seen))


def _committed_scans_kept(d: Path) -> tuple[int, int]:
    seen = int((d / "results_before_kill").read_text())
    return seen, min(seen, len(_current_results_per_scan(d / "s.sqlite")))


def _second_batch(process: subprocess.Popen, d: Path) -> None:
    """A colleague starts the same batch on the same store at the same time."""
    other = spawn(_batch(d))
    _, err = other.communicate(timeout=300)
    (d / "second_batch").write_text(f"{other.returncode}\n{err}")


def _each_scan_once(expected: int) -> Callable[[Path], tuple[int, int]]:
    """Both runs ended well and every scan has exactly one current result."""

    def survivors(d: Path) -> tuple[int, int]:
        code, _, err = (d / "second_batch").read_text().partition("\n")
        counts = _current_results_per_scan(d / "s.sqlite")
        if code != "0" or "Traceback" in err:
            return expected, 0
        return expected, sum(n == 1 for n in counts.values())

    return survivors


def _week4_study(d: Path) -> None:
    make_study(d / "study", weeks=(4,))


BATCH_CASES = [
    Case(
        "batch-mm-per-px-zero",
        lambda d: _batch(d, "--mm-per-px", "0"),
        2,
        r"--mm-per-px: must be",
        _study,
    ),
    Case(
        "batch-mm-per-px-nan",
        lambda d: _batch(d, "--mm-per-px", "nan"),
        2,
        r"--mm-per-px: must be",
        _study,
    ),
    Case(
        "batch-mm-per-px-negative",
        lambda d: _batch(d, "--mm-per-px", "-1"),
        2,
        r"--mm-per-px",
        _study,
    ),
    Case(
        "batch-workers-zero",
        lambda d: _batch(d, "--workers", "0"),
        2,
        r"--workers: must be at least 1",
        _study,
    ),
    Case(
        "batch-foreign-database",
        lambda d: [*_batch(d)[:2], "--store", str(d / "clinic.db"), *_batch(d)[4:]],
        1,
        r"clinic\.db: not a musclethick study store .*nothing was written",
        _foreign,
        may_change=(),
    ),
    Case(
        "batch-store-is-a-folder",
        lambda d: [*_batch(d)[:2], "--store", str(d / "study"), *_batch(d)[4:]],
        1,
        r"study: is a folder; give the store's file name",
        _study,
    ),
    Case(
        "batch-store-read-only-folder",
        lambda d: [*_batch(d)[:2], "--store", str(d / "locked" / "s.sqlite"), *_batch(d)[4:]],
        1,
        r"s\.sqlite: folder .*locked is not writable",
        lambda d: (_study(d), (d / "locked").mkdir(), read_only(d / "locked")),
        unprivileged=True,
    ),
    Case(
        "batch-read-only-store",
        lambda d: _batch(d),
        1,
        r"s\.sqlite: the store is read-only",
        lambda d: (
            _study(d),
            batch(d),
            write_scan(d / "study" / "S03" / "week0" / "L_VL50_1.png"),
            read_only(d / "s.sqlite"),
        ),
        unprivileged=True,
        may_change=(),
    ),
    Case(
        "batch-duplicate-captures",
        lambda d: _batch(d),
        0,
        r"warning: S01/wk0/L_VL50_1\.png: same content \(sha256\) as S01/week0/L_VL50_1\.PNG",
        _duplicates,
        _scans_in_store(12),  # the 12 distinct captures, each once
    ),
    Case(
        "batch-manifest-file-not-found",
        lambda d: ["batch", "--manifest", str(d / "manifest.csv"), *_batch(d)[2:]],
        0,
        r"warning: manifest\.csv:\d+: file 'study/S03/week0/L_VL50_1\.png' not found",
        _manifest,
        _recorded_failure("S03/week0/L_VL50_1.png", 12),
    ),
    Case(
        "batch-unreadable-sub-folder",
        lambda d: _batch(d),
        0,
        r"warning: .*S02: folder cannot be read \(Permission denied\)",
        lambda d: (_study(d), (d / "study" / "S02").chmod(0)),
        _recorded_failure("S02", 6),
        unprivileged=True,
    ),
    Case(
        "batch-corrupt-scan",
        lambda d: _batch(d),
        0,
        "",
        lambda d: (
            _study(d),
            (d / "study" / "S01" / "week0" / "R_VL50_2.png").write_bytes(
                b"\x89PNG\r\n\x1a\nbroken"
            ),
        ),
        _scans_in_store(12),  # 11 measured + the failed one has its failed result
    ),
    Case(
        "batch-kill-9",
        lambda d: _batch(d, study="big"),
        128 + signal.SIGKILL,
        "",
        lambda d: make_study(d / "big", subjects=4, reps=6),
        _committed_scans_kept,
        action=_kill_batch,
    ),
    Case(
        "batch-two-runs-on-one-store-at-once",
        lambda d: _batch(d),
        0,
        "",
        _study,
        _each_scan_once(12),
        action=_second_batch,
    ),
    Case(
        "batch-default-protocol-week-4",
        lambda d: _batch(d, "--dry-run"),
        0,
        "",
        _week4_study,
        stdout=r"Found 12 scans of 2 subjects \(expected 12 .* 1 week x VL50 x3\)",
        forbidden="not in the protocol|missing images",
    ),
    Case(
        "batch-no-study",
        lambda d: ["batch", "--store", str(d / "s.sqlite")],
        2,
        r"give a study folder or --manifest",
    ),
    Case(
        "batch-study-folder-missing",
        lambda d: _batch(d, study="nothere"),
        2,
        r"argument study: .*nothere: folder not found",
    ),
    Case(
        "batch-bad-pattern",
        lambda d: _batch(d, "--pattern", "{subject}/{x}.png"),
        2,  # a bad option: a usage error, before anything is read
        r"argument --pattern: .*unknown token \{x\}",
        _study,
    ),
    Case(
        "batch-unknown-protocol",
        lambda d: _batch(d, "--protocol", "nope"),
        2,  # a protocol that does not exist is a usage error, like any path that does not
        r"nope: no such protocol",
        _study,
    ),
    Case(
        "batch-missing-protocol-file",
        lambda d: _batch(d, "--protocol", str(d / "nope.toml")),
        2,
        r"nope\.toml: protocol file not found; check the path, or name a shipped protocol "
        r"\(default, rt_failure_2024\)",
        _study,
    ),
    Case(
        "batch-manifest-missing-column",
        lambda d: ["batch", "--manifest", str(d / "m.csv"), *_batch(d)[2:]],
        1,
        r"m\.csv: missing column\(s\) 'rep'",
        lambda d: (d / "m.csv").write_text("file,subject,leg,week,site\n"),
    ),
]

# -- export and reliability ---------------------------------------------------------------


N_STORED = 2 * 2 * 2 * 3  # subjects x legs x weeks x reps


def _stored(d: Path) -> None:
    """A study of N_STORED distinct scans (weeks 0 and 4) measured into ``d/s.sqlite``."""
    make_study(d / "study", subjects=2, weeks=(0, 4))
    batch(d)


def _export(d: Path, *extra: str, fmt: str = "xlsx", out: str = "t.xlsx") -> list[str]:
    return ["export", str(d / "s.sqlite"), "--format", fmt, "--out", str(d / out), *extra]


def _long_rows(
    expected_scans: int, out: str = "tables", gone: Sequence[str] = ()
) -> Callable[[Path], tuple[int, int, int]]:
    """Scans in the exported long table (csv folder); ``gone``: files that must not be there."""

    def survivors(d: Path) -> tuple[int, int, int]:
        path = d / out / "long.csv"
        if not path.is_file():
            return expected_scans, 0, 0
        rows = csv_rows(path)
        keys = ("subject", "leg", "week", "site", "image")  # the file column is left out
        files = {r["file"] if "file" in r else tuple(r[k] for k in keys) for r in rows}
        stale = len(files & set(gone))
        return expected_scans, min(len(files) - stale, expected_scans), stale

    return survivors


def _stored_read_only(d: Path) -> None:
    """The store alone in a read-only folder, itself read-only."""
    _stored(d)
    (d / "ro").mkdir()
    (d / "s.sqlite").rename(d / "ro" / "s.sqlite")
    read_only(d / "ro" / "s.sqlite", d / "ro")


def _deleted_scan(d: Path) -> None:
    _stored(d)
    (d / "study" / "S01" / "week0" / "L_VL50_2.png").unlink()
    batch(d)


EXPORT_CASES = [
    Case(
        "export-xlsx-other-suffix",
        lambda d: _export(d, out="x.txt"),
        2,
        r"--out .*x\.txt: an Excel workbook is named \.xlsx; give --out .*x\.xlsx",
        lambda d: (_stored(d), (d / "x.xlsx").write_text("the colleague's workbook")),
    ),
    Case(
        "export-existing-workbook",
        lambda d: _export(d),
        2,
        r"--out .*t\.xlsx: exists; add --overwrite",
        lambda d: (_stored(d), (d / "t.xlsx").write_text("previous")),
    ),
    Case(
        "export-existing-workbook-overwrite",
        lambda d: _export(d, "--overwrite"),
        0,
        "",
        lambda d: (_stored(d), (d / "t.xlsx").write_text("previous")),
        may_change=("*.sqlite*", "t.xlsx"),
    ),
    Case(
        "export-csv-folder-holds-tables",
        lambda d: _export(d, fmt="csv", out="tables"),
        2,
        r"--out .*tables: already holds long\.csv; add --overwrite",
        lambda d: (
            _stored(d),
            (d / "tables").mkdir(),
            (d / "tables" / "long.csv").write_text("old"),
        ),
    ),
    Case(
        "export-csv-out-is-a-file",
        lambda d: _export(d, fmt="csv", out="t.xlsx"),
        2,
        r"--out .*t\.xlsx: is a file, not a folder",
        lambda d: (_stored(d), (d / "t.xlsx").write_text("previous")),
    ),
    Case(
        "export-read-only-folder",
        lambda d: _export(d, out="locked/t.xlsx"),
        2,
        r"--out .*t\.xlsx: folder .*locked is not writable",
        lambda d: (_stored(d), (d / "locked").mkdir(), read_only(d / "locked")),
        unprivileged=True,
    ),
    Case(
        "export-deidentify-read-only-store",
        lambda d: _export(d, "--deidentify"),
        1,
        r"--deidentify: .* give --key KEY",
        lambda d: (_stored(d), read_only(d / "s.sqlite")),
        unprivileged=True,
        may_change=(),
    ),
    Case(
        "export-deidentify-read-only-store-with-key",
        lambda d: _export(d, "--deidentify", "--key", "k", fmt="csv", out="tables"),
        0,
        "",
        lambda d: (_stored(d), read_only(d / "s.sqlite")),
        _long_rows(N_STORED),
        unprivileged=True,
        may_change=(),
    ),
    Case(
        "export-read-only-store-in-read-only-folder",
        lambda d: [
            "export",
            str(d / "ro" / "s.sqlite"),
            "--format",
            "csv",
            "--out",
            str(d / "tables"),
        ],
        0,
        "",
        _stored_read_only,
        _long_rows(N_STORED),
        unprivileged=True,
        may_change=(),
    ),
    Case(
        "export-deidentify",
        lambda d: _export(d, "--deidentify", fmt="csv", out="tables"),
        0,
        "",
        _stored,
        _long_rows(N_STORED),
    ),
    Case(
        "export-store-not-found",
        lambda d: _export(d),
        2,
        r"argument store: .*s\.sqlite: file not found",
    ),
    Case(
        "export-foreign-database",
        lambda d: ["export", str(d / "clinic.db"), "--out", str(d / "t.xlsx")],
        1,
        r"clinic\.db: not a musclethick study store",
        _foreign,
        may_change=(),
    ),
    Case(
        "export-not-a-database",
        lambda d: _export(d),
        1,
        r"s\.sqlite: not a usable study store",
        lambda d: (d / "s.sqlite").write_bytes(b"x" * 4096),
        may_change=(),
    ),
    Case(
        "export-after-a-scan-was-deleted",
        lambda d: _export(d, fmt="csv", out="tables"),
        0,
        "",
        _deleted_scan,
        _long_rows(N_STORED - 1, gone=["S01/week0/L_VL50_2.png"]),
    ),
    Case(
        "reliability-between-absent-weeks",
        lambda d: ["reliability", str(d / "s.sqlite"), "--between", "7", "9"],
        2,
        r"--between 7 9: no results for week\(s\) 7, 9 .*weeks with results: 0, 4",
        _stored,
    ),
    Case(
        "reliability-between-one-week",
        lambda d: ["reliability", str(d / "s.sqlite"), "--between", "0"],
        2,
        r"--between 0: give at least two different weeks",
        _stored,
    ),
    Case(
        "reliability-no-repeats",
        lambda d: ["reliability", str(d / "s.sqlite")],
        0,
        r"warning: VL50 within session \(3 images\): 0 session\(s\) with 3 images \(at most 1",
        lambda d: (make_study(d / "study", reps=1), batch(d)),
    ),
    Case(
        "reliability-icc-outside-range",
        lambda d: ["reliability", str(d / "s.sqlite")],
        0,
        r"warning: VL50 within session .*lies outside \[-1, 1\].*too few subjects \(n = 2",
        lambda d: (
            [
                write_scan(
                    d / "study" / "S01" / "week0" / f"L_VL50_{r}.png", thickness_px=t, seed=r
                )
                for r, t in ((1, 40), (2, 60), (3, 50))
            ],
            [
                write_scan(
                    d / "study" / "S01" / "week0" / f"R_VL50_{r}.png", thickness_px=t, seed=9 + r
                )
                for r, t in ((1, 60), (2, 40), (3, 50))
            ],
            batch(d),
        ),
    ),
    Case(
        "reliability-out-exists",
        lambda d: ["reliability", str(d / "s.sqlite"), "--out", str(d / "r.csv")],
        2,
        r"--out .*r\.csv: exists; add --overwrite",
        lambda d: (_stored(d), (d / "r.csv").write_text("previous")),
    ),
    Case(
        "reliability-store-not-found",
        lambda d: ["reliability", str(d / "s.sqlite")],
        2,
        r"argument store: .*s\.sqlite: file not found",
    ),
]

CASES: list[Case] = [*MEASURE_CASES, *BATCH_CASES, *EXPORT_CASES]
