"""The streamed path of fit and score (--memory-budget): the same rows, split, batches, metrics and
scores as in memory, on small generated samples; the representation is never built whole."""

import json
import pathlib

import numpy as np
import pytest

from models.registry import MODELS
from preprocessing import representations
from preprocessing.errors import DataError
from preprocessing.samples.format import write_sample
from training import fit, pipeline, score
from training.data import datasets, memory, streaming
from training.data.batches import BatchSource
from training.data.row_cache import RowCache, RowsView
from training.data.rows import class_targets, load_inputs, split_rows
from training.data.sample_chunks import ChunkedSample

TINY = 1 << 20  # 1M: far below the ~25M that 1200 jets and their images need in memory


def _paths(small_samples):
    return [small_samples["qcd_path"], small_samples["top_path"]]


@pytest.fixture
def build_sizes(monkeypatch):
    """Rows of every representations.build call."""
    sizes = []
    real = representations.build

    def counting(name, sample, *args, **kwargs):
        sizes.append(len(sample))
        return real(name, sample, *args, **kwargs)

    monkeypatch.setattr(representations, "build", counting)
    return sizes


def test_parse_size_and_clear_errors():
    assert memory.parse_size("500M") == 500 * 1024**2
    assert memory.parse_size("1.5G") == 3 * 1024**3 // 2
    assert memory.parse_size("2g") == memory.parse_size("2GiB") == memory.parse_size("2GB") == 2 * 1024**3
    assert memory.parse_size("4096") == 4096
    for bad in ("lots", "-1G", "0", "2X", ""):
        with pytest.raises(DataError, match="--memory-budget"):
            memory.parse_size(bad)
    assert 0 < memory.default_budget() <= memory.machine_memory()


