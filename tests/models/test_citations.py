"""Citations are facts: the table in models.citations equals ../shared/papers/README.md and the
papers' own first lines, no file of the repository names other authors for the five papers, and
every registered model's citation is built from the table."""

import os
import pathlib
import re
import unicodedata

import pytest

from models import citations
from models.registry import MODELS

ROOT = pathlib.Path(__file__).resolve().parents[2]
# CI clones the repository with a copy of shared/ beside it; there (CI=true) a missing shared/ fails
# these tests; elsewhere (a user's checkout without shared/) they are skipped with the reason
PAPERS_DIR = ROOT.parent / "shared" / "papers"
HEAD_LINES = 40  # the title and the author list of every paper text lie in its first lines
SKIP_DIRS = {".git", ".venv", "exported", "reproductions", "data", "runs", "__pycache__"}

# which paper each registered model follows (a model added to the registry must be added here)
MODEL_PAPERS = {
    "dvae": "dillon2021",
    "ae1d": "dillon2021",
    "vae1d": "dillon2021",
    "gmvae": "dillon2021",
    "bumphunt_vae": "bortolato2021",
    "vrnn": "kahn2021",
    "beta_vae": "cheng2020",
    "disco_vae": "cheng2020",
    "oe_vae": "cheng2020",
    "dnn": "cheng2020",
    "particlenet": "cheng2022",
    "fcn": "cheng2022",
}


def normalise(text):
    """Lower case ASCII with markdown, HTML tags and diacritics removed, whitespace collapsed."""
    text = re.sub(r"<[^>]+>", " ", text)  # <sup>a</sup> -> " a "
    text = unicodedata.normalize("NFKD", text)  # "č" -> "c" + combining caron, "¹" -> "1"
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[*_#`]", " ", text)
    return re.sub(r"\s+", " ", text).strip().lower()


def readme_rows():
    """{key: (file, authors, title, arXiv id)} from the table of ../shared/papers/README.md."""
    readme = PAPERS_DIR / "README.md"
    if not readme.is_file() and os.environ.get("CI", "").lower() not in ("true", "1", "yes"):
        # a checkout outside the project's workplace has no shared/ beside it; CI (CI=true) always has it
        pytest.skip(
            f"{readme} is missing (not in CI): the citation facts come from shared/papers beside the repository"
        )
    assert readme.is_file(), f"{readme} is missing: the citation facts come from shared/papers beside the repository"
    rows = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].endswith(".txt"):
            continue
        file, paper, key = cells
        match = re.fullmatch(
            r"(?P<authors>.+?), \*(?P<title>.+?)\* \((?:.*, )?arXiv:(?P<arxiv>\d{4}\.\d{4,5})\)", paper
        )
        assert match, f"unparsed paper cell {paper!r}"
        rows[key] = (file, tuple(match["authors"].split(", ")), match["title"], match["arxiv"])
    return rows


def test_table_equals_the_shared_readme():
    rows = readme_rows()
    assert sorted(rows) == sorted(citations.PAPERS)
    for key, (_, authors, title, arxiv) in rows.items():
        paper = citations.PAPERS[key]
        assert paper.key == key
        assert paper.authors == authors, f"{key}: table {paper.authors} != shared README {authors}"
        assert paper.title == title, f"{key}: table {paper.title!r} != shared README {title!r}"
        assert paper.arxiv == arxiv, f"{key}: table {paper.arxiv} != shared README {arxiv}"


def author_pattern(author):
    """Regex on normalised text for 'J.-F. Arguin' -> 'Jean-Francois Arguin' (each initial starts a name)."""
    *initials, surname = author.split(" ")
    given = [r"-".join(rf"{re.escape(part[0].lower())}[\w]*\.?" for part in token.split("-")) for token in initials]
    return r"(?<![\w])" + r"\s+".join([*given, re.escape(normalise(surname))]) + r"(?![a-z])"


@pytest.mark.parametrize("key", sorted(citations.PAPERS))
def test_table_matches_the_paper_text(key):
    file = readme_rows()[key][0]
    head = normalise("\n".join((PAPERS_DIR / file).read_text(encoding="utf-8").splitlines()[:HEAD_LINES]))
    paper = citations.PAPERS[key]
    assert normalise(paper.title) in head, f"{key}: title {paper.title!r} not in the first lines of {file}"
    positions = []
    for author in paper.authors:
        found = re.search(author_pattern(author), head)
        assert found, f"{key}: author {author!r} not in the first lines of {file}"
        positions.append(found.start())
    assert positions == sorted(positions), f"{key}: authors {paper.authors} not in the paper's order"


