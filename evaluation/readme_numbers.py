"""README numbers come from reports (DESIGN.md, "Protocol: claims come from outputs").

    python -m evaluation.readme_numbers            # rewrite README.md's numbers blocks from the reports
    python -m evaluation.readme_numbers --check    # exit 1, naming the block, when a block is stale

The committed small-scale reports live in ``evaluation/reports/PAPER-small.md``: copies of the
``report.md`` of ``python -m evaluation.reproduce PAPER --scale small --confirm`` (a confirmation run,
evaluation.protocol). Each paper section of README.md holds one block

    <!-- numbers: PAPER -->
    ... generated: the headline rows of the report's first table ...
    <!-- end numbers -->

that this command regenerates; ``tests/evaluation/test_readme_numbers.py`` checks that every block is
current and that every measured number the README's prose quotes for a paper (a decimal number on a line
that speaks of AUC, SIC, R50, significance or rejection) appears in that paper's committed report.
"""

import dataclasses
import os
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPORTS = ROOT / "evaluation" / "reports"
README = ROOT / "README.md"
BEGIN = re.compile(r"<!-- numbers: (\w+) -->")
END = "<!-- end numbers -->"
BENCHMARKS = "benchmarks"  # the README's performance block quotes the benchmark runner's table
BUMPHUNT_SEEDS = "bumphunt_seeds"  # the bump hunt's default by training seed (issue 32)
KAHN2021_LARGE = "kahn2021_large"  # kahn2021 at a quarter of the paper's data (issue 31)
CHENG2020_LARGE = "cheng2020_large"  # cheng2020's OE-VAEs at a sixth of the paper's data, learning curve (issue 31)
CHENG2020_PAPER_DATA = "cheng2020_paper_data"  # MSE-OE on the paper's 480k QCD + 120k outlier jets (issue 31)
LEADERBOARD_SMALL = "leaderboard_small"  # every model on the same jets: the common bench at its small scale (issue 29)


@dataclasses.dataclass(frozen=True)
class Headline:
    """Which table of a report the README quotes, and which of its rows and columns (a paper may
    quote several: a tuple of Headlines).

    Attributes:
        table: the first line of the table's header row starts with this text.
        rows: a row is quoted when it matches this regular expression.
        columns: the columns quoted, in order, by header name or position (None: every column).
    """

    table: str
    rows: str = ".*"
    columns: tuple | None = None


HEADLINES = {
    "dillon2021": Headline(
        "| scenario | model | label-free default",
        # the table has three AUC columns (default, paper's score, best with labels): by position
        columns=(0, 1, 2, 3, 4, 5, 8),
    ),
    "bortolato2021": Headline(
        "| S/B | score | weights",
        rows=r"^\| (1\.0|0\.1)% \| (label-free default: \w+ \| (max-KL|KL-peak)|paper's score: kl \| (max-KL|KL-peak)|best, chosen)",
        columns=("S/B", "score", "weights", "AUC", "SIC at eps_S = 0.5", "paper SIC (its KL)"),
    ),
    "kahn2021": (
        Headline(
            "| signal | contamination | training jets",
            columns=("signal", "contamination", "AUC", "rejection at rho' > 0.65", "paper"),
        ),
        Headline(
            "| signal | contamination | training events",
            columns=(
                "signal",
                "contamination",
                "AUC",
                "rejection at 0.65",
                "Z before",
                "Z after",
                "Z there",
                "paper: rejection, Z before -> after",
            ),
        ),
    ),
    "cheng2020": (
        Headline("| quantity | paper | ours"),
        Headline(
            "| model | score | JSD eps_B=50 %",
            columns=("model", "score", "JSD 5 %", "eps_S at 5 %", "1/JSD at 5 %", "epochs (best)"),
        ),
    ),
    "cheng2022": Headline("| "),
    BENCHMARKS: Headline("| benchmark | quantity"),
    BUMPHUNT_SEEDS: Headline("| S/B | fallback | members"),
}
HEADLINES[KAHN2021_LARGE] = HEADLINES["kahn2021"]
HEADLINES[CHENG2020_LARGE] = (Headline("| quantity | paper | ours"), Headline("| QCD jets | outlier jets"))
HEADLINES[CHENG2020_PAPER_DATA] = Headline("| quantity | paper | ours", rows=r"^\| OE-VAE")
# the AUC of every default score per signal, and how much QCD from a shifted simulation passes the nominal 1 % cut
HEADLINES[LEADERBOARD_SMALL] = (
    Headline("| model | task | training set | default score"),
    Headline("| model | shifted QCD", columns=(0, 1, 2, 3)),
)


# blocks that quote a report other than a paper's small confirmation run: {key: (file, how to make it)}
OTHER_REPORTS = {
    BENCHMARKS: ("benchmarks-quick.md", "`python -m benchmarks --quick --out DIR`, copy DIR/benchmarks.md there"),
    BUMPHUNT_SEEDS: (
        "bumphunt-seeds-confirm.md",
        "`python -m evaluation.bumphunt_seeds --run-seeds 5000 6000 --members 5 --fractions 0.01 0.001 --out DIR`, "
        "copy DIR/report.md there",
    ),
    KAHN2021_LARGE: (
        "kahn2021-large.md",
        "`python -m evaluation.reproduce kahn2021 --scale large --confirm`, copy its report.md there",
    ),
    CHENG2020_LARGE: (
        "cheng2020-large.md",
        "`python -m evaluation.reproduce cheng2020 --scale large --confirm`, copy its report.md there",
    ),
    CHENG2020_PAPER_DATA: (
        "cheng2020-paper-data.md",
        "`python -m evaluation.reproduce cheng2020 --scale paper-data --confirm`, copy its report.md there",
    ),
    LEADERBOARD_SMALL: (
        "leaderboard-small/report.md",
        "`python -m evaluation.leaderboard --scale small --workers 2 --out DIR`, copy DIR/report.md and DIR/*.png "
        "there",
    ),
}


