"""Generalised-k_t clustering of each jet's particles into one jet, in TensorFlow ops (FastJet's
sequential recombination, Cacciari, Salam, Soyez, arXiv:1111.6097), for graph builders that need a
clustering history (the Lund image's Cambridge/Aachen declustering).

Distances, as FastJet's N2Plain strategy computes them in double precision: every pseudojet has
rapidity y = 0.5 ln((k_t^2 + max(m^2, 0)) / (E + |p_z|)^2) (sign of p_z), azimuth phi in [0, 2 pi)
and weight w = (k_t^2)^p (p = 1 k_t, p = 0 Cambridge/Aachen, p = -1 anti-k_t), and

    Delta_ij^2 = (y_i - y_j)^2 + (pi - |pi - |phi_i - phi_j||)^2,
    d_ij = min(w_i, w_j) Delta_ij^2        (the 1 / R^2 of FastJet scales every d_ij alike).

Each step merges the pair of smallest d_ij by summing four-momenta (E scheme). As in FastJet, the
pair is found through geometric nearest neighbours NN(i): the smallest d_ij is the smallest
min(w_i, w_NN(i)) Delta_{i,NN(i)}^2 (FastJet's lemma: the lower-weight member of the pair has the
other as its nearest neighbour), so each step updates the neighbours of the merged pseudojet and
of those whose neighbour it replaced, O(particles) work per step instead of a pairwise matrix. Beam distances d_iB = w_i are not modelled: the result is the
exclusive clustering to one jet with a radius R so large that no d_iB is ever the smallest (FastJet
``JetDefinition(algorithm, 1000)``, the reclustering of jet substructure tools).

Exact ties (equal d_ij of different pairs: identical particles) are broken by the current slot
order, which need not be FastJet's internal order; they change only merges of identical
pseudojets (the tests split a real jet into 200 collinear pieces: the Lund image is unchanged).

History layout (one row per jet): nodes 0..P-1 are the padded particles, node P + k its k-th merge;
``parents`` holds the two node ids of each merge (lower first; FastJet's own order of a pair
follows its search and is not reproduced, it matters only for exactly equal p_T), -1 for
particles; ``root`` is the final jet's node (its particle for a one-particle jet).
"""

import math

INF = float("inf")


def rapidity_phi(p4):
    """FastJet's (rapidity, phi in [0, 2 pi)) of (..., 4) (E, px, py, pz) float64 four-momenta."""
    import tensorflow as tf

    e, px, py, pz = tf.unstack(p4, axis=-1)
    kt2 = px * px + py * py
    phi = tf.where(kt2 == 0.0, tf.zeros_like(kt2), tf.math.atan2(py, px))
    phi = tf.where(phi < 0.0, phi + 2.0 * math.pi, phi)
    phi = tf.where(phi >= 2.0 * math.pi, phi - 2.0 * math.pi, phi)
    m2 = tf.maximum((e + pz) * (e - pz) - kt2, 0.0)
    e_plus = e + tf.abs(pz)
    safe = tf.where(e_plus > 0.0, e_plus, tf.ones_like(e_plus))
    rap = 0.5 * tf.math.log((kt2 + m2) / (safe * safe))
    rap = tf.where(pz > 0.0, -rap, rap)
    # along the beam (E = |p_z|, k_t = 0): FastJet's MaxRap (1e5) + |p_z|
    beam = (e == tf.abs(pz)) & (kt2 == 0.0)
    rap = tf.where(beam, tf.where(pz >= 0.0, 1e5 + tf.abs(pz), -1e5 - tf.abs(pz)), rap)
    return rap, phi


def squared_distance(rap_a, phi_a, rap_b, phi_b):
    """FastJet's N2Plain geometric distance Delta^2 (broadcasting)."""
    import tensorflow as tf

    dphi = math.pi - tf.abs(math.pi - tf.abs(phi_a - phi_b))
    drap = rap_a - rap_b
    return dphi * dphi + drap * drap


def _weight(p4, p):
    """(k_t^2)^p of FastJet's jet_scale_for_algorithm (1 for p = 0; 1e300 for k_t = 0 and p < 0)."""
    import tensorflow as tf

    kt2 = p4[..., 1] * p4[..., 1] + p4[..., 2] * p4[..., 2]
    if p == 0:
        return tf.ones_like(kt2)
    if p < 0:
        return tf.where(kt2 < 1e-300, tf.fill(tf.shape(kt2), tf.constant(1e300, kt2.dtype)), tf.pow(kt2, p))
    return tf.pow(kt2, p)


