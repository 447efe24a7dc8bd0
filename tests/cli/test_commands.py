"""What every diffvae command shares: help, options, errors as one line, exit status, seeds,
interrupts, warnings."""
import os
import subprocess
import sys

import pytest

from diffvae.cli import graph, identify, train

from tests.helpers import QUICK


def _write(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    ("1,2,3\n4,x,6\n7,8,9\n", "non-numeric value 'x' at row 2, column 2"),
    ("1,2,3\n4,nan,6\n7,8,9\n", "not finite"),
    ("1,2,3\n4,-5,6\n7,8,9\n", "negative value -5"),
    ("", "the file is empty"),
    ("1,2,3\n4,5,6\n", "too few to train"),
    ("a,b,a\n1,2,3\n4,5,6\n", "duplicate gene names"),
])
def test_bad_input_gives_one_clear_line(tmp_path, capsys, content, expected):
    path = str(tmp_path / "missing.csv") if content is None else _write(tmp_path, "in.csv", content)
    status = train.main(["--data", path, "--out", str(tmp_path / "out"), *QUICK])
    err = capsys.readouterr().err
    assert status == 2
    assert expected in err and err.startswith("diffvae train: error:") and err.count("\n") == 1


def test_bad_options_are_refused_before_reading(tmp_path, capsys):
    assert train.main(["--data", "x.csv", "--out", str(tmp_path), "--latent-dim", "0"]) == 2
    assert "--latent-dim must be positive" in capsys.readouterr().err


def test_command_line_exit_status_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "diffvae", "train", "--data", str(tmp_path / "nope.h5ad"),
         "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "nope.h5ad: no such file" in result.stderr


COMMANDS = ["train", "tune", "identify", "perturb", "benchmark", "graph"]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help_and_its_default_in_plain_text(name):
    import importlib

    parser = importlib.import_module(f"diffvae.cli.{name}").build_parser()
    options = {a.option_strings[0]: a for a in parser._actions if a.option_strings}
    assert {"--seed", "--out", "--quiet"} <= set(options)
    assert all(a.help for a in options.values()), [o for o, a in options.items() if not a.help]
    text = parser.format_help()
    assert "offline: pbmc68k_reduced, synthetic" in " ".join(text.split())
    assert "``" not in text and "::" not in text and ":class:" not in text
    formatter = parser._get_formatter()
    for option, action in options.items():  # a value to default to is shown, once
        shown = formatter._expand_help(action)
        if action.default not in (None, False) and not action.required and option != "-h":
            assert "default" in shown or "paper:" in shown, (option, shown)
            assert shown.count("default") <= 1, (option, shown)


def test_seed_below_zero_is_refused_before_reading(tmp_path, capsys):
    assert train.main(["--data", str(tmp_path / "absent.csv"), "--seed", "-1",
                       "--out", str(tmp_path / "out")]) == 2
    assert "--seed must be 0 or more, got -1" in capsys.readouterr().err


def test_interrupt_ends_with_one_line_and_no_manifest(tmp_path, counts_csv, capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "load_input", interrupted)
    out = tmp_path / "out"
    assert train.main(["--data", str(counts_csv), "--out", str(out), *QUICK]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "diffvae train: interrupted" in err and "Traceback" not in err
    assert not (out / "manifest.json").exists()


def test_a_closed_pipe_ends_without_a_traceback():
    """``diffvae --help | head -1``: the reader goes away before the output is written."""
    process = subprocess.Popen([sys.executable, "-m", "diffvae", "--help"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    err = process.stderr.read().decode()
    process.wait()
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_warnings_point_at_the_users_line_and_read_as_one_line_on_the_command_line(rng):
    import warnings

    from diffvae.analysis import tsne
    from diffvae.cli.common import command

    with pytest.warns(UserWarning, match="perplexity 30.0 is too large for 20 cells") as caught:
        tsne(rng.normal(size=(20, 3)), seed=0)
    assert caught[0].filename == __file__  # this line, not the package's
    seen = {}

    @command("demo")
    def demo(argv):
        seen["line"] = warnings.formatwarning("slow", UserWarning, "diffvae/x.py", 3)
        return 0

    plain = warnings.formatwarning
    assert demo([]) == 0 and seen["line"] == "diffvae demo: warning: slow\n"
    assert warnings.formatwarning is plain  # restored after the command


def test_every_option_has_one_spelling_and_the_original_codes_name_from_one_table():
    import importlib

    from diffvae.cli import COMMANDS
    from diffvae.cli.common import ORIGINAL_OPTIONS

    for name in COMMANDS:
        parser = importlib.import_module(f"diffvae.cli.{name}").build_parser()
        for action in parser._actions:
            flags = [f for f in action.option_strings if f not in ("-h", "--help")]
            if flags:
                assert flags == [flags[0], *([ORIGINAL_OPTIONS[flags[0]]] if flags[0] in ORIGINAL_OPTIONS
                                             else [])], (name, flags)
                assert "_" not in flags[0], (name, flags)


@pytest.mark.parametrize("command", [train, identify, graph])
def test_an_output_path_that_is_a_file_is_refused_first(tmp_path, capsys, counts_csv, command):
    blocker = tmp_path / "results.txt"
    blocker.write_text("keep me")
    status = command.main(["--data", str(counts_csv), "--out", str(blocker / "run"), "--quiet"])
    assert status == 2 and "is a file, not a folder" in capsys.readouterr().err
    assert blocker.read_text() == "keep me"


def test_an_unwritable_output_folder_is_refused_first(tmp_path, capsys, counts_csv):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        status = train.main(["--data", str(counts_csv), "--out", str(locked / "run"), *QUICK])
        assert status == 2 and "cannot write in" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_an_existing_file_as_out_is_refused_and_kept(tmp_path, capsys, counts_csv):
    (tmp_path / "out").write_text("keep me")
    assert train.main(["--data", str(counts_csv), "--out", str(tmp_path / "out"), *QUICK]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "out").read_text() == "keep me"
