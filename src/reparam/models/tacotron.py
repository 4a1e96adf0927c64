r"""A Tacotron-style text-to-speech model: characters to log-mel frames through an attention
decoder that emits r frames a step (Wang et al. 2017; the encoder, location-sensitive attention,
stop token and postnet of Tacotron 2, Shen et al. 2018).

- **Encoder.** Character embeddings, then (``encoder="conv"``, Tacotron 2's) three
  convolutions (kernel 5, batch norm, ReLU, dropout) and a bidirectional LSTM of
  ``encoder_units`` (half each way), over packed sequences; or (``encoder="cbhg"``,
  Tacotron's) a prenet of two ReLU layers with dropout (``embedding``, ``embedding / 2``) and
  the :class:`~reparam.models.cbhg.CBHG` (bank of 16, its GRU of ``encoder_units``). With
  ``speakers > 0`` a speaker embedding is concatenated to every encoder output.
- **Decoder step g.** The prenet (two ReLU layers with dropout kept on at inference, as
  Tacotron 2 does, so that the decoder cannot copy its input) reads the frame fed back,
  :math:`y_{gr-1}`, the last frame of the previous group (zeros at g = 0); an attention LSTM
  reads it with the last context; the attention (:mod:`reparam.models.tts_attention`) gives
  the new context :math:`c_g`; a decoder LSTM reads both; linear maps of
  :math:`[h_g; c_g]` give the group's r frames :math:`Y_g \in \mathbb R^{r n}` and the stop
  logit. :mod:`reparam.speech.reduction` does the grouping in time order.
- **Postnet.** Five convolutions (kernel 5, tanh) predict a residual:
  :math:`\hat y = y + \mathrm{postnet}(y)`.

:meth:`Tacotron.loss` is the sum of the masked L1 (or MSE) of the frames before and after the
postnet and the stop token's binary cross-entropy, whose target is 1 from the group holding
the utterance's last frame on.

References:
    Wang et al. (2017), Tacotron: towards end-to-end speech synthesis, Interspeech.
    Shen et al. (2018), Natural TTS synthesis by conditioning WaveNet on mel spectrogram
    predictions, ICASSP.

Example:
    >>> model = Tacotron(symbols=30, n_mels=8, r=2, embedding=16, encoder_units=16,
    ...                  attention_dim=8, prenet=(16, 8), attention_rnn=16, decoder_rnn=16,
    ...                  postnet_channels=8)
    >>> text, text_lengths = torch.randint(1, 30, (2, 7)), torch.tensor([7, 5])
    >>> frames, frame_lengths = torch.randn(2, 12, 8), torch.tensor([12, 9])
    >>> out = model(text, text_lengths, frames)
    >>> out.before.shape, out.stop_logits.shape, out.alignment.shape
    (torch.Size([2, 12, 8]), torch.Size([2, 6]), torch.Size([2, 6, 7]))
    >>> sorted(model.loss(out, frames, frame_lengths))
    ['after', 'before', 'stop', 'total']
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from reparam import checks
from reparam.models.cbhg import CBHG
from reparam.models.tts_attention import ATTENTIONS
from reparam.speech.reduction import last_frames, step_frames, ungroup_frames

ENCODERS = ("conv", "cbhg")
"""The encoders by the names a config uses: Tacotron 2's convolutions and BiLSTM, Tacotron's
CBHG."""


@dataclass(frozen=True)
class TacotronOutput:
    """The frames before and after the postnet ``[B, T, n_mels]``, the stop logits per group
    ``[B, T / r]`` and the attention ``[B, T / r, N]``."""

    before: Tensor
    after: Tensor
    stop_logits: Tensor
    alignment: Tensor


class Prenet(nn.Module):
    """ReLU layers with dropout that stays on in evaluation (Tacotron 2's prenet)."""

    def __init__(self, inputs: int, sizes: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        widths = (inputs, *sizes)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(widths))
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = F.dropout(F.relu(layer(x)), self.dropout, training=True)
        return x


def _conv_stack(
    channels: list[int], dropout: float, activation: type[nn.Module], activate_last: bool
) -> nn.Sequential:
    """Convolutions of kernel 5 between ``channels``, each with batch norm, ``activation``
    (not after the last unless ``activate_last``) and dropout."""
    layers: list[nn.Module] = []
    last = len(channels) - 2
    for i, (a, b) in enumerate(pairwise(channels)):
        layers += [nn.Conv1d(a, b, 5, padding=2), nn.BatchNorm1d(b)]
        if i < last or activate_last:
            layers.append(activation())
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def _masked(stack: nn.Sequential, x: Tensor, mask: Tensor) -> Tensor:
    """``stack`` over ``x`` ``[B, C, T]`` with the positions outside ``mask`` ``[B, T]`` zeroed
    before each convolution reads them: in evaluation a padded batch then gives every sequence
    what it alone would (a convolution pads with zeros at the sequence's end)."""
    for layer in stack:
        x = layer(x * mask[:, None, :] if isinstance(layer, nn.Conv1d) else x)
    return x


def _valid(lengths: Tensor, steps: int) -> Tensor:
    """``[B, steps]``: True where the position is below the sequence's length."""
    return torch.arange(steps, device=lengths.device) < lengths[:, None]


class Tacotron(nn.Module):
    """See the module docstring; ``r`` is the reduction factor, ``encoder`` one of
    ``conv``, ``cbhg``, ``attention`` one of ``location``, ``content``, ``gmm``."""

    def __init__(
        self,
        symbols: int,
        n_mels: int = 80,
        r: int = 2,
        *,
        embedding: int = 256,
        encoder_units: int = 256,
        encoder: str = "conv",
        attention: str = "location",
        attention_dim: int = 128,
        prenet: tuple[int, ...] = (256, 128),
        attention_rnn: int = 512,
        decoder_rnn: int = 512,
        postnet_channels: int = 256,
        speakers: int = 0,
        speaker_dim: int = 32,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.symbols = checks.positive_int("symbols", symbols)
        self.n_mels = checks.positive_int("n_mels", n_mels)
        self.r = checks.positive_int("r", r)
        encoder_units = checks.positive_int("encoder_units", encoder_units)
        if encoder_units % 2:
            raise ValueError(f"encoder_units must be even (half each way), got {encoder_units}")
        if attention not in ATTENTIONS:
            raise ValueError(
                f"unknown attention {attention!r}; choose one of {', '.join(ATTENTIONS)}"
            )
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
        self.speakers = checks.non_negative_int("speakers", speakers)
        self.embedding = nn.Embedding(symbols, embedding, padding_idx=0)
        self.encoder_kind = encoder
        if encoder == "conv":
            self.convolutions = _conv_stack([embedding] * 4, dropout, nn.ReLU, activate_last=True)
            self.encoder = nn.LSTM(
                embedding, encoder_units // 2, batch_first=True, bidirectional=True
            )
        else:
            half = max(1, embedding // 2)
            self.encoder_prenet = nn.Sequential(
                nn.Linear(embedding, embedding), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(embedding, half), nn.ReLU(), nn.Dropout(dropout),
            )  # fmt: skip
            self.cbhg = CBHG(half, half, encoder_units)
        memory_dim = encoder_units + (speaker_dim if speakers else 0)
        self.speaker_table = nn.Embedding(speakers, speaker_dim) if speakers else None
        self.prenet = Prenet(n_mels, prenet, dropout)
        self.attention_cell = nn.LSTMCell(prenet[-1] + memory_dim, attention_rnn)
        if attention == "gmm":
            self.attention = ATTENTIONS[attention](attention_rnn, memory_dim)
        else:
            self.attention = ATTENTIONS[attention](attention_rnn, memory_dim, attention_dim)
        self.decoder_cell = nn.LSTMCell(attention_rnn + memory_dim, decoder_rnn)
        self.frames = nn.Linear(decoder_rnn + memory_dim, r * n_mels)
        self.stop = nn.Linear(decoder_rnn + memory_dim, 1)
        widths = [n_mels, *[postnet_channels] * 4, n_mels]
        self.postnet = _conv_stack(widths, dropout, nn.Tanh, activate_last=False)
        self.register_buffer("frame_mean", torch.zeros(n_mels))
        self.register_buffer("frame_std", torch.ones(n_mels))

    def normalise(self, log_mel: Tensor) -> Tensor:
        """Frames ``[..., n_mels]`` in the model's scale: each band less ``frame_mean``, over
        ``frame_std`` (the training set's, set by the trainer and saved with the weights)."""
        return (log_mel - self.frame_mean) / self.frame_std

    def denormalise(self, frames: Tensor) -> Tensor:
        """The inverse of :meth:`normalise`: the model's frames as log-mel."""
        return frames * self.frame_std + self.frame_mean

    def encode(
        self, text: Tensor, lengths: Tensor, speaker: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """The encoder outputs ``[B, N, memory]`` and the valid positions ``[B, N]`` of
        ``text`` ``[B, N]`` (symbol ids, 0 for padding) of ``lengths`` ``[B]``."""
        if not isinstance(text, Tensor) or text.dtype != torch.long or text.dim() != 2:
            raise ValueError(f"text must be a [B, N] tensor of int64 symbol ids, got {text!r:.60}")
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (text.shape[0],) or bool(
            ((lengths < 1) | (lengths > text.shape[1])).any()
        ):
            raise ValueError(
                f"text_lengths must be B = {text.shape[0]} lengths in [1, {text.shape[1]}]"
            )
        mask = _valid(lengths.to(text.device), text.shape[1])
        if self.encoder_kind == "cbhg":
            memory = self.cbhg(self.encoder_prenet(self.embedding(text)).transpose(1, 2), mask)
        else:
            x = _masked(self.convolutions, self.embedding(text).transpose(1, 2), mask)
            packed = pack_padded_sequence(
                x.transpose(1, 2), lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            memory, _ = pad_packed_sequence(
                self.encoder(packed)[0], batch_first=True, total_length=text.shape[1]
            )
        if self.speaker_table is not None:
            if speaker is None:
                raise ValueError("speaker is needed: the model has a speaker table")
            voice = self.speaker_table(speaker)[:, None, :].expand(-1, memory.shape[1], -1)
            memory = torch.cat([memory, voice], dim=-1)
        return memory * mask[:, :, None], mask

    def _start(self, memory: Tensor, mask: Tensor) -> tuple:
        B = memory.shape[0]
        a, d = self.attention_cell.hidden_size, self.decoder_cell.hidden_size
        attention_state = (memory.new_zeros(B, a), memory.new_zeros(B, a))
        decoder_state = (memory.new_zeros(B, d), memory.new_zeros(B, d))
        context = memory.new_zeros(B, memory.shape[-1])
        return attention_state, decoder_state, context, self.attention.start(memory, mask)

    def _step(self, fed_back: Tensor, states: tuple) -> tuple[Tensor, Tensor, Tensor, tuple]:
        attention_state, decoder_state, context, alignment_state = states
        attention_state = self.attention_cell(
            torch.cat([self.prenet(fed_back), context], -1), attention_state
        )
        context, weights, alignment_state = self.attention(attention_state[0], alignment_state)
        decoder_state = self.decoder_cell(
            torch.cat([attention_state[0], context], -1), decoder_state
        )
        features = torch.cat([decoder_state[0], context], -1)
        states = (attention_state, decoder_state, context, alignment_state)
        return self.frames(features), self.stop(features).squeeze(-1), weights, states

    def _finish(
        self,
        groups: list[Tensor],
        stops: list[Tensor],
        weights: list[Tensor],
        frame_lengths: Tensor | None,
    ) -> TacotronOutput:
        before = ungroup_frames(torch.stack(groups, 1), self.r)
        B, T = before.shape[:2]
        if frame_lengths is None:
            frame_lengths = torch.full((B,), T, device=before.device)
        valid = _valid(frame_lengths, T)
        after = before + _masked(self.postnet, before.transpose(1, 2), valid).transpose(1, 2)
        return TacotronOutput(before, after, torch.stack(stops, 1), torch.stack(weights, 1))

    def forward(
        self,
        text: Tensor,
        text_lengths: Tensor,
        frames: Tensor,
        speaker: Tensor | None = None,
        frame_lengths: Tensor | None = None,
    ) -> TacotronOutput:
        """Teacher-forced: step g is fed the last frame of target group g − 1. ``frames`` is
        ``[B, T, n_mels]`` with T a multiple of r (:func:`reparam.speech.reduction.pad_to_multiple`);
        ``frame_lengths`` ``[B]`` (all T if ``None``) keep the postnet from reading padding."""
        checks.tensor("frames", frames)
        if frames.dim() != 3 or frames.shape[-1] != self.n_mels or frames.shape[1] % self.r:
            raise ValueError(
                f"frames must be [B, T, n_mels = {self.n_mels}] with T a multiple of r = {self.r}, "
                f"got shape {tuple(frames.shape)}"
            )
        B, T, n = frames.shape
        if frame_lengths is not None:
            frame_lengths = torch.as_tensor(frame_lengths, device=frames.device)
            if frame_lengths.shape != (B,) or bool(
                ((frame_lengths < 1) | (frame_lengths > T)).any()
            ):
                raise ValueError(f"frame_lengths must be B = {B} lengths in [1, T = {T}]")
        memory, mask = self.encode(text, text_lengths, speaker)
        fed_back = last_frames(frames.reshape(B, T // self.r, self.r * n), self.r)
        fed_back = torch.cat([fed_back.new_zeros(B, 1, n), fed_back[:, :-1]], dim=1)
        states = self._start(memory, mask)
        groups, stops, weights = [], [], []
        for g in range(T // self.r):
            group, stop, alignment, states = self._step(fed_back[:, g], states)
            groups.append(group)
            stops.append(stop)
            weights.append(alignment)
        return self._finish(groups, stops, weights, frame_lengths)

    @torch.no_grad()
    def infer(
        self,
        text: Tensor,
        text_lengths: Tensor,
        speaker: Tensor | None = None,
        max_frames: int = 1000,
        threshold: float = 0.5,
    ) -> tuple[TacotronOutput, Tensor]:
        """Free-running: each step is fed the last frame it emitted, until every utterance's
        stop probability exceeds ``threshold`` or ``max_frames``. Returns the output and each
        utterance's length in frames (the group where it stopped, inclusive)."""
        checks.positive_int("max_frames", max_frames)
        memory, mask = self.encode(text, text_lengths, speaker)
        B = memory.shape[0]
        states = self._start(memory, mask)
        fed_back = memory.new_zeros(B, self.n_mels)
        groups, stops, weights = [], [], []
        stopped = torch.full((B,), -1, dtype=torch.long, device=memory.device)
        for g in range(-(-max_frames // self.r)):
            group, stop, alignment, states = self._step(fed_back, states)
            groups.append(group)
            stops.append(stop)
            weights.append(alignment)
            fed_back = step_frames(group, self.r)[-1]
            now = (torch.sigmoid(stop) > threshold) & (stopped < 0)
            stopped = torch.where(now, torch.full_like(stopped, g), stopped)
            if bool((stopped >= 0).all()):
                break
        stopped = torch.where(stopped < 0, torch.full_like(stopped, len(groups) - 1), stopped)
        lengths = (stopped + 1) * self.r
        return self._finish(groups, stops, weights, lengths), lengths

    def loss(
        self, output: TacotronOutput, frames: Tensor, lengths: Tensor, mel_loss: str = "l1"
    ) -> dict[str, Tensor]:
        """The masked frame losses before and after the postnet, the stop token's
        cross-entropy, and their sum (``total``); ``lengths`` ``[B]`` are in frames."""
        if mel_loss not in ("l1", "mse"):
            raise ValueError(f"mel_loss must be 'l1' or 'mse', got {mel_loss!r}")
        T, n = frames.shape[1:]
        lengths = torch.as_tensor(lengths, device=frames.device)
        valid = _valid(lengths, T)[:, :, None]
        distance = F.l1_loss if mel_loss == "l1" else F.mse_loss
        count = valid.sum() * n

        def framewise(predicted: Tensor) -> Tensor:
            return (distance(predicted, frames, reduction="none") * valid).sum() / count

        groups = output.stop_logits.shape[1]
        group = torch.arange(groups, device=frames.device)
        target = (group[None, :] >= ((lengths - 1) // self.r)[:, None]).to(frames.dtype)
        stop = F.binary_cross_entropy_with_logits(output.stop_logits, target)
        before, after = framewise(output.before), framewise(output.after)
        return {"before": before, "after": after, "stop": stop, "total": before + after + stop}
