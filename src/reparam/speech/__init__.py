"""Speech algorithms: the features computed from waveforms (``features``: the power
spectrogram, mel filterbank energies and their natural log, MFCCs, SpecAugment masking, the
vocal-tract-length warp of the bands), the recognizer's characters (``alphabet``), a
synthesizer's pieces (``reduction``: the reduction factor's reshapes; ``griffin_lim``: audio
from spectrograms; ``alignment``: guided attention and alignment measures, with the agreement
with eSpeak's word times; ``distillation``: a teacher's attention and frames as a student's
targets; ``distortion``: DTW, mel-cepstral distortion, global variance), and speaker
verification's back-ends and metrics (``plda``: LDA, length normalisation, the two-covariance
PLDA, cosine scoring; ``verification_metrics``: trials, EER, minDCF, DET curves, score
fusion). Plain tensors in, tensors out: no audio files are read or written here."""

from reparam.speech.features import (
    dct_matrix,
    hz_to_mel,
    log_mel_spectrogram,
    mel_filterbank,
    mel_to_hz,
    melspectrogram,
    mfcc,
    power_to_db,
    spec_augment,
    spectrogram,
    warp_bands,
)
from reparam.speech.plda import LDA, PLDA, cosine_scores, length_normalize
from reparam.speech.verification_metrics import (
    DETCurve,
    LinearFusion,
    Trials,
    VerificationResult,
    det_curve,
    eer,
    evaluate,
    fuse,
    min_dcf,
    probit,
    speaker_index,
    trials,
)

__all__ = [
    "LDA",
    "PLDA",
    "DETCurve",
    "LinearFusion",
    "Trials",
    "VerificationResult",
    "cosine_scores",
    "dct_matrix",
    "det_curve",
    "eer",
    "evaluate",
    "fuse",
    "hz_to_mel",
    "length_normalize",
    "log_mel_spectrogram",
    "mel_filterbank",
    "mel_to_hz",
    "melspectrogram",
    "mfcc",
    "min_dcf",
    "power_to_db",
    "probit",
    "speaker_index",
    "spec_augment",
    "spectrogram",
    "trials",
    "warp_bands",
]
