"""The five papers this project reproduces: one table of authors, titles and arXiv ids.

Every ``CITATION`` of a model family (and so every model card and ``--help`` line) is formatted
here by ``cite``; nothing else types an author list. The entries are copied from
``../shared/papers/README.md`` and checked against it and against the first lines of each paper's
text by ``tests/models/test_citations.py``.

    cite("cheng2022", "App. A FCN baseline")
    -> 'T. Cheng, A. Courville, "Invariant Representation Driven Neural Classifier for Anti-QCD Jet
        Tagging", arXiv:2201.07199 (cheng2022), App. A FCN baseline'
"""

from dataclasses import dataclass

__all__ = ["PAPERS", "Paper", "cite", "reference"]


@dataclass(frozen=True)
class Paper:
    """One paper: its short key (as used in issues and module names), authors in order, title, arXiv id."""

    key: str
    authors: tuple[str, ...]
    title: str
    arxiv: str


PAPERS = {
    paper.key: paper
    for paper in (
        Paper(
            "cheng2020",
            ("T. Cheng", "J.-F. Arguin", "J. Leissner-Martin", "J. Pilette", "T. Golling"),
            "Variational Autoencoders for Anomalous Jet Tagging",
            "2007.01850",
        ),
        Paper(
            "kahn2021",
            ("A. Kahn", "J. Gonski", "I. Ochoa", "D. Williams", "G. Brooijmans"),
            "Anomalous Jet Identification via Sequence Modeling",
            "2105.09274",
        ),
        Paper(
            "bortolato2021",
            ("B. Bortolato", "B. M. Dillon", "J. F. Kamenik", "A. Smolkovič"),
            "Bump Hunting in Latent Space",
            "2103.06595",
        ),
        Paper(
            "cheng2022",
            ("T. Cheng", "A. Courville"),
            "Invariant Representation Driven Neural Classifier for Anti-QCD Jet Tagging",
            "2201.07199",
        ),
        Paper(
            "dillon2021",
            ("B. M. Dillon", "T. Plehn", "C. Sauer", "P. Sorrenson"),
            "Better Latent Spaces for Better Autoencoders",
            "2104.08291",
        ),
    )
}


def reference(key):
    """'A. Author, B. Author, "Title", arXiv:NNNN.NNNNN (key)' for one paper of the table.

    Raises:
        KeyError: the key is not one of ``PAPERS`` (the message lists the known keys).
    """
    if key not in PAPERS:
        raise KeyError(f"unknown paper {key!r}; known: {sorted(PAPERS)}")
    paper = PAPERS[key]
    return f'{", ".join(paper.authors)}, "{paper.title}", arXiv:{paper.arxiv} ({paper.key})'


def cite(key, detail=None):
    """The citation string of a model family: ``reference(key)``, then ``, detail`` if given
    (the section, figure or table the family follows)."""
    return reference(key) if detail is None else f"{reference(key)}, {detail}"
