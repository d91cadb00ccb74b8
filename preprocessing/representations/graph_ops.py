"""TensorFlow ops shared by the in-graph representations (``*_graph.py``).

The in-graph builders repeat their numpy twins step by step in float64, so that a SavedModel fed
raw constituents computes the same model inputs as the offline path (tests hold them to 1e-4 or
better). Everything here takes padded (jets, particles, ...) tensors and a (jets, particles) bool
mask of real constituents; padded entries come out as zero.

Bad input is an ``InvalidArgumentError`` from in-graph assertions (TF Serving and
``python -m serving`` answer it with HTTP 400 / gRPC INVALID_ARGUMENT). ``validate_constituents``
is the one physical-input check of every builder: a jet that breaks a rule (``RULES``) is refused
with a message naming the first bad jet and the rule, so no unphysical jet reaches the boosts and
logarithms that would turn it into a NaN score.
"""

import math

# The physical-input rules of validate_constituents, in the order they are tested: a jet breaking
# several is reported under the first. Bounds, and why:
MAX_ENERGY_GEV = 1e5  # E of a constituent (E >= |p| then bounds every component): 14 TeV collisions stay far
# below; a jet scaled by 1e30 would overflow float32 squares downstream
MASS_SHELL_RTOL = 1e-4  # E >= |p| (1 - rtol): massless constituents stored in float32 round by ~1e-7
# summed pT / summed E (|eta_J| < ~14.5): the boost 1 / sqrt(1 - beta^2) stays finite in float64
MIN_AXIS_PT_FRACTION = 1e-6
RULES = {
    "n_constituents > 0": "no constituents (n_constituents <= 0)",
    "n_constituents <= particles": "n_constituents is larger than the number of padded particles",
    "finite": "a constituent component is NaN or infinity",
    "bounded": f"a constituent has E above {MAX_ENERGY_GEV:g} GeV",
    "E >= |p|": f"a constituent has E < |p| (beyond {MASS_SHELL_RTOL:g} relative); columns must be (E, px, py, pz)",
    "E > 0 and pT > 0": "no constituent has E > 0 and pT > 0",
    "jet axis": f"the summed pT is below {MIN_AXIS_PT_FRACTION:g} of the summed E (jet along the beam axis)",
}
EVERY_CONSTITUENT_RULE = "every E > 0 and pT > 0"
EVERY_CONSTITUENT_TEXT = "a constituent has E <= 0 or pT <= 0 (the point cloud takes log E and log pT)"
# the message of a refused jet: "jet 3 is not physical (rule E >= |p|): a constituent has E < |p| ..."
MESSAGE = "jet {} is not physical (rule {}): {}"


def refuse_jets(bad, rules):
    """One in-graph assertion: an ``InvalidArgumentError`` naming the first bad jet (lowest index)
    and the first rule it breaks, in the order of `rules`.

    The per-rule table is built only when a jet is refused (in a ``tf.cond`` branch), so accepted
    requests pay for `bad` alone; one assertion rather than one per rule, so which rule and jet are
    reported does not depend on the order in which TensorFlow runs independent ops.

    Args:
        bad: (jets,) bool tensor, True where a jet breaks a rule: the OR of the rules' columns.
        rules: callable returning [(rule name, description, (jets,) bool tensor: the jet breaks the rule)].
    """
    import tensorflow as tf

    ok = ~tf.reduce_any(bad)

    def message():
        checks = rules()
        table = tf.stack([b for _, _, b in checks], axis=1)  # (jets, rules)
        jet = tf.argmax(tf.cast(bad, tf.int32), output_type=tf.int32)  # first bad jet
        rule = tf.argmax(tf.cast(tf.gather(table, jet), tf.int32), output_type=tf.int32)  # its first broken rule
        names = tf.constant([name for name, _, _ in checks])
        texts = tf.constant([text for _, text, _ in checks])
        start, after_jet, after_rule, end = MESSAGE.split("{}")
        jet_text, rule_name, rule_text = tf.strings.as_string(jet), tf.gather(names, rule), tf.gather(texts, rule)
        return tf.strings.join([start, jet_text, after_jet, rule_name, after_rule, rule_text, end])

    text = tf.cond(ok, lambda: tf.constant(""), message)
    return tf.debugging.Assert(ok, [text])


def parse_refusal(message):
    """(jet index, rule name, description) of a refusal from refuse_jets in an error message, else None."""
    import re

    found = re.search(r"jet (\d+) is not physical \(rule ([^)]*)\): ([^\]\n']*)", str(message))
    return (int(found.group(1)), found.group(2), found.group(3).strip()) if found else None


