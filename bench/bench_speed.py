"""Speed of the model path, end to end, against a DL_Track_US-style VGG16 U-Net baseline.

Usage::

    python bench/bench_speed.py [--images DIR] [-n 64] [--batch 16] [--threads 2] [--json OUT]

1. End to end per image: decode (:func:`musclethick.io.read`, which crops to the imaging
   region) -> model forward (batched) -> post-processing -> refinement -> boundaries.
   Also the forward pass alone per image at the model's input size.
2. In the same process: forward time of a U-Net with a VGG16 encoder at 512 x 512 (the
   DL_Track_US design, ~26 M parameters; random weights, plain torch), batch 1.
3. The ratio baseline / model forward, and peak memory (``ru_maxrss``).

With ``--cli N`` (the issue's figure, literally): one ``musclethick measure`` subprocess over
N images (symlinks repeating the images in a temporary folder), wall time including start-up,
import, model loading and the CSV written, divided by N; the start-up alone
(``musclethick --version``); and the VGG16 U-Net baseline forward at 512 x 512 in this
process, as a ratio to the CLI's time per image.

With ``--repeat R`` (and ``--cli``): R such runs, the median one reported with the range; with
``--architecture`` too, each repetition is a thickness-only run and an architecture run back to
back, and what the architecture adds is the median over those pairs (the shared VM's speed drifts
by up to ~25 % over minutes, more than single runs can tell apart).

With ``--memory N``: one ``musclethick measure`` subprocess over N images; its peak resident
memory (``VmHWM`` in ``/proc/PID/status``), summed with that of its worker processes, is
sampled while it runs and reported when the results CSV holds the 100th, 10 %, 50 % and last
file (streaming: it must stay flat). ``--workers N`` is passed on to ``musclethick measure``
(default: its own, one process per core; ``--workers 1``: one process, decoding threads), and
so is ``--architecture`` (with ``--cli``).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from musclethick.segment import load_model  # noqa: E402
from musclethick.segment.preprocess import prepare_batch  # noqa: E402


def _conv(i: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class VGG16UNet(nn.Module):
    """U-Net with a VGG16 encoder (13 convolutions, 5 stages) as in DL_Track_US."""

    def __init__(self) -> None:
        super().__init__()
        cfg = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]
        stages = []
        c = 3
        for widths in cfg:
            layers = []
            for w in widths:
                layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU(inplace=True)]
                c = w
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.ups = nn.ModuleList()
        self.decs = nn.ModuleList()
        for skip, out in [(512, 512), (256, 256), (128, 128), (64, 64)]:
            self.ups.append(nn.ConvTranspose2d(c, out, 2, stride=2))
            self.decs.append(nn.Sequential(_conv(out + skip, out), _conv(out, out)))
            c = out
        self.head = nn.Conv2d(c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, stage in enumerate(self.stages):
            if i:
                x = nn.functional.max_pool2d(x, 2)
            x = stage(x)
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.ups, self.decs, strict=True):
            x = dec(torch.cat([up(x), skips.pop()], dim=1))
        return torch.sigmoid(self.head(x))


def _images(folder: Path, n: int) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    if not files:
        raise SystemExit(f"{folder}: no images")
    return [files[i % len(files)] for i in range(n)]


def _baseline_forward_ms(runs: int) -> tuple[float, int]:
    """Median forward time (ms) of the VGG16 U-Net at 512 x 512, batch 1; parameters."""
    baseline = VGG16UNet().eval()
    n_params = sum(p.numel() for p in baseline.parameters())
    xb = torch.randn(1, 3, 512, 512)
    times = []
    with torch.inference_mode():
        baseline(xb)
        for _ in range(runs):
            tb0 = time.perf_counter()
            baseline(xb)
            times.append(time.perf_counter() - tb0)
    return float(np.median(times)) * 1000, n_params


def _musclethick() -> list[str]:
    exe = Path(sys.executable).with_name("musclethick")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "musclethick"]


def _symlink_folder(images: Path, n: int, folder: Path) -> None:
    """``n`` uniquely named symlinks repeating the images of ``images`` (sorted)."""
    files = sorted(p for p in images.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    if not files:
        raise SystemExit(f"{images}: no images")
    for i in range(n):
        src = files[i % len(files)].resolve()
        (folder / f"r{i:05d}_{src.name}").symlink_to(src)


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _descendants(pid: int) -> list[int]:
    """Processes started by ``pid``, and theirs (Linux ``/proc``): the worker processes."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children.get(child, [])
    return found


