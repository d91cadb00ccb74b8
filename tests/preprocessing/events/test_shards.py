"""The shard cache: stable per-shard seeds and keys that change with anything that changes content."""

from preprocessing.events.processes import PROCESSES, make_process
from preprocessing.events.shards import shard_key, shard_seeds
from preprocessing.jets.selection import SELECTIONS


def test_shard_seeds_are_stable_and_distinct():
    assert shard_seeds(1, 3) == shard_seeds(1, 5)[:3]
    assert len(set(shard_seeds(1, 50))) == 50
    assert all(1 <= s <= 900_000_000 for s in shard_seeds(7, 20))


def test_shard_key_changes_with_anything_that_changes_content():
    sel = SELECTIONS["dillon2021"]
    base = shard_key(PROCESSES["qcd"], sel, 1, 10, 200)
    assert base == shard_key(PROCESSES["qcd"], sel, 1, 10, 200)
    assert base != shard_key(PROCESSES["qcd"], sel, 2, 10, 200)
    assert base != shard_key(PROCESSES["qcd"], sel, 1, 20, 200)
    assert base != shard_key(make_process("qcd", pthat_min=400), sel, 1, 10, 200)
    assert base != shard_key(PROCESSES["qcd"], SELECTIONS["cheng2020"], 1, 10, 200)
