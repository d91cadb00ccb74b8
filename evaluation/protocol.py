"""Selection and confirmation seeds for the reproductions (DESIGN.md, "Protocol").

A rule chosen after looking at labelled results records its selection seeds beside itself
(``models.selection_seeds.SelectionSeeds``: ``models.bumphunt_vae.RARITY_SELECTION``,
``models.dvae.WIDTH_TAIL_SELECTION``). Each paper module lists the records of the rules its report
quotes (``selection()``) and the seeds a run uses (``seeds(scale, seed)``). A confirmation run
(``python -m evaluation.reproduce PAPER --confirm``) starts at ``CONFIRMATION_SEED`` unless told
otherwise, is refused before any work when one of its generation or member seeds played a part in a
selection, and only its numbers are quoted as "ours" in the README.

Default-dataset recipes with fixed generator seeds are moved with the run's seed (``shifted``), so
seed 0 keeps the recipe's own samples and another seed generates independent ones.
"""

import dataclasses

from models.selection_seeds import seed_ranges
from preprocessing.errors import DataError

CONFIRMATION_SEED = 1000  # --confirm without --seed: far from every seed used while choosing a rule


def shifted(recipe, seed):
    """`recipe` (models.registry.DatasetRecipe) with every component's generator seed moved by `seed`."""
    if not seed:
        return recipe
    components = tuple(dataclasses.replace(c, seed=c.seed + seed) for c in recipe.components)
    return dataclasses.replace(recipe, name=f"{recipe.name}-seed{seed}", components=components)


def recipe_seeds(recipe, seed=0):
    """The generator seeds of `recipe` shifted by `seed`."""
    return {c.seed for c in shifted(recipe, seed).components}


def confirmation_seed(module):
    """The default --confirm seed of a paper module: its own ``CONFIRMATION_SEED`` where an earlier
    confirmation run's seeds later became selection seeds of a new rule, else ``CONFIRMATION_SEED``."""
    return getattr(module, "CONFIRMATION_SEED", CONFIRMATION_SEED)


def check_confirmation(paper_name, module, scale, seed):
    """Raise DataError naming the shared seeds when a confirmation run at (scale, seed) would reuse a
    seed that a rule of `module` was chosen on; returns the run's seeds {"generation", "member"}."""
    used = module.seeds(scale, seed)
    for record in module.selection():
        shared = record.overlap(used["generation"], used["member"])
        if shared["generation"] or shared["member"]:
            raise DataError(
                f"--confirm --seed {seed}: {paper_name} would reuse selection seeds of {record.rule} "
                f"(generation {shared['generation']}, member {shared['member']}); choose another --seed "
                f"(default {confirmation_seed(module)})"
            )
    return used


def report_section(paper_name, module, scale, seed, confirm):
    """Markdown lines for report.md: which kind of run this is, its seeds and the rules' selection seeds."""
    used = module.seeds(scale, seed)
    records = list(module.selection())
    overlaps = [r for r in records if any(r.overlap(used["generation"], used["member"]).values())]
    if confirm:
        kind = (
            "**Confirmation run**: no seed of this run played a part in choosing a label-free rule; its "
            "numbers are the ones quoted as ours."
        )
    elif overlaps:
        kind = (
            "**Selection-seed run**: this run shares seeds with the choice of "
            + "; ".join(r.rule for r in overlaps)
            + f". Its numbers for those rules are in-sample; quote the `--confirm` run instead "
            f"(`python -m evaluation.reproduce {paper_name} --scale {scale} --confirm`)."
        )
    else:
        kind = "Exploratory run (not `--confirm`): its seeds are disjoint from every recorded selection."
    from models.citations import PAPERS, reference

    lines = [f"Paper: {reference(paper_name)}.", ""] if paper_name in PAPERS else []
    lines += [
        "## Protocol",
        "",
        kind,
        "",
        f"- this run: generation seeds {seed_ranges(used['generation'])}; member seeds {seed_ranges(used['member'])}",
    ]
    lines += [f"- selection seeds of {r.describe()}" for r in records]
    if not records:
        lines.append("- no label-chosen rule is quoted by this report (every default is the paper's own)")
    return lines + [""]


def stamp_report(path, lines):
    """Insert `lines` into the report at `path` after its title (written to a temporary file, then renamed)."""
    import os
    import pathlib

    path = pathlib.Path(path)
    text = path.read_text().splitlines()
    at = 1 if text and text[0].startswith("# ") else 0
    body = text[:at] + ([""] if at else []) + list(lines) + text[at:]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(body) + "\n")
    os.replace(tmp, path)
