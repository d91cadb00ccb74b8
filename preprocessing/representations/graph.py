"""Representations that can be computed inside a TensorFlow graph from raw constituents.

An export of a jet-level tagger whose representation is listed here gets a signature taking
padded constituents ``(jets, particles, 4)`` as (E, px, py, pz) plus ``n_constituents``; the
graph builds the model's inputs itself, so a client never reimplements the preprocessing.

Not listed, and why:
- ``lund_image``: primary Lund planes need Cambridge/Aachen reclustering and declustering
  (FastJet), a sequential, data-dependent tree walk with no TF-op equivalent; those exports keep
  the representation-level signature as their default.
- ``vrnn``: the k_t-ordered sequence is built from the same kind of reclustering.
- ``highlevel``: event-level (two jets per row); event-level models keep their feature inputs.
"""

from preprocessing.representations import constituents_graph, jet_image_graph, pointcloud_graph

# representation name -> (constituents, n_constituents, **params) -> {input name: tensor}
GRAPH_BUILDERS = {
    "jet_image": jet_image_graph.build,
    "constituents": constituents_graph.build,
    "pointcloud": pointcloud_graph.build,
}

# the raw-constituent signature's input names
CONSTITUENTS = "constituents"
COUNTS = "n_constituents"


def supports(name):
    """Whether representation `name` can be computed in-graph from raw constituents."""
    return name in GRAPH_BUILDERS


def build(name, constituents, n_constituents, params=None):
    """Model inputs {input name: tensor} of representation `name`, computed with TF ops."""
    from preprocessing.representations.registry import resolve_params

    return GRAPH_BUILDERS[name](constituents, n_constituents, **resolve_params(name, params))