def _run_measure(
    folder: Path,
    out_csv: Path,
    *,
    poll_s: float = 0.05,
    backend: str = "auto",
    workers: int | None = None,
    architecture: bool = False,
) -> dict:
    """Run ``musclethick measure folder --out out_csv -q``; wall time, and the peak resident
    memory (VmHWM) of its process and its worker processes, summed, when each file appears."""
    cmd = [*_musclethick(), "measure", str(folder), "--out", str(out_csv), "--quiet"]
    cmd += ["--backend", backend]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if architecture:
        cmd += ["--architecture"]
    t0 = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    files: list[str] = []  # distinct files in the CSV, in order
    hwm_at: list[float] = []  # VmHWM (MB) when files[i] was first seen
    offset = 0
    partial = ""
    peaks: dict[int, float] = {}  # VmHWM (MB) of the process and of each worker
    workers_seen: list[int] = []
    last_scan = 0.0
    hwm = 0.0
    while True:
        done = proc.poll() is not None
        if time.perf_counter() - last_scan > 0.5:  # new workers (a /proc scan costs CPU)
            workers_seen = sorted(set(workers_seen) | set(_descendants(proc.pid)))
            last_scan = time.perf_counter()
        for pid in (proc.pid, *workers_seen):
            value = _vm_hwm_mb(pid)
            if value is not None:
                peaks[pid] = max(peaks.get(pid, 0.0), value)
        hwm = sum(peaks.values())
        if out_csv.exists():
            with out_csv.open(encoding="utf-8") as handle:
                handle.seek(offset)
                chunk = handle.read()
                offset = handle.tell()
            lines = (partial + chunk).split("\n")
            partial = lines.pop()
            for line in lines:
                name = line.split(",", 1)[0]
                if name and name != "file" and (not files or files[-1] != name):
                    files.append(name)
                    hwm_at.append(hwm)
        if done:
            break
        time.sleep(poll_s)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"musclethick measure failed ({proc.returncode}): {err[-2000:]}")
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "files": files,
        "hwm_at_mb": hwm_at,
        "final_hwm_mb": hwm,
        "process_hwm_mb": peaks.get(proc.pid, 0.0),
        "worker_hwm_mb": [v for pid, v in peaks.items() if pid != proc.pid],
    }


