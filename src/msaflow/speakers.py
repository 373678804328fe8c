"""Which speaker each utterance of a tokens file belongs to, for models that normalise per speaker
inside the network (CMT's `speaker_centering`; the word-level features do it in the words stage,
msaflow.normalization).

A speaker is the manifest's `speaker` column where the corpus has one, else the video: the rule of
msaflow.normalization.speaker_of. Without a manifest row the video part of the utterance id
(`<video_id>$_$<clip_id>`) is the speaker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from msaflow.common import UTTERANCE_ID_SEPARATOR
from msaflow.normalization import speaker_of

SPEAKER_INDEX_KEY = "audio_speaker_index"  # `audio_`: the modality ablation moves it with the audio


def utterance_speakers(ids: Iterable[str], manifest_rows: Iterable[Mapping] = ()) -> list[str]:
    by_id = {str(r["utterance_id"]): speaker_of(r) for r in manifest_rows}
    return [by_id.get(uid) or uid.split(UTTERANCE_ID_SEPARATOR)[0] for uid in ids]


def attach_speaker_index(data: dict, splits: Iterable[str], manifest_rows: Iterable[Mapping] = (),
                         key: str = SPEAKER_INDEX_KEY) -> list[str]:
    """Add `key`, a (N,) int64 speaker index, to each split of a tokens dict (one index space over all
    splits); returns the speaker names in index order."""
    import torch

    rows = list(manifest_rows)
    per_split = {split: utterance_speakers(data[split]["ids"], rows) for split in splits}
    names = sorted({s for speakers in per_split.values() for s in speakers})
    index = {name: i for i, name in enumerate(names)}
    for split, speakers in per_split.items():
        data[split][key] = torch.tensor([index[s] for s in speakers], dtype=torch.int64)
    return names
