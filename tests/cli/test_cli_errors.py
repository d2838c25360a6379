"""The one error handler of the command line (``musclethick.cli._errors.run_command``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from musclethick.cli import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, main, run_command
from musclethick.errors import InputError, StoreError, UsageError


def _raise(error: BaseException):
    def command() -> int:
        raise error

    return command


def test_a_typed_error_is_one_line_naming_the_file_without_traceback(capsys):
    error = InputError("scans/a.dcm: not a DICOM, video or image file\n(check the file)")
    assert run_command("measure", _raise(error)) == EXIT_FAILURE == 1
    err = capsys.readouterr().err
    assert err == (
        "musclethick measure: error: scans/a.dcm: not a DICOM, video or image file "
        "(check the file)\n"
    )
    assert "Traceback" not in err


def test_a_usage_error_exits_2(capsys):
    assert run_command("export", _raise(UsageError("--out x.txt: give x.xlsx"))) == EXIT_USAGE
    assert EXIT_USAGE == 2
    assert capsys.readouterr().err == "musclethick export: error: --out x.txt: give x.xlsx\n"


def test_an_os_error_names_its_file(capsys):
    error = FileNotFoundError(2, "No such file or directory", "study/s.sqlite")
    assert run_command("report", _raise(error)) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert err == "musclethick report: error: study/s.sqlite: No such file or directory\n"


def test_ctrl_c_exits_130(capsys):
    assert run_command("batch", _raise(KeyboardInterrupt())) == EXIT_INTERRUPTED == 130
    err = capsys.readouterr().err
    assert err.startswith("musclethick batch: interrupted") and "run the same command again" in err
    assert run_command("export", _raise(KeyboardInterrupt())) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "musclethick export: interrupted\n"  # nothing to resume


def test_sigterm_stops_a_command_as_ctrl_c_does(capsys):
    """``kill`` (SIGTERM) during a command: the same path as Ctrl-C (rows kept, exit 130),
    and the handler is gone afterwards."""
    import os
    import signal

    before = signal.getsignal(signal.SIGTERM)

    def killed() -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        return 0  # not reached: the signal interrupts first

    assert run_command("batch", killed) == EXIT_INTERRUPTED
    assert "musclethick batch: interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == before


def test_debug_raises_the_typed_error_with_its_traceback():
    with pytest.raises(StoreError, match=r"s\.sqlite"):
        run_command("export", _raise(StoreError("s.sqlite: locked")), debug=True)


def test_the_training_command_uses_the_same_handler(tmp_path: Path, capsys, monkeypatch):
    """``musclethick train --from-store`` errors: the one line of every other command."""
    import musclethick.train.from_store as from_store

    def refuse(store, *args, **kwargs):
        raise StoreError(f"{store}: no accepted or corrected results to learn from")

    monkeypatch.setattr(from_store, "fine_tune_from_store", refuse)
    store = tmp_path / "s.sqlite"
    store.write_bytes(b"")  # a store path that exists (else that is the error, exit 2)
    assert main(["train", "--from-store", str(store), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"musclethick train: error: {store}: no accepted or corrected results to learn from\n"
    )


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["measure", "{sample}", "--model", "nosuch.pt"], "argument --model: nosuch.pt"),
        (["measure", "{sample}", "--calibration", "no.toml"], "argument --calibration: no.toml"),
        (["batch", "nosuch", "--store", "s.sqlite"], "argument study: nosuch"),
        (["batch", "--manifest", "m.csv", "--store", "s.sqlite"], "argument --manifest: m.csv"),
        (["export", "nosuch.sqlite"], "argument store: nosuch.sqlite"),
        (["reliability", "nosuch.sqlite"], "argument store: nosuch.sqlite"),
    ],
)
def test_a_path_option_that_does_not_exist_is_a_usage_error(
    argv, named, tmp_path: Path, monkeypatch, capsys, sample_images: Path
):
    """A typo in a path is refused before any work, like a missing input: exit code 2 and
    one line naming the option and the path."""
    monkeypatch.chdir(tmp_path)
    assert main([a.replace("{sample}", str(sample_images)) for a in argv]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert named in err and "not found" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_study_without_scans_is_a_usage_error_naming_the_fix(tmp_path: Path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["batch", str(empty), "--store", str(tmp_path / "s.sqlite"), "-q"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "no scans found" in err and "--manifest" in err
    assert not (tmp_path / "s.sqlite").exists()
    # files that do not fit the folder pattern: the fix names --pattern
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "scan1.png").write_bytes(b"not read before the pattern check")
    assert main(["batch", str(flat), "--store", str(tmp_path / "s.sqlite"), "-q"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "1 files do not match" in err and "--pattern" in err
    # one flat folder: the fix is a flat pattern (or a manifest), not the default layout again
    assert "the files lie in one folder" in err and "{subject}_{week}_{leg}_{site}_{rep}" in err
    # the dry run refuses the same study with the same exit code, after its report
    dry = ["batch", str(flat), "--store", str(tmp_path / "s.sqlite"), "--dry-run"]
    assert main(dry) == EXIT_USAGE
    assert "No scans found" in capsys.readouterr().out
    assert not (tmp_path / "s.sqlite").exists()


def test_a_bad_folder_pattern_is_a_usage_error(tmp_path: Path, capsys):
    study = tmp_path / "study"
    study.mkdir()
    args = ["batch", str(study), "--store", str(tmp_path / "s.sqlite"), "--pattern"]
    assert main([*args, "img_{subject}.{ext}"]) == EXIT_USAGE
    assert "--pattern: pattern 'img_{subject}.{ext}': needs a {site} token" in (
        capsys.readouterr().err
    )


def test_files_that_match_but_cannot_be_used_are_named_as_the_reason(tmp_path: Path, capsys):
    """A pattern without a week on files without a study date: the report says the matched
    files are the problem, not that the folder holds no scans."""
    study = tmp_path / "study"
    study.mkdir()
    (study / "S01_L_VL50_1.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    args = ["batch", str(study), "--store", str(tmp_path / "s.sqlite"), "--dry-run"]
    main([*args, "--pattern", "{subject}_{leg}_{site}_{rep}.{ext}"])
    out = capsys.readouterr().out
    assert "1 files match but cannot be used (listed under Problems)" in out
    assert "holds no scan files" not in out


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["export", "{store}", "--out", "t", "--bogus"], "export"),
        (["measure", "a.png", "--out", "r.csv", "--bogus"], "measure"),
    ],
)
def test_an_unknown_option_points_to_its_command_help(argv, command, tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    store.write_bytes(b"")
    argv = [a.format(store=store) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"musclethick {command}: error: unrecognized arguments: ")
    assert err.rstrip().endswith(f"(see 'musclethick {command} --help')")


@pytest.mark.parametrize("where", ["after", "before"])
def test_the_training_command_takes_debug_as_the_unexpected_error_asks(
    tmp_path: Path, capsys, monkeypatch, where
):
    """An unexpected error of ``musclethick train`` asks for a rerun with ``--debug``; that
    rerun (``--debug`` after or before ``train``) shows the traceback instead of refusing the
    option."""
    import musclethick.cli.train as cli_train

    def broken(args):
        raise ValueError("low >= high")

    monkeypatch.setattr(cli_train, "train_main", broken)
    args = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main(args) == 1
    assert "--debug" in capsys.readouterr().err
    again = [*args, "--debug"] if where == "after" else ["--debug", *args]
    with pytest.raises(ValueError, match="low >= high"):
        main(again)
