"""Score the bench's test suites through each exported SavedModel and measure every number of a row.

Jet-level entries are scored through the export's ``serving_default`` with
``training.score.score_sample`` (raw constituents in where the representation is built in the graph,
else the card's representation rebuilt in numpy), the path a served model takes; the scoring rate
(rows per second) is timed on these calls. The VRNN trained on events is scored through its
``event`` signature (kahn2021's Event Score, the larger rho' of the two leading jets). The
``bumphunt_vae`` rows are events (bortolato2021's six observables).

Every record holds the default score's numbers ("ours") and, separately, the named output with the
best test AUC: a choice made with the labels, for information only.
"""

import time

import numpy as np

from evaluation.leaderboard import metrics, tasks


class Samples:
    """The test suites, read once: jet-level views (the heavier jet of events) and whole event samples."""

    def __init__(self, paths):
        from preprocessing.samples.format import read_sample

        self.paths = {s.name: p for s, p in paths.items()}
        self._events = {s.name: read_sample(p) for s, p in paths.items()}

    def events(self, suite):
        return self._events[suite.name]

    def jets(self, suite):
        """The jets of a jet-level test: the sample itself, or the heavier jet (mass_rank 0) of each event."""
        sample = self._events[suite.name]
        if not suite.events:
            return sample
        return sample.subset(np.flatnonzero(np.asarray(sample.jets["mass_rank"]) == 0))


def _usable(card, sample):
    """The jets a representation keeps (the VRNN's drops jets with fewer than 3 constituents)."""
    if card.representation_name != "vrnn":
        return sample
    from preprocessing.representations.vrnn import kept_rows

    return sample.subset(np.flatnonzero(kept_rows(sample)))


class Scorer:
    """An installed export and a clock of its scoring calls."""

    def __init__(self, folder):
        from training.export import load_tagger

        _, self.card, self.folder, self.loaded = load_tagger(folder)
        self.rows, self.seconds = 0, 0.0

    def _timed(self, fn, n):
        start = time.perf_counter()
        out = fn()
        self.seconds += time.perf_counter() - start
        self.rows += n
        return out

    def jets(self, sample, source):
        """{output: (jets,)} through serving_default (the first call also warms the graph up, untimed)."""
        from training.score import score_sample

        fn = self.loaded.signatures["serving_default"]
        if not self.rows:
            score_sample(fn, self.card, sample.subset(np.arange(min(8, len(sample)))), source=source)
        out = self._timed(lambda: score_sample(fn, self.card, sample, source=source), len(sample))
        return {k: np.asarray(v) for k, v in out.items() if np.ndim(v) == 1}

    def events(self, sample, source):
        """({output: (events,)}, m_jj (events,)): event-level inputs through serving_default, or the
        VRNN's ``event`` signature on both leading jets; events without a usable jet are left out."""
        from preprocessing.representations.highlevel import dijet_features

        if "event" in self.loaded.signatures and self.card.representation_name == "vrnn":
            import tensorflow as tf

            from evaluation.papers.kahn2021 import event_table
            from models.base import batched

            table = event_table(sample, source=source)
            feed = {f"{k}_1": v for k, v in table["lead"].items()} | {f"{k}_2": v for k, v in table["sub"].items()}
            fn = self.loaded.signatures["event"]

            def call(batch):
                return fn(**{k: tf.constant(v, tf.float32) for k, v in batch.items()})

            if not self.rows:  # warm the graph up, untimed
                call({k: v[:8] for k, v in feed.items()})
            out = self._timed(lambda: batched(call, feed), len(table["mjj"]))
            score = np.asarray(out["event_score"])
            ok = np.isfinite(score)
            return {"event_score": score[ok]}, np.asarray(table["mjj"])[ok]
        scores = self.jets(sample, source)
        _, mjj, _ = dijet_features(sample, source)
        return scores, np.asarray(mjj, np.float64)

    @property
    def rate(self):
        return self.rows / self.seconds if self.seconds else None


