"""Command-line model names -> ModelSpec: class, inputs, training mode, presets, defaults, default data.

Adding a model family means one model file, one entry here and its tests.
"""

import dataclasses

from models import ae1d, bumphunt_vae, dvae, gmvae, vae1d, vrnn

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
