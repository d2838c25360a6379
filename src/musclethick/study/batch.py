"""Resumable, parallel measurement of a whole study into a :class:`StudyStore`.

``run_batch`` discovers the study (folder pattern or manifest), hashes every file, skips scans
whose content (sha256) already has current results of the same method and model version, and
measures the rest on all cores (:class:`concurrent.futures.ProcessPoolExecutor`, ``spawn``
start method) or on an existing dask.distributed cluster (``scheduler=ADDRESS``). Workers only
measure (:func:`measure_scan`); the coordinator alone writes the store, one transaction per
scan, so a run killed at any moment (even ``kill -9``) restarts without duplicates and without
re-measuring finished scans. A changed file (new sha256) or a new model version is measured
again; the old results are marked *superseded* (kept, never deleted; see
:mod:`musclethick.study.store`). Failed scans are recorded with their error and the run goes on;
they are not retried on resume unless ``retry_failed=True``.

On dask, only the coordinator writes the store; each worker process is limited to its own
number of threads. The dask worker's statistical profiler (``distributed.worker.profile``)
costs about a quarter of the throughput of this CPU-bound work: consider disabling it on the
cluster.

The model version of the classical ``"edges"`` method is
``"edges-<musclethick version>+edge-classifier-v<N>"`` so that a new release or new learned
numbers of the edge path re-measure edge results too. Scans of sites whose protocol asks for
architecture (pennation angle and fascicle length, :meth:`Protocol.wants_architecture`) are
measured with it and recorded with the model version ``"<version>+architecture"``: switching
architecture on for a site re-measures its scans (the thickness-only results are superseded).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from musclethick._cores import available_cores
from musclethick._workers import (
    init_worker,
    limit_threads,
    new_processes_ignore_ctrl_c,
    opencv_on_one_thread,
    progress_bar,
    worker_context,
)
from musclethick.calibration_profile import CalibrationProfile, load_profile
from musclethick.errors import MusclethickError
from musclethick.io.options import CalibrationOptions
from musclethick.pipeline import METHODS, MeasureSettings
from musclethick.plausible import PlausibleRanges
from musclethick.protocol import Protocol, load_protocol
from musclethick.qc import (
    REPEAT_TOLERANCE_PCT,
    SELF_TRAINING_MIN_OK_SHARE,
    doubts_boundaries,
    unfamiliar_scanner,
    upside_down_study,
)
from musclethick.study.layout import StudyDiscovery, discover_study
from musclethick.study.store import DisagreeingSession, ScanState, StudyStore, file_sha256
from musclethick.types import FrameResult

__all__ = [
    "BatchSummary",
    "limit_threads",
    "measure_scan",
    "model_version_for",
    "run_batch",
    "settings_from_protocol",
]


def measure_scan(path: str, settings: MeasureSettings) -> list[FrameResult]:
    """Measure one scan in a worker; never raises (a crash becomes a ``failed`` result).

    Top-level and picklable, for process pools and dask. Returns plain frozen
    :class:`~musclethick.types.FrameResult` objects (no pixels).
    """
    try:
        from musclethick.pipeline import measure_path

        return measure_path(path, settings)
    except Exception as error:  # a bug must not stop the batch: record it
        from musclethick.measure import failed_result

        return [
            failed_result(
                path,
                f"{path}: unexpected {type(error).__name__}: {error}",
                method=settings.method,
            )
        ]


def settings_from_protocol(
    protocol: Protocol,
    *,
    method: str | None = None,
    mm_per_px: float | None = None,
    depth_mm: float | None = None,
    model_path: str | None = None,
    profile: CalibrationProfile | None = None,
) -> MeasureSettings:
    """Measurement settings for a protocol (lines, perpendicular, calibration, method,
    plausible thickness); ``profile`` is a calibration profile of the study's display."""
    return MeasureSettings(
        method=method or protocol.method or "model",
        line_fractions=protocol.line_fractions,
        perpendicular=protocol.perpendicular,
        calibration=CalibrationOptions(
            mm_per_px=mm_per_px if mm_per_px is not None else protocol.mm_per_px,
            depth_mm=depth_mm if depth_mm is not None else protocol.depth_mm,
            profile=profile,
        ),
        model_path=model_path,
        plausible=PlausibleRanges(thickness_mm=protocol.plausible_thickness_mm),
    )