def best_with_labels(background, signal):
    """(name, AUC) of the named output with the largest test AUC: CHOSEN WITH LABELS, information only."""
    from training.metrics import summary

    best = None
    for name in background:
        if (
            name == "anomaly_score"
            or not np.all(np.isfinite(background[name]))
            or not np.all(np.isfinite(signal[name]))
        ):
            continue
        y = np.r_[np.zeros(len(background[name]), bool), np.ones(len(signal[name]), bool)]
        auc = summary(np.r_[background[name], signal[name]], y)["auc"]
        if best is None or auc > best[1]:
            best = (name, auc)
    return best


def _record(entry, signal, background_name, default, bkg, sig, n_resamples, seed):
    m = metrics.signal_metrics(bkg[default], sig[default], n_resamples, seed)
    best = best_with_labels(bkg, sig)
    classes = tasks.TRAINING_CLASSES.get(entry.model) if entry.task == tasks.SUPERVISED_TASK else None
    return {
        "entry": entry.name,
        "model": entry.model,
        "task": entry.task,
        "variant": entry.variant,
        "signal": signal,
        "background": background_name,
        "in_training_classes": None if classes is None else signal in classes,
        "default_score": default,
        **m,
        "best_with_labels": {"score": best[0], "auc": best[1]} if best else None,
    }


def evaluate_entry(entry, folder, samples, scale, seed):
    """(entry numbers, [records]) of one installed export on its test suites."""
    cfg = tasks.SCALES[scale]
    scorer = Scorer(folder)
    default = scorer.card.default_score
    records = []
    numbers = {"signature": "serving_default", "sculpting": None, "mismodelling": None}
    if entry.task == tasks.EVENT_TASK:
        bkg, mjj_b = scorer.events(samples.events(tasks.DIJET_TEST), f"{entry.name}: {tasks.DIJET_TEST.name}")
        if entry.event_score:
            default, numbers["signature"] = "event_score", "event"
        numbers["sculpting"] = {**metrics.sculpting(mjj_b, bkg[default]), "observable": "m_jj [GeV]"}
        for prongs, suite in tasks.SIGNAL_EVENT_TESTS.items():
            sig, mjj_s = scorer.events(samples.events(suite), f"{entry.name}: {suite.name}")
            record = _record(
                entry, f"{prongs}-prong events", tasks.DIJET_TEST.name, default, bkg, sig, cfg["bootstrap"], seed
            )
            record["bump"] = metrics.bump(mjj_b, bkg[default], mjj_s, sig[default], entry.fraction)
            record["trained_on_this_signal"] = prongs == entry.prongs
            records.append(record)
    else:
        scored = {}

        def scores_of(suite):
            if suite.name not in scored:
                jets = _usable(scorer.card, samples.jets(suite))
                scored[suite.name] = (scorer.jets(jets, f"{entry.name}: {suite.name}"), jets)
            return scored[suite.name]

        qcd, qcd_jets = scores_of(tasks.QCD_TEST)
        numbers["sculpting"] = {
            **metrics.sculpting(np.asarray(qcd_jets.jets["mass"], np.float64), qcd[default]),
            "observable": "QCD jet mass [GeV]",
        }
        for signal, suite, background in tasks.JET_SIGNALS:
            bkg, _ = scores_of(background)
            sig, _ = scores_of(suite)
            records.append(_record(entry, signal, background.name, default, bkg, sig, cfg["bootstrap"], seed))
        numbers["mismodelling"] = {
            suite.name: metrics.mismodelling(
                qcd[default], scores_of(suite)[0][default], tasks.MISMODELLING_EFF_B, cfg["bootstrap"], seed
            )
            for suite in tasks.MISMODELLED_QCD
        }
    numbers["default_score"] = default
    numbers["score_rows_per_second"] = scorer.rate
    numbers["scored_rows"] = scorer.rows
    return numbers, records
