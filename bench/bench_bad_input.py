"""The bad-input corpus run as a user runs it: every case as a real ``musclethick`` process.

    python bench/bench_bad_input.py [--keep DIR] [-k SUBSTRING]

Builds each case of ``tests/bad_input.py`` in a temporary folder, runs its command line as
``python -m musclethick ...`` (cases that need file permissions drop root's power to ignore
them), and prints one row per case: exit code (expected), the rows or files that had to
survive (expected / found), whether a traceback was printed, and the first stderr line. Ends
with the totals quoted in the README: cases tried, rows lost, stale scans kept, tracebacks
printed, cases that did not hold. Exit code 1 when any case did not hold.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bad_input import CASES, permissions_enforced, run_case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", help="build the cases in this folder and keep them")
    parser.add_argument("-k", dest="only", help="only cases whose name contains this")
    args = parser.parse_args(argv)

    cases = [c for c in CASES if args.only is None or args.only in c.name]
    with tempfile.TemporaryDirectory(prefix="musclethick-bad-input-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        permissions = permissions_enforced(root)
        tried = skipped = lost = expected = stale = tracebacks = failed = 0
        start = time.perf_counter()
        print(f"{'case':<46} {'exit':>8} {'rows':>7} tb  first stderr line")
        for case in cases:
            if case.unprivileged and not permissions:
                skipped += 1
                print(f"{case.name:<46} skipped: file permissions are not enforced here")
                continue
            outcome = run_case(case, root / case.name, in_process=False)
            tried += 1
            lost += outcome.lost
            stale += outcome.stale
            expected += outcome.expected
            tracebacks += outcome.traceback
            problems = outcome.problems()
            failed += bool(problems)
            first = next((x for x in outcome.stderr.splitlines() if x.strip()), "")
            code = f"{outcome.exit_code}({case.exit_code})"
            rows = f"{outcome.found}/{outcome.expected}" if case.survivors else "-"
            mark = "  NOT HELD: " + "; ".join(problems) if problems else ""
            tb = "yes" if outcome.traceback else "no"
            print(f"{case.name:<46} {code:>8} {rows:>7} {tb:<3} {first[:110]}{mark}")
        elapsed = time.perf_counter() - start
    print(
        f"\n{tried} bad-input cases tried ({skipped} skipped), {len(cases)} in the corpus; "
        f"rows/scans/files that had to survive: {expected}, lost: {lost}; stale (deleted or "
        f"duplicate) kept: {stale}; tracebacks printed: {tracebacks}; cases not held: {failed}; "
        f"{elapsed:.0f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