def _nearest(dist):
    """(distance, index) of the nearest neighbour along the last axis (the first of equal ones)."""
    import tensorflow as tf

    return tf.reduce_min(dist, axis=-1), tf.argmin(dist, axis=-1, output_type=tf.int32)


def _initial_neighbours(rap, phi, alive):
    """(Delta^2, index) of every pseudojet's nearest live neighbour, one slot at a time (a pairwise
    matrix of a large batch would take gigabytes): (jets, slots) each, inf / 0 for dead slots."""
    import tensorflow as tf

    n_slots = tf.shape(rap)[1]
    slots = tf.range(n_slots)
    dist_ta = tf.TensorArray(tf.float64, size=n_slots, element_shape=tf.TensorShape([None]))
    index_ta = tf.TensorArray(tf.int32, size=n_slots, element_shape=tf.TensorShape([None]))

    def one(i, dist_ta, index_ta):
        d = squared_distance(rap[:, i : i + 1], phi[:, i : i + 1], rap, phi)  # (jets, slots)
        d = tf.where(alive & (slots[None, :] != i) & alive[:, i : i + 1], d, tf.constant(INF, tf.float64))
        nearest, index = _nearest(d)
        return i + 1, dist_ta.write(i, nearest), index_ta.write(i, index)

    _, dist_ta, index_ta = tf.while_loop(lambda i, *_: i < n_slots, one, (0, dist_ta, index_ta))
    return tf.transpose(dist_ta.stack()), tf.transpose(index_ta.stack())


def _first_live(p4, mask):
    """Each jet's real particles moved to its first slots (stable): (p4, their input slots)."""
    import tensorflow as tf

    order = tf.argsort(tf.cast(~mask, tf.int32), axis=1, stable=True)  # (jets, particles)
    return tf.gather(p4, order, batch_dims=1), order