def model_version_for(settings: MeasureSettings) -> tuple[str, str]:
    """``(model_version, model_sha256)`` recorded with results of ``settings``."""
    from musclethick.pipeline import model_identity

    return model_identity(settings)


@dataclass(frozen=True)
class BatchSummary:
    """What a batch run did.

    Attributes
    ----------
    discovery : StudyDiscovery
        The dry-run report of the study.
    store_path : str
        The store written.
    run_id : int or None
        Id of the run in the store (``None`` for a dry run).
    n_scans : int
        Scans discovered.
    n_measured : int
        Scans measured in this run (including failures).
    n_failed : int
        Scans that failed in this run.
    n_skipped : int
        Scans skipped because they were already done.
    elapsed_s : float
        Wall time of the measuring part.
    left_out : tuple of ScanState
        Scans not measured or no longer counted, and why: duplicates, files not found,
        unreadable files and folders (recorded as failures), and scans measured before whose
        file is gone (``missing``: left out of the exports).
    n_reviews_superseded : int
        Reviewed scans measured again (another model or settings): their reviews stay with
        the earlier results, which the new ones replace in the exports.
    n_frames_ok, n_frames_flagged, n_frames_failed : int
        Frames measured in this run, by status.
    n_frames_doubtful : int
        Frames of this run failed or flagged for their boundaries
        (:func:`musclethick.qc.doubts_boundaries`).
    n_frames_px_only : int
        Frames of this run measured without a pixel size (thickness in px only).
    n_frames_upside_down : int
        Frames of this run flagged ``upside_down``.
    upside_down : bool
        Whether this run turned every frame upright (``--upside-down``).
    failures : tuple of (str, str)
        ``(path, why)`` of every scan of this run whose frames all failed.
    px_only_files : tuple of str
        The scans of this run with a frame measured without a pixel size.
    model_path : str or None
        The model given for this run (``None``: the shipped one).
    disagreeing : tuple of DisagreeingSession
        Sessions of the store (all runs) whose repeated images disagree
        (:meth:`StudyStore.disagreeing_repeats`, the protocol's tolerance).
    repeat_tolerance_pct : float
        That tolerance.
    """

    discovery: StudyDiscovery
    store_path: str
    run_id: int | None
    n_scans: int
    n_measured: int = 0
    n_failed: int = 0
    n_skipped: int = 0
    elapsed_s: float = 0.0
    left_out: tuple[ScanState, ...] = ()
    n_reviews_superseded: int = 0
    n_frames_ok: int = 0
    n_frames_flagged: int = 0
    n_frames_failed: int = 0
    n_frames_doubtful: int = 0
    n_frames_px_only: int = 0
    n_frames_upside_down: int = 0
    upside_down: bool = False
    failures: tuple[tuple[str, str], ...] = ()
    px_only_files: tuple[str, ...] = ()
    model_path: str | None = None
    disagreeing: tuple[DisagreeingSession, ...] = ()
    repeat_tolerance_pct: float = REPEAT_TOLERANCE_PCT
    protocol_before: str = ""

    @property
    def n_frames(self) -> int:
        """Frames measured in this run."""
        return self.n_frames_ok + self.n_frames_flagged + self.n_frames_failed

    @property
    def scans_per_s(self) -> float:
        """Measured scans per second."""
        return self.n_measured / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def render(self) -> str:
        """One-paragraph summary."""
        if self.run_id is None:
            return "Dry run: nothing measured.\n" + self.discovery.render()
        frames = ""
        if self.n_frames:
            frames = (
                f"; frames {self.n_frames_ok} ok, {self.n_frames_flagged} flagged, "
                f"{self.n_frames_failed} failed"
            )
        return (
            f"Run {self.run_id}: measured {self.n_measured} scans ({self.n_failed} failed), "
            f"skipped {self.n_skipped} already done, of {self.n_scans}, in "
            f"{self.elapsed_s:.1f} s ({self.scans_per_s:.2f} scans/s){frames}; store "
            f"{self.store_path}"
        )

    def advice(self) -> str:
        """What to do when this run's frames look like a scanner the model does not know
        (:func:`musclethick.qc.unfamiliar_scanner`), or ``""``."""
        unfamiliar = unfamiliar_scanner(
            self.n_frames, self.n_frames_doubtful, model_path=self.model_path
        )
        if not unfamiliar:
            return ""
        store = self.store_path
        advice = (
            f"{unfamiliar}. Review them ('musclethick review {store} --reviewer "
            "YOUR_INITIALS', or from a script: docs/review.md), correct 10-30 scans, then "
            f"'musclethick train --from-store {store} --out models/mine --holdout 5' and run "
            "the batch again with '--model models/mine/model.pt'"
        )
        sure = self.n_frames - self.n_frames_doubtful
        if self.n_frames and sure / self.n_frames >= SELF_TRAINING_MIN_OK_SHARE:
            advice += (
                " (add --learn-from-ok to learn from the results without a doubt too: "
                "measured to halve the error on a scanner the model knew this well)"
            )
        return advice

    def orientation_note(self) -> str:
        """What to do when many frames of this run look upside down
        (:func:`musclethick.qc.upside_down_study`), or ``""``."""
        note = upside_down_study(
            self.n_frames_ok + self.n_frames_flagged,
            self.n_frames_upside_down,
            turned=self.upside_down,
            redo="run the batch again",
        )
        return f"{note} (the scans measured the other way up are measured again)" if note else ""

    def calibration_note(self) -> str:
        """What to do when frames of this run have no pixel size, or ``""``: the tables,
        reliability and report are in mm and leave them out."""
        n = self.n_frames_px_only
        if not n:
            return ""
        files = self.px_only_files
        listed = "; ".join(files[:5]) + (f"; and {len(files) - 5} more" if len(files) > 5 else "")
        return (
            f"{n} of the {self.n_frames} frames of this run have no pixel size (thickness in px "
            "only: nothing on screen or in the file gives one)"
            + (f": {listed}" if listed else "")
            + ". The tables, reliability and report are in mm and leave them out. Give those "
            "scans' display a calibration profile ('musclethick calibrate', then the batch again "
            "into a new store with --calibration). --mm-per-px sets one pixel size for EVERY "
            "scan of the study, replacing the ones read from rulers and files: use it only when "
            "every scan was taken at the same depth on the same scanner"
        )

    def repeats_note(self, *, max_items: int = 5) -> str:
        """Which sessions' repeated images disagree and what to do, or ``""``."""
        if not self.disagreeing:
            return ""
        n = len(self.disagreeing)
        listed = "; ".join(d.describe() for d in self.disagreeing[:max_items])
        more = f"; and {n - max_items} more" if n > max_items else ""
        return (
            f"{n} session(s) whose repeated images differ by more than "
            f"{self.repeat_tolerance_pct:g} % of their median ({listed}{more}): they do not "
            "measure the same thickness, so at least one of them is wrong, even if marked ok. "
            f"'musclethick review {self.store_path} --reviewer YOUR_INITIALS' lists them, each "
            "session's repeats together, right after the flagged and failed results (flag "
            "repeats_disagree); the exported sessions say repeats_disagree"
        )

    def failure_lines(self, *, max_items: int = 20) -> list[str]:
        """One line per scan of this run that failed, naming the file and why (at most
        ``max_items``, then a count)."""
        lines = [
            why if why.startswith(path) else f"{path}: {why}"
            for path, why in self.failures[:max_items]
        ]
        if len(self.failures) > max_items:
            lines.append(
                f"... and {len(self.failures) - max_items} more failed scans (the export's "
                "'failures' and the report list them all)"
            )
        return lines

    def warnings(self, *, max_items: int = 20) -> list[str]:
        """One line per scan left out (at most ``max_items``, then a count)."""
        states = self.left_out if self.run_id is not None else self.discovery.left_out
        lines = []
        for state in states[:max_items]:
            detail = state.detail
            if state.state == "missing":
                detail = f"{detail} (left out of the exports)"
            lines.append(detail)
        if len(states) > max_items:
            lines.append(
                f"... and {len(states) - max_items} more scans left out (see the dry run, or "
                "the 'excluded' table of 'musclethick export')"
            )
        now = self.discovery.protocol.name
        if self.protocol_before and self.protocol_before != now:
            lines.append(
                f"the store was batched with protocol {self.protocol_before!r} before, this run "
                f"with {now!r}: its exports now follow {now!r} (sites, weeks, aggregation); give "
                f"--protocol {self.protocol_before} to keep the earlier one"
            )
        if self.n_reviews_superseded:
            lines.append(
                f"{self.n_reviews_superseded} reviewed scan(s) were measured again with another "
                "model or settings: their reviews stay with the earlier results, and the exports "
                "now show the new, unreviewed ones; review them again"
            )
        return lines


