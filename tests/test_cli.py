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
