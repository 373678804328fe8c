"""CMT: the cross-modal transformer over a text encoder and a self-supervised speech encoder.

Reference: Iek-Heng Chu, Ziyi Chen, Xinlu Yu, Mei Han, Jing Xiao, Peng Chang. "Self-supervised
Cross-modal Pretraining for Speech Emotion Recognition and Sentiment Analysis". Findings of EMNLP
2022 (spec: ../shared/seeds/cmt-roberta-hubert.txt §3).

Forward pass (§3.2-3.4):
  e_w = TextEncoder(word-pieces) (B, T_w, d_w)        e_a = SpeechEncoder(16 kHz waveform) (B, T_a, d_a)
  (a linear adapter maps a stream to the common width d only when d_w != d_a; the paper's pairs
   RoBERTa/HuBERT large (1024/1024) and base (768/768) need none)
  audio stream, block l = 1..L (eq. 1-5), h_a^0 = e_a:
    h^ = SelfAttn(h_a^{l-1});  h. = LN(h_a^{l-1} + h^);  h.. = CrossAttn(Q=h., K=V=e_w);  h~ = LN(h.. + h.)
    h_a^l = LN(FFN(h~) + h~)
  text stream: the mirror image (queries h_w, keys/values e_a)
  h_a = h_a^L, or with the layer pooler sum_l softmax(w)_l h_a^l (§4.3.2)
  h_fuse = mean_t(h_a) (+) h_w[0]  (eq. 6);  prediction = Linear(h_fuse)
Fine-tuning loss (eq. 7-8): L = MSE + alpha |h̄_a . h̄_w| / (||h̄_a|| ||h̄_w||), alpha = 10.

Speaker centring (`speaker_centering`, an msaflow addition; false = the paper): the head reads
h̄_a - mean of h̄_a over the utterances of the same speaker (in the split being predicted, no labels
used) instead of h̄_a. Why: the word-level features are normalised per speaker in the words stage
(msaflow.normalization), but the waveform reaches this model raw, so a speaker's own pitch, rate and
timbre shift h̄_a as much as the prosody does. Measured on the demo (docs/models.md, CMT "Speaker
centring"): a ridge probe on the PT speech encoder predicts the test speakers' vocal sentiment at corr
0.80 / MAE 0.46 from its pooled frames, 0.88 / 0.32 once each speaker's mean is subtracted. The
speaker means come from `prepare_split` (the trainer calls it before every epoch and every
prediction pass, in eval mode, without gradient); a speaker with fewer than
`speaker_min_utterances` utterances there, or a batch without speaker indices (a lone clip), uses
the train split's mean. The ortho term keeps the paper's uncentred h̄_a.

Pretraining (msaflow.pretraining, §3.2.2): `CMTPretrainingHeads` add a linear MLM head on the text
stream and a codeword head on the audio stream (cosine similarity to learnable codeword embeddings,
as HuBERT). Fine-tuning starts from the checkpoint the `pretrain` (PT) or `tapt` (PT + TAPT) stage
wrote (`init`), or from the encoders alone (`init: none`).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from msaflow.common import MsaflowError
from msaflow.models.base import MsaModel, TextEncoderMixin
from msaflow.models.blocks import (
    CrossModalTransformerBlock,
    RegressionHead,
    cosine_orthogonality,
    grouped_parameters,
    init_linear_like_bert,
    masked_mean,
)
from msaflow.models.registry import CMT_STRUCTURE_DEFAULTS
from msaflow.speakers import SPEAKER_INDEX_KEY

INIT_CHOICES = ("none", "pt", "tapt")
ORTHO_TEXT_CHOICES = ("mean", "cls")

DEFAULTS = {
    # speech_encoder hubert-small; layers 2, heads 4: CMT BASE (CMT-2), 2 blocks and 4 heads per modality
    # (CMT LARGE, CMT-4: 4 blocks, 8 heads); init tapt (PT + TAPT)
    **CMT_STRUCTURE_DEFAULTS,
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "head_dropout": 0.1,
    "layer_pooler": False,  # the paper's final models have none (Table 4: it did not help)
    "ortho_alpha": 10.0,  # eq. 8; 0 switches the term off
    "ortho_text": "mean",  # h̄_w of eq. 7: mean over word-pieces (the paper's bar notation) or cls (h_w0)
    "lr": 1e-5,  # Adam, one learning rate for everything (§4.2.2)
    "lr_head": None,  # None: lr
    "weight_decay": 0.0,
    "freeze_embeddings": True,  # text word embeddings, as T-BERT and CM-BERT here
    "freeze_feature_encoder": True,  # HuBERT's conv waveform encoder (fairseq fine-tuning: feature_grad_mult 0)
    "speaker_centering": False,  # the paper: no; see the module docstring
    "speaker_min_utterances": 5,  # as words.speaker_min_utterances
}

ARCHITECTURE_KEYS = ("encoder", "speech_encoder", "layers", "heads")  # what a pretraining checkpoint fixes


class GradScale(torch.autograd.Function):
    """Identity forward, gradient times `scale` backward (fairseq's GradMultiply, HuBERT's feature_grad_mult)."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


