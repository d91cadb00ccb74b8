"""Command-line model names -> ModelSpec: class, inputs, training mode, presets, defaults, default data.

Adding a model family means one model file, one entry here and its tests.
"""

import dataclasses

from models import ae1d, beta_vae, bumphunt_vae, disco_vae, dnn, dvae, fcn, gmvae, oe_vae, particlenet, vae1d, vrnn

UNSUPERVISED = "unsupervised"  # learns from the inputs alone; labels are used only to evaluate
SUPERVISED = "supervised"  # learns from the sample's class labels (classifiers, baselines)


@dataclasses.dataclass(frozen=True)
class Component:
    """One generated process of a default dataset.

    Attributes:
        process: a process name of the generator (qcd, top, w, higgs4b, dijet, lhco-signal).
        seed: generator seed (each component has its own, so samples never overlap).
        share: fraction of the dataset's jets taken from this process.
        options: generator options as (name, value) pairs (e.g. (("prongs", 2),)).
    """

    process: str
    seed: int
    share: float
    options: tuple = ()


@dataclasses.dataclass(frozen=True)
class DatasetRecipe:
    """A default dataset: processes with shares and seeds, made with the generator and cached."""

    name: str
    components: tuple
    n_jets: int  # default size (jets, all components together)
    description: str = ""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything `training.fit` needs to know about one model family.

    Attributes:
        cls: the Tagger subclass.
        representation: default input representation (a preset may name another).
        inputs: names of the representation's arrays the model takes, in serving order, or None
            for every array the representation builds; one array reaches the model as a plain
            array, several as a dict {name: array}.
        presets: {name: {"config": kwargs, "description": str[, "representation": str]}}.
        training: defaults: epochs, batch_size, learning_rate, beta_2, optimizer, stopping.
        dataset: the default dataset recipe (used without --data).
        mode: UNSUPERVISED or SUPERVISED (supervised models train on `classes`).
        signal_label: class treated as positive in evaluation.
        classes: for supervised models, the sample class names in the order of the model's outputs.
        training_arrays: training-only arrays delivered beside the inputs in every training and
            validation batch (a dict), never serving inputs (training.pipeline.TRAINING_ARRAYS:
            "jet_mass", "class_target", "outliers").
        outliers: the default outlier dataset of models that take "outliers" (generated and cached).
    """

    cls: type
    representation: str
    inputs: tuple | None
    presets: dict
    default_preset: str
    citation: str
    signal_label: str
    training: dict
    dataset: DatasetRecipe
    mode: str = UNSUPERVISED
    classes: tuple = ()
    training_arrays: tuple = ()
    outliers: DatasetRecipe | None = None

    def __post_init__(self):
        if self.mode not in (UNSUPERVISED, SUPERVISED):
            raise ValueError(f"mode must be {UNSUPERVISED!r} or {SUPERVISED!r}, got {self.mode!r}")
        if self.mode == SUPERVISED and not self.classes:
            raise ValueError("a supervised model needs its class names")
        if self.default_preset not in self.presets:
            raise ValueError(f"default preset {self.default_preset!r} is not among {sorted(self.presets)}")


# dillon2021: QCD and top jets (R = 0.8, 550-650 GeV, top parton matching), half and half
TOP_QCD = DatasetRecipe(
    name="dillon2021-top-qcd",
    components=(Component("qcd", 1001, 0.5), Component("top", 2002, 0.5)),
    n_jets=60_000,
    description="QCD and top jets, anti-kT R = 0.8, 550 < pT < 650 GeV (dillon2021)",
)
# bortolato2021: LHCO-like dijet events with the 2-prong W' -> X Y signal at S/B = 1 %
LHCO_SB1 = DatasetRecipe(
    name="bortolato2021-lhco-sb1",
    components=(Component("dijet", 3003, 0.99), Component("lhco-signal", 3004, 0.01, (("prongs", 2),))),
    n_jets=120_000,
    description="LHCO-like dijet events with 1 % W' -> X(500) Y(100) signal events (bortolato2021)",
)
# kahn2021: LHCO-like dijet events with 2-prong Z' -> X Y signal at 10 % of the events; rows are jets
# (both leading jets of every event). 10 % keeps enough signal jets in a small test split to measure
# an AUC; the paper finds the AUC flat from 0.01 % to 50 % contamination.
LHCO_VRNN = DatasetRecipe(
    name="kahn2021-lhco-2prong-10pc",
    components=(Component("dijet", 4005, 0.9), Component("lhco-signal", 4006, 0.1, (("prongs", 2),))),
    n_jets=40_000,
    description="LHCO-like dijet events with 10 % Z' -> X(500) Y(100) 2-prong signal, both leading jets (kahn2021)",
)

MODELS = {
    "dvae": ModelSpec(
        cls=dvae.DirichletVAE,
        representation="jet_image",
        inputs=None,
        presets=dvae.PRESETS,
        default_preset="balanced",
        citation=dvae.CITATION,
        signal_label="top",
        # Adam(5e-3, beta_2=0.99), batch 100: the authors' public DVAE example (the paper's
        # text quotes 1e-3 for all its models; 5e-3 reaches the same AUC in fewer epochs)
        training={"epochs": 60, "batch_size": 100, "learning_rate": 5e-3, "beta_2": 0.99},
        dataset=TOP_QCD,
    ),
    "bumphunt_vae": ModelSpec(
        cls=bumphunt_vae.BumpHuntVAE,
        representation="highlevel",
        inputs=None,
        presets=bumphunt_vae.PRESETS,
        default_preset="paper",
        citation=bumphunt_vae.CITATION,
        signal_label="signal",
        # Adadelta with TensorFlow's defaults (learning rate 1e-3), batch 1000, <= 100 epochs, KL-peak stop
        training={
            "epochs": 100,
            "batch_size": 1000,
            "learning_rate": 1e-3,
            "optimizer": "adadelta",
            "stopping": "kl_peak",
        },
        dataset=LHCO_SB1,
    ),
    "vrnn": ModelSpec(
        cls=vrnn.VRNN,
        representation="vrnn",
        inputs=(vrnn.SEQUENCE, vrnn.MASK),
        presets=vrnn.PRESETS,
        default_preset="cpu",
        citation=vrnn.CITATION,
        signal_label="signal",
        # the paper's Adam 1e-5, batch 256, 100 epochs; the default "cpu" preset raises the learning
        # rate (presets may override training settings)
        training={"epochs": 100, "batch_size": 256, "learning_rate": 1e-5, "beta_2": 0.999},
        dataset=LHCO_VRNN,
    ),
}
# dillon2021's convolutional AE, VAE and GMVAE: Adam 1e-3 as in the paper; the paper trains to
# convergence (~200 epochs), 30 keeps CPU runs short
for _name, _module, _cls in (("ae1d", ae1d, ae1d.AE1D), ("vae1d", vae1d, vae1d.VAE1D), ("gmvae", gmvae, gmvae.GMVAE)):
    MODELS[_name] = ModelSpec(
        cls=_cls,
        representation="jet_image",
        inputs=None,
        presets=_module.PRESETS,
        default_preset="paper",
        citation=_module.CITATION,
        signal_label="top",
        training={"epochs": 30, "batch_size": 100, "learning_rate": 1e-3, "beta_2": 0.999},
        dataset=TOP_QCD,
    )


# cheng2020: QCD training jets (anti-kT R = 1.0, pT > 450 GeV; pTHat > 400 GeV so the 450-500 GeV
# jets are not thinned) in two independently seeded files; 40k jets (the paper: 480k) keep a CPU run
# to minutes
_CHENG2020_TRAIN = (("pthat_min", 400.0), ("selection", "cheng2020-train"))
CHENG2020_QCD = DatasetRecipe(
    name="cheng2020-qcd-train",
    components=(Component("qcd", 5001, 0.5, _CHENG2020_TRAIN), Component("qcd", 5002, 0.5, _CHENG2020_TRAIN)),
    n_jets=40_000,
    description="QCD jets, anti-kT R = 1.0, pT > 450 GeV (cheng2020 training jets)",
)
# cheng2020 OE: mass-rescaled W jets (W' -> W Z(nu nu), W masses spread over the QCD mass range and
# distinct from the W test masses 59/80/120/174), a quarter of the training size as in the paper;
# training.pipeline resamples them to the QCD jet-mass distribution of the rows they pair with
CHENG2020_OUTLIERS = DatasetRecipe(
    name="cheng2020-w-outliers",
    components=tuple(
        Component("w", 5100 + k, 0.25, (("w_mass", m), ("selection", "cheng2020-train")))
        for k, m in enumerate((25.0, 50.0, 100.0, 150.0))
    ),
    n_jets=10_000,
    description="mass-rescaled W jets (m_W 25, 50, 100, 150 GeV), R = 1.0, pT > 450 GeV (cheng2020 outlier exposure)",
)
# cheng2020 supervised baseline: QCD (the first file of CHENG2020_QCD at equal size) and W(80) jets
CHENG2020_W_QCD = DatasetRecipe(
    name="cheng2020-w-qcd",
    components=(
        Component("qcd", 5001, 0.5, _CHENG2020_TRAIN),
        Component("w", 5202, 0.5, (("selection", "cheng2020-train"),)),
    ),
    n_jets=40_000,
    description="QCD and W(80) jets, R = 1.0, pT > 450 GeV (cheng2020 supervised baseline)",
)
# Adam 1e-3, batch 100, 50 epochs (cheng2020 Sec. II); the DisCo-VAE drops the rate to 1e-4 at epoch
# 30 itself (models.disco_vae); scores are evaluated on held-out jets only
_CHENG2020_TRAINING = {"epochs": 50, "batch_size": 100, "learning_rate": 1e-3, "beta_2": 0.999}


def _cheng2020_spec(module, cls, default_preset="paper", extra_training=None, **fields):
    """A cheng2020 model on the `constituents` representation, W jets as the evaluation signal."""
    return ModelSpec(
        cls=cls,
        representation="constituents",
        inputs=(beta_vae.CONSTITUENTS,),
        presets=module.PRESETS,
        default_preset=default_preset,
        citation=module.CITATION,
        signal_label="w",
        training={**_CHENG2020_TRAINING, **(extra_training or {})},
        **{"dataset": CHENG2020_QCD, **fields},
    )


MODELS["beta_vae"] = _cheng2020_spec(beta_vae, beta_vae.BetaVAE)
MODELS["disco_vae"] = _cheng2020_spec(disco_vae, disco_vae.DiscoVAE, training_arrays=(beta_vae.JET_MASS,))
MODELS["oe_vae"] = _cheng2020_spec(
    oe_vae,
    oe_vae.OEVAE,
    "mse_oe",
    extra_training={"outliers": None},  # --set outliers=PATH[,PATH]; None: the generated CHENG2020_OUTLIERS
    training_arrays=(beta_vae.OUTLIERS,),
    outliers=CHENG2020_OUTLIERS,
)
MODELS["dnn"] = _cheng2020_spec(
    dnn,
    dnn.DNN,
    dataset=CHENG2020_W_QCD,
    mode=SUPERVISED,
    classes=("qcd", "w"),
    training_arrays=(beta_vae.JET_MASS, beta_vae.CLASS_TARGET),
)


# cheng2022: QCD, W (W' 1.25 TeV -> W Z(nu nu)) and top (Z' 1.5 TeV -> t tbar) jets, anti-kT R = 1.0,
# 550 < pT < 650 GeV, |eta| < 2 (the "cheng2020" selection), a third each; 30k jets (the paper:
# 350k per class) keep a CPU run to minutes
CHENG2022 = DatasetRecipe(
    name="cheng2022-qcd-w-top",
    components=(
        Component("qcd", 6001, 1.0 / 3, (("selection", "cheng2020"),)),
        Component("w", 6002, 1.0 / 3, (("wprime_mass", 1250.0), ("selection", "cheng2020"))),
        Component("top", 6003, 1.0 / 3, (("zprime_mass", 1500.0), ("selection", "cheng2020"))),
    ),
    n_jets=30_000,
    description="QCD, W (W' 1.25 TeV) and top (Z' 1.5 TeV) jets, R = 1.0, 550 < pT < 650 GeV (cheng2022)",
)
# cheng2022 mass decorrelation (Sec. 4.2): mass-rescaled W and top jets spanning the QCD mass range,
# resampled to the QCD training jets' mass and added to the W and top training classes
# (training.data.augment, --set decorrelate=augment). For top masses <= 80 GeV the W mass is scaled with
# the top mass (paper footnote 3). Sizes relative to the base set as in the paper (W 250k, top 160k
# beside 350k per class): 0.71 and 0.46 of a class.
CHENG2022_W_MASSES = (20.0, 40.0, 60.0, 100.0, 130.0, 160.0, 200.0, 250.0)
CHENG2022_TOP_MASSES = ((50.0, 23.0), (80.0, 37.0), (120.0, None), (220.0, None), (280.0, None))
CHENG2022_AUGMENT = DatasetRecipe(
    name="cheng2022-mass-augmentation",
    components=tuple(
        Component(
            "w",
            6100 + k,
            0.61 / len(CHENG2022_W_MASSES),
            (("w_mass", m), ("wprime_mass", 1250.0), ("selection", "cheng2020")),
        )
        for k, m in enumerate(CHENG2022_W_MASSES)
    )
    + tuple(
        Component(
            "top",
            6200 + k,
            0.39 / len(CHENG2022_TOP_MASSES),
            (("top_mass", t),)
            + ((("w_mass", w),) if w else ())
            + (("zprime_mass", 1500.0), ("selection", "cheng2020")),
        )
        for k, (t, w) in enumerate(CHENG2022_TOP_MASSES)
    ),
    n_jets=11_700,
    description="mass-rescaled W (m_W 20-250 GeV) and top (m_t 50-280 GeV) jets, R = 1.0, 550 < pT < 650 GeV "
    "(cheng2022 mass decorrelation)",
)
# cheng2022 classifiers learn (QCD, W, top) in this order (QCD = output 0, models.classifier.QCD);
# "top" is the positive class of fit's in-sample metrics (the paper's tests are out of distribution:
# evaluation.papers.cheng2022). The jet mass rides along as a training-only array for the DisCo preset.
for _name, _cls, _module, _rep, _inputs, _preset in (
    ("particlenet", particlenet.ParticleNet, particlenet, "pointcloud", particlenet.INPUTS, "lite"),
    ("fcn", fcn.FCN, fcn, "constituents", (fcn.CONSTITUENTS,), "paper"),
):
    MODELS[_name] = ModelSpec(
        cls=_cls,
        representation=_rep,
        inputs=_inputs,
        presets=_module.PRESETS,
        default_preset=_preset,
        citation=_module.CITATION,
        signal_label="top",
        training=dict(_module.TRAINING),
        dataset=CHENG2022,
        mode=SUPERVISED,
        classes=("qcd", "w", "top"),
        training_arrays=("jet_mass",),
    )


def describe():
    """Human-readable list of models and presets for --help."""
    lines = []
    for name, spec in MODELS.items():
        lines.append(
            f"  {name:<8} {spec.cls.__name__} ({spec.citation}); input: {spec.representation}; "
            f"{spec.mode}; default data: {spec.dataset.description}"
        )
        for pname, preset in spec.presets.items():
            mark = " (default)" if pname == spec.default_preset else ""
            lines.append(f"      --preset {pname}{mark}: {preset['description']}")
    return "\n".join(lines)
