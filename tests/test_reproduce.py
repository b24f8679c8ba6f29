"""benchmarks/reproduce.py on tiny fake claim modules in a temp dir (no training)."""

import importlib.util
import json
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

GOOD = '''
NAME = "{name}"
TITLE = "{title}"

def run(quick, figures):
    (figures / "{name}_fig.png").write_bytes(b"png")
    return {{"claims": [{{"claim": "{name} works", "experiment": "toy",
                         "number": "budget " + ("quick" if quick else "full"),
                         "verdict": "reproduced", "why": "it does",
                         "figure": "docs/figures/{name}_fig.png", "seeds": "2 of 2"}},
                        {{"claim": "{name} second | piped", "experiment": "toy",
                         "number": "0.5", "verdict": "partly", "why": "half",
                         "figure": None, "seeds": "1 of 2"}}],
            "raw": {{"x": 1.5}}}}
'''

RECORDED = '''

def recorded(figures):
    return {"claims": [{"claim": "NAME works", "experiment": "committed", "number": "recorded",
                        "verdict": "not", "why": "", "figure": None, "seeds": "0 of 3"}]}
'''

BROKEN = '''
NAME = "b_broken"
TITLE = "Broken (2099)"

def run(quick, figures):
    raise RuntimeError("this claim module is broken on purpose")
'''


def load_reproduce():
    spec = importlib.util.spec_from_file_location("reproduce", ROOT / "benchmarks" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def workspace(tmp_path):
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / "a_good.py").write_text(GOOD.format(name="a_good", title="Good (2020)"))
    (claims / "b_broken.py").write_text(BROKEN)
    (claims / "c_other.py").write_text(GOOD.format(name="c_other", title="Other (2021)")
                                       + RECORDED.replace("NAME", "c_other"))
    (claims / "_helpers.py").write_text("raise SystemExit('not a claim')\n")
    md = tmp_path / "results.md"
    md.write_text("# Report\n\nbefore\n\n<!-- verdicts:begin -->\nold table\n"
                  "<!-- verdicts:end -->\n\n## Section\nafter\n")
    args = ["--claims-dir", str(claims), "--results-dir", str(tmp_path / "results"),
            "--figures", str(tmp_path / "figures"), "--results-md", str(md)]
    return tmp_path, md, args


def test_runs_every_claim_and_one_failure_does_not_stop_the_others(workspace, capsys):
    tmp, md, args = workspace
    rc = load_reproduce().main(["--quick", *args])
    out = capsys.readouterr().out
    assert rc == 1
    assert "b_broken: FAILED" in out and "failed claims: b_broken" in out
    for name in ("a_good", "c_other"):  # c_other runs after the broken one
        record = json.loads((tmp / "results" / f"reproduce_{name}_quick.json").read_text())
        assert record["name"] == name and record["mode"] == "quick"
        assert record["claims"][0]["number"] == "budget quick"
        assert record["raw"] == {"x": 1.5}
        assert (tmp / "figures" / f"{name}_fig.png").exists()
    assert not (tmp / "results" / "reproduce_b_broken_quick.json").exists()
    doc = md.read_text()
    assert doc.startswith("# Report\n\nbefore\n") and doc.endswith("## Section\nafter\n")
    assert "old table" not in doc
    table = doc.split("<!-- verdicts:begin -->")[1].split("<!-- verdicts:end -->")[0]
    rows = [r for r in table.strip().splitlines() if r.startswith("| ") and "---" not in r][1:]
    assert len(rows) == 4  # two claims each of the two modules that ran, none of the broken one
    assert rows[0].startswith("| Good (2020) | a_good works | budget quick | **reproduced** | 2 of 2 |")
    assert "a_good second \\| piped" in rows[1] and "**partly**" in rows[1]
    assert "[a_good_fig.png](" in rows[0] and rows[0].endswith("| quick |")
    assert "Broken" not in table


def test_only_refreshes_one_claim_and_keeps_the_other_rows(workspace, capsys):
    tmp, md, args = workspace
    reproduce = load_reproduce()
    assert reproduce.main(["--quick", "--only", "a_good", "c_other", *args]) == 0
    assert reproduce.main(["--full", "--only", "c_other", *args]) == 0
    assert "a_good: start" not in capsys.readouterr().out.split("c_other: start (full)")[1]
    assert not (tmp / "results" / "reproduce_a_good_full.json").exists()
    assert (tmp / "results" / "reproduce_c_other_full.json").exists()
    table = md.read_text().split("<!-- verdicts:begin -->")[1]
    assert "| a_good works | budget quick |" in table  # kept from the first run
    assert "| c_other works | budget full |" in table  # the full results win over quick
    assert "| c_other works | budget quick |" not in table


def test_only_with_an_unknown_name_is_refused(workspace, capsys):
    _, md, args = workspace
    before = md.read_text()
    assert load_reproduce().main(["--only", "nope", *args]) == 2
    assert "--only nope: no such claim" in capsys.readouterr().err
    assert md.read_text() == before


def test_a_malformed_result_fails_its_claim(workspace, capsys):
    tmp, _, args = workspace
    (tmp / "claims" / "d_bad.py").write_text(textwrap.dedent('''
        NAME = "d_bad"
        TITLE = "Bad"
        def run(quick, figures):
            return {"claims": [{"claim": "x", "experiment": "e", "number": "1",
                                "verdict": "sort of", "why": "", "figure": None, "seeds": ""}]}
    '''))
    assert load_reproduce().main(["--only", "d_bad", *args]) == 1
    assert "d_bad: FAILED" in capsys.readouterr().out


def test_recorded_builds_rows_without_run_and_skips_modules_without_it(workspace, capsys):
    tmp, md, args = workspace
    reproduce = load_reproduce()
    assert reproduce.main(["--quick", "--only", "a_good", "c_other", *args]) == 0
    assert reproduce.main(["--recorded", "--only", "a_good", "c_other", *args]) == 0
    assert "a_good: skipped (no recorded())" in capsys.readouterr().out
    assert not (tmp / "results" / "reproduce_a_good_recorded.json").exists()
    table = md.read_text().split("<!-- verdicts:begin -->")[1]
    assert "| a_good works | budget quick |" in table
    assert "| c_other works | recorded | **not** | 0 of 3 | — | recorded |" in table
    assert "budget quick" not in table.split("c_other")[1]  # recorded wins over quick
