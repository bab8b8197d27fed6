"""The docs and the README say what the code does."""

import re
from pathlib import Path

from test_cli import run

ROOT = Path(__file__).resolve().parents[1]


def test_model_table_is_current(capsys):
    page = (ROOT / "docs" / "models.md").read_text()
    table = re.search(
        r"<!-- begin: zoo list --markdown -->\n(.*?)<!-- end: zoo list --markdown -->", page, re.S
    ).group(1)
    code, out, _ = run(capsys, "list", "--markdown")
    assert code == 0 and table == out, "regenerate the table with `zoo list --markdown`"


def test_readme_list_output_is_current(capsys):
    readme = (ROOT / "README.md").read_text()
    code, out, _ = run(capsys, "list", "--markdown")
    for row in out.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert re.search(r"│ " + r"\s+│ ".join(map(re.escape, cells)), readme), row


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in (ROOT / "README.md").read_text()
