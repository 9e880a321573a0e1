import subprocess
import sys

from methods import registry


def test_cli_help_does_not_import_torch():
    code = "import sys; from bench.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_method_suggests_close_names():
    try:
        registry.get_method("mpiq")
    except registry.UnknownMethod as exc:
        assert "mpiqe" in str(exc)
    else:
        raise AssertionError("expected UnknownMethod")