def cluster(p4, mask, p=0.0):
    """Pairwise generalised-k_t clustering of each jet's particles into one jet, in-graph.

    The work shrinks with every step: jets are processed largest first, so those still merging at
    step k are a prefix of the batch, and each jet's live pseudojets fill its first slots (a merge
    frees slot b and the last live pseudojet moves into it), so after every step the state is cut
    to the jets still merging and to the widest of them.

    Args:
        p4: (jets, particles, 4) float64 (E, px, py, pz), padding anything (masked).
        mask: (jets, particles) bool of real particles (at least one per jet).
        p: the exponent of k_t^2 in the distance: 1 k_t, 0 Cambridge/Aachen, -1 anti-k_t.

    Returns:
        {"nodes": (jets, particles + steps, 4) float64 four-momenta of the particles then of each
        merge, "parents": (jets, particles + steps, 2) int32 node ids, -1 for particles and unused
        nodes, "root": (jets,) int32 node of the whole jet, "steps": the largest jet's particles - 1
        (at least 1)}; merge k of a jet is node particles + k.
    """
    import tensorflow as tf

    p4 = tf.where(mask[..., None], p4, tf.zeros_like(p4))
    n_slots = tf.shape(p4)[1]
    counts = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)  # (jets,)
    n_merges = tf.maximum(tf.reduce_max(counts) - 1, 0)  # steps of the loop
    by_size = tf.argsort(counts, direction="DESCENDING", stable=True)  # (jets,) the largest first
    live_p4, node_id = _first_live(tf.gather(p4, by_size), tf.gather(mask, by_size))  # particle ids: input slots
    inf = tf.constant(INF, tf.float64)

    def alive_of(n_left, width):
        return tf.range(width)[None, :] < n_left[:, None]

    def shrink(n_left, *arrays):
        """The jets still merging (a prefix: sorted by size) and the slots of the widest of them."""
        n_active = tf.reduce_sum(tf.cast(n_left > 1, tf.int32))
        width = tf.maximum(tf.reduce_max(tf.concat([n_left[:n_active], [1]], 0)), 1)
        return (n_left[:n_active],) + tuple(x[:n_active, :width] for x in arrays)

    n_left = tf.gather(counts, by_size)
    rap, phi = rapidity_phi(live_p4)
    nn_dist, nn = _initial_neighbours(rap, phi, alive_of(n_left, n_slots))
    state = shrink(n_left, live_p4, rap, phi, _weight(live_p4, p), nn_dist, nn, node_id)
    # step k writes merge k of every jet still merging (the first ones of the sorted batch)
    merged_ta = tf.TensorArray(tf.float64, size=n_merges, infer_shape=False, element_shape=tf.TensorShape([None, 4]))
    parents_ta = tf.TensorArray(tf.int32, size=n_merges, infer_shape=False, element_shape=tf.TensorShape([None, 2]))

    def step(k, n_left, p4, rap, phi, weight, nn_dist, nn, node_id, merged_ta, parents_ta):
        width = tf.shape(p4)[1]
        slots = tf.range(width)[None, :]
        alive = alive_of(n_left, width)  # (jets, width); every jet here merges
        d_ij = nn_dist * tf.minimum(weight, tf.gather(weight, nn, batch_dims=1))
        d_ij = tf.where(alive & (nn_dist < inf), d_ij, inf)
        first = tf.argmin(d_ij, axis=1, output_type=tf.int32)  # (jets,)
        second = tf.gather(nn, first, batch_dims=1)
        a, b = tf.minimum(first, second), tf.maximum(first, second)
        merged = tf.gather(p4, a, batch_dims=1) + tf.gather(p4, b, batch_dims=1)  # (jets, 4) E scheme
        rap_m, phi_m = rapidity_phi(merged)
        id_a, id_b = tf.gather(node_id, a, batch_dims=1), tf.gather(node_id, b, batch_dims=1)
        merged_ta = merged_ta.write(k, merged)
        parents_ta = parents_ta.write(k, tf.stack([tf.minimum(id_a, id_b), tf.maximum(id_a, id_b)], axis=1))
        # those whose neighbour was a or b need a full search
        lost = alive & (slots != a[:, None]) & (slots != b[:, None]) & ((nn == a[:, None]) | (nn == b[:, None]))
        # the merged pseudojet takes slot a; the last live one moves into slot b
        at_a = slots == a[:, None]
        p4 = tf.where(at_a[..., None], merged[:, None, :], p4)
        rap, phi = tf.where(at_a, rap_m[:, None], rap), tf.where(at_a, phi_m[:, None], phi)
        weight = tf.where(at_a, _weight(merged, p)[:, None], weight)
        node_id = tf.where(at_a, n_slots + k, node_id)
        last = n_left - 1
        at_b = slots == b[:, None]  # (jets, width); b <= last

        def moved(x):  # x with the last live slot's value in slot b
            return tf.where(
                at_b if len(x.shape) == 2 else at_b[..., None], tf.gather(x, last, batch_dims=1)[:, None], x
            )

        p4, rap, phi, weight, nn_dist, nn, node_id, lost = (
            moved(x) for x in (p4, rap, phi, weight, nn_dist, nn, node_id, lost)
        )
        nn = tf.where(nn == last[:, None], b[:, None], nn)
        n_left = last
        alive = alive_of(n_left, width)
        lost = lost & alive
        # the merged pseudojet's neighbour, and the others' against it
        d_a = tf.where(alive & ~at_a, squared_distance(rap_m[:, None], phi_m[:, None], rap, phi), inf)
        nn_dist_a, nn_a = _nearest(d_a)
        closer = alive & ~at_a & ~lost & (d_a < nn_dist)
        nn_dist = tf.where(at_a, nn_dist_a[:, None], tf.where(closer, d_a, nn_dist))
        nn = tf.where(at_a, nn_a[:, None], tf.where(closer, a[:, None], nn))
        where_lost = tf.cast(tf.where(lost), tf.int32)  # (F, 2) [jet, slot]
        jets_lost = where_lost[:, 0]
        d_lost = squared_distance(
            tf.gather_nd(rap, where_lost)[:, None],
            tf.gather_nd(phi, where_lost)[:, None],
            tf.gather(rap, jets_lost),
            tf.gather(phi, jets_lost),
        )  # (F, width)
        d_lost = tf.where(tf.gather(alive, jets_lost) & (slots != where_lost[:, 1:]), d_lost, inf)
        dist_lost, nn_lost = _nearest(d_lost)
        nn_dist = tf.where(alive, tf.tensor_scatter_nd_update(nn_dist, where_lost, dist_lost), inf)
        nn = tf.tensor_scatter_nd_update(nn, where_lost, nn_lost)
        return (k + 1, *shrink(n_left, p4, rap, phi, weight, nn_dist, nn, node_id), merged_ta, parents_ta)

    row, matrix = tf.TensorShape([None]), tf.TensorShape([None, None])
    invariants = (tf.TensorShape([]), row, tf.TensorShape([None, None, 4]), *[matrix] * 6)
    out = tf.while_loop(
        lambda k, n_left, *_: k < n_merges,
        step,
        (tf.constant(0), *state, merged_ta, parents_ta),
        shape_invariants=(*invariants, tf.TensorShape(None), tf.TensorShape(None)),
    )
    # merge k of the jet of rank r in the sorted batch is row offsets[k] + r of the steps' rows
    n_steps = tf.maximum(n_merges, 1)
    steps = tf.range(n_steps)
    merging = tf.reduce_sum(tf.cast(counts[None, :] - 1 > steps[:, None], tf.int32), axis=1)  # (steps,)
    offsets = tf.cumsum(merging, exclusive=True)
    rank = tf.math.invert_permutation(by_size)  # (jets,)
    is_merge = steps[None, :] < counts[:, None] - 1  # (jets, steps)
    empty = tf.reduce_sum(merging)  # the extra row: zeros / no parents
    rows = tf.where(is_merge, offsets[None, :] + rank[:, None], empty)
    merged = tf.concat([out[-2].concat(), tf.zeros([1, 4], tf.float64)], axis=0)
    parents = tf.concat([out[-1].concat(), -tf.ones([1, 2], tf.int32)], axis=0)
    nodes = tf.concat([p4, tf.gather(merged, rows)], axis=1)  # (jets, particles + steps, 4)
    no_parents = -tf.ones(tf.stack([tf.shape(p4)[0], n_slots, 2]), tf.int32)
    parents = tf.concat([no_parents, tf.gather(parents, rows)], axis=1)
    first_particle = tf.argmax(tf.cast(mask, tf.int32), axis=1, output_type=tf.int32)
    root = tf.where(counts > 1, n_slots + counts - 2, first_particle)
    return {"nodes": nodes, "parents": parents, "root": root, "steps": n_steps}


