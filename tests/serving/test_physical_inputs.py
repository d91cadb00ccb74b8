"""Every kind of unphysical jet through every raw-constituent ``serving_default`` (offline: the
SavedModel loaded back) is an InvalidArgumentError naming the rule and the jet, never a NaN score;
physical jets score exactly as they do without the check; ``training.score`` refuses a file holding
such a jet in one line. The check is ``graph_ops.validate_constituents`` (issue 27, class 1).

Each model is a freshly initialised one of its default preset (no training: the check sits in front
of the network, whatever its weights), exported once per module. The comparison with the check
removed and the tables of bad jets run for the first model of each representation by default (the
check sits in the representation's builder, in front of any network), every model with ``-m slow``.
"""

import hashlib

import numpy as np
import pytest
import tensorflow as tf

from models.registry import MODELS
from preprocessing import representations
from preprocessing.representations import graph, graph_ops
from tests.conftest import minimal_card


def _raw_models():
    """Every registered model whose serving_default takes raw constituents."""
    names = []
    for name, spec in MODELS.items():
        rep = spec.presets[spec.default_preset].get("representation", spec.representation)
        if graph.supports(rep) and representations.row_level(rep) == "jet":
            names.append(name)
    return names


RAW_MODELS = _raw_models()


def _first_of_each_representation():
    """RAW_MODELS as parameters, the second and later model of a representation marked slow (the
    check sits in the representation's builder, before any network)."""
    seen, params = set(), []
    for name in RAW_MODELS:
        spec = MODELS[name]
        rep = spec.presets[spec.default_preset].get("representation", spec.representation)
        params.append(pytest.param(name, marks=[pytest.mark.slow] if rep in seen else [], id=name))
        seen.add(rep)
    return params


BAD = 3  # the row of the bad jet in each request of five: the error must name it, not 0


def _all_zero(p4, n):
    p4[:] = 0.0
    return p4, n


def _energy_zero(p4, n):
    p4[:, 0] = 0.0
    return p4, n


def _columns_px_py_pz_e(p4, n):
    return p4[:, [1, 2, 3, 0]], n


def _beam_axis(p4, n):
    p4[:, 1:3] = 0.0  # every constituent along +z, massless
    p4[:, 3] = p4[:, 0]
    return p4, n


def _balanced(p4, n):
    p4[:] = 0.0  # two back-to-back constituents: summed pT 0, the jet axis undefined
    p4[:2] = [[100.0, 60.0, 80.0, 0.0], [100.0, -60.0, -80.0, 0.0]]
    return p4, 2


def _scaled_1e30(p4, n):
    return p4 * np.float32(1e30), n


def _nan(p4, n):
    p4[n - 1, 2] = np.nan
    return p4, n


def _infinite(p4, n):
    p4[0, 3] = np.inf
    return p4, n


def _energy_below_momentum(p4, n):
    p4[0, 0] *= 0.5  # the hardest stored constituent gets half its energy
    return p4, n


def _negative_energy(p4, n):
    p4[:, 0] *= -1.0
    return p4, n


def _no_constituents(p4, n):
    return p4, 0


def _count_beyond_padding(p4, n):
    return p4, len(p4) + 1


# case -> (how a real jet is spoilt, the rule named)
CASES = {
    "all_zero": (_all_zero, "E > 0 and pT > 0"),
    "energy_zero": (_energy_zero, "E >= |p|"),
    "columns_px_py_pz_e": (_columns_px_py_pz_e, "E >= |p|"),
    "beam_axis": (_beam_axis, "E > 0 and pT > 0"),
    "balanced_pt": (_balanced, "jet axis"),
    "scaled_1e30": (_scaled_1e30, "bounded"),
    "nan": (_nan, "finite"),
    "infinite": (_infinite, "finite"),
    "energy_below_momentum": (_energy_below_momentum, "E >= |p|"),
    "negative_energy": (_negative_energy, "E >= |p|"),
    "no_constituents": (_no_constituents, "n_constituents > 0"),
    "count_beyond_padding": (_count_beyond_padding, "n_constituents <= particles"),
}


def _soft_beam_constituent(p4, n):
    p4[n] = [10.0, 0.0, 0.0, 10.0]  # one more, real constituent along the beam (pT = 0)
    return p4, n + 1


def _zero_constituent(p4, n):
    p4[n] = 0.0  # the count includes one all-zero constituent
    return p4, n + 1


# physical jets whose single odd constituent is harmless to images and four-vectors but whose log E
# or log pT the point cloud would take: refused there only
LOG_CASES = {"soft_beam_constituent": _soft_beam_constituent, "zero_constituent": _zero_constituent}


def _request(jets, spoil):
    """Five real jets (padded constituents, counts), the one at row BAD spoilt by `spoil`."""
    p4 = jets.constituents[:5].astype(np.float32).copy()
    counts = jets.n_constituents[:5].astype(np.int32).copy()
    row, n = spoil(p4[BAD].copy(), int(counts[BAD]))
    p4[BAD], counts[BAD] = row, n
    return p4, counts


