"""The Tacotron model (reparam.models.tacotron): shapes at several reduction factors and with
each attention, the fed-back frame the last of each group (teacher-forced and free-running),
padding that changes nothing (a padded batch gives each utterance what it alone gives), the stop target and the loss's masking."""

import pytest
import torch

from reparam.models.tacotron import Tacotron

N_MELS = 6
SMALL = {"n_mels": N_MELS, "embedding": 16, "encoder_units": 16, "attention_dim": 8,
         "prenet": (16, 8), "attention_rnn": 16, "decoder_rnn": 16, "postnet_channels": 8}  # fmt: skip
TEXT, TEXT_LENGTHS = torch.tensor([[3, 4, 5, 6, 7, 8], [9, 10, 11, 0, 0, 0]]), torch.tensor([6, 3])


def model(r: int = 2, **options) -> Tacotron:
    torch.manual_seed(0)
    return Tacotron(symbols=12, r=r, **{**SMALL, **options}).eval()


@pytest.mark.parametrize("r", [1, 2, 5])
@pytest.mark.parametrize(("attention", "encoder"), [("location", "conv"), ("content", "conv"),
                                                    ("gmm", "conv"), ("location", "cbhg")])  # fmt: skip
def test_shapes(r, attention, encoder):
    frames = torch.randn(2, 4 * r, N_MELS)
    out = model(r, attention=attention, encoder=encoder)(TEXT, TEXT_LENGTHS, frames)
    assert out.before.shape == out.after.shape == frames.shape
    assert out.stop_logits.shape == (2, 4) and out.alignment.shape == (2, 4, 6)
    assert (out.alignment[1, :, 3:] == 0).all()


def prenet_inputs(m: Tacotron) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    m.prenet.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].clone()))
    return seen


@pytest.mark.parametrize("r", [1, 3])
def test_teacher_forcing_feeds_back_the_last_frame_of_each_group(r):
    m = model(r)
    seen = prenet_inputs(m)
    frames = torch.randn(2, 4 * r, N_MELS)
    m(TEXT, TEXT_LENGTHS, frames)
    assert torch.equal(seen[0], torch.zeros(2, N_MELS))
    for g in range(1, 4):
        assert torch.equal(seen[g], frames[:, g * r - 1])


def test_inference_feeds_back_the_last_frame_it_emitted():
    m = model(3)
    seen = prenet_inputs(m)
    out, lengths = m.infer(TEXT, TEXT_LENGTHS, max_frames=12, threshold=1.0)  # never stops
    assert out.before.shape == (2, 12, N_MELS) and lengths.tolist() == [12, 12]
    for g in range(1, 4):
        assert torch.equal(seen[g], out.before[:, 3 * g - 1])


def test_inference_stops_at_the_first_group_over_the_threshold():
    m = model(2)
    with torch.no_grad():
        m.stop.bias.fill_(10.0)  # stop at once
    _, lengths = m.infer(TEXT, TEXT_LENGTHS, max_frames=20)
    assert lengths.tolist() == [2, 2]


@pytest.mark.parametrize("encoder", ["conv", "cbhg"])
def test_padding_changes_nothing(encoder):
    m = model(2, encoder=encoder)
    frames = torch.randn(2, 8, N_MELS)
    torch.manual_seed(1)  # the prenet's dropout stays on: the same draws for both calls
    out = m(TEXT, TEXT_LENGTHS, frames)
    other = TEXT.clone()
    other[1, 3:] = 5
    torch.manual_seed(1)
    again = m(other, TEXT_LENGTHS, frames)
    torch.testing.assert_close(out.before, again.before)
    torch.testing.assert_close(out.alignment, again.alignment)


@pytest.mark.parametrize("encoder", ["conv", "cbhg"])
def test_a_padded_batch_gives_each_utterance_what_it_alone_gives(encoder):
    m = model(2, encoder=encoder, dropout=0.0)
    frames = torch.randn(2, 8, N_MELS)
    frames[1, 4:] = 50.0  # padding the postnet must not read
    batched = m(TEXT, TEXT_LENGTHS, frames, frame_lengths=torch.tensor([8, 4]))
    alone = m(TEXT[1:, :3], TEXT_LENGTHS[1:], frames[1:, :4])
    torch.testing.assert_close(batched.before[1, :4], alone.before[0])
    torch.testing.assert_close(batched.after[1, :4], alone.after[0])
    torch.testing.assert_close(batched.alignment[1, :2, :3], alone.alignment[0])