def primary_declusterings(history):
    """(Delta, k_t, valid) of every primary declustering, harder branch first (fjcontrib's
    LundGenerator: at j -> j1 j2 with pT_1 >= pT_2, Delta = Delta_R(j1, j2) in (y, phi),
    k_t = pT_2 Delta, then j1 is declustered).

    Args:
        history: the output of `cluster`.

    Returns:
        delta, kt: (jets, depth) float64, zero where not valid; valid: (jets, depth) bool, True for
        the declusterings of each jet, first the widest; depth is the longest primary chain (>= 1).
    """
    import tensorflow as tf

    nodes, parents, root = history["nodes"], history["parents"], history["root"]
    n_steps = history["steps"]  # the longest primary chain has at most this many declusterings

    def step(k, node, delta, kt, valid):
        both = tf.gather(parents, node, batch_dims=1)  # (jets, 2)
        has = both[:, 0] >= 0
        safe = tf.maximum(both, 0)
        j1, j2 = tf.gather(nodes, safe[:, 0], batch_dims=1), tf.gather(nodes, safe[:, 1], batch_dims=1)
        pt2_1 = j1[:, 1] * j1[:, 1] + j1[:, 2] * j1[:, 2]
        pt2_2 = j2[:, 1] * j2[:, 1] + j2[:, 2] * j2[:, 2]
        swap = pt2_1 < pt2_2
        hard, soft = tf.where(swap[:, None], j2, j1), tf.where(swap[:, None], j1, j2)
        rap_h, phi_h = rapidity_phi(hard)
        rap_s, phi_s = rapidity_phi(soft)
        dphi = tf.abs(phi_h - phi_s)  # PseudoJet::plain_distance
        dphi = tf.where(dphi > math.pi, 2.0 * math.pi - dphi, dphi)
        drap = rap_h - rap_s
        d = tf.math.sqrt(dphi * dphi + drap * drap)
        k_t = tf.math.sqrt(tf.where(swap, pt2_1, pt2_2)) * d
        zero = tf.zeros_like(d)
        delta = delta.write(k, tf.where(has, d, zero))
        kt = kt.write(k, tf.where(has, k_t, zero))
        valid = valid.write(k, has)
        node = tf.where(has, tf.where(swap, safe[:, 1], safe[:, 0]), node)
        return k + 1, node, delta, kt, valid

    def more(k, node, *_):  # until no jet has a declustering left (the primary chain is short)
        return (k < n_steps) & ((k == 0) | tf.reduce_any(tf.gather(parents, node, batch_dims=1)[:, 0] >= 0))

    arrays = [
        tf.TensorArray(dt, size=0, dynamic_size=True, element_shape=tf.TensorShape([None]))
        for dt in (tf.float64, tf.float64, tf.bool)
    ]
    _, _, delta, kt, valid = tf.while_loop(more, step, (0, root, *arrays))
    return tuple(tf.transpose(t.stack()) for t in (delta, kt, valid))