def _export(name, jets, folder):
    """(serving_default of the export loaded back, in-memory model) for model `name`."""
    import keras

    from training import pipeline
    from training.export import export_tagger

    settings = pipeline.resolve(name)
    rep = settings.spec.presets[settings.spec.default_preset].get("representation", settings.spec.representation)
    arrays = representations.build(rep, jets)
    names = tuple(settings.spec.inputs or arrays)
    x = arrays[names[0]] if len(names) == 1 else {k: arrays[k] for k in names}
    keras.utils.set_random_seed(0)
    model = settings.spec.cls(**settings.config, seed=0)
    model.fit_scaler(x)
    shapes = {k: arrays[k].shape[1:] for k in names}
    version = export_tagger(model, shapes, folder / name, minimal_card(model, rep, shapes, name))
    return version, tf.saved_model.load(str(version)).signatures["serving_default"]


@pytest.fixture(scope="module")
def physical_jets(jets):
    """Forty real jets (QCD, top) with at least two constituents and one free padding slot."""
    keep = np.flatnonzero((jets.n_constituents >= 2) & (jets.n_constituents < jets.constituents.shape[1]))[:40]
    return jets.subset(keep)


class _Exports(dict):
    """{model name: (version folder, serving_default)}, each model exported when a test first asks
    for it (the default run exports one model per representation, ``-m slow`` every one)."""

    def __init__(self, jets, folder):
        super().__init__()
        self.jets, self.folder = jets, folder

    def __missing__(self, name):
        self[name] = _export(name, self.jets, self.folder)
        return self[name]


@pytest.fixture(scope="module")
def exports(physical_jets, tmp_path_factory):
    return _Exports(physical_jets, tmp_path_factory.mktemp("physical"))


def test_the_table_covers_every_raw_constituent_model():
    reps = {
        MODELS[n].presets[MODELS[n].default_preset].get("representation", MODELS[n].representation) for n in RAW_MODELS
    }
    assert {"beta_vae", "disco_vae", "oe_vae", "dnn", "dvae", "particlenet"} <= set(RAW_MODELS)
    assert reps == {"jet_image", "constituents", "pointcloud"}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", _first_of_each_representation())
def test_unphysical_jet_is_invalid_argument_naming_rule_and_jet(name, case, exports, physical_jets):
    spoil, rule = CASES[case]
    p4, counts = _request(physical_jets, spoil)
    _, default = exports[name]
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        out = default(constituents=tf.constant(p4), n_constituents=tf.constant(counts))
        # reached only when the graph accepted the jet: say what it answered
        pytest.fail(f"accepted; scores { ({k: v.numpy().tolist() for k, v in out.items()}) }")
    assert graph_ops.parse_refusal(err.value.message)[:2] == (BAD, rule), err.value.message
    assert f"jet {BAD} is not physical (rule {rule}): " in err.value.message


@pytest.mark.parametrize("case", list(LOG_CASES))
@pytest.mark.parametrize("name", _first_of_each_representation())
def test_zero_pt_constituent_is_refused_by_point_clouds_and_finite_elsewhere(name, case, exports, physical_jets):
    p4, counts = _request(physical_jets, LOG_CASES[case])
    _, default = exports[name]
    rep = MODELS[name].presets[MODELS[name].default_preset].get("representation", MODELS[name].representation)
    if rep == "pointcloud":
        with pytest.raises(tf.errors.InvalidArgumentError) as err:
            default(constituents=tf.constant(p4), n_constituents=tf.constant(counts))
        assert graph_ops.parse_refusal(err.value.message)[:2] == (BAD, graph_ops.EVERY_CONSTITUENT_RULE)
    else:
        out = default(constituents=tf.constant(p4), n_constituents=tf.constant(counts))
        for score, values in out.items():
            assert np.all(np.isfinite(values.numpy())), (score, values.numpy())


