"""Representations that can be computed inside a TensorFlow graph from raw constituents.

An export of a jet-level tagger whose representation is listed here gets a signature taking
padded constituents ``(jets, particles, 4)`` as (E, px, py, pz) plus ``n_constituents``; the
graph builds the model's inputs itself, so a client never reimplements the preprocessing.

Two tables:
- ``GRAPH_BUILDERS`` (``supports``): one row per jet, equal to the numpy builder's rows (jet
  images, Lund-plane images, constituents, point clouds).
- ``FLAGGING_BUILDERS``: the numpy builder drops some jets (the VRNN's, jets left with fewer than
  3 steps by Algorithm 1); the in-graph builder returns a row for every jet and a (jets,) bool
  ``KEPT``, False for the jets the numpy builder drops, and an export answers NaN scores for those
  (``training.export``). ``serves_raw`` covers both tables.

The Lund-plane images need a Cambridge/Aachen clustering: ``tf_clustering`` writes FastJet's
pairwise recombination as a ``tf.while_loop`` (the same merge history on generated jets).

Event-level: ``highlevel`` (bortolato2021's dijet features, ``highlevel_graph``: jet masses and
N-subjettiness from an in-graph exclusive-k_t clustering) is in ``FLAGGING_BUILDERS`` and in
``EVENT_LEVEL``: its rows are jets two by two, rows 2k and 2k + 1 the two leading jets of event k
(the sample files' layout), and each event's outputs come on its first row, ``KEPT`` False (NaN
outputs) on its second. One output row per input row keeps batching servers working, and scoring
keeps the rows that are not NaN, one per event, as for the VRNN's dropped jets.
"""

from preprocessing.representations import (
    constituents_graph,
    highlevel_graph,
    jet_image_graph,
    lund_image_graph,
    pointcloud_graph,
    vrnn_graph,
)

# representation name -> (constituents, n_constituents, **params) -> {input name: tensor}
GRAPH_BUILDERS = {
    "jet_image": jet_image_graph.build,
    "lund_image": lund_image_graph.build,
    "constituents": constituents_graph.build,
    "pointcloud": pointcloud_graph.build,
}
# the same, for builders whose numpy twin drops jets: their output also holds KEPT (jets,) bool
FLAGGING_BUILDERS = {"vrnn": vrnn_graph.build, "highlevel": highlevel_graph.build}
KEPT = vrnn_graph.KEPT
assert highlevel_graph.KEPT == KEPT
# event-level representations among them: two input rows (the leading jets) per event
EVENT_LEVEL = frozenset({"highlevel"})

# the raw-constituent signature's input names
CONSTITUENTS = "constituents"
COUNTS = "n_constituents"


def supports(name):
    """Whether representation `name` is computed in-graph from raw constituents with one row per
    jet, equal to the numpy builder's rows (``GRAPH_BUILDERS``)."""
    return name in GRAPH_BUILDERS


def serves_raw(name):
    """Whether representation `name` can be computed in-graph from raw constituents (either table;
    for ``EVENT_LEVEL`` ones from the two leading jets of each event, two rows per event)."""
    return name in GRAPH_BUILDERS or name in FLAGGING_BUILDERS


def build(name, constituents, n_constituents, params=None):
    """Model inputs {input name: tensor} of representation `name`, computed with TF ops (plus KEPT
    for the ``FLAGGING_BUILDERS``)."""
    from preprocessing.representations.registry import resolve_params

    builder = GRAPH_BUILDERS.get(name) or FLAGGING_BUILDERS[name]
    return builder(constituents, n_constituents, **resolve_params(name, params))
