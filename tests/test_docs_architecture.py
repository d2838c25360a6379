"""docs/ARCHITECTURE.md's "Where to change X" names only files and objects that exist.

Every backticked token of that section that looks like a path (has a ``/`` or a file suffix)
must exist under ``src/musclethick/`` or the repository root (globs must match something);
every backticked dotted name (``qc.MIN_CONFIDENCE``) must import from ``musclethick``. So a
renamed module, constant or test file fails here instead of leaving the doc stale.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "musclethick"
DOC = ROOT / "docs" / "ARCHITECTURE.md"

SECTION = "## Where to change X"
FILE_SUFFIXES = (".py", ".toml", ".md", ".json", ".pt", ".onnx", ".sh")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
DOTTED = re.compile(rf"^{_IDENT}(?:\.{_IDENT})+$")
#: Third-party packages a name's module may need that a minimal install lacks: the name is
#: then checked in the module's source instead of by importing it.
OPTIONAL = ("napari", "qtpy", "torch", "onnx", "onnxruntime", "av", "pydicom", "tesserocr")


def section(text: str, title: str = SECTION) -> str:
    """The text of the ``##`` section ``title`` (up to the next ``##`` heading)."""
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : None if end < 0 else end]


def backticked(text: str) -> list[str]:
    """Every inline-code token of ``text``, in order."""
    return re.findall(r"`([^`\n]+)`", text)


def is_path(token: str) -> bool:
    """Whether ``token`` names a file or folder (not a dotted Python name)."""
    return "/" in token or token.endswith(FILE_SUFFIXES)


def missing_path(token: str) -> str:
    """``""`` when ``token`` exists under the package or the repository root, else why not."""
    for base in (PACKAGE, ROOT):
        if any(c in token for c in "*?["):
            if list(base.glob(token)):
                return ""
        elif (base / token).exists():
            return ""
    return f"{token}: no such file under src/musclethick/ or the repository root"


def _defined_in_source(module: str, names: list[str]) -> bool:
    """Whether ``module``'s source defines ``names[0]`` (and ``names[1]`` inside that class)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return False
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    body = tree.body
    for name in names[:2]:
        found = None
        for node in body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                if node.name == name:
                    found = node
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    found = node
        if found is None:
            return False
        body = getattr(found, "body", [])
    return True


def unresolved_name(token: str) -> str:
    """``""`` when ``musclethick.<token>`` imports (module, then attributes), else why not."""
    parts = token.removeprefix("musclethick.").split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(["musclethick", *parts[:cut]])
        try:
            obj = importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name == module or module.startswith(f"{error.name}."):
                continue  # not a module: try a shorter one, the rest are attributes
            if (error.name or "").split(".")[0] in OPTIONAL:
                rest = parts[cut:]
                if not rest or _defined_in_source(module, rest):
                    return ""
                return f"{token}: {module} does not define {'.'.join(rest)}"
            raise
        for attribute in parts[cut:]:
            if not hasattr(obj, attribute):
                owner = getattr(obj, "__name__", type(obj).__name__)
                return f"{token}: {owner} has no {attribute}"
            obj = getattr(obj, attribute)
        return ""
    return f"{token}: no module musclethick.{parts[0]}"


def problems(text: str) -> list[str]:
    """What in the "Where to change X" section of ``text`` does not exist."""
    found = []
    for token in backticked(section(text)):
        if is_path(token):
            found.append(missing_path(token))
        elif DOTTED.match(token):
            found.append(unresolved_name(token))
    return [p for p in found if p]


def test_where_to_change_names_only_existing_files_and_objects():
    text = DOC.read_text(encoding="utf-8")
    assert not problems(text), "\n".join(problems(text))


def test_where_to_change_covers_ten_changes_each_with_a_home_and_a_test():
    rows = [
        line
        for line in section(DOC.read_text(encoding="utf-8")).splitlines()
        if line.startswith("| ") and not line.startswith("| to change")
    ]
    assert len(rows) >= 10
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 3, row
        _, home, tests = cells
        assert any(DOTTED.match(t) or is_path(t) for t in backticked(home)), row
        assert backticked(tests) and all(t.startswith("tests/") for t in backticked(tests)), row


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("qc.MIN_CONFIDENCE_TYPO", "has no MIN_CONFIDENCE_TYPO"),
        ("segment.postprocess.no_such_function", "has no no_such_function"),
        ("qcx.MIN_CONFIDENCE", "no module musclethick.qcx"),
        ("segment/postprocessing.py", "no such file"),
        ("tests/test_no_such_file.py", "no such file"),
        ("data/protocols/*.yaml", "no such file"),
        ("_napari._qt._review_widget.NO_SUCH_KEYS", "NO_SUCH_KEYS"),
    ],
)
def test_a_stale_name_or_path_is_reported(token, why):
    text = f"{SECTION}\n\n| a | `qc.py`, `{token}` | `tests/test_qc.py` |\n\n## Next\n`{token}x`"
    (problem,) = problems(text)
    assert problem.startswith(token) and why in problem


def test_existing_names_and_paths_pass():
    text = (
        f"{SECTION}\n`qc.MIN_CONFIDENCE` `musclethick.qc.quality_flags` `io.SUPPORTED_SUFFIXES` "
        "`study.store.StudyStore.record_review` `data/protocols/*.toml` `models/MODEL_CARD.md` "
        "`segment/` `--mm-per-px` `results_dataframe()`"
    )
    assert problems(text) == []