def test_paper_text_check_rejects_a_wrong_author():
    head = normalise("Taoli Cheng, Aaron Courville\n")
    assert re.search(author_pattern("A. Courville"), head)
    assert not re.search(author_pattern("B. Courville"), head)  # wrong initial
    assert not re.search(author_pattern("A. Yamamoto"), head)  # wrong surname


def repository_texts():
    """(relative path, text) of every .py and .md file of the repository, this test file excepted
    (it has to spell the wrong names it forbids)."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in files:
            path = pathlib.Path(folder) / name
            if path.suffix in (".py", ".md") and path.resolve() != pathlib.Path(__file__).resolve():
                yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")


# "T. Cheng, A. Yamamoto et al." / "Cheng, Chang, Chao, Jiang, Shao": runs of comma-separated names,
# with or without initials, optionally ending in "et al."
NAME = r"(?:[A-Z][a-z]?\.(?:-[A-Z]\.)?\s+)*[A-Z][\w\u00c0-\u017f-]+"
NAME_RUN = re.compile(rf"{NAME}(?:,\s+(?:and\s+)?{NAME})+(?:,?\s+et\s+al\.)?|{NAME}\s+et\s+al\.")


def contradictions(text):
    """Author lists in `text` that start with a first author of the table and then disagree with
    every paper of that author, and "X et al." with X an author of the table who is first of none."""
    papers = [[normalise(a) for a in p.authors] for p in citations.PAPERS.values()]
    surnames = [[a.split(" ")[-1] for a in p] for p in papers]
    firsts = {s[0] for s in surnames}
    others = {name for s in surnames for name in s[1:]} - firsts
    found = []
    for match in NAME_RUN.finditer(text):
        run = re.sub(r",?\s+et\s+al\.$", "", match[0])
        names = [normalise(n) for n in re.split(r",\s+(?:and\s+)?", run)]
        listed = [n.split(" ")[-1] for n in names]
        if listed[0] in others and match[0].endswith("et al.") and len(listed) == 1:
            found.append(match[0])
        if listed[0] not in firsts:
            continue
        with_initials = all(" " in n for n in names)
        if not any(
            (names if with_initials else listed) == (full if with_initials else short)[: len(names)]
            for full, short in zip(papers, surnames)
            if short[0] == listed[0]
        ):
            found.append(match[0])
    return found


def test_contradiction_finder_sees_the_old_wrong_lists():
    assert contradictions("(cheng2022: T. Cheng, A. Yamamoto et al., arXiv:2201.07199)")
    assert contradictions("of Cheng, Chang, Chao, Jiang, Shao, *Variational")
    assert contradictions("of Cheng, Chao, Chang, Jiang, Shao, *Invariant")
    assert contradictions("Courville et al. (arXiv:2201.07199)")
    assert contradictions("B. Bortolato, B. M. Dillon, A. Smolkovic")
    right = (
        "T. Cheng, A. Courville; Cheng, Arguin, Leissner-Martin, Pilette, Golling; Kahn et al.; "
        "B. Bortolato, B. M. Dillon, J. F. Kamenik, A. Smolkovič; Dillon, Plehn, Sauer, Sorrenson; "
        "T. Cheng, J.-F. Arguin et al.; H. Qu, L. Gouskos"
    )
    assert contradictions(right) == []


def test_no_file_contradicts_the_table():
    wrong = ("Yamamoto", "Chang, Chao", "Chao, Chang")
    hits = [(path, w) for path, text in repository_texts() for w in wrong if w in text]
    assert hits == []
    lists = [(path, c) for path, text in repository_texts() for c in contradictions(text)]
    assert lists == []


def test_every_registered_citation_comes_from_the_table():
    for name, spec in MODELS.items():
        key = MODEL_PAPERS.get(name)
        assert key is not None, f"{name}: add the paper it follows to MODEL_PAPERS"
        assert spec.citation.startswith(citations.reference(key)), f"{name}: {spec.citation!r}"


def test_cite_formats_the_table_entry():
    assert citations.cite("cheng2022", "App. A FCN baseline") == (
        'T. Cheng, A. Courville, "Invariant Representation Driven Neural Classifier for Anti-QCD Jet Tagging", '
        "arXiv:2201.07199 (cheng2022), App. A FCN baseline"
    )
    with pytest.raises(KeyError, match="unknown paper"):
        citations.cite("cheng2021")