def report_path(key):
    """The committed report a block quotes: a paper's small confirmation run, or one of OTHER_REPORTS."""
    return REPORTS / (OTHER_REPORTS[key][0] if key in OTHER_REPORTS else f"{key}-small.md")


def how_to_regenerate(key):
    if key in OTHER_REPORTS:
        return OTHER_REPORTS[key][1]
    return f"`python -m evaluation.reproduce {key} --scale small --confirm`, copy its report.md there"


def tables(text):
    """Every markdown table of `text` as a list of its lines."""
    out, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def headline_tables(paper, text):
    """The quoted tables of `paper`'s report `text` as markdown lines (a blank line between tables)."""
    specs = HEADLINES[paper] if isinstance(HEADLINES[paper], tuple) else (HEADLINES[paper],)
    lines = []
    for spec in specs:
        lines += ([""] if lines else []) + headline_table(spec, text, paper)
    return lines


def headline_table(spec, text, paper):
    """The quoted rows and columns of one table of `paper`'s report `text` as markdown lines."""
    found = [t for t in tables(text) if t[0].startswith(spec.table)]
    if not found:
        raise ValueError(f"{report_path(paper)}: no table whose header starts with {spec.table!r}")
    header, _, *rows = found[0]
    names = _cells(header)
    columns = range(len(names)) if spec.columns is None else spec.columns
    keep = [c if isinstance(c, int) else names.index(c) for c in columns]
    pick = re.compile(spec.rows)
    lines = ["| " + " | ".join(names[k] for k in keep) + " |", "|" + "---|" * len(keep)]
    for row in rows:
        if pick.search(row):
            cells = _cells(row)
            lines.append("| " + " | ".join(cells[k] if k < len(cells) else "" for k in keep) + " |")
    return lines


def block(paper):
    """The README block of `paper`, from its committed report (markers included)."""
    path = report_path(paper)
    text = path.read_text()
    title = text.splitlines()[0].lstrip("# ").strip()
    source = path.relative_to(ROOT)
    lines = [
        f"<!-- numbers: {paper} -->",
        f"From `{source}` ({title}; regenerate with {how_to_regenerate(paper)}, then "
        "`python -m evaluation.readme_numbers`):",
        "",
        *headline_tables(paper, text),
        END,
    ]
    return "\n".join(lines)


def blocks(readme_text):
    """{paper: (start, end) character span of its block, markers included} in `readme_text`."""
    spans = {}
    for match in BEGIN.finditer(readme_text):
        end = readme_text.find(END, match.end())
        if end < 0:
            raise ValueError(f"README.md: block '{match.group(0)}' has no '{END}'")
        spans[match.group(1)] = (match.start(), end + len(END))
    return spans


def render(readme_text):
    """`readme_text` with every block regenerated from its report."""
    out, last = [], 0
    for paper, (start, end) in sorted(blocks(readme_text).items(), key=lambda kv: kv[1]):
        out += [readme_text[last:start], block(paper)]
        last = end
    return "".join(out + [readme_text[last:]])


CONTEXT = re.compile(r"AUC|SIC|R50|σ|signific|rejection|rejects", re.IGNORECASE)
NUMBER = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")


def quoted_numbers(section_text):
    """Decimal numbers on the prose lines of a README section that speak of a measured quantity
    (outside code fences and generated blocks)."""
    found, fenced, in_block = [], False, False
    for line in section_text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if BEGIN.search(line):
            in_block = True
        if in_block:
            in_block = END not in line
            continue
        if not fenced and CONTEXT.search(line):
            found += [(n, line.strip()) for n in NUMBER.findall(line)]
    return found


def section(readme_text, paper):
    """The README text from the heading that holds `paper`'s block to the next heading of that level or above."""
    span = blocks(readme_text).get(paper)
    if span is None:
        raise ValueError(f"README.md has no numbers block for {paper}")
    headings = [m for m in re.finditer(r"^(#{2,3}) .*$", readme_text, re.MULTILINE)]
    before = [m for m in headings if m.start() < span[0]]
    start = before[-1].start() if before else 0
    level = len(before[-1].group(1)) if before else 2
    after = [m for m in headings if m.start() > span[1] and len(m.group(1)) <= level]
    return readme_text[start : after[0].start() if after else len(readme_text)]


def main(argv=None):
    from preprocessing.cli import CommandParser

    parser = CommandParser(prog="python -m evaluation.readme_numbers", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check: exit 1 naming the stale blocks")
    args = parser.parse_args(argv)
    text = README.read_text()
    new = render(text)
    if args.check:
        if new != text:
            stale = [p for p in blocks(text) if block(p) not in text]
            print(f"error: README.md numbers blocks out of date: {stale}", file=sys.stderr)
            return 1
        return 0
    tmp = README.with_name(f".{README.name}.tmp")
    tmp.write_text(new)
    os.replace(tmp, README)
    print(f"README.md: {len(blocks(new))} numbers blocks from {REPORTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
