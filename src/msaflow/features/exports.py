"""Word-level features in the layouts other frameworks' own loaders read (the `exports` stage).

Rows (`rows` setting of the MMSA export):
* `word` (default): row i of text, audio and vision is word i of the align table (the transcript's
  words in order), truncated at `length` words, zero padding after the last word; the lengths
  count words. The classic word-aligned CMU/MulT layout, for models that pair the three sequences
  with each other (mfn, ef_lstm, graph_mfn, mult, ...).
* `wordpiece`: row p is word-piece p of `text_bert`: each word's vectors (text, audio, vision)
  copied to each of its word-pieces, zero at [CLS], [SEP] and padding (the tokens contract, and
  MMSA-FET's aligned mode); the lengths count the attention mask. For MMSA's aligned BERT models
  that add row p of audio/vision to word-piece p (bert_mag, tetfn).
MAG-BERT's pickle is always per word (its loader spreads words to pieces itself).

* **MMSA** (`{fset}_mmsa_aligned.pkl`), the layout of MMSA's `aligned_50.pkl` as
  `MMSA.data_loader.MMDataLoader` (thuiar/MMSA 2.x) reads it, for every model of its
  `config_regression.json`: {"train"|"valid"|"test": {
    "id": (N,) str "<video_id>$_$<clip_id>",  "raw_text": (N,) str,  "annotations": (N,) str,
    "regression_labels": (N,) float32,
    "regression_labels_T" | "_A" | "_V": (N,) float32, only when every utterance has label_T/A/V
        (MMSA reads them for its SIMS datasets and its multi-task models),
    "text": (N, L, Dt) float32, the text encoder's last hidden state averaged over each word's
        word-pieces (the whole transcript encoded at once, up to the encoder's maximum length),
        for models that take text features (`use_bert: false`),
    "text_bert": (N, 3, L) int64 [input_ids, attention_mask, token_type_ids] of the same encoder's
        tokenizer ([CLS] words [SEP], padding to L word-pieces), for models with `use_bert: true`,
    "audio": (N, L, Da) float32, "audio_lengths": (N,) int64 (words kept),
    "vision": (N, L, Dv) float32, "vision_lengths": (N,) int64 (= audio_lengths: aligned)}}.
  The lengths are present although the data are aligned: MMSA's models with
  `need_data_aligned: false` read them (MMSA-FET leaves them out of aligned files). `classification_labels` is left out: MMSA 2.x no longer
  reads it (MMSA-FET stopped writing it), and the two conventions in use disagree (-1/0/1, 0/1/2).
* **MAG-BERT** (`{fset}_mag.pkl`), the layout of MAG-BERT's `datasets/mosi.pkl` as its
  `convert_to_features` reads it: {"train"|"dev"|"test": [((words: list[str],
  visual: (n_words, Dv) float32, acoustic: (n_words, Da) float32), label: (1, 1) float32,
  segment: utterance id), ...]}. MAG-BERT's `global_configs.py` must name the widths:
  ACOUSTIC_DIM = Da, VISUAL_DIM = Dv (the info file `{fset}_exports.json` states them).

Vision is the word-level visual feature set (`words/{vset}.csd`) when one is configured; without
one it is a zero placeholder `placeholder_vision_dim` wide (logged as a warning by the stage).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from msaflow.common import MsaflowError, atomic_path

SPLITS_MMSA = {"train": "train", "valid": "valid", "test": "test"}
SPLITS_MAG = {"train": "train", "valid": "dev", "test": "test"}
SUB_LABELS = ("T", "A", "V")
ROWS = ("word", "wordpiece")
TEXT_POOLING = "mean of the encoder's last hidden state over the word's word-pieces"


@dataclass
class ExportItem:
    """One utterance, word-aligned: row i of text/audio/vision is word i."""

    id: str
    words: list[str]
    raw_text: str
    annotation: str
    label: float
    mode: str  # train | valid | test
    text: np.ndarray  # (n_words, Dt)
    audio: np.ndarray  # (n_words, Da)
    vision: np.ndarray  # (n_words, Dv)
    text_bert: np.ndarray  # (3, L) int64
    piece_words: np.ndarray  # (L,) int64: the word of each text_bert position, -1 at [CLS]/[SEP]/padding
    sub_labels: dict[str, float] | None = None  # {"T": .., "A": .., "V": ..} when the corpus has them


def text_bert_ids(tokenizer, words: list[str], length: int) -> tuple[np.ndarray, np.ndarray]:
    """(3, length) int64 [input_ids, attention_mask, token_type_ids] for pre-split `words`, and
    the word of each position (-1 for special and padding positions; needs a fast tokenizer)."""
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=length, padding="max_length")
    out = np.zeros((3, length), np.int64)
    out[0] = enc["input_ids"]
    out[1] = enc["attention_mask"]
    if "token_type_ids" in enc:
        out[2] = enc["token_type_ids"]
    piece_words = np.array([-1 if w is None else w for w in enc.word_ids()], np.int64)
    return out, piece_words


def pool_pieces(hidden: np.ndarray, word_ids: Sequence[int | None], n_words: int) -> tuple[np.ndarray, int]:
    """(pieces x D) hidden states -> (n_words x D) means over each word's pieces.

    `word_ids[p]` is the word of piece p (None for [CLS]/[SEP]/padding). Returns the word rows and
    how many words had no piece (truncated by the encoder's maximum length): their rows are zero.
    """
    sums = np.zeros((n_words, hidden.shape[1]), np.float64)
    counts = np.zeros(n_words, np.int64)
    index = np.array([-1 if w is None else w for w in word_ids], np.int64)
    keep = index >= 0
    np.add.at(sums, index[keep], hidden[: len(index)][keep])
    np.add.at(counts, index[keep], 1)
    out = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], 0.0)
    return out.astype(np.float32), int(np.sum(counts == 0))


def encode_words(model, tokenizer, utterances: list[list[str]], batch_size: int = 32,
                 progress: Callable = lambda it, **_: it) -> tuple[list[np.ndarray], int]:
    """Word-level text features for each utterance's words (see TEXT_POOLING), and the number of
    words left without a word-piece by the encoder's maximum length (their rows are zero)."""
    import torch

    max_length = int(getattr(model.config, "max_position_embeddings", 512))
    order = sorted(range(len(utterances)), key=lambda i: len(utterances[i]))  # similar lengths per batch
    out: list[np.ndarray | None] = [None] * len(utterances)
    lost = 0
    model.eval()
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    with torch.inference_mode():
        for batch in progress(batches, desc="exports text encoder", total=len(batches)):
            words = [utterances[i] for i in batch]
            enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length,
                            padding=True, return_tensors="pt")
            hidden = model(**enc).last_hidden_state.float().numpy()
            for row, i in enumerate(batch):
                out[i], missing = pool_pieces(hidden[row], enc.word_ids(row), len(utterances[i]))
                lost += missing
    return out, lost


