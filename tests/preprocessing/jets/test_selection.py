"""Selection presets of the papers and the processes that default to them."""

import numpy as np

from preprocessing.events.processes import make_process
from preprocessing.jets.selection import SELECTIONS


def test_selection_presets():
    assert SELECTIONS["cheng2020"].jet_radius == 1.0 and SELECTIONS["cheng2020"].pt_min == 550
    assert SELECTIONS["cheng2020-train"].pt_min == 450 and np.isinf(SELECTIONS["cheng2020-train"].pt_max)
    assert SELECTIONS["lhco"].event_level and SELECTIONS["lhco"].lead_pt_min == 1200
    assert SELECTIONS["dillon2021"].jet_radius == 0.8
    assert make_process("w").preset == "cheng2020" and make_process("dijet").preset == "lhco"
