"""Alias kept for the earlier usage `python training/distillation_script.py [flags]`.

It is `sarssm distill [flags]`, with the earlier layout's student config
(training/training_configs/s4_ssm_student.yaml) when none is given.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source tree too

from sarssm.cli import main

DEFAULT_STUDENT = "training/training_configs/s4_ssm_student.yaml"

if __name__ == "__main__":
    argv = sys.argv[1:]
    if not any(a.split("=")[0] in ("--student_config", "--student-config") for a in argv):
        argv = ["--student_config", DEFAULT_STUDENT, *argv]
    raise SystemExit(main(["distill", *argv]))
