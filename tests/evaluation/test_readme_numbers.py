"""README numbers agree with the committed small reports (evaluation.readme_numbers)."""

import re

import pytest

from evaluation import readme_numbers as rn

README = rn.README.read_text()
PAPERS = sorted(rn.blocks(README))


def report_numbers(paper):
    """Every decimal number in the tables of a paper's committed report."""
    text = rn.report_path(paper).read_text()
    return {n for table in rn.tables(text) for line in table for n in rn.NUMBER.findall(line)}


def test_every_committed_report_has_a_readme_block():
    reports = sorted(p.name.removesuffix("-small.md") for p in rn.REPORTS.glob("*-small.md"))
    assert reports, "no committed small reports in evaluation/reports"
    assert set(reports) <= set(PAPERS), f"reports without a README block: {sorted(set(reports) - set(PAPERS))}"


@pytest.mark.parametrize("paper", PAPERS)
def test_block_is_regenerated_from_the_report(paper):
    assert rn.block(paper) in README, f"README block of {paper} is stale: run python -m evaluation.readme_numbers"


@pytest.mark.parametrize("paper", PAPERS)
def test_prose_numbers_appear_in_the_report(paper):
    """A section's prose quotes the reports of the blocks it holds (a paper's report, and e.g. the
    bump hunt's seed study beside bortolato2021's)."""
    text = rn.section(README, paper)
    beside = [key for key in PAPERS if rn.section(README, key) == text]
    known = set().union(*(report_numbers(key) for key in beside))
    missing = [(n, line) for n, line in rn.quoted_numbers(text) if n not in known]
    assert not missing, f"README numbers for {paper} not in {[rn.report_path(k).name for k in beside]}: {missing}"


def test_a_wrong_number_is_caught():
    paper = PAPERS[0]
    block = rn.block(paper)
    text = f"### {paper}\n\nOur default reaches AUC 0.123456 on the test jets.\n\n{block}\n"
    quoted = rn.quoted_numbers(rn.section(text, paper))
    assert ("0.123456", "Our default reaches AUC 0.123456 on the test jets.") in quoted
    assert "0.123456" not in report_numbers(paper)
    # numbers inside the generated block and in code fences are not prose
    assert all(not re.search(r"^\|", line) for _, line in quoted)


def test_a_hand_edited_block_is_stale():
    paper = PAPERS[0]
    start, end = rn.blocks(README)[paper]
    edited = README[:start] + README[start:end].replace("0.", "0.9", 1) + README[end:]
    assert rn.render(edited) != edited