def waveform_to_float(waveform: torch.Tensor) -> torch.Tensor:
    """int16 PCM (the pretraining sets) -> float in [-1, 1]; float input (the waveforms file, float16
    stored, float32 in batches) is already in [-1, 1]."""
    if waveform.dtype == torch.int16:
        return waveform.float() / 32768.0
    return waveform.float()


class SpeechEncoder(nn.Module):
    """HuBERT's parts called in order (conv encoder, projection, masking, transformer), so that frames
    can be replaced by a learnable mask vector before the transformer (pretraining) and padding is exact:

    * frames are computed from the waveform; frame t covers samples [320 t, 320 t + 400), so frames
      within an utterance's length never see its padding;
    * a group-norm conv encoder (hubert-base) normalises over time, which padding would change: it then
      runs utterance by utterance on the unpadded waveform (as it was pretrained, on unpadded crops);
    * padded frames are zeroed before the convolutional position embedding and masked in attention
      (transformers' HubertEncoder), so zero padding does not change the real frames' outputs;
    * `normalize`: per-utterance zero mean / unit variance over the real samples (hubert-large's input).
    """

    def __init__(self, hubert, normalize: bool = False):
        super().__init__()
        self.hubert = hubert
        config = hubert.config
        self.hidden_size = int(config.hidden_size)
        self.per_utterance_features = config.feat_extract_norm == "group"
        self.normalize = bool(normalize)
        self.feature_grad_scale = 1.0
        initial = getattr(hubert, "masked_spec_embed", None)
        self.mask_embedding = nn.Parameter(initial.detach().clone() if initial is not None
                                           else torch.empty(self.hidden_size).uniform_())

    def frame_lengths(self, sample_lengths: torch.Tensor) -> torch.Tensor:
        return self.hubert._get_feat_extract_output_lengths(sample_lengths.to(torch.long)).clamp_min(0)

    def _features(self, waveform: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        conv = self.hubert.feature_extractor
        if not self.per_utterance_features:
            return conv(waveform)
        parts = [conv(waveform[i : i + 1, : max(int(n), 400)]) for i, n in enumerate(lengths.tolist())]
        longest = max(p.shape[-1] for p in parts)
        return torch.cat([nn.functional.pad(p, (0, longest - p.shape[-1])) for p in parts], dim=0)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor, frame_mask: torch.Tensor | None = None):
        """(B, S) waveform (int16 or float), (B,) sample lengths -> ((B, T, H) frames, (B, T) bool real frames)."""
        x = waveform_to_float(waveform)
        positions = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
        real = positions < lengths.to(x.device).unsqueeze(1)
        x = x * real  # whatever lies beyond the length is padding
        if self.normalize:
            n = real.sum(1, keepdim=True).clamp_min(1)
            mean = x.sum(1, keepdim=True) / n
            var = (((x - mean) * real) ** 2).sum(1, keepdim=True) / n
            x = (x - mean) / torch.sqrt(var + 1e-7) * real
        features = self._features(x, lengths).transpose(1, 2)
        if self.feature_grad_scale != 1.0 and features.requires_grad:
            features = GradScale.apply(features, self.feature_grad_scale)
        frames = features.shape[1]
        valid = torch.arange(frames, device=x.device).unsqueeze(0) < self.frame_lengths(lengths.to(x.device)).unsqueeze(1)
        hidden = self.hubert.feature_projection(features)
        if isinstance(hidden, tuple):  # wav2vec2-style projections also return the normalised features
            hidden = hidden[0]
        if frame_mask is not None:
            hidden = torch.where(frame_mask[:, :frames].unsqueeze(-1), self.mask_embedding.to(hidden.dtype), hidden)
        out = self.hubert.encoder(hidden, attention_mask=valid).last_hidden_state
        return out, valid


