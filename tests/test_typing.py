"""Code users write type-checks as they would check it: ``mypy --strict``, no plugin.

The README's example and the examples/ files must pass; a file of deliberate misuse
(``tests/typecheck/misuse.py``) must fail with exactly the errors marked on its lines.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.test_readme import ten_lines

ROOT = Path(__file__).resolve().parent.parent
MARK = re.compile(r"#\s*error:\s*([a-z-]+)")
REPORTED = re.compile(r"^[^:]+:(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


def mypy(*files: Path) -> tuple[int, list[str]]:
    """mypy --strict on ``files`` with its default settings (no config: no plugin)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--config-file",
            "",
            "--cache-dir",
            "/dev/null",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        cwd=files[0].parent,
    )
    return result.returncode, result.stdout.splitlines()


def test_the_readme_example_passes_mypy_strict_without_a_plugin(tmp_path: Path) -> None:
    lines = ten_lines().splitlines()
    imports = [line for line in lines if line.startswith("from ")]
    body = textwrap.indent("\n".join(line for line in lines if line not in imports), "    ")
    module = tmp_path / "readme_example.py"
    module.write_text(
        "\n".join(imports) + f"\n\n\nasync def example(vec: list[float]) -> None:\n{body}\n"
    )
    code, output = mypy(module)
    assert code == 0, "\n".join(output)


def test_the_examples_pass_mypy_strict_without_a_plugin() -> None:
    code, output = mypy(*sorted((ROOT / "examples").glob("*.py")))
    assert code == 0, "\n".join(output)


def test_misuse_fails_with_exactly_the_marked_errors() -> None:
    misuse = ROOT / "tests" / "typecheck" / "misuse.py"
    expected = {
        (number, match.group(1))
        for number, line in enumerate(misuse.read_text().splitlines(), start=1)
        if (match := MARK.search(line))
    }
    code, output = mypy(misuse)
    reported = {
        (int(m["line"]), m["code"]) for line in output if (m := REPORTED.match(line.strip()))
    }
    assert code == 1 and reported == expected, "\n".join(output)
