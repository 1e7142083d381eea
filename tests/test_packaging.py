"""The project's set-up files agree with each other, and the package imports cheaply."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _requirements(requirements: list[str]) -> dict[str, str]:
    """name -> the rest of the requirement (bounds and platform markers), spaces removed."""
    parsed = {}
    for requirement in requirements:
        match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement.strip())
        if match:
            parsed[match.group(1).lower()] = match.group(2).replace(" ", "").replace('"', "'")
    return parsed


def test_environment_yml_installs_what_pyproject_declares():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _requirements(project["dependencies"] + project["optional-dependencies"]["test"])
    text = (ROOT / "environment.yml").read_text()
    pip_section = text.split("- pip:", 1)[1]
    pip_lines = re.findall(r"^\s+- ([A-Za-z0-9_.\-]+[^\n]*)$", pip_section, flags=re.MULTILINE)
    listed = _requirements([line for line in pip_lines if not line.startswith("-")])
    # Bounds and platform markers alike: TensorFlow's CPU build has wheels on Linux x86-64
    # only, so both files ask for tensorflow elsewhere (Linux arm64, macOS arm64).
    assert listed == declared, "environment.yml and pyproject.toml list different requirements"
    assert "platform_machine=='x86_64'" in listed["tensorflow-cpu"]
    assert "platform_machine!='x86_64'" in listed["tensorflow"]
    assert re.search(r"^\s+- -e \.\[test\]$", text, flags=re.MULTILINE), (
        "environment.yml must install the project itself with its test extras"
    )


def test_import_is_fast_and_loads_no_heavy_libraries():
    code = (
        "import sys, time; start = time.perf_counter(); import digitlib; "
        "elapsed = time.perf_counter() - start; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'cv2', 'boto3', 'botocore')); print(elapsed); print(heavy)"
    )
    timings = []
    for _ in range(3):
        output = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        assert output[1] == "[]", f"import digitlib loaded heavy modules: {output[1]}"
        timings.append(float(output[0]))
    assert min(timings) < 0.5, f"import digitlib took {min(timings):.3f} s (limit 0.5 s)"


def test_console_script_is_declared_and_runs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["digitlib"] == "digitlib.cli:main"
    result = subprocess.run(
        [sys.executable, "-m", "digitlib.cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    for command in ("train", "evaluate", "predict", "models", "drawings", "data"):
        assert command in result.stdout, f"`digitlib {command}` is missing from --help"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make dashboard" in (ROOT / "README.md").read_text()


def test_shipped_model_files_are_small():
    from digitlib.config import CHECKPOINT_FILES

    models = ROOT / "models"
    checkpoints = [models / name for name in CHECKPOINT_FILES.values()]
    # every Keras checkpoint ships with its inference file (cnn.keras -> cnn.infer.npz)
    expected = checkpoints + [
        path.with_name(f"{path.stem}.infer.npz") for path in checkpoints if path.suffix == ".keras"
    ]
    missing = [path.name for path in expected if not path.is_file()]
    assert not missing, f"models/ lacks shipped files {missing}"
    shipped = set(expected) | {p for p in models.glob("*") if p.suffix in (".keras", ".npz")}
    for path in sorted(shipped):
        assert path.stat().st_size < 10 * 1024 * 1024, f"{path.name} is over 10 MB"