def _cli_mode(args: argparse.Namespace) -> dict:
    images = Path(args.images)
    t_start = []
    for _ in range(3):
        ta = time.perf_counter()
        subprocess.run([*_musclethick(), "--version"], check=True, capture_output=True)
        t_start.append(time.perf_counter() - ta)
    startup_s = float(np.median(t_start))
    n = args.cli
    # with --repeat R: R runs; with --architecture too, each one a thickness-only run and an
    # architecture run back to back (the VM's speed drifts over minutes: pairs compare alike)
    modes = [False, True] if args.architecture and args.repeat > 1 else [args.architecture]
    runs: dict[bool, list[dict]] = {mode: [] for mode in modes}
    tmp = Path(tempfile.mkdtemp(prefix="bench_speed_"))
    try:
        (tmp / "in").mkdir()
        _symlink_folder(images, n, tmp / "in")
        for _ in range(args.repeat):
            for mode in modes:
                out_csv = tmp / "out.csv"
                out_csv.unlink(missing_ok=True)
                run = _run_measure(
                    tmp / "in",
                    out_csv,
                    backend=args.backend,
                    workers=args.workers,
                    architecture=mode,
                )
                run["csv_rows"] = sum(1 for _ in out_csv.open()) - 1
                runs[mode].append(run)
                if args.repeat > 1:
                    print(
                        f"run {len(runs[mode])} {'architecture' if mode else 'thickness   '} "
                        f"{run['wall_s'] / n * 1000:.1f} ms/image (CPU "
                        f"{run['cpu_s'] / n * 1000:.1f} ms)",
                        flush=True,
                    )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    main_runs = runs[args.architecture]
    run = main_runs[-1]  # files, rows and memory (the same in every run)
    wall_s = float(np.median([r["wall_s"] for r in main_runs]))
    cpu_s = float(np.median([r["cpu_s"] for r in main_runs]))
    ms = wall_s / n * 1000
    base_ms, n_params = _baseline_forward_ms(args.baseline_runs)
    out = {
        "mode": "cli",
        "backend": args.backend,
        "n_images": n,
        "files_in_csv": len(run["files"]),
        "csv_rows": run["csv_rows"],
        "cli_wall_s": wall_s,
        "cli_ms_per_image": ms,
        "cli_cpu_s": cpu_s,
        "cli_cpu_ms_per_image": cpu_s / n * 1000,
        "startup_version_s": startup_s,
        "workers": args.workers,
        "architecture": args.architecture,
        "cli_peak_rss_mb": run["final_hwm_mb"],
        "cli_peak_rss_mb_process": run["process_hwm_mb"],
        "cli_peak_rss_mb_workers": run["worker_hwm_mb"],
        "baseline": "VGG16-encoder U-Net 512x512, batch 1",
        "baseline_parameters": n_params,
        "baseline_forward_ms": base_ms,
        "baseline_forward_over_cli_ms_per_image": base_ms / ms,
    }
    if args.repeat > 1:
        for mode, done in runs.items():
            key = "architecture" if mode else "thickness"
            out[f"repeat_{key}_ms_per_image"] = [r["wall_s"] / n * 1000 for r in done]
            out[f"repeat_{key}_cpu_ms_per_image"] = [r["cpu_s"] / n * 1000 for r in done]
    print(f"backend             {args.backend} (musclethick measure --backend)")
    what = "median of " + str(args.repeat) + " runs, " if args.repeat > 1 else ""
    print(
        f"musclethick measure  {ms:.1f} ms/image end to end ({what}{n} images in "
        f"{wall_s:.1f} s: one command, start-up and CSV included; "
        f"{len(run['files'])} files, {run['csv_rows']} rows written)"
    )
    print(
        f"CPU time            {cpu_s / n * 1000:.1f} ms/image (user+sys, all threads; "
        f"a less load-sensitive figure: on an idle 2-core machine wall >= CPU / 2)"
    )
    if args.repeat > 1:
        for mode, done in runs.items():
            walls = sorted(r["wall_s"] / n * 1000 for r in done)
            print(
                f"{'with architecture' if mode else 'thickness only':<19} "
                f"{walls[0]:.1f}-{walls[-1]:.1f} ms/image over {len(walls)} runs, median "
                f"{float(np.median(walls)):.1f}"
            )
        if len(modes) == 2:
            added = [
                (a["wall_s"] - t["wall_s"]) / n * 1000
                for t, a in zip(runs[False], runs[True], strict=True)
            ]
            out["repeat_architecture_adds_ms_per_image"] = added
            print(
                f"architecture adds   {float(np.median(added)):.1f} ms/image (median of the "
                f"{len(added)} back-to-back pairs; {min(added):.1f} to {max(added):.1f})"
            )
    print(f"start-up            {startup_s:.2f} s (musclethick --version)")
    print(f"VGG16 U-Net 512²    {base_ms:.0f} ms/image forward ({n_params / 1e6:.1f} M parameters)")
    print(f"ratio               {base_ms / ms:.0f}x (baseline forward / our end to end)")
    print(
        f"peak RSS            {run['final_hwm_mb']:.0f} MB, summed over the process "
        f"({run['process_hwm_mb']:.0f} MB) and its {len(run['worker_hwm_mb'])} worker "
        f"process(es) ({', '.join(f'{v:.0f}' for v in run['worker_hwm_mb']) or '-'} MB)"
    )
    return out


