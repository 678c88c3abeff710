"""Study pages: every number of a README comes from the study's files, and the check catches a hand edit."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from nst_bench import pages
from nst_bench.cli import main
from nst_bench.errors import UserError

from .conftest import ROOT


@pytest.fixture()
def study(tmp_path):
    folder = tmp_path / "study"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "metrics.json").write_text(json.dumps({
        "final": {"style": 12.3456}, "val_history": [{"l1": 0.5}, {"l1": 0.25}],
        "provenance": {"nst_bench": "0.1.0", "git_commit": "abcdef123456", "date": "2026-12-01", "torch": "2.14.1",
                       "threads": 2, "dtype": "float32"}}))
    (folder / "runtime.csv").write_text("method,size,seconds\ngatys,256,300.0\ngatys,512,1500.0\nadain,512,1.5\n")
    (folder / "grid.jpg").write_bytes(b"jpg")
    (folder / "page.md").write_text(
        "---\ncommand: bash experiments/study.sh\nstale: made before the fix\n---\n# A study\n\n"
        "Style {{ value a/metrics.json final.style fmt=.1f }}, last L1 {{ value a/metrics.json val_history.-1.l1 }}"
        " on torch {{ text a/metrics.json provenance.torch }}.\n"
        "Gatys at 512 px takes {{ value runtime.csv seconds method=gatys size=512 fmt=,.0f }} s, "
        "{{ ratio runtime.csv seconds method=gatys size=512 / seconds method=adain size=512 fmt=,.0f }}x AdaIN.\n\n"
        "{{ table runtime.csv cols=method,seconds size=512 fmt=.1f }}\n\n{{ figure grid.jpg the grid }}\n\n"
        "{{ provenance }}\n")
    return folder


def test_a_page_is_filled_from_its_files(study):
    text = pages.render(study)
    assert text == (study / "README.md").read_text()
    assert "Reproduce: `bash experiments/study.sh`" in text and "> **Stale.** made before the fix" in text
    assert "Style 12.3, last L1 0.25 on torch 2.14.1." in text
    assert "Gatys at 512 px takes 1,500 s, 1,000x AdaIN." in text
    assert "| gatys    |    1500.0 |" in text and "| adain    |       1.5 |" in text and "256" not in text
    assert "![the grid](grid.jpg)" in text
    assert "1 run(s): nst-bench 0.1.0 at commit `abcdef1` on 2026-12-01, torch 2.14.1, 2 threads, float32" in text
    assert pages.check([study]) == []


def test_the_check_fails_on_a_hand_edit_a_typed_number_and_a_missing_file(study):
    pages.render(study)
    readme = study / "README.md"
    readme.write_text(readme.read_text().replace("1,500 s", "1,400 s"))
    (problem,) = pages.check([study])
    assert f"{readme} differs from its data at line 9" in problem
    page = study / "page.md"
    page.write_text(page.read_text().replace("Style {{", "About 0.44 s per iteration. Style {{"))
    problems = pages.check([study])
    assert any("types numbers by hand (0.44)" in p for p in problems)
    page.write_text(page.read_text().replace("grid.jpg the grid", "nothing.jpg"))
    assert any("names nothing.jpg, which does not exist" in p for p in pages.check([study]))
    with pytest.raises(UserError, match="2 rows match"):
        page.write_text("# x\n{{ value runtime.csv seconds method=gatys }}\n")
        pages.render(study)


def tracked_results(to: Path) -> Path:
    """A copy of the files of results/ that git tracks, as they are in the working tree: what a clone would render
    (ignored run folders on this machine must not feed a page)."""
    listed = subprocess.run(["git", "ls-files", "-z", "results"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        if not (ROOT / name).exists():  # deleted here, not yet in a commit
            continue
        (to / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, to / name)
    return to / "results"


def test_committed_study_pages_agree_with_their_data_and_a_hand_edit_fails(tmp_path, capsys):
    folders = [str(f) for f in pages.study_folders(tracked_results(tmp_path / "clone"))]
    assert len(folders) >= 10
    assert main(["report", "--check", *folders]) == 0  # results/ as committed, nothing recomputed
    assert "study pages agree with their data" in capsys.readouterr().out
    copy = tmp_path / "deepdream"
    shutil.copytree(ROOT / "results" / "deepdream", copy)
    readme = copy / "README.md"
    text = readme.read_text()
    readme.write_text(text.replace("| 46x |", "| 47x |", 1))
    assert readme.read_text() != text
    assert main(["report", "--check", str(copy)]) == 1
    assert "differs from its data" in capsys.readouterr().err


def test_provenance_from_a_log_counts_its_rows_and_those_without_a_record(study):
    record = {"nst_bench": "0.1.0", "git_commit": "1234567abc", "date": "2026-12-02", "torch": "2.14.1", "threads": 2,
              "dtype": "float32"}
    rows = [{"provenance": record}] * 3 + [{"provenance": None}, {}]
    (study / "scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (study / "page.md").write_text("# x\n\n{{ provenance scores.jsonl }}\n")
    text = pages.render(study)
    assert "- 3 run(s): nst-bench 0.1.0 at commit `1234567` on 2026-12-02, torch 2.14.1, 2 threads, float32" in text
    assert "- 2 row(s) of scores.jsonl written before provenance was recorded" in text
    assert "abcdef1" not in text  # the folder's metrics.json is not read when a log is named


def test_front_matter_that_is_not_yaml_is_a_one_line_error(study):
    (study / "page.md").write_text("---\ncommand: x\nmade: 2026 (a: b)\n---\n# x\n")
    with pytest.raises(UserError, match=r"page.md line 3: the front matter is not valid YAML") as e:
        pages.render(study)
    assert "\n" not in str(e.value)