Measurer = Callable[[str, MeasureSettings], list[FrameResult]]
#: A scan to measure: ``(scan id, path, settings)`` (settings differ by site: architecture).
Job = tuple[int, str, MeasureSettings]

#: Suffix of the model version of results measured with architecture.
ARCHITECTURE_VERSION = "+architecture"


def _serial(jobs: Sequence[Job], _: int) -> Iterator[tuple[int, list[FrameResult] | BaseException]]:
    for scan_id, path, settings in jobs:
        yield scan_id, measure_scan(path, settings)


def _process_pool(
    jobs: Sequence[Job], workers: int
) -> Iterator[tuple[int, list[FrameResult] | BaseException]]:
    """Measure in a process pool (:func:`musclethick._workers.worker_context`), keeping a
    bounded window of tasks in flight."""
    window = 4 * workers
    todo = iter(jobs)
    pending: dict[Future, int] = {}

    def fill() -> None:
        while len(pending) < window:
            job = next(todo, None)
            if job is None:
                return
            pending[pool.submit(measure_scan, job[1], job[2])] = job[0]

    pool: ProcessPoolExecutor | None = None
    try:
        # the first tasks start the workers: forked where safe (this process measures
        # nothing, so its OpenCV may be on one thread while they start), ignoring Ctrl-C
        with new_processes_ignore_ctrl_c(), opencv_on_one_thread():
            pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=worker_context(),
                initializer=init_worker,
                initargs=(1,),
            )
            fill()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                scan_id = pending.pop(future)
                error = future.exception()
                if isinstance(error, BrokenProcessPool):
                    raise MusclethickError(
                        f"a worker process died ({error}); rerun the batch to resume"
                    )
                yield scan_id, future.result() if error is None else error
            fill()
    finally:  # on Ctrl-C or an error, do not wait for the queued scans
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _dask(
    jobs: Sequence[Job], scheduler: Any
) -> Iterator[tuple[int, list[FrameResult] | BaseException]]:
    """Measure on a dask.distributed cluster; results come back to this process."""
    from distributed import Client, as_completed

    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler
    try:
        threads = {
            w: info.get("nthreads", 1) for w, info in client.scheduler_info()["workers"].items()
        }
        for worker, n in threads.items():
            client.run(limit_threads, max(1, int(n)), workers=[worker])
        futures = client.map(
            measure_scan,
            [path for _, path, _ in jobs],
            [settings for _, _, settings in jobs],
            pure=False,
            key=[f"musclethick-measure-{scan_id}-{time.time_ns()}" for scan_id, _, _ in jobs],
        )
        scan_of = {
            future.key: scan_id for future, (scan_id, _, _) in zip(futures, jobs, strict=True)
        }
        for future in as_completed(futures):
            try:
                result: list[FrameResult] | BaseException = future.result()
            except Exception as error:
                result = error
            yield scan_of[future.key], result
            future.release()
    finally:
        if own:
            client.close()


