"""The bad-input corpus (``tests/bad_input.py``) in CI: every case must hold.

For each case: the exit code, one stderr line naming the file or option and the fix (exactly
one line for a usage error), no traceback, inputs unchanged, and every row, scan or file that
must survive found again.
"""

from __future__ import annotations

import pytest

from bad_input import CASES, Case, permissions_enforced, run_case


@pytest.fixture(scope="session")
def permissions_apply(tmp_path_factory) -> bool:
    """Whether a subprocess of these tests is refused files that its permissions forbid."""
    return permissions_enforced(tmp_path_factory.mktemp("probe"))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_bad_input(case: Case, tmp_path, permissions_apply):
    if case.unprivileged and not permissions_apply:
        pytest.skip("file permissions are not enforced for this user (root without prctl)")
    outcome = run_case(case, tmp_path / "case")
    assert outcome.problems() == [], f"stdout:\n{outcome.stdout}\nstderr:\n{outcome.stderr}"


def test_the_corpus_covers_every_command():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    for command in ("measure", "batch", "export", "reliability"):
        assert sum(name.startswith(command) for name in names) >= 5