def _memory_mode(args: argparse.Namespace) -> dict:
    n = args.memory
    tmp = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    try:
        (tmp / "in").mkdir()
        _symlink_folder(Path(args.images), n, tmp / "in")
        run = _run_measure(tmp / "in", tmp / "out.csv", backend=args.backend, workers=args.workers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    marks = sorted({m for m in (100, n // 10, n // 2, n) if 0 < m <= len(run["files"])})
    at = {m: run["hwm_at_mb"][m - 1] for m in marks}
    out = {
        "mode": "memory",
        "n_images": n,
        "files_in_csv": len(run["files"]),
        "wall_s": run["wall_s"],
        "peak_rss_mb_after_files": {str(m): v for m, v in at.items()},
        "peak_rss_mb_final": run["final_hwm_mb"],
        "peak_rss_mb_process": run["process_hwm_mb"],
        "peak_rss_mb_workers": run["worker_hwm_mb"],
    }
    print(f"musclethick measure over {n} images in {run['wall_s']:.0f} s")
    for m, v in at.items():
        print(f"peak RSS (VmHWM, all processes) after {m:5d} files  {v:.0f} MB")
    print(f"peak RSS at exit                 {run['final_hwm_mb']:.0f} MB")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--images",
        default=str(REPO.parent / "shared" / "data" / "dltrack_apo" / "images"),
        help="folder of PNG / JPEG images, repeated as needed (default: %(default)s)",
    )
    p.add_argument("-n", type=int, default=64, help="images for the end-to-end timing")
    p.add_argument(
        "--batch",
        type=int,
        default=16,
        help="images per batch: decoded, then one model call (default: %(default)s)",
    )
    p.add_argument(
        "--threads", type=int, default=2, help="torch CPU threads (default: %(default)s)"
    )
    p.add_argument(
        "--baseline-runs",
        type=int,
        default=3,
        help="timed forward passes of the VGG16 U-Net baseline; median (default: %(default)s)",
    )
    p.add_argument(
        "--weights",
        default=None,
        help="model weights (default: the shipped model; not used by --cli / --memory)",
    )
    p.add_argument(
        "--backend",
        choices=("auto", "opencv", "torch"),
        default="auto",
        help="model runtime (default auto: the OpenCV runtime of the shipped model)",
    )
    p.add_argument("--json", default=None, help="write the printed figures as JSON to this path")
    p.add_argument(
        "--cli", type=int, metavar="N", help="time one 'musclethick measure' over N images"
    )
    p.add_argument(
        "--memory", type=int, metavar="N", help="peak memory of 'musclethick measure' on N images"
    )
    p.add_argument(
        "--architecture",
        action="store_true",
        help="'musclethick measure --architecture' for --cli (pennation angle, fascicle length)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="R",
        help="with --cli: R runs, the median reported with their range (the shared VM's speed "
        "drifts over minutes); with --architecture too, each a thickness-only and an "
        "architecture run back to back, and what architecture adds per pair (default: 1)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="'musclethick measure --workers' for --cli / --memory (default: its own, one "
        "process per core)",
    )
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    torch.set_num_threads(args.threads)
    if args.cli or args.memory:
        out = _cli_mode(args) if args.cli else {}
        if args.memory:
            out = {**out, "memory": _memory_mode(args)} if out else _memory_mode(args)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2))
        return 0
    from musclethick.io import read

    model = load_model(args.weights, batch_size=args.batch, backend=args.backend)
    paths = _images(Path(args.images), args.n)
    # warm-up
    model.find_boundaries([f.pixels for f in read(paths[0])])

    t_decode = t_model = 0.0
    n_frames = 0
    n_found = 0
    t0 = time.perf_counter()
    for start in range(0, len(paths), args.batch):
        ta = time.perf_counter()
        frames = [f for path in paths[start : start + args.batch] for f in read(path)]
        tb = time.perf_counter()
        results = model.find_boundaries([f.pixels for f in frames], keep_probability=False)
        tc = time.perf_counter()
        t_decode += tb - ta
        t_model += tc - tb
        n_frames += len(frames)
        n_found += sum(r.superficial is not None and r.deep is not None for r in results)
    total = time.perf_counter() - t0

    x = prepare_batch([f.pixels for f in frames][:1] * args.batch, model.input_shape)
    predictor = model._predictor
    predictor.forward(x)
    reps = 5
    tf = time.perf_counter()
    for _ in range(reps):
        predictor.forward(x)
    fwd_ms = (time.perf_counter() - tf) / (reps * x.shape[0]) * 1000

    rss_model_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base_ms, n_params = _baseline_forward_ms(args.baseline_runs)
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    out = {
        "backend": model.backend,
        "threads": args.threads,
        "batch": args.batch,
        "n_images": n_frames,
        "n_with_both_boundaries": n_found,
        "end_to_end_ms_per_image": total / n_frames * 1000,
        "decode_ms_per_image": t_decode / n_frames * 1000,
        "model_postprocess_refine_ms_per_image": t_model / n_frames * 1000,
        "forward_ms_per_image": fwd_ms,
        "model_input_shape": list(model.input_shape),
        "baseline": "VGG16-encoder U-Net 512x512, batch 1",
        "baseline_parameters": n_params,
        "baseline_forward_ms": base_ms,
        "forward_speedup": base_ms / fwd_ms,
        "end_to_end_speedup_vs_baseline_forward": base_ms / (total / n_frames * 1000),
        "peak_rss_model_path_mb": rss_model_mb,
        "peak_rss_mb": maxrss_mb,
    }
    print(
        f"model {model.name} {model.version}, input {model.input_shape}, runtime "
        f"{model.backend}, {args.threads} threads"
    )
    print(
        f"end to end        {out['end_to_end_ms_per_image']:.1f} ms/image over {n_frames} images"
        f" (decode+crop {out['decode_ms_per_image']:.1f}, model+post+refine "
        f"{out['model_postprocess_refine_ms_per_image']:.1f}); both boundaries in {n_found}"
    )
    print(f"forward only      {fwd_ms:.2f} ms/image (batch {args.batch})")
    print(f"VGG16 U-Net 512²  {base_ms:.0f} ms/image ({n_params / 1e6:.1f} M parameters)")
    print(f"forward speed-up  {out['forward_speedup']:.0f}x (goal >= 100x)")
    print(f"peak RSS          {rss_model_mb:.0f} MB model path, {maxrss_mb:.0f} MB with baseline")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