@pytest.mark.parametrize("name", _first_of_each_representation())
def test_physical_jets_score_as_without_the_check(name, exports, physical_jets, tmp_path, monkeypatch):
    """The same model exported with the check removed (refuse_jets a no-op) gives the same scores
    to 1e-6 on physical jets (including jets cut to one and two constituents), and NaN or a
    non-finite input to the network on at least one kind of bad jet."""
    import keras

    _, default = exports[name]
    p4 = physical_jets.constituents.astype(np.float32).copy()
    counts = physical_jets.n_constituents.astype(np.int32).copy()
    p4[:2, 1:] = 0.0  # one constituent left
    p4[2:4, 2:] = 0.0  # two
    counts[:2], counts[2:4] = 1, 2
    feed = {"constituents": tf.constant(p4), "n_constituents": tf.constant(counts)}
    checked = default(**feed)
    from preprocessing.representations import jet_image_graph

    for module in (graph_ops, jet_image_graph):  # every assertion of the physical rules becomes a no-op
        monkeypatch.setattr(module, "refuse_jets", lambda bad, rules: tf.no_op())
    keras.utils.set_random_seed(0)
    _, unchecked = _export(name, physical_jets, tmp_path)
    bare = unchecked(**feed)
    assert sorted(bare) == sorted(checked)
    for score in checked:
        np.testing.assert_allclose(checked[score].numpy(), bare[score].numpy(), rtol=1e-6, atol=1e-6, err_msg=score)
        assert np.all(np.isfinite(checked[score].numpy()))
    # without the check, the table's jets reach the network: some kind gives a non-finite score
    broken = []
    for case, (spoil, _) in CASES.items():
        if case in ("no_constituents", "count_beyond_padding", "nan", "infinite"):
            continue  # refused by the numpy-side checks of the callers too; not the physical rules
        bad, bad_counts = _request(physical_jets, spoil)
        out = unchecked(constituents=tf.constant(bad), n_constituents=tf.constant(bad_counts))
        if not all(np.all(np.isfinite(v.numpy())) for v in out.values()):
            broken.append(case)
    assert broken, "no bad jet breaks the unchecked graph: the table would not test the check"


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "case", ["all_zero", "energy_zero", "columns_px_py_pz_e", "beam_axis", "scaled_1e30", "energy_below_momentum"]
)
def test_score_command_refuses_the_file_in_one_line_naming_the_jet(case, exports, physical_jets, tmp_path, capsys):
    from preprocessing.samples.format import write_sample
    from training import score

    spoil, rule = CASES[case]
    sample = physical_jets.subset(np.arange(7))
    p4, counts = sample.constituents.copy(), sample.n_constituents.copy()
    bad = 5
    p4[bad], counts[bad] = spoil(p4[bad].copy(), int(counts[bad]))
    sample.constituents, sample.n_constituents = p4, counts
    data = write_sample(tmp_path / "bad.h5", sample)
    version, _ = exports["beta_vae"]
    out = tmp_path / "scores.h5"
    out.write_bytes(b"an older scores file")
    before = {p.name: _digest(p) for p in tmp_path.iterdir()}
    code = score.main(["--model", str(version), "--data", str(data), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        f"error: {data}: jet {bad} is not physical (rule {rule}): {graph_ops.RULES[rule]}; no scores written"
    ]
    assert {p.name: _digest(p) for p in tmp_path.iterdir()} == before  # nothing written, nothing left behind


class _Servers(dict):
    """{model name: a running server (REST and gRPC on free ports) of that model's export}, each
    started when a test first asks for it and stopped at the end of the module."""

    def __init__(self, exports):
        super().__init__()
        self.exports = exports

    def __missing__(self, name):
        from serving import serve
        from serving.config import ModelConfig

        version, _ = self.exports[name]
        self[name] = serve.start(port=0, grpc_port=0, configs=[ModelConfig(name, version.parent)], poll_s=0)
        return self[name]


@pytest.fixture(scope="module")
def servers(exports):
    running = _Servers(exports)
    yield running
    for server in running.values():
        server.shutdown()


# cases the server refuses before the graph sees them (serving's input check), with its own line
SERVER_REFUSES = {
    "nan": "input 'constituents': NaN or infinite values",
    "infinite": "input 'constituents': NaN or infinite values",
}


def _one_model_then_slow():
    """RAW_MODELS as parameters, every one but the first marked slow: the graph's refusal is tested per
    representation offline above; over the wire what is tested is how the server passes it on."""
    return [pytest.param(n, marks=[pytest.mark.slow] if k else [], id=n) for k, n in enumerate(RAW_MODELS)]


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
@pytest.mark.parametrize("name", _one_model_then_slow())
def test_unphysical_jets_over_rest_and_grpc_are_refused_in_one_line(name, protocol, servers, physical_jets):
    """The table's bad jets sent to the model server: HTTP 400 (REST) or INVALID_ARGUMENT (gRPC) with
    the graph's one-line reason naming the jet and the rule, never 200 with NaN or null scores; the
    same request with the jet left physical is answered with finite scores."""
    from serving.client import ClientError, score

    server = servers[name]
    where = {"url": f"http://127.0.0.1:{server.rest_port}"} if protocol == "rest" else {}
    where = where or {"target": f"127.0.0.1:{server.grpc_port}"}
    status = 400 if protocol == "rest" else "INVALID_ARGUMENT"
    for case, (spoil, rule) in CASES.items():
        p4, counts = _request(physical_jets, spoil)
        with pytest.raises(ClientError) as refused:
            out = score(p4, counts, model=name, **where)
            pytest.fail(f"{case}: accepted; scores { ({k: v.tolist() for k, v in out.items()}) }")
        message = refused.value.message
        assert refused.value.status == status, (case, refused.value)
        assert "\n" not in message, (case, message)
        if case in SERVER_REFUSES:  # refused by the server's own input check, before the graph
            assert message.startswith(SERVER_REFUSES[case]), (case, message)
        else:
            assert f"jet {BAD} is not physical (rule {rule}): " in message, (case, message)
    p4, counts = _request(physical_jets, lambda row, n: (row, n))
    for values in score(p4, counts, model=name, **where).values():
        assert np.all(np.isfinite(values)) and len(values) == 5
