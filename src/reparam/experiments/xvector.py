r"""The x-vector speaker-verification system on the run engine: ``reparam train xvector``.

The corpus is the synthesized one of ``--recipe`` (``speakers``: 240 training, 20
validation and 80 test speakers, disjoint; the held-out ones also in a degraded copy with
noise and reverberation, a condition the clean training never saw). A step is one Adam step
on ``batch_size`` training utterances drawn by a seeded generator, each cut to the same
random ``segment``-frame crop length (the shortest utterance's if less), on the speaker
cross-entropy, plus, for the Bayesian extractor, its KL term weighted by ``kl_weight`` / F
for the F frames of the training utterances (:mod:`reparam.models.xvector`): the frame
layers the posterior covers see every frame, and with the utterance count instead the KL
(a few nats a weight, some 3·10⁶ for the default sizes) outweighs the cross-entropy a
thousandfold, and the posterior stays at the prior. A period is ``eval_every``
steps; after each, the validation speakers' clean utterances are scored by cosine, and
``valid_neg_eer`` picks ``best.pt``.

At the end, from the best weights: the back-ends are fitted on the training x-vectors
(:mod:`reparam.experiments.xvector_evaluation`), and the validation and test trials of each
condition (clean, degraded) are scored by cosine and PLDA: ``evaluation.json`` has their EER
and minDCF, ``scores.pt`` every trial's score (for fusion by ``reparam repro xvector``), and
``det.png`` the test DET curves.

Reference:
    Snyder, Garcia-Romero, Sell, Povey & Khudanpur (2018), X-vectors: robust DNN embeddings
    for speaker recognition, ICASSP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from reparam.data.speech import corpus as speech_corpus
from reparam.data.speech.features_cache import split_features
from reparam.experiments import xvector_evaluation as scoring
from reparam.experiments.stepped import SteppedTrainer
from reparam.experiments.xvector_config import XVectorConfig
from reparam.models.xvector import XVector
from reparam.train.checkpoint import load as load_checkpoint
from reparam.train.distributed import Ranks

BANDS = 80
CONDITIONS = {"clean": speech_corpus.CLEAN, "degraded": speech_corpus.NOISY}


class XVectorTrainer(SteppedTrainer):
    """The x-vector extractor on the run engine (see the module docstring)."""

    name, command, Config = "xvector", "train xvector", XVectorConfig
    monitor = "valid_neg_eer"
    outputs = ("evaluation.json", "scores.pt", "det.png")

    def __init__(self, config: XVectorConfig, ranks: Ranks) -> None:
        self.config, self.ranks = config, ranks
        self.corpus = speech_corpus.load(config.recipe)
        train = self.corpus.split("train")
        self.features = split_features(self.corpus, "train", BANDS)
        self.speakers = torch.unique(train.speaker, return_inverse=True)[1]
        self.frames = sum(f.shape[-1] for f in self.features)
        valid = self.corpus.split("valid")
        clean = valid.select(speech_corpus.CLEAN)
        valid_features = split_features(self.corpus, "valid", BANDS)
        self.valid_features = [valid_features[i] for i in clean]
        self.valid_trials = scoring.condition_trials(valid.speaker[clean])
        self.speaker_count = int(self.speakers.max()) + 1
        torch.manual_seed(config.seed)
        self.model = self.build_model(config, self.speaker_count).to(ranks.device)
        self.net = DistributedDataParallel(self.model) if ranks.world > 1 else self.model
        self.start_optimiser()
        self.sums = [0.0, 0.0, 0.0, 0]  # cross-entropy, KL, correct, steps

    def start_period(self, period: int) -> None:
        self.sums = [0.0, 0.0, 0.0, 0]
        self.model.train()

    def crops(self, chosen: list[int]) -> Tensor:
        """The utterances ``chosen``, each cut to one random crop of a common length."""
        length = min(self.config.segment, *(self.features[i].shape[-1] for i in chosen))
        pieces = []
        for i in chosen:
            frames = self.features[i].shape[-1]
            start = int(torch.randint(frames - length + 1, (), generator=self.generator))
            pieces.append(self.features[i][:, start : start + length].float())
        return torch.stack(pieces)

    def train_step(self, period: int, index: int) -> None:
        config, device = self.config, self.ranks.device
        drawn = torch.randint(len(self.features), (config.batch_size,), generator=self.generator)
        chosen = self.ranks.share(drawn, 0, config.batch_size).tolist()
        batch = self.crops(chosen).to(device)
        lengths = torch.full((len(chosen),), batch.shape[-1], device=device)
        labels = self.speakers[chosen].to(device)
        logits, _ = self.net(batch, lengths)
        cross_entropy = F.cross_entropy(logits, labels)
        kl = self.model.kl()
        loss = cross_entropy + config.kl_weight * kl / self.frames
        self.update(loss)
        correct = float((logits.argmax(-1) == labels).float().mean())
        for i, value in enumerate((float(cross_entropy.detach()), float(kl.detach()), correct)):
            self.sums[i] += value
        self.sums[3] += 1

    def end_period(self, period: int) -> dict[str, Any]:
        x = scoring.embed(self.model, self.valid_features, self.ranks.device)
        pairs = self.valid_trials
        scores = scoring.cosine_trial_scores(x, x.mean(0), pairs)
        rates = scoring.error_rates(scores, pairs.is_target, self.config.p_target)
        steps = max(1, self.sums[3])
        row = {
            "train_cross_entropy": self.sums[0] / steps,
            "train_accuracy": self.sums[2] / steps,
            "valid_eer": rates["eer"],
            "valid_min_dcf": rates["min_dcf"],
            "valid_neg_eer": -rates["eer"],
        }
        if self.model.bayesian_layers:
            row["train_kl"] = self.sums[1] / steps
        return row

    def summary(self, row: dict[str, Any]) -> str:
        return (
            f"CE {row['train_cross_entropy']:.3f}  acc {100 * row['train_accuracy']:.1f} %  "
            f"valid EER {100 * row['valid_eer']:.2f} %"
        )

    @classmethod
    def build_model(cls, config: XVectorConfig, speakers: int | None = None) -> XVector:
        count = speakers or speech_corpus.recipe_named(config.recipe).speakers[0]
        return XVector(BANDS, count, config.channels, config.pooled, config.embedding,
                       config.bayesian_layers)  # fmt: skip

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:
        """evaluation.json, scores.pt and det.png, from the best weights."""
        device = self.ranks.device
        model = self.build_model(self.config, self.speaker_count).to(device)
        model.load_state_dict(load_checkpoint(folder / "best.pt", device)["model"])
        evaluation, scores = evaluate(model, self.corpus, self.config, device)
        (folder / "evaluation.json").write_text(json.dumps(evaluation, indent=1) + "\n")
        torch.save(scores, folder / "scores.pt")
        from reparam.plots.verification import plot_det

        test = {key: value for key, value in scores.items() if key.startswith("test")}
        plot_det(test, folder / "det.png")


def evaluate(
    model: XVector, corpus: speech_corpus.SpeechCorpus, config: XVectorConfig, device: torch.device
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The EER and minDCF of the validation and test trials of each condition and back-end
    (plain values), and the scores themselves with the trials' target flags, keyed
    ``split/condition/backend``."""
    train = corpus.split("train")
    x = scoring.embed(model, split_features(corpus, "train", BANDS), device)
    backends = scoring.Backends.fit(x, train.speaker, config.lda_dim)
    evaluation: dict[str, Any] = {"p_target": config.p_target}
    scores: dict[str, Any] = {}
    for split in ("valid", "test"):
        part, features = corpus.split(split), split_features(corpus, split, BANDS)
        for condition, code in CONDITIONS.items():
            chosen = part.select(code)
            if not chosen:
                continue
            embeddings = scoring.embed(model, [features[i] for i in chosen], device)
            pairs = scoring.condition_trials(part.speaker[chosen])
            for backend in scoring.BACKENDS:
                key = f"{split}/{condition}/{backend}"
                values = backends.scores(backend, embeddings, pairs)
                scores[key] = {"scores": values, "is_target": pairs.is_target}
                evaluation[key] = scoring.error_rates(values, pairs.is_target, config.p_target)
    return evaluation, scores