def run_batch(
    study: str | Path | None,
    *,
    protocol: Protocol | str | Path,
    store: str | Path,
    pattern: str | None = None,
    manifest: str | Path | None = None,
    allocation: str | Path | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    method: str | None = None,
    settings: MeasureSettings | None = None,
    mm_per_px: float | None = None,
    model_path: str | None = None,
    calibration: CalibrationProfile | str | Path | None = None,
    dry_run: bool = False,
    retry_failed: bool = False,
    progress: bool = True,
    architecture: bool = False,
    upside_down: bool = False,
) -> BatchSummary:
    """Measure a study into a store: resumable, on all cores or a dask cluster.

    Parameters
    ----------
    study : str or path-like or None
        Study folder (``None`` with ``manifest``).
    protocol : Protocol or str or path-like
        Protocol or its name / file.
    store : str or path-like
        SQLite store (created if absent).
    pattern, manifest, allocation : optional
        Discovery options (see :func:`~musclethick.study.layout.discover_study`).
    workers : int, optional
        Worker processes (default: the cores this process may use); 1 measures in this process.
    scheduler : str or distributed.Client, optional
        Address of a dask.distributed scheduler (or a client) to measure on instead.
    method : {"model", "edges"}, optional
        Measurement method (default: the protocol's, else ``"model"``).
    settings : MeasureSettings, optional
        Full settings; overrides ``method``, ``mm_per_px`` and ``model_path``.
    mm_per_px : float, optional
        Calibration override (default: the protocol's).
    model_path : str, optional
        Model weights (default: the shipped model).
    calibration : CalibrationProfile or str or path-like, optional
        Calibration profile of the study's display (``musclethick calibrate``).
    dry_run : bool
        Only discover and report.
    retry_failed : bool
        Measure again scans whose current result failed.
    progress : bool
        Show a tqdm progress bar (rate and ETA) on stderr.
    architecture : bool
        Measure pennation angle and fascicle length at every site, as ``[acquisition]
        architecture = true`` in the protocol would (``batch --architecture``).
    upside_down : bool
        The study's scans show the skin at the bottom (a display's up/down setting): turn
        every frame upright before measuring (``batch --upside-down``; recorded per result,
        and scans measured the other way up are measured again).

    Returns
    -------
    BatchSummary

    Notes
    -----
    Worker processes are started with ``spawn``: a script calling ``run_batch`` with more
    than one worker (or starting a dask ``LocalCluster``) must guard its entry point with
    ``if __name__ == "__main__":``.
    """
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    if not dry_run:
        StudyStore.check_writable(store)  # a foreign or read-only store: refused before any work
    known = _StoreState.read(store)  # before discovery hashes every file
    moved_from = None
    if manifest is None and study is not None:
        moved_from = _check_same_study(store, known.study_folder, study)
    discovery = discover_study(
        study,
        protocol=protocol,
        pattern=pattern,
        manifest=manifest,
        allocation=allocation,
        measured=known.measured,
        known_conditions=known.conditions,
    )
    if dry_run:
        return BatchSummary(discovery, str(store), None, len(discovery.scans))
    if not discovery.scans and not discovery.left_out:
        from musclethick.errors import UsageError

        raise UsageError(f"{discovery.root}: no scans found: {discovery.why_empty()}")
    protocol = discovery.protocol
    if settings is None:
        if method is not None and method not in METHODS:
            raise MusclethickError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if calibration is not None and not isinstance(calibration, CalibrationProfile):
            calibration = load_profile(calibration)
        settings = settings_from_protocol(
            protocol,
            method=method,
            mm_per_px=mm_per_px,
            model_path=model_path,
            profile=calibration,
        )
    if architecture:
        settings = replace(settings, architecture=True)
    if upside_down:
        settings = replace(settings, upside_down=True)
    model_version, model_sha256 = model_version_for(settings)
    workers = max(1, int(workers or available_cores()))

    with StudyStore(store) as db:
        if moved_from is not None:
            db.relocate(moved_from, Path(discovery.root).resolve())
        protocol_before = db.get_meta("protocol") or ""
        db.set_meta("protocol", protocol.name)
        if db.get_meta("study_name") is None:
            db.set_meta("study_name", protocol.name)
        db.set_meta("study_root", discovery.root)
        if manifest is None:  # the folder a later folder batch must match (_check_same_study)
            db.set_meta("study_folder", str(Path(discovery.root).resolve()))
        if Path(protocol.source).is_file():
            db.set_meta("protocol_source", str(Path(protocol.source).resolve()))
        run_id = db.start_run(
            method=settings.method,
            model_version=model_version,
            model_sha256=model_sha256,
            settings={**asdict(settings), "workers": workers, "scheduler": str(scheduler or "")},
            protocol=protocol.name,
            protocol_version=protocol.version,
        )
        left_out = list(discovery.left_out)
        # sites whose protocol asks for architecture are measured with it (a version of its own)
        with_architecture = replace(settings, architecture=True)
        versions = {False: model_version, True: model_version + ARCHITECTURE_VERSION}
        if settings.architecture:
            versions[False] = versions[True]
        done = {
            wanted: db.done_keys(
                settings.method,
                version,
                include_failed=not retry_failed,
                mm_per_px=settings.calibration.mm_per_px,  # a stated pixel size re-measures
                turned=settings.upside_down,  # so does turning the frames upright, or not
            )
            for wanted, version in versions.items()
        }
        jobs: list[Job] = []
        version_of: dict[int, str] = {}
        path_of: dict[int, str] = {}
        n_skipped = 0
        for entry in discovery.scans:
            try:
                sha256 = entry.sha256 or file_sha256(entry.path)
            except OSError as error:
                detail = f"{entry.relpath}: cannot be read ({error.strerror})"
                left_out.append(ScanState(entry.path, "unreadable", detail, relpath=entry.relpath))
                continue
            wanted = settings.architecture or protocol.wants_architecture(entry.site)
            if (entry.path, sha256) in done[wanted]:
                n_skipped += 1
                continue
            scan_id = db.record_entry(entry, sha256=sha256)
            job_settings = with_architecture if wanted else settings
            plausible = protocol.plausible_thickness_for(entry.site)
            if plausible != job_settings.plausible.thickness_mm:  # the site's own range
                job_settings = replace(
                    job_settings,
                    plausible=replace(job_settings.plausible, thickness_mm=plausible),
                )
            jobs.append((scan_id, entry.path, job_settings))
            version_of[scan_id] = versions[wanted]
            path_of[scan_id] = entry.path
        for state in left_out:
            if state.state in ("not_found", "unreadable"):
                db.record_failure(state.path, state.detail, run_id=run_id)
        left_out += [*discovery.not_measured, *_missing_scans(db)]
        db.replace_scan_states(left_out, run_id=run_id)
        n_reviews_superseded = len(db.reviewed_scans(scan_id for scan_id, _, _ in jobs))

        start = time.perf_counter()
        n_measured = 0
        by_status: Counter[str] = Counter()
        n_doubtful = n_px_only = n_upside_down = 0
        failures: list[tuple[str, str]] = []
        px_only_files: list[str] = []
        if scheduler is not None:
            results = _dask(jobs, scheduler)
        elif workers == 1 or len(jobs) <= 1:
            results = _serial(jobs, 1)
        else:
            results = _process_pool(jobs, min(workers, len(jobs)))
        bar = _progress(len(jobs), enabled=progress)
        status = "interrupted"
        try:
            for scan_id, outcome in results:
                if isinstance(outcome, BaseException):
                    outcome = measure_failure(path_of[scan_id], outcome, settings.method)
                db.record_results(
                    scan_id,
                    outcome,
                    run_id,
                    model_version=version_of[scan_id],
                    model_sha256=model_sha256,
                    method=settings.method,
                )
                n_measured += 1
                if all(r.status == "failed" for r in outcome):
                    why = next((r.message for r in outcome if r.message), "failed")
                    failures.append((path_of[scan_id], why))
                by_status.update(r.status for r in outcome)
                n_doubtful += sum(doubts_boundaries(r.status, r.flags) for r in outcome)
                n_upside_down += sum("upside_down" in r.flags for r in outcome)
                px_only = sum(r.status != "failed" and r.mean_thickness_mm is None for r in outcome)
                n_px_only += px_only
                if px_only:
                    px_only_files.append(path_of[scan_id])
                bar.update(1)
                bar.set_postfix(failed=len(failures), refresh=False)
            status = "finished"
        finally:
            results.close()  # shuts the pool down when the loop stopped early
            bar.close()
            db.finish_run(
                run_id,
                n_measured=n_measured,
                n_failed=len(failures),
                n_skipped=n_skipped,
                status=status,
            )
        elapsed = time.perf_counter() - start
        disagreeing = tuple(
            db.disagreeing_repeats(
                protocol.aggregation.repeat_tolerance_pct, method=settings.method
            )
        )
    return BatchSummary(
        discovery,
        str(store),
        run_id,
        len(discovery.scans),
        n_measured=n_measured,
        n_failed=len(failures),
        n_skipped=n_skipped,
        elapsed_s=elapsed,
        left_out=tuple(left_out),
        n_reviews_superseded=n_reviews_superseded,
        protocol_before=protocol_before,
        n_frames_ok=by_status["ok"],
        n_frames_flagged=by_status["flagged"],
        n_frames_failed=by_status["failed"],
        n_frames_doubtful=n_doubtful,
        n_frames_px_only=n_px_only,
        n_frames_upside_down=n_upside_down,
        upside_down=settings.upside_down,
        failures=tuple(failures),
        px_only_files=tuple(px_only_files),
        model_path=None if model_path is None else str(model_path),
        disagreeing=disagreeing,
        repeat_tolerance_pct=protocol.aggregation.repeat_tolerance_pct,
    )


