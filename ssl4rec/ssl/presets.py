"""Named classics as presets of the encoder x objective cross.

Each preset is registered in ``PRESETS`` as a factory ``(**overrides) -> SSLRecommender``
with its spec in ``entry.meta["spec"]``. Overrides are training parameters at top level
(``epochs=20``), nested ``encoder={...}`` / ``objectives={name: {...}}`` dicts, or dotted
keys (``**{"encoder.dropout": 0.3, "objectives.contrastive.temperature": 0.5}``), the form
the preset's search space uses. Unknown keys raise with suggestions.

Presets fix the structure and the objective settings of each paper; sizes and training
parameters are the framework's shared defaults (so models compare at equal budgets).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ..registry import ENCODERS, OBJECTIVES, PRESETS, ConfigError, check_keys, register_preset
from .composite import TRAIN_SEARCH_SPACE, SSLRecommender, SSLTrainConfig, parse_component

__all__ = ["PRESET_SPECS", "apply_overrides", "build_preset", "preset_search_space", "split_dotted"]

#: The instance contrast as the CL4SRec / CoSeRec / ICLRec code computes it: weight 0.1, temperature 1,
#: views compared by their flattened outputs, the mask augmentation writing the padding id.
AUTHORS_CONTRASTIVE: dict[str, Any] = {
    "name": "contrastive",
    "objective_weight": 0.1,
    "temperature": 1.0,
    "view_repr": "flatten",
    "mask_value": "padding",
}

#: Training of SELFRec's graph models: batches of 2048 edges, Adam 0.001, no weight decay (the L2 term
#: is the ``bpr`` objective's ``reg``), at most 500 epochs (SELFRec's LightGCN). Validation every 5
#: epochs (SELFRec's LightGCN evaluates every 5th) with patience 10 (50 epochs): LightGCN's validation
#: peaks after the first epoch, dips for about 10 epochs and then climbs past it (ML-100K), which a
#: patience of 10 single epochs mistakes for convergence.
GRAPH_TRAINING: dict[str, Any] = {
    "batch_size": 2048,
    "learning_rate": 0.001,
    "weight_decay": 0.0,
    "epochs": 500,
    "patience": 10,
    "eval_every": 5,
    "bucket_by_length": False,
}

PRESET_SPECS: dict[str, dict[str, Any]] = {
    "gru4rec": {
        "encoder": {"name": "gru"},
        "objectives": [{"name": "next_item", "loss": "ce"}],
        "schedule": "joint",
    },
    "sasrec": {
        "encoder": {"name": "transformer", "causal": True},
        "objectives": [{"name": "next_item"}],
        "schedule": "joint",
    },
    "bert4rec": {
        "encoder": {"name": "transformer", "causal": False},
        "objectives": [{"name": "masked_item", "mask_prob": 0.2}],
        "schedule": "joint",
    },
    "cl4srec": {
        "encoder": {"name": "transformer", "causal": True},
        "objectives": [
            {"name": "next_item"},
            # as the authors' code (ICLRec repository's CL4SRec): views compared by their flattened
            # outputs, the mask augmentation writes the padding id, uniformly shuffled batches (the
            # in-batch negatives are sequences of any length); with length-bucketed batches, views
            # by the last position and the mask token it lands 16-21% below its published Beauty row
            {
                **AUTHORS_CONTRASTIVE,
            },
        ],
        "schedule": "joint",
        "bucket_by_length": False,
    },
    "coserec": {
        "encoder": {"name": "transformer", "causal": True},
        "objectives": [
            {"name": "next_item"},
            # the authors' code (YChen1993/CoSeRec): five augmentations drawn per view, flattened views,
            # padding-id mask, reorder with the mask ratio (the code passes gamma to Reorder), ItemCF-IUF
            # correlations, the model's embeddings ensembled in after 160 warm-up epochs
            {
                **AUTHORS_CONTRASTIVE,
                "augmentations": ["crop", "mask", "reorder", "substitute", "insert"],
                "reorder_ratio": 0.7,
                "substitute_ratio": 0.1,
                "insert_ratio": 0.4,
                "item_similarity": "hybrid",
                "online_after": 160,
            },
        ],
        "schedule": "joint",
        "bucket_by_length": False,
    },
    "duorec": {
        "encoder": {"name": "transformer", "causal": True},
        "objectives": [
            # RecBole (DuoRec's code base) trains on every prefix, softmax at its last position
            {"name": "next_item", "loss": "ce", "positions": "last"},
            # the authors' code (RuihongQiu/DuoRec, contrast 'us_x'): a dropout view of the sequence
            # against a same-target sequence, dot product, tau 1, same-target pairs left as negatives
            {
                "name": "supervised_contrastive",
                "objective_weight": 0.1,
                "temperature": 1.0,
                "positive": "same_target",
                "mask_same_target": False,
            },
        ],
        "schedule": "joint",
        "bucket_by_length": False,
        "train_windows": "prefixes",
    },
    "iclrec": {
        "encoder": {"name": "transformer", "causal": True},
        "objectives": [
            {"name": "next_item"},
            # the authors' code (salesforce/ICLRec, contrast_type Hybrid): instance contrast of flattened
            # views (cf_weight 0.1) + intent contrast of the same views against 256 k-means prototypes
            # (intent_cf_weight 0.1, the value of every dataset script), re-clustered every epoch; sequences
            # pooled by the mean over the whole window, padding outputs included (seq_representation_type
            # mean); each step queries the centroids with the step's forward output (cluster.query)
            {
                **AUTHORS_CONTRASTIVE,
            },
            {
                "name": "intent_contrastive",
                "objective_weight": 0.1,
                "temperature": 1.0,
                "num_intents": 256,
                "mask_value": "padding",
                "pool": "window",
                "assign": "batch",
                "share_views": True,
            },
        ],
        "schedule": "joint",
        "bucket_by_length": False,
    },
    "s3rec": {
        "encoder": {"name": "transformer", "causal": True},
        "objectives": [
            {"name": "next_item"},
            # the authors' code (RUCAIBox/CIKM2020-S3Rec): four mutual-information objectives pretrain a
            # bidirectional encoder (weights 0.2 / 1 / 1 / 0.5, mask probability 0.2, batches of 100);
            # Beauty, Toys and LastFM fine-tune from the epoch-150 checkpoint (Sports and Yelp: 100)
            {"name": "s3rec_aap", "objective_weight": 0.2},
            {"name": "s3rec_mip", "objective_weight": 1.0},
            {"name": "s3rec_map", "objective_weight": 1.0},
            {"name": "s3rec_sp", "objective_weight": 0.5},
        ],
        "schedule": "pretrain_finetune",
        "pretrain_epochs": 150,
        "pretrain_batch_size": 100,
    },
    "multvae": {
        "encoder": {"name": "vae", "variational": True},
        "objectives": [{"name": "reconstruction"}],
        "schedule": "joint",
    },
    "multdae": {
        "encoder": {"name": "vae", "variational": False},
        "objectives": [{"name": "reconstruction"}],
        "schedule": "joint",
    },
    # Graph models, configured as SELFRec's conf/*.yaml (Coder-Yu/SELFRec): 64-d, 2 layers, batches
    # of 2048 edges, Adam 0.001, BPR with one uniform negative and reg 1e-4 on the batch's vectors.
    "lightgcn": {
        # SELFRec's LightGCN weighs the ego embeddings in its L2 term and divides it by the batch once more
        "encoder": {"name": "lightgcn", "num_layers": 2, "combine": "mean"},
        "objectives": [{"name": "bpr", "reg": 1e-4 / 2048, "reg_on": "ego"}],
        "schedule": "joint",
        **GRAPH_TRAINING,
    },
    "sgl": {
        # SELFRec's SGL: edge dropout 0.1 redrawn each epoch (aug_type 1), lambda 0.1, temp 0.2,
        # users and items in one InfoNCE
        "encoder": {"name": "lightgcn", "num_layers": 2, "combine": "mean"},
        "objectives": [
            {"name": "bpr", "reg": 1e-4},
            {
                "name": "graph_contrastive",
                "objective_weight": 0.1,
                "temperature": 0.2,
                "view": "edge_dropout",
                "view_params": {"ratio": 0.1},
                "pairing": "joint",
            },
        ],
        "schedule": "joint",
        **GRAPH_TRAINING,
    },
    "simgcl": {
        # SELFRec's SimGCL: layers 1..K averaged, noise eps 0.1, lambda 0.5, temp 0.2, users and items apart
        "encoder": {"name": "lightgcn", "num_layers": 2, "combine": "mean_propagated"},
        "objectives": [
            {"name": "bpr", "reg": 1e-4, "reg_negatives": False},
            {
                "name": "graph_contrastive",
                "objective_weight": 0.5,
                "temperature": 0.2,
                "view": "embedding_noise",
                "view_params": {"eps": 0.1},
                "pairing": "separate",
            },
        ],
        "schedule": "joint",
        **GRAPH_TRAINING,
    },
    "ncl": {
        # SELFRec's NCL: LightGCN with 3 layers + BPR; structural neighbours at layer 2 and k-means
        # prototypes (2000, after 20 warm-up epochs), tau 0.05, ssl_reg 1e-6, proto_reg 1e-7, alpha 1.5
        "encoder": {"name": "lightgcn", "num_layers": 3, "combine": "mean"},
        "objectives": [
            {"name": "bpr", "reg": 1e-4 / 2048},
            {
                "name": "prototype_contrastive",
                "temperature": 0.05,
                "structure_weight": 1e-6,
                "prototype_weight": 1e-7,
                "alpha": 1.5,
                "context_layer": 2,
                "num_clusters": 2000,
                "warm_up_epochs": 20,
            },
        ],
        "schedule": "joint",
        **GRAPH_TRAINING,
    },
    "directau": {
        # SELFRec's DirectAU: LightGCN with 3 layers, alignment + gamma 2 x uniformity, no negatives
        "encoder": {"name": "lightgcn", "num_layers": 3, "combine": "mean"},
        "objectives": [{"name": "align_uniform", "gamma": 2.0}],
        "schedule": "joint",
        **GRAPH_TRAINING,
    },
    "xsimgcl": {
        # SELFRec's XSimGCL: one noisy pass (eps 0.2) for BPR and the contrast of its final vectors
        # with layer l* = 1, lambda 0.2, tau 0.15
        "encoder": {"name": "lightgcn", "num_layers": 2, "combine": "mean_propagated", "train_noise": 0.2},
        "objectives": [
            {"name": "bpr", "reg": 1e-4, "reg_negatives": False},
            {
                "name": "graph_contrastive",
                "objective_weight": 0.2,
                "temperature": 0.15,
                "view": "cross_layer",
                "view_params": {"layer": 1},
                "pairing": "separate",
            },
        ],
        "schedule": "joint",
        **GRAPH_TRAINING,
    },
}

_META = {
    "gru4rec": (
        "Hidasi et al., Session-based Recommendations with Recurrent Neural Networks, ICLR 2016",
        "GRU encoder + next-item prediction (softmax over all items).",
    ),
    "sasrec": (
        "Kang & McAuley, Self-Attentive Sequential Recommendation, ICDM 2018",
        "Causal transformer + next-item prediction at every position.",
    ),
    "bert4rec": (
        "Sun et al., BERT4Rec: Sequential Recommendation with Bidirectional Encoder Representations "
        "from Transformer, CIKM 2019",
        "Bidirectional transformer + masked-item (cloze) prediction.",
    ),
    "cl4srec": (
        "Xie et al., Contrastive Learning for Sequential Recommendation, ICDE 2022",
        "SASRec + contrastive loss between crop/mask/reorder views (weight 0.1).",
    ),
    "coserec": (
        "Liu et al., Contrastive Self-supervised Sequential Recommendation with Robust Augmentation, arXiv 2108.06479, 2021",
        "SASRec + contrastive loss between crop/mask/reorder/substitute/insert views with correlated items.",
    ),
    "duorec": (
        "Qiu et al., Contrastive Learning for Representation Degeneration Problem in Sequential Recommendation, WSDM 2022",
        "SASRec (softmax) + contrast of a dropout view with a same-target sequence (weight 0.1).",
    ),
    "iclrec": (
        "Chen et al., Intent Contrastive Learning for Sequential Recommendation, WWW 2022",
        "CL4SRec + contrast of views with their k-means intent prototype (256 intents, weight 0.1).",
    ),
    "s3rec": (
        "Zhou et al., S3-Rec: Self-Supervised Learning for Sequential Recommendation with Mutual Information "
        "Maximization, CIKM 2020",
        "Attribute, masked-item, masked-attribute and segment prediction pretraining, then SASRec fine-tuning.",
    ),
    "multvae": (
        "Liang et al., Variational Autoencoders for Collaborative Filtering, WWW 2018",
        "Variational autoencoder over the item bag + multinomial likelihood with annealed KL.",
    ),
    "multdae": (
        "Liang et al., Variational Autoencoders for Collaborative Filtering, WWW 2018",
        "Denoising autoencoder over the item bag + multinomial likelihood.",
    ),
    "lightgcn": (
        "He et al., LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation, SIGIR 2020",
        "Ego embeddings propagated over the normalised user-item graph (2 layers, mean) + BPR.",
    ),
    "sgl": (
        "Wu et al., Self-supervised Graph Learning for Recommendation, SIGIR 2021",
        "LightGCN + InfoNCE between two edge-dropout views (ratio 0.1, weight 0.1, tau 0.2).",
    ),
    "simgcl": (
        "Yu et al., Are Graph Augmentations Necessary? Simple Graph Contrastive Learning for Recommendation, SIGIR 2022",
        "LightGCN + InfoNCE between two noise-perturbed propagations (eps 0.1, weight 0.5, tau 0.2).",
    ),
    "ncl": (
        "Lin et al., Improving Graph Collaborative Filtering with Neighborhood-enriched Contrastive Learning, WWW 2022",
        "LightGCN + BPR + contrast with structural neighbours (layer 2) and k-means prototypes (2000).",
    ),
    "directau": (
        "Wang et al., Towards Representation Alignment and Uniformity in Collaborative Filtering, KDD 2022",
        "LightGCN (3 layers) trained by alignment of each edge's user and item + uniformity (gamma 2), no negatives.",
    ),
    "xsimgcl": (
        "Yu et al., XSimGCL: Towards Extremely Simple Graph Contrastive Learning for Recommendation, TKDE 2023",
        "One noisy propagation (eps 0.2) for BPR and a final-vs-layer-1 contrast (weight 0.2, tau 0.15).",
    ),
}

#: Display names for leaderboards.
DISPLAY = {
    "gru4rec": "GRU4Rec",
    "sasrec": "SASRec",
    "bert4rec": "BERT4Rec",
    "cl4srec": "CL4SRec",
    "coserec": "CoSeRec",
    "duorec": "DuoRec",
    "iclrec": "ICLRec",
    "s3rec": "S3-Rec",
    "multvae": "Mult-VAE",
    "multdae": "Mult-DAE",
    "lightgcn": "LightGCN",
    "sgl": "SGL",
    "simgcl": "SimGCL",
    "xsimgcl": "XSimGCL",
    "directau": "DirectAU",
    "ncl": "NCL",
}

#: Preset versions (bumped when a preset's defaults change its results; a change of defaults only, so a
#: record whose resolved parameters equal the new version's stays valid). cl4srec 2: the authors'
#: recipe (flattened views, padding-id mask, uniformly shuffled batches) is the default. iclrec 2:
#: window-mean pooling with padding outputs, intents queried per step, views shared with the instance contrast.
VERSIONS = {"cl4srec": "2", "iclrec": "2"}

_TOP_LEVEL = [f.name for f in dataclasses.fields(SSLTrainConfig)] + ["encoder", "objectives", "schedule", "name"]


def split_dotted(overrides: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The one grammar of model parameters: ``param``, ``encoder.param``, ``objectives.name.param`` or
    nested ``encoder: {...}`` / ``objectives: {name: {...}}`` -> ``{param: v, "encoder": {...},
    "objectives": {name: {...}}}``; any other dotted form raises naming the key."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        parts = key.split(".")
        if len(parts) == 1:
            if key in ("encoder", "objectives") and key in out:
                if not isinstance(value, Mapping):
                    raise ConfigError(f"{where}: {key!r} overrides must be a mapping, got {value!r}")
                _merge(out[key], value)
            else:
                out[key] = (
                    copy.deepcopy(dict(value))
                    if key in ("encoder", "objectives") and isinstance(value, Mapping)
                    else value
                )
        elif parts[0] == "encoder" and len(parts) == 2:
            out.setdefault("encoder", {})[parts[1]] = value
        elif parts[0] == "objectives" and len(parts) == 3:
            out.setdefault("objectives", {}).setdefault(parts[1], {})[parts[2]] = value
        else:
            raise ConfigError(
                f"{where}: cannot read override key {key!r}; use 'param', 'encoder.param' or 'objectives.name.param'"
            )
    return out


def _merge(into: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def apply_overrides(spec: Mapping[str, Any], overrides: Mapping[str, Any], where: str = "preset") -> dict[str, Any]:
    """A copy of ``spec`` with ``overrides`` applied (see the module docstring); unknown keys raise."""
    out = copy.deepcopy(dict(spec))
    ov = split_dotted(overrides, where)
    check_keys(ov, _TOP_LEVEL, where)
    enc_name, enc_params = parse_component(out["encoder"], "encoder")
    if "encoder" in ov:
        if not isinstance(ov["encoder"], Mapping):
            raise ConfigError(f"{where}: 'encoder' overrides must be a mapping of parameters, got {ov['encoder']!r}")
        check_keys(ov["encoder"], ENCODERS.entry(enc_name).accepted_params(), f"{where} encoder {enc_name!r}")
        enc_params.update(ov.pop("encoder"))
    out["encoder"] = {"name": enc_name, **enc_params}
    objs = [parse_component(o, "objective") for o in out["objectives"]]
    if "objectives" in ov:
        given = ov.pop("objectives")
        if not isinstance(given, Mapping):
            raise ConfigError(f"{where}: 'objectives' overrides must map objective names to parameters, got {given!r}")
        check_keys(given, [n for n, _ in objs], f"{where} objectives")
        for n, params in objs:
            if n in given:
                check_keys(given[n], OBJECTIVES.entry(n).accepted_params(), f"{where} objective {n!r}")
                params.update(given[n])
    out["objectives"] = [{"name": n, **p} for n, p in objs]
    out.update(ov)
    return out


def preset_search_space(spec: Mapping[str, Any]) -> dict[str, tuple]:
    """Training, ``encoder.*`` and ``objectives.<name>.*`` search spaces of a spec (dotted keys).

    An objective that reads a propagation layer (``prototype_contrastive``'s ``context_layer``) keeps
    the sampled layer count at or above it, so every configuration of the space can be built."""
    space = dict(TRAIN_SEARCH_SPACE)
    enc_name, _ = parse_component(spec["encoder"], "encoder")
    for k, v in ENCODERS.entry(enc_name).search_space.items():
        space[f"encoder.{k}"] = v
    for o in spec["objectives"]:
        name, params = parse_component(o, "objective")
        for k, v in OBJECTIVES.entry(name).search_space.items():
            space[f"objectives.{name}.{k}"] = v
        layer = params.get("context_layer")
        kind = space.get("encoder.num_layers")
        if layer is not None and kind is not None and kind[0] == "int" and kind[1] < int(layer):
            space["encoder.num_layers"] = (kind[0], int(layer), max(int(layer), kind[2]), *kind[3:])
    return space


def _make_factory(name: str, spec: dict[str, Any]) -> Callable[..., SSLRecommender]:
    def factory(**overrides: Any) -> SSLRecommender:
        resolved = apply_overrides(spec, overrides, f"preset {name!r}")
        resolved.setdefault("name", name)
        return SSLRecommender(**resolved)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"{_META[name][1]}\n\n{_META[name][0]}. Returns an SSLRecommender; keyword overrides as in :mod:`ssl4rec.ssl.presets`."
    factory.__module__ = __name__
    return factory


for _name, _spec in PRESET_SPECS.items():
    register_preset(
        _name,
        spec=_spec,
        paper=_META[_name][0],
        summary=_META[_name][1],
        search_space=preset_search_space(_spec),
        display=DISPLAY[_name],
        version=VERSIONS.get(_name, "1"),
        tags=("ssl", ENCODERS.entry(_spec["encoder"]["name"]).obj.input),  # "sequence", "bag" or "graph"
    )(_make_factory(_name, _spec))


def build_preset(name: str, **overrides: Any) -> SSLRecommender:
    """``PRESETS.get(name)(**overrides)``: a named model with overrides."""
    return PRESETS.get(name)(**overrides)
