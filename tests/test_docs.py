"""The docs tell the truth: their examples run and the files they name exist."""

import re
from pathlib import Path

import pytest

from gendsl.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_the_program_file_example_of_running_md_builds_and_compiles(tmp_path, capsys):
    [example] = [b for b in _python_blocks(ROOT / "docs" / "running.md") if "DEFAULTS" in b]
    path = tmp_path / "example.py"
    path.write_text(example)
    assert main(["show", str(path)]) == 0
    assert "fingerprint:" in capsys.readouterr().out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_program_file_a_doc_names_exists(doc):
    named = set(re.findall(r"programs/[\w./-]+?\.py", doc.read_text()))
    missing = sorted(p for p in named if not (ROOT / p).is_file())
    assert not missing, f"{doc.name} names {missing}, which do not exist"