def _dims(items: list[ExportItem]) -> tuple[int, int, int, int]:
    if not items:
        raise MsaflowError("exports: no utterance to export")
    first = items[0]
    dims = (first.text.shape[1], first.audio.shape[1], first.vision.shape[1], first.text_bert.shape[1])
    for it in items:
        n = len(it.words)
        shapes = (it.text.shape, it.audio.shape, it.vision.shape, it.text_bert.shape, it.piece_words.shape)
        if shapes != ((n, dims[0]), (n, dims[1]), (n, dims[2]), (3, dims[3]), (dims[3],)):
            raise MsaflowError(f"exports: utterance {it.id!r}: text/audio/vision/text_bert/piece_words shapes {shapes} "
                               f"are not {n} words x {dims[:3]}, 3 x {dims[3]} and {dims[3]}")
        if it.mode not in SPLITS_MMSA:
            raise MsaflowError(f"exports: utterance {it.id!r}: mode {it.mode!r} is not one of {', '.join(SPLITS_MMSA)}")
    return dims


def build_mmsa(items: list[ExportItem], length: int, rows_per: str = "word") -> dict:
    """The MMSA aligned pickle (layout in the module docstring); `rows_per`: word | wordpiece."""
    from msaflow.tokenize import spread_to_pieces

    if rows_per not in ROWS:
        raise MsaflowError(f"exports: rows must be one of {', '.join(ROWS)}, got {rows_per!r}")
    text_dim, audio_dim, vision_dim, bert_length = _dims(items)
    if bert_length != length:
        raise MsaflowError(f"exports: text_bert has {bert_length} word-pieces, the export length is {length}")
    if rows_per == "word":
        def _rows(matrix, it, width):
            out = np.zeros((length, width), np.float32)
            out[: min(len(matrix), length)] = matrix[:length]
            return out

        def _length(it):
            return min(len(it.words), length)
    else:
        def _rows(matrix, it, width):
            return spread_to_pieces(matrix, it.piece_words)

        def _length(it):
            return int(it.text_bert[1].sum())
    with_sub_labels = all(it.sub_labels for it in items)
    out = {}
    for mode, key in SPLITS_MMSA.items():
        rows = [it for it in items if it.mode == mode]
        lengths = np.array([_length(it) for it in rows], np.int64)
        split = {
            "id": np.array([it.id for it in rows], dtype=object),
            "raw_text": np.array([it.raw_text for it in rows], dtype=object),
            "annotations": np.array([it.annotation for it in rows], dtype=object),
            "regression_labels": np.array([it.label for it in rows], np.float32),
            "text": np.zeros((len(rows), length, text_dim), np.float32),
            "text_bert": np.zeros((len(rows), 3, length), np.int64),
            "audio": np.zeros((len(rows), length, audio_dim), np.float32),
            "audio_lengths": lengths,
            "vision": np.zeros((len(rows), length, vision_dim), np.float32),
            "vision_lengths": lengths.copy(),
        }
        for i, it in enumerate(rows):
            split["text"][i] = _rows(it.text, it, text_dim)
            split["audio"][i] = _rows(it.audio, it, audio_dim)
            split["vision"][i] = _rows(it.vision, it, vision_dim)
            split["text_bert"][i] = it.text_bert
        if with_sub_labels:
            for m in SUB_LABELS:
                split[f"regression_labels_{m}"] = np.array([it.sub_labels[m] for it in rows], np.float32)
        out[key] = split
    return out


def build_mag(items: list[ExportItem]) -> dict:
    """The MAG-BERT pickle (layout in the module docstring); words are not truncated (MAG cuts pieces itself)."""
    _dims(items)
    out = {key: [] for key in SPLITS_MAG.values()}
    for it in items:
        features = (list(it.words), np.asarray(it.vision, np.float32), np.asarray(it.audio, np.float32))
        out[SPLITS_MAG[it.mode]].append((features, np.array([[it.label]], np.float32), it.id))
    return out


def write_pickle(path, obj) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            pickle.dump(obj, handle, protocol=4)