@dataclass(frozen=True)
class _StoreState:
    """What a batch run needs to know of its store before it discovers the study (read in
    one read-only opening; empty when the store does not exist yet)."""

    study_folder: str = ""
    measured: frozenset[str] = frozenset()  # paths of the scans with current results
    conditions: dict[tuple[str, str], str] = field(default_factory=dict)  # (subject, leg)

    @classmethod
    def read(cls, store: str | Path) -> _StoreState:
        if not Path(store).is_file():
            return cls()
        with StudyStore(store, readonly=True) as db:
            return cls(
                study_folder=db.get_meta("study_folder") or "",
                measured=frozenset(scan.path for scan in db.current_scans()),
                conditions={(s.subject, s.leg): s.condition for s in db.scans() if s.condition},
            )


def _check_same_study(store: str | Path, old: str, folder: str | Path) -> str | None:
    """Refuse to batch a study folder into a store that holds another one, ``old`` (a new-user
    trial batched a second study, and a copy of the first, into one store: their scans were
    mixed into one study's tables, same-named subjects replaced, without a word), unless
    ``old`` is gone: then the study was moved, and ``old`` is returned
    (:meth:`StudyStore.relocate` moves the recorded paths, so that nothing is measured again
    and reviews stay).

    Only folder runs are compared (``meta.study_folder``, set by folder runs, ``""`` before
    any): a manifest's scans may lie anywhere.

    Raises
    ------
    UsageError
        When the store records another study folder than ``folder``, and that one still exists.
    """
    from musclethick.errors import UsageError

    new = Path(folder).resolve()
    if not old or Path(old) == new:
        return None
    if not Path(old).exists():
        return old  # moved: the old place is gone
    raise UsageError(
        f"{store}: this store holds the study in {old}, not {new}: measure another study, or a "
        "copy of this one, into its own store (--store NEW.sqlite); a store mixes the scans of "
        f"every folder batched into it (a study moved away from {old} is taken up where it "
        "lies once its old folder is gone)"
    )


def _missing_scans(db: StudyStore) -> list[ScanState]:
    """Scans with current results whose file is gone (renamed, moved or deleted)."""
    states = []
    for scan in db.current_scans():
        if Path(scan.path).exists():
            continue
        states.append(
            ScanState(
                path=scan.path,
                state="missing",
                detail=f"{scan.relpath or scan.path}: measured before, the file is gone",
                subject=scan.subject,
                leg=scan.leg,
                week=scan.week,
                site=scan.site,
                rep=scan.rep,
                relpath=scan.relpath,
            )
        )
    return states


def measure_failure(path: str, error: BaseException, method: str) -> list[FrameResult]:
    """A ``failed`` result for a scan whose worker raised ``error``."""
    from musclethick.measure import failed_result

    message = str(error)
    if path not in message:
        message = f"{path}: {type(error).__name__}: {message}"
    return [failed_result(path, message, method=method)]


def _progress(total: int, *, enabled: bool) -> Any:
    return progress_bar(
        total=total, unit="scan", desc="measuring", disable=not enabled, smoothing=0.1
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m musclethick.study.batch`` (= ``musclethick batch``)."""
    from musclethick.cli import main as cli_main

    return cli_main(["batch", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
