import subprocess
import sys

from sarssm.cli import COMMANDS, build_parser, main


def test_help_lists_every_available_command(capsys):
    parser = build_parser()
    text = parser.format_help()
    assert "simulate" in text and "inspect" in text
    assert main([]) == 2  # no subcommand: help and a non-zero exit


def test_python_dash_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "sarssm", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("sarssm ")


def test_commands_are_modules():
    assert COMMANDS[:2] == ["simulate", "inspect"]


def test_flags_take_underscores_or_dashes_and_overrides_sit_anywhere():
    from sarssm.cli import parse

    parser = build_parser()
    argv = ["train", "a.b=1", "--config", "c.yaml", "--save_dir", "out", "x=2", "--max_epochs",
            "3", "y.z=true"]  # fmt: skip
    args = parse(parser, argv)
    assert (args.save_dir, args.max_epochs, args.config) == ("out", 3, "c.yaml")
    assert args.overrides == ["a.b=1", "x=2", "y.z=true"]
    dashed = parse(parser, ["distill", "--student-config", "s.yaml", "--num-epochs", "4", "k=v"])
    assert (dashed.student_config, dashed.num_epochs, dashed.overrides) == ("s.yaml", 4, ["k=v"])
    equals = parse(parser, ["train", "--config=c.yaml", "--save_dir=o"])
    assert (equals.config, equals.save_dir) == ("c.yaml", "o")


def test_an_unknown_argument_is_refused_with_the_subcommand_usage(capsys):
    import pytest

    from sarssm.cli import parse

    with pytest.raises(SystemExit) as exc:
        parse(build_parser(), ["train", "--config", "c.yaml", "--no-such-flag"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: sarssm train" in err and "--no-such-flag" in err
    with pytest.raises(SystemExit):  # a command without overrides takes no key=value
        parse(build_parser(), ["models", "a=1"])
    assert "usage: sarssm models" in capsys.readouterr().err


def test_help_shows_defaults_and_snr_none_is_accepted():
    from sarssm.cli import parse

    parser = build_parser()
    text = parser._subparsers._group_actions[0].choices["simulate"].format_help()
    assert "(default: demo)" in text and "(default: 0)" in text
    args = parse(parser, ["simulate", "--out", "o", "--snr-db", "none"])
    assert args.snr_db is None
    assert parse(parser, ["simulate", "--out", "o", "--snr_db", "12.5"]).snr_db == 12.5


def test_file_system_errors_are_one_line_and_bugs_keep_their_traceback(monkeypatch, capsys):
    """An OSError naming a file (a disk, a permission) is the user's: one line, exit 2; any
    other exception is a bug and keeps its traceback; --debug shows the traceback of both."""
    import pytest

    import sarssm.cli.inspect as inspect_cli

    def denied(args):
        raise PermissionError(13, "Permission denied", "/data/x.zarr")

    monkeypatch.setattr(inspect_cli, "run", denied)
    assert main(["inspect", "p"]) == 2
    err = capsys.readouterr().err
    assert err == "sarssm inspect: error: /data/x.zarr: Permission denied\n"
    assert main(["inspect", "p", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("error: /data/x.zarr: Permission denied\n")

    def bug(args):
        raise OSError("no file named")

    monkeypatch.setattr(inspect_cli, "run", bug)
    with pytest.raises(OSError, match="no file named"):
        main(["inspect", "p"])


def test_every_command_takes_debug():
    from sarssm.cli import subcommand_parsers

    for name, parser in subcommand_parsers(build_parser()).items():
        assert "--debug" in parser._option_string_actions, name