class CMT(TextEncoderMixin, MsaModel):
    modalities = ("text", "audio")
    reference = ("Chu, Chen, Yu, Han, Xiao, Chang. Self-supervised Cross-modal Pretraining for Speech Emotion "
                 "Recognition and Sentiment Analysis. Findings of EMNLP 2022")
    # The train stage attaches `audio_waveform` (B x S) and `audio_waveform_lengths` (B,) from the waveforms
    # file (msaflow.waveforms); the `audio_` prefix puts them in the modality ablation's audio condition.
    reads_waveforms = True

    def __init__(self, settings: dict, meta: dict | None = None, encoder=None, speech_encoder=None):
        MsaModel.__init__(self, {**DEFAULTS, **settings})
        s = self.settings
        if s["init"] not in INIT_CHOICES:
            raise ValueError(f"cmt init must be one of {INIT_CHOICES}, got {s['init']!r}")
        if s["ortho_text"] not in ORTHO_TEXT_CHOICES:
            raise ValueError(f"cmt ortho_text must be one of {ORTHO_TEXT_CHOICES}, got {s['ortho_text']!r}")
        if int(s["layers"]) < 1 or int(s["heads"]) < 1:
            raise ValueError("cmt needs layers >= 1 and heads >= 1")
        self._init_encoder(s.get("encoder"), encoder, s.get("random_init", False))
        if speech_encoder is None:
            from msaflow.encoders import load_speech_encoder, speech_encoder_normalizes

            speech_encoder = SpeechEncoder(load_speech_encoder(s["speech_encoder"], s.get("random_init_speech", False)),
                                           speech_encoder_normalizes(s["speech_encoder"]))
        elif not isinstance(speech_encoder, SpeechEncoder):
            speech_encoder = SpeechEncoder(speech_encoder)
        self.speech = speech_encoder
        # Common width d of both streams: the speech encoder's (the audio sequence is ~10x longer than
        # the text, so the cheaper side to project is the text); no adapter when the widths agree.
        d = self.d_model = self.speech.hidden_size
        self.text_adapter = nn.Linear(self.hidden_size, d) if self.hidden_size != d else nn.Identity()
        layers, heads = int(s["layers"]), int(s["heads"])
        block = dict(dim=d, other_dim=d, heads=heads, dropout=s["dropout"], attention_dropout=s["attention_dropout"])
        self.text_blocks = nn.ModuleList(CrossModalTransformerBlock(**block) for _ in range(layers))
        self.audio_blocks = nn.ModuleList(CrossModalTransformerBlock(**block) for _ in range(layers))
        self.layer_weights = nn.Parameter(torch.zeros(layers)) if s["layer_pooler"] else None
        self.head = RegressionHead(2 * d, s["head_dropout"])
        if self.needs_speakers:
            # the train split's mean of h̄_a: saved with the weights, for speakers without statistics
            self.register_buffer("speaker_fallback", torch.zeros(d))
            self._speaker_means: torch.Tensor | None = None
        init_linear_like_bert(nn.ModuleList([self.text_adapter, self.text_blocks, self.audio_blocks, self.head]))
        self.init_info: dict = {"init": "none"}

    # -- the two streams -----------------------------------------------------------------------
    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.text_adapter(hidden.float())

    def encode_audio(self, waveform, lengths, frame_mask=None):
        frames, valid = self.speech(waveform, lengths, frame_mask)
        return frames.float(), valid

    @staticmethod
    def _stream(blocks, h, mask, other, other_mask) -> list[torch.Tensor]:
        """One stream of the symmetric transformer: queries from h, keys/values `other`; every block's output."""
        outputs = []
        for block in blocks:
            h = block(h, mask, other, other_mask)
            outputs.append(h)
        return outputs

    def cross_text(self, e_w, w_mask, e_a, a_mask) -> list[torch.Tensor]:
        """Text stream: queries from the text, keys/values the audio embedding e_a."""
        return self._stream(self.text_blocks, e_w, w_mask, e_a, a_mask)

    def cross_audio(self, e_a, a_mask, e_w, w_mask) -> list[torch.Tensor]:
        """Audio stream: queries from the audio, keys/values the text embedding e_w."""
        return self._stream(self.audio_blocks, e_a, a_mask, e_w, w_mask)

    def pooled_audio_layers(self, layers: list[torch.Tensor]) -> torch.Tensor:
        """The layer pooler (§4.3.2): softmax-weighted average of the audio blocks' outputs, or the last."""
        if self.layer_weights is None:
            return layers[-1]
        weights = torch.softmax(self.layer_weights, dim=0)
        return sum(w * h for w, h in zip(weights, layers, strict=True))

    @property
    def needs_speakers(self) -> bool:
        """The trainer must attach `audio_speaker_index` (msaflow.speakers) to every split."""
        return bool(self.settings["speaker_centering"])

    @torch.no_grad()
    def prepare_split(self, batches, role: str) -> None:
        """Per-speaker means of h̄_a over a split's batches (eval mode), used by the next forward passes;
        `role` "train" also sets the fallback mean."""
        if not self.needs_speakers:
            return
        was_training = self.training
        self.eval()
        pooled, speakers = [], []
        for batch in batches:
            if SPEAKER_INDEX_KEY not in batch:
                raise MsaflowError(f"cmt speaker_centering needs {SPEAKER_INDEX_KEY} in every split "
                                   "(msaflow.speakers.attach_speaker_index; the train stage adds it)")
            pooled.append(self.representations(batch, centre=False)["audio"].float())
            speakers.append(batch[SPEAKER_INDEX_KEY])
        self.train(was_training)
        if not pooled:
            return
        pooled, speakers = torch.cat(pooled), torch.cat(speakers)
        if role == "train":
            self.speaker_fallback.copy_(pooled.mean(0))
        means = self.speaker_fallback.unsqueeze(0).repeat(int(speakers.max()) + 1, 1)
        for speaker in speakers.unique():
            rows = speakers == speaker
            if int(rows.sum()) >= int(self.settings["speaker_min_utterances"]):
                means[speaker] = pooled[rows].mean(0)
        self._speaker_means = means

    def centre_audio(self, audio: torch.Tensor, batch: dict) -> torch.Tensor:
        """h̄_a minus its speaker's mean (the fallback mean without speaker indices)."""
        index = batch.get(SPEAKER_INDEX_KEY)
        if index is None:
            return audio - self.speaker_fallback.to(audio.dtype)
        if self._speaker_means is None or int(index.max()) >= len(self._speaker_means):
            raise MsaflowError("cmt speaker_centering: prepare_split was not called on this split before predicting it")
        return audio - self._speaker_means[index].to(audio.dtype)

    def representations(self, batch: dict, centre: bool = True) -> dict:
        w_mask = batch["attention_mask"].bool()
        e_w = self.encode_text(batch["input_ids"], batch["attention_mask"])
        e_a, a_mask = self.encode_audio(batch["audio_waveform"], batch["audio_waveform_lengths"])
        h_w = self.cross_text(e_w, w_mask, e_a, a_mask)[-1]
        h_a = self.pooled_audio_layers(self.cross_audio(e_a, a_mask, e_w, w_mask))
        audio = masked_mean(h_a, a_mask)  # h̄_a
        text_cls = h_w[:, 0]  # h_w0 (the first token: [CLS] / <s>)
        text_mean = masked_mean(h_w, w_mask)
        fused_audio = self.centre_audio(audio, batch) if centre and self.needs_speakers else audio
        return {"audio": audio, "fused_audio": fused_audio, "text_cls": text_cls, "text_mean": text_mean}

    def _predict(self, reps: dict) -> torch.Tensor:
        return self.head(torch.cat([reps["fused_audio"], reps["text_cls"]], dim=-1))  # eq. 6

    def forward(self, batch: dict) -> torch.Tensor:
        return self._predict(self.representations(batch))

    def ortho(self, reps: dict) -> torch.Tensor:
        text = reps["text_mean"] if self.settings["ortho_text"] == "mean" else reps["text_cls"]
        return cosine_orthogonality(reps["audio"], text)

    def loss(self, prediction: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(prediction.float(), labels.float())  # the paper's L_task for SA

    def training_loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        reps = self.representations(batch)
        prediction = self._predict(reps)
        loss = self.loss(prediction, batch["labels"])
        alpha = float(self.settings["ortho_alpha"])
        if alpha:
            loss = loss + alpha * self.ortho(reps)
        return loss, prediction

    # -- optimiser, freezing, checkpoints ------------------------------------------------------
    def param_groups(self) -> list[dict]:
        s = self.settings
        lr_head = s["lr_head"] if s["lr_head"] is not None else s["lr"]
        return grouped_parameters(
            self.named_parameters(),
            [
                ("text_encoder", lambda n: n.startswith("encoder."), s["lr"]),
                ("speech_encoder", lambda n: n.startswith("speech."), s["lr"]),
                ("cross_modal", lambda n: n.startswith(("text_adapter.", "text_blocks.", "audio_blocks.", "layer_weights")),
                 s["lr"]),
                ("head", lambda n: n.startswith("head."), lr_head),
            ],
            s["weight_decay"],
        )

    def frozen_patterns(self) -> list[str]:
        patterns = self.encoder_frozen_patterns()
        if self.settings["freeze_feature_encoder"]:
            patterns.append(r"^speech\.hubert\.feature_extractor\.")
        # HuBERT's own SpecAugment vector is never used (SpeechEncoder.mask_embedding replaces it)
        patterns.append(r"^speech\.hubert\.masked_spec_embed$")
        return patterns

    def architecture(self) -> dict:
        return {k: self.settings.get(k) for k in ARCHITECTURE_KEYS}

    def backbone_state(self) -> dict:
        """What pretraining hands to fine-tuning: everything except the task head and the layer pooler."""
        return {k: v.detach().cpu() for k, v in self.state_dict().items()
                if not k.startswith("head.") and k not in ("layer_weights", "speaker_fallback")}

    def load_pretrained(self, path) -> None:
        """Start from a `pretrain`/`tapt` checkpoint (work/pretrain/{name}/model.pt, work/{ds}/tapt/{name}/model.pt)."""
        from msaflow.waveforms import load_torch_artifact

        path = Path(path)
        checkpoint = load_torch_artifact(path, "pretraining checkpoint", "pretrain (or tapt)")
        if not isinstance(checkpoint, dict) or "backbone" not in checkpoint:
            raise MsaflowError(f"{path} is not a CMT pretraining checkpoint (no 'backbone')")
        theirs, ours = checkpoint.get("architecture", {}), self.architecture()
        different = {k: (theirs.get(k), ours[k]) for k in ARCHITECTURE_KEYS if ours[k] is not None and theirs.get(k) != ours[k]}
        if different:
            detail = ", ".join(f"{k}: checkpoint {a!r} vs model {b!r}" for k, (a, b) in different.items())
            raise MsaflowError(f"{path} was pretrained for another architecture ({detail}); rerun the pretrain stage")
        missing, unexpected = self.load_state_dict(checkpoint["backbone"], strict=False)
        missing = [k for k in missing if not (k.startswith("head.") or k in ("layer_weights", "speaker_fallback"))]
        if missing or unexpected:
            raise MsaflowError(f"{path} does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
        self.init_info = {"init": self.settings["init"], "checkpoint": str(path), **checkpoint.get("summary", {})}

    def describe(self) -> dict:
        s = self.settings
        return {
            **super().describe(),
            "text_encoder": s.get("encoder"),
            "speech_encoder": s["speech_encoder"],
            "layers": int(s["layers"]),
            "heads": int(s["heads"]),
            "d_model": self.d_model,
            "text_adapter": not isinstance(self.text_adapter, nn.Identity),
            "layer_pooler": bool(s["layer_pooler"]),
            "layer_pooler_weights": (torch.softmax(self.layer_weights.detach(), 0).tolist()
                                     if self.layer_weights is not None else None),
            "ortho_alpha": float(s["ortho_alpha"]),
            "ortho_text": s["ortho_text"],
            "speaker_centering": bool(s["speaker_centering"]),
            "pretraining": self.init_info,
            "audio_reaches_output": True,
        }


class CMTPretrainingHeads(nn.Module):
    """The MLM output layers of §3.2.2 on top of the two cross-modal streams.

    * text: a linear layer from the text stream to the vocabulary (cross-entropy on the masked tokens);
    * audio: HuBERT's prediction: a linear projection of the audio stream, cosine similarity with one
      learnable embedding per codeword, divided by a temperature of 0.1 (HuBERT's logit_temp), softmax
      cross-entropy on the masked frames.
    """

    def __init__(self, d_model: int, vocab_size: int, codewords: int, codeword_dim: int = 256, temperature: float = 0.1):
        super().__init__()
        self.text_mlm = nn.Linear(d_model, vocab_size)
        self.audio_projection = nn.Linear(d_model, codeword_dim)
        self.codeword_embeddings = nn.Parameter(torch.empty(codewords, codeword_dim))
        self.temperature = temperature
        init_linear_like_bert(nn.ModuleList([self.text_mlm, self.audio_projection]))
        nn.init.uniform_(self.codeword_embeddings, -1 / math.sqrt(codeword_dim), 1 / math.sqrt(codeword_dim))

    def text_logits(self, h_w: torch.Tensor) -> torch.Tensor:
        return self.text_mlm(h_w)

    def codeword_logits(self, h_a: torch.Tensor) -> torch.Tensor:
        projected = nn.functional.normalize(self.audio_projection(h_a), dim=-1)
        codewords = nn.functional.normalize(self.codeword_embeddings, dim=-1)
        return projected @ codewords.T / self.temperature