def test_bad_budget_on_the_command_lines(tmp_path, capsys):
    assert fit.main(["--model", "dvae", "--memory-budget", "lots", "--export-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error: --memory-budget 'lots'" in err and "e.g. 2G" in err
    args = ["--model", str(tmp_path), "--data", str(tmp_path / "x.h5"), "--out", str(tmp_path / "o.h5")]
    assert score.main([*args, "--memory-budget", "0"]) == 2
    assert "error: --memory-budget '0'" in capsys.readouterr().err


def test_footprint_is_the_arrays_bytes(small_samples):
    paths = _paths(small_samples)
    estimate = memory.estimate_footprint(paths, "jet_image")
    sample = datasets.load(paths)
    held = sample.constituents.nbytes + sum(
        a.nbytes for a in (sample.n_constituents, sample.labels, sample.event, *sample.jets.values())
    )
    assert estimate.sample == held  # every file has the jet fields of the other, so nothing is dropped
    assert estimate.representation == representations.build("jet_image", sample)["jet_image"].nbytes
    assert estimate.rows == len(sample) == 1200
    assert memory.estimate_footprint(paths, "jet_image", n_jets=300).rows == 300


def test_chunked_sample_joins_files_like_load(small_samples):
    paths = _paths(small_samples)
    whole = datasets.load(paths, n_jets=700, seed=5)
    chunked = ChunkedSample(paths, n_jets=700, seed=5)
    assert chunked.label_names == whole.label_names and chunked.provenance == whole.provenance
    np.testing.assert_array_equal(chunked.event, whole.event)
    np.testing.assert_array_equal(chunked.labels, whole.labels)
    assert sorted(chunked.jets) == sorted(whole.jets)
    pieces = list(chunked.chunks(97))
    assert max(len(c) for _, c in pieces) <= 97 and len(pieces) > 7
    np.testing.assert_array_equal(np.concatenate([c.constituents for _, c in pieces]), whole.constituents)
    for key in whole.jets:
        np.testing.assert_array_equal(np.concatenate([c.jets[key] for _, c in pieces]), whole.jets[key])
    with pytest.raises(DataError, match="given twice"):
        ChunkedSample([paths[0], paths[0]])


def test_repeated_jets_are_refused_chunk_by_chunk(small_samples, tmp_path):
    copy = write_sample(tmp_path / "copy.h5", small_samples["qcd"].subset(np.arange(5, 9)))
    with pytest.raises(DataError, match="occur twice"):
        ChunkedSample([small_samples["qcd_path"], copy])


def test_streamed_inputs_are_the_in_memory_rows_never_built_whole(small_samples, tmp_path, build_sizes):
    settings = pipeline.resolve("dvae")
    paths = _paths(small_samples)
    folder = tmp_path / "rows"
    streamed = load_inputs(settings, paths, n_jets=1000, seed=3, memory_budget=TINY, cache_dir=folder)
    assert streamed.streamed and (folder / "jet_image.npy").is_file()
    assert max(build_sizes) < 1000 / 4  # chunk by chunk, never the whole sample
    build_sizes.clear()
    whole = load_inputs(settings, paths, n_jets=1000, seed=3, memory_budget=None)
    assert build_sizes == [1000] and not whole.streamed
    assert np.load(folder / "jet_image.npy").shape == whole.arrays["jet_image"].shape
    np.testing.assert_array_equal(np.load(folder / "jet_image.npy"), whole.arrays["jet_image"])
    for key in ("event", "labels", "jet_mass"):
        np.testing.assert_array_equal(getattr(streamed, key), getattr(whole, key))
    assert (streamed.label_names, streamed.unit, streamed.provenance) == (
        whole.label_names,
        whole.unit,
        whole.provenance,
    )
    assert streamed.shapes() == whole.shapes()
    a, b = split_rows(streamed, seed=3), split_rows(whole, seed=3)
    for part in ("train", "validation", "test"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    view = streamed.model_inputs(a.test)
    assert isinstance(view, RowsView) and len(view) == len(a.test)
    np.testing.assert_array_equal(view[3:50], whole.model_inputs(a.test)[3:50])
    np.testing.assert_array_equal(np.asarray(view), whole.model_inputs(a.test))
    streamed.close()
    assert not folder.exists()


def test_batch_source_draws_one_permutation_per_epoch_from_memory_or_disk(tmp_path):
    rows = np.arange(23 * 3, dtype=np.float32).reshape(23, 3)
    with RowCache.writer(tmp_path / "cache", {"x": ((3,), np.float32)}, 23) as writer:
        writer.append({"x": rows[:10]})
        writer.append({"x": rows[10:]})
    cache = RowCache(tmp_path / "cache")
    pick = np.arange(2, 23)
    y = np.arange(len(pick), dtype=np.int32)
    memory_source = BatchSource(rows[pick], y, batch_size=4, shuffle=True, seed=7)
    disk_source = BatchSource(cache.arrays["x"].rows(pick), y, batch_size=4, shuffle=True, seed=7)
    assert memory_source.steps == 6
    np.testing.assert_array_equal(memory_source.order(1), np.random.default_rng([7, 1]).permutation(21))
    assert not np.array_equal(memory_source.order(0), memory_source.order(1))
    a = [(x.numpy(), t.numpy()) for x, t in memory_source.dataset(2)]
    b = [(x.numpy(), t.numpy()) for x, t in disk_source.dataset(2)]
    assert len(a) == len(b) == 12 and [len(t) for _, t in a[:6]] == [4, 4, 4, 4, 4, 1]
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa, rows[pick][ya])  # targets stay with their rows
    epoch = np.concatenate([t for _, t in a[6:]])
    np.testing.assert_array_equal(epoch, memory_source.order(1))  # every row once per epoch, in that order
    ordered = [x.numpy() for x in BatchSource(cache.arrays["x"].rows(pick), None, 5).dataset()]
    np.testing.assert_array_equal(np.concatenate(ordered), rows[pick])
    with pytest.raises(DataError, match="already there"):
        RowCache.writer(tmp_path / "cache", {"x": ((3,), np.float32)}, 1)
    with pytest.raises(DataError, match="expected 5 rows"):
        with RowCache.writer(tmp_path / "short", {"x": ((3,), np.float32)}, 5) as writer:
            writer.append({"x": rows[:2]})
    assert not (tmp_path / "short").exists() and not list(tmp_path.glob(".short*"))


def test_full_batches_carry_the_batch_size_as_a_static_dimension_from_memory_or_disk(tmp_path):
    rows = np.arange(9 * 3, dtype=np.float32).reshape(9, 3)
    with RowCache.writer(tmp_path / "cache", {"x": ((3,), np.float32)}, 9) as writer:
        writer.append({"x": rows})
    view = RowCache(tmp_path / "cache").arrays["x"].rows(np.arange(9))
    y = np.arange(9, dtype=np.int32)
    for x in (rows, view):
        full = BatchSource(x, y, batch_size=4, shuffle=True, seed=2, full_batches=True).dataset(2)
        assert [tuple(spec.shape) for spec in full.element_spec] == [(4, 3), (4,)]  # XLA steps trace it known
        got = [(a.numpy(), b.numpy()) for a, b in full]
        assert len(got) == 6 and all(a.shape == (4, 3) for a, _ in got)
        for a, b in got:
            np.testing.assert_array_equal(a, rows[b])
        ragged = BatchSource(x, y, batch_size=4, shuffle=True, seed=2).dataset()
        assert [tuple(spec.shape) for spec in ragged.element_spec] == [(None, 3), (None,)]  # a smaller last batch


def test_what_cannot_stream_says_so(small_samples, tmp_path):
    settings = pipeline.resolve("bumphunt_vae")  # event rows: two jets each
    with pytest.raises(DataError, match=r"--memory-budget 1M: the in-memory path needs about .* one row per jet"):
        load_inputs(settings, _paths(small_samples), memory_budget=TINY, cache_dir=tmp_path / "rows")
    assert not (tmp_path / "rows").exists()
    assert "rows" in streaming.streamable(pipeline.resolve("bumphunt_vae"))  # one row per event
    assert streaming.streamable(pipeline.resolve("dvae")) is None
    with pytest.raises(DataError, match="--memory-budget"):  # median and quartiles need every row
        MODELS["beta_vae"].cls(scaler="robust").fit_scaler_in_chunks(lambda: iter([]))
    assert MODELS["dvae"].cls().fit_scaler_in_chunks(lambda: iter([])) is None  # nothing to fit


def test_scalers_fitted_in_chunks_get_the_in_memory_values(small_samples):
    """beta_vae's standard scaler, the FCN's mean and width and the constituents' card scaler,
    fitted from 97-row chunks of a lazy view, equal the in-memory fit."""
    sample = datasets.load(_paths(small_samples))
    built = representations.build("constituents", sample)

    def pieces(x):
        return lambda: streaming.chunks(x, 97)

    whole, chunked = MODELS["beta_vae"].cls(), MODELS["beta_vae"].cls()
    whole.fit_scaler(built["constituents"])
    chunked.fit_scaler_in_chunks(pieces(built["constituents"]))
    for a, b in ((whole.offset, chunked.offset), (whole.scale, chunked.scale)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=0)
    assert not np.allclose(np.asarray(whole.scale), 1.0)  # a real fit, not the identity
    record = representations.fit("constituents", built)["scaler"]
    streamed = streaming.fit_representation("constituents", built)["scaler"]
    assert streamed["n_fit"] == record["n_fit"] and streamed["kind"] == "standard"
    np.testing.assert_allclose(streamed["offset"], record["offset"], rtol=1e-12)
    np.testing.assert_allclose(streamed["scale"], record["scale"], rtol=1e-12)
    fcn_whole, fcn_chunked = MODELS["fcn"].cls(), MODELS["fcn"].cls()
    fcn_whole.fit_scaler(built["constituents"])
    fcn_chunked.fit_scaler_in_chunks(pieces(built["constituents"]))
    for (a, _, _), (b, _, _) in zip(fcn_whole.networks, fcn_chunked.networks):
        np.testing.assert_allclose(np.asarray(b.offset), np.asarray(a.offset), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(np.asarray(b.scale), np.asarray(a.scale), rtol=1e-6)


def _fit(argv, capsys):
    assert fit.main(argv) == 0, capsys.readouterr().err[-3000:]
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    card = json.loads((pathlib.Path(summary["export"]) / "assets.extra" / "model_card.json").read_text())
    return summary, card, captured.err


def test_streamed_fit_and_score_match_in_memory(small_samples, tmp_path, capsys, monkeypatch):
    """fit on 1000 jets with a 1M budget (their in-memory footprint is ~21M): the same split,
    training history, metrics of every score and model card statistics as in memory, to 1e-6;
    the row cache exists while training and is gone afterwards. score in chunks: the same scores."""
    data = [str(p) for p in _paths(small_samples)]
    base = ["--model", "dvae", "--data", *data, "--n-jets", "1000", "--epochs", "2", "--seed", "1"]
    seen = []
    real = pipeline.train_member

    def watching(settings, x_train, *args, **kwargs):
        seen.append((type(x_train).__name__, sorted(p.name for p in (tmp_path / "s" / ".runs").glob("*-rows/*"))))
        return real(settings, x_train, *args, **kwargs)

    monkeypatch.setattr(pipeline, "train_member", watching)
    whole, whole_card, _ = _fit([*base, "--export-dir", str(tmp_path / "m")], capsys)
    streamed, streamed_card, err = _fit([*base, "--export-dir", str(tmp_path / "s"), "--memory-budget", "1M"], capsys)
    assert "streaming: jet_image built" in err
    assert seen[0][0] == "ndarray" and seen[1] == ("RowsView", ["jet_image.npy"])  # streamed from the cache
    assert not list((tmp_path / "s" / ".runs").glob("*"))  # cache and checkpoints removed
    assert streamed["n_test"] == whole["n_test"]
    for key in ("n_train", "n_validation", "n_test", "split", "provenance"):
        assert streamed_card["data"][key] == whole_card["data"][key]
    assert set(streamed["metrics"]) == set(whole["metrics"]) and len(whole["metrics"]) == 5
    for key, value in whole["metrics"].items():
        assert streamed["metrics"][key] == pytest.approx(value, abs=1e-6), key
    for name, values in whole_card["metrics"]["scores"].items():
        for key, value in values.items():
            assert streamed_card["metrics"]["scores"][name][key] == pytest.approx(value, abs=1e-6), (name, key)
    for key, values in whole_card["training"]["history"].items():
        np.testing.assert_allclose(streamed_card["training"]["history"][key], values, rtol=0, atol=1e-6)
    assert streamed_card["representation"] == whole_card["representation"]
    # the streamed export's warmup requests hold the same held-out jets, read without loading the files whole
    warmups = [pathlib.Path(r["export"]) / "assets.extra" / "tf_serving_warmup_requests" for r in (whole, streamed)]
    assert warmups[0].stat().st_size > 1000 and warmups[0].read_bytes() == warmups[1].read_bytes()

    export = streamed["export"]
    outs = {}
    monkeypatch.setattr(score, "BATCH_SIZE", 64)  # batches of 64 jets: 600 jets make chunks of whole batches
    for budget in ("8G", "100K"):
        out = tmp_path / f"scores-{budget}.h5"
        assert score.main(["--model", export, "--data", data[1], "--out", str(out), "--memory-budget", budget]) == 0
        captured = capsys.readouterr()
        outs[budget] = json.loads(captured.out.strip().splitlines()[-1])
        assert ("scoring 64 jets at a time" in captured.err) == (budget == "100K")
    import h5py

    with h5py.File(tmp_path / "scores-8G.h5") as a, h5py.File(tmp_path / "scores-100K.h5") as b:
        assert sorted(a["scores"]) == sorted(b["scores"])
        for name in a["scores"]:  # every jet scored in the same batch: the same to the bit
            np.testing.assert_array_equal(b["scores"][name][...], a["scores"][name][...])
        np.testing.assert_array_equal(a["labels"][...], b["labels"][...])
        np.testing.assert_array_equal(a["event"][...], b["event"][...])
    assert outs["8G"]["n_rows"] == outs["100K"]["n_rows"] == 600


def test_supervised_two_input_model_trains_alike_streamed(small_samples, tmp_path):
    """Named inputs and class targets (the point-cloud classifiers' path): training on rows read from
    the cache gives the history and test scores of training on the same rows in memory."""
    from tests.training.test_pipeline import SPEC

    settings = pipeline.resolve("points_classifier", sets={"epochs": 2}, spec=SPEC)
    paths = _paths(small_samples)
    results = []
    for budget in (None, TINY):
        inputs = load_inputs(settings, paths, memory_budget=budget, cache_dir=tmp_path / "rows")
        assert inputs.streamed == (budget is not None)
        split = split_rows(inputs, seed=0)
        member = pipeline.train_member(
            settings,
            inputs.model_inputs(split.train),
            inputs.model_inputs(split.validation),
            seed=0,
            run_dir=tmp_path / f"run-{budget}",
            y_train=class_targets(SPEC, inputs, split.train),
            y_val=class_targets(SPEC, inputs, split.validation),
            verbose=0,
        )
        results.append((member.history, pipeline.evaluate(member.model, inputs, split.test, SPEC.signal_label)))
        inputs.close()
    (history, whole), (streamed_history, streamed) = results
    assert streamed_history.keys() == history.keys()
    for key, values in history.items():
        np.testing.assert_allclose(streamed_history[key], values, rtol=0, atol=1e-6)
    np.testing.assert_allclose(streamed.scores["not_qcd"], whole.scores["not_qcd"], rtol=0, atol=1e-6)
    assert streamed.metrics["not_qcd"]["auc"] == pytest.approx(whole.metrics["not_qcd"]["auc"], abs=1e-6)
    assert not (tmp_path / "rows").exists()