def validate_constituents(constituents, n_constituents, every_constituent_hard=False):
    """In-graph physical-input checks; returns (p4 float64 with padding zeroed, mask bool).

    Every graph builder of raw constituents calls this first. Over the real constituents of each
    jet (the first n_constituents; padding is ignored whatever it holds), in this order (``RULES``):
    at least one and at most the padding; finite; E <= MAX_ENERGY_GEV; E >= |p| to MASS_SHELL_RTOL
    (this catches E = 0 and columns given as (px, py, pz, E); with the bound on E it bounds every
    component); at least one constituent with E > 0 and pT > 0 (all-zero jets, jets along the beam);
    a jet axis off the beam, summed pT > MIN_AXIS_PT_FRACTION summed E. A broken rule is an
    ``InvalidArgumentError`` ("jet 3 is not physical (rule E >= |p|): ...", ``MESSAGE``) naming the
    first bad jet.

    Accepted jets cost one pass of comparisons: a constituent is good when
    0 <= E <= MAX_ENERGY_GEV and E^2 >= |p|^2 (1 - rtol)^2, which is false for any NaN or infinite
    component, so the finite rule needs its own test only in the branch that names the rule.

    Args:
        constituents: (jets, particles, 4) float tensor as (E, px, py, pz), GeV.
        n_constituents: (jets,) integer tensor of real constituents.
        every_constituent_hard: also require E > 0 and pT > 0 of every real constituent (builders
            that take their logarithm).
    """
    import tensorflow as tf

    n = tf.cast(n_constituents, tf.int32)  # (jets,)
    n_particles = tf.shape(constituents)[1]
    same_jets = tf.debugging.assert_equal(
        tf.shape(n)[0], tf.shape(constituents)[0], message="n_constituents and constituents differ in jets"
    )
    with tf.control_dependencies([same_jets]):
        mask = tf.range(n_particles)[None, :] < n[:, None]  # (jets, particles)
    # the rules in the input's precision (float32 from a signature: half the memory traffic of float64;
    # its 1e-7 rounding is far inside the tolerances), padding zeroed first so it passes every rule
    c = constituents if constituents.dtype == tf.float64 else tf.cast(constituents, tf.float32)
    c = tf.where(mask[..., None], c, tf.zeros_like(c))  # (jets, particles, 4)
    e, px, py, pz = tf.unstack(c, axis=-1)  # (jets, particles) each
    pt2 = px * px + py * py
    p2 = pt2 + pz * pz
    in_bound = e <= MAX_ENERGY_GEV  # false for NaN
    on_shell = (e >= 0.0) & (e * e >= p2 * (1.0 - MASS_SHELL_RTOL) ** 2)  # false for NaN and inf in p
    good = in_bound & on_shell  # (jets, particles); zeroed padding is good
    hard = (e > 0.0) & (pt2 > 0.0)  # (jets, particles); zeroed padding is not hard
    p4 = tf.cast(c, tf.float64)  # padding is ignored whatever it held
    jet = tf.reduce_sum(c, axis=1)  # (jets, 4)
    axis = jet[:, 1] * jet[:, 1] + jet[:, 2] * jet[:, 2] > (MIN_AXIS_PT_FRACTION * jet[:, 0]) ** 2  # false for NaN
    axis = axis & (jet[:, 0] > 0.0)
    has_hard = tf.reduce_any(hard, axis=1)  # (jets,)
    bad = (n <= 0) | (n > n_particles) | ~tf.reduce_all(good, axis=1) | ~has_hard | ~axis
    if every_constituent_hard:
        every_hard = tf.reduce_all(hard | ~mask, axis=1)
        bad = bad | ~every_hard

    def rules():  # built only when a jet is refused; their OR is `bad`
        def any_real(broken):  # (jets, particles) -> (jets,): a real constituent breaks the rule
            return tf.reduce_any(broken & mask, axis=1)

        table = [
            ("n_constituents > 0", RULES["n_constituents > 0"], n <= 0),
            ("n_constituents <= particles", RULES["n_constituents <= particles"], n > n_particles),
            ("finite", RULES["finite"], any_real(~tf.reduce_all(tf.math.is_finite(p4), axis=-1))),
            ("bounded", RULES["bounded"], any_real(~in_bound)),
            ("E >= |p|", RULES["E >= |p|"], any_real(~on_shell)),
            ("E > 0 and pT > 0", RULES["E > 0 and pT > 0"], ~has_hard),
            ("jet axis", RULES["jet axis"], ~axis),
        ]
        if every_constituent_hard:
            table.append((EVERY_CONSTITUENT_RULE, EVERY_CONSTITUENT_TEXT, ~every_hard))
        return table

    with tf.control_dependencies([refuse_jets(bad, rules)]):
        p4 = tf.identity(p4)
    return p4, mask


def wrap_phi(dphi):
    """Angles wrapped into [-pi, pi), as preprocessing.jets.physics.wrap_phi."""
    import tensorflow as tf

    return tf.math.floormod(dphi + math.pi, 2.0 * math.pi) - math.pi


def pt(p4):
    """Transverse momentum of (..., 4) (E, px, py, pz)."""
    import tensorflow as tf

    return tf.math.sqrt(p4[..., 1] * p4[..., 1] + p4[..., 2] * p4[..., 2])


def eta(p4):
    """Pseudorapidity asinh(pz / pT); 0 where pT = 0 (as preprocessing.jets.physics.eta)."""
    import tensorflow as tf

    pt_ = pt(p4)
    safe = tf.where(pt_ > 0, pt_, tf.fill(tf.shape(pt_), tf.constant(math.inf, pt_.dtype)))
    return tf.math.asinh(p4[..., 3] / safe)


def phi(p4):
    """Azimuth atan2(py, px)."""
    import tensorflow as tf

    return tf.math.atan2(p4[..., 2], p4[..., 1])


def lexsort(keys):
    """Per-row order of `keys` (each (jets, particles)) like numpy.lexsort(keys, axis=-1): the last
    key is the primary one, ascending, earlier keys break its ties (stable sorts, least significant
    key first)."""
    import tensorflow as tf

    order = tf.broadcast_to(tf.range(tf.shape(keys[0])[1])[None, :], tf.shape(keys[0]))
    for key in keys:
        current = tf.gather(key, order, batch_dims=1)
        order = tf.gather(order, tf.argsort(current, axis=-1, stable=True), batch_dims=1)
    return order


def take_rows(values, order, n_keep):
    """values (jets, particles, ...) gathered in `order`, the first n_keep, zero padded when a jet
    has fewer than n_keep particles slots."""
    import tensorflow as tf

    kept = tf.gather(values, order[:, :n_keep], batch_dims=1)
    missing = n_keep - tf.shape(kept)[1]
    pad = [[0, 0], [0, missing]] + [[0, 0]] * (len(values.shape) - 2)
    return tf.pad(kept, pad)
