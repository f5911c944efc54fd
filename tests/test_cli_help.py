"""`toolkit --help` must stay fast: it may not import torch or transformers."""

import subprocess
import sys


def test_help_imports_no_model_library() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from toolkit.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'run-scenario' in result.output\n"
        "heavy = [m for m in ('torch', 'transformers', 'open_clip', 'optuna', 'mlflow', "
        "'tensorboard') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"--help imported {out.stdout.strip()}"
