"""The seeds a label-free rule was chosen on (DESIGN.md, "Protocol: selection and confirmation").

A rule that was picked after looking at labelled results (a default score, a component rule) records
here the generation seeds of the samples and the member (training) seeds of the runs that were looked
at. Numbers published for the rule come from confirmation runs whose seeds are disjoint from these
(``python -m evaluation.reproduce PAPER --confirm`` checks it before any work).
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class SelectionSeeds:
    """Seeds that played a part in choosing a rule.

    Attributes:
        rule: what was chosen (e.g. "bumphunt_vae default score `rarity`").
        generation_seeds: generator seeds of every sample whose labelled results were looked at.
        member_seeds: training seeds of every model whose labelled results were looked at.
        how: one sentence: which runs, which comparison.
    """

    rule: str
    generation_seeds: frozenset
    member_seeds: frozenset
    how: str

    def overlap(self, generation_seeds, member_seeds):
        """{"generation": sorted shared seeds, "member": ...}; empty lists when disjoint."""
        return {
            "generation": sorted(self.generation_seeds & set(generation_seeds)),
            "member": sorted(self.member_seeds & set(member_seeds)),
        }

    def describe(self):
        """One line for reports: the rule and its selection seeds."""
        return (
            f"{self.rule}: chosen on generation seeds {seed_ranges(self.generation_seeds)} and member seeds "
            f"{seed_ranges(self.member_seeds)} ({self.how})"
        )


def seed_ranges(seeds):
    """'0-6, 3003-3004' style text of a set of integers."""
    seeds = sorted(seeds)
    parts, start = [], None
    for k, s in enumerate(seeds):
        if start is None:
            start = s
        if k + 1 == len(seeds) or seeds[k + 1] != s + 1:
            parts.append(f"{start}" if start == s else f"{start}-{s}")
            start = None
    return ", ".join(parts) or "none"