def test_a_batch_in_free_running_gives_each_utterance_what_it_alone_gives():
    m = model(2, dropout=0.0)
    probe, _ = m.infer(TEXT, TEXT_LENGTHS, max_frames=40, threshold=1.0)
    peaks = torch.sigmoid(probe.stop_logits).amax(1)
    threshold = float(peaks.mean())  # one utterance stops, the other runs on to max_frames
    out, lengths = m.infer(TEXT, TEXT_LENGTHS, max_frames=40, threshold=threshold)
    early = int(peaks.argmax())
    assert int(lengths[early]) < 40 and int(lengths[1 - early]) == 40
    n = int(TEXT_LENGTHS[early])
    alone, alone_lengths = m.infer(TEXT[early : early + 1, :n], TEXT_LENGTHS[early : early + 1],
                                   max_frames=40, threshold=threshold)  # fmt: skip
    assert int(alone_lengths[0]) == int(lengths[early]) == alone.after.shape[1]
    torch.testing.assert_close(out.after[early, : int(lengths[early])], alone.after[0])


def test_the_loss_ignores_padded_frames_and_targets_the_stop_from_the_last_group():
    m = model(2)
    frames, lengths = torch.randn(2, 8, N_MELS), torch.tensor([8, 5])
    torch.manual_seed(1)
    out = m(TEXT, TEXT_LENGTHS, frames)
    changed = frames.clone()
    changed[1, 5:] = 100.0
    first, second = m.loss(out, frames, lengths), m.loss(out, changed, lengths)
    for key in ("before", "after", "stop"):
        torch.testing.assert_close(first[key], second[key])
    # Group 2 of the second utterance (frames 4, 5) holds its last frame (index 4).
    zero_stop = type(out)(out.before, out.after, torch.where(
        torch.tensor([[0, 0, 0, 1], [0, 0, 1, 1]]).bool(), 30.0, -30.0), out.alignment)  # fmt: skip
    assert float(m.loss(zero_stop, frames, lengths)["stop"]) < 1e-10


def test_speaker_embeddings():
    m = model(2, speakers=3)
    frames = torch.randn(2, 4, N_MELS)
    torch.manual_seed(1)
    a = m(TEXT, TEXT_LENGTHS, frames, speaker=torch.tensor([0, 1]))
    torch.manual_seed(1)
    b = m(TEXT, TEXT_LENGTHS, frames, speaker=torch.tensor([2, 1]))
    assert not torch.allclose(a.before[0], b.before[0])
    torch.testing.assert_close(a.before[1], b.before[1])
    with pytest.raises(ValueError, match="speaker"):
        m(TEXT, TEXT_LENGTHS, frames)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda m: m(TEXT.float(), TEXT_LENGTHS, torch.randn(2, 4, N_MELS)), "text"),
        (lambda m: m(TEXT, torch.tensor([7, 3]), torch.randn(2, 4, N_MELS)), "text_lengths"),
        (lambda m: m(TEXT, TEXT_LENGTHS, torch.randn(2, 5, N_MELS)), "multiple of r"),
        (
            lambda m: m(TEXT, TEXT_LENGTHS, torch.randn(2, 4, N_MELS), frame_lengths=[4, 5]),
            "frame_lengths",
        ),
        (
            lambda m: m.loss(
                m(TEXT, TEXT_LENGTHS, torch.randn(2, 4, N_MELS)),
                torch.randn(2, 4, N_MELS),
                torch.tensor([4, 4]),
                mel_loss="l3",
            ),
            "mel_loss",
        ),
    ],
)
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call(model(2))
    with pytest.raises(ValueError, match="attention"):
        Tacotron(symbols=12, attention="dot")
    with pytest.raises(ValueError, match="encoder"):
        Tacotron(symbols=12, encoder="wavenet")
