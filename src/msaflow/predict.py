"""Score a new clip with a trained run: the pipeline's own stages, on one clip (DESIGN §1, `predict`).

audio (ffmpeg, msaflow.audio) -> alignment (pocketsphinx with retry and fallback, msaflow.align;
or the word timings of a TextGrid) -> frame features (msaflow.features.registry) -> word averages
with the training data's fill step and train-split z-normalisation (msaflow.features.words_build,
statistics from the run bundle) -> word-pieces (msaflow.stages.tokens.build_tokens) -> the trained
model(s). Every setting comes from the run bundle (msaflow.bundle), none from config.yaml, so a
clip is scored exactly as the training data was, with one exception the QC names: under per-speaker
normalisation (words.znorm: speaker) a lone clip has no speaker statistics and gets the train
split's (msaflow.normalization). A transcript is required: there is no speech
recogniser here.

A bad clip raises `ClipError` (an MsaflowError) naming the clip, the stage and the pipeline's own
reason (e.g. "no audio track in x.mp4"); a folder of clips reports each failure as a row.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError, get_logger
from msaflow.evaluation.metrics import sentiment_classes
from msaflow.normalization import SpeakerNorm

STAGES = ("audio", "align", "acoustic", "visual", "words", "tokens", "model")


class ClipError(MsaflowError):
    """A clip the pipeline cannot score; `stage` and `qc` say where and why."""

    def __init__(self, clip, stage: str, reason: str, qc: dict | None = None):
        super().__init__(f"{clip}: {stage} stage failed: {reason}")
        self.clip, self.stage, self.reason, self.qc = str(clip), stage, reason, qc or {}


@dataclass
class ClipRequest:
    media: Path
    transcript: str | None = None  # plain text; or
    textgrid: Path | None = None  # word timings (a `words` tier) instead of alignment
    clip_id: str = ""
    label: float | None = None  # known label (a folder table may have one): shown next to the score
    problem: str | None = None  # why the clip cannot be read (e.g. no media found for a table row)

    @property
    def utterance_id(self) -> str:
        return self.clip_id or self.media.stem


@dataclass
class _Features:
    words: list[str]
    intervals: list  # WordInterval
    audio_words: np.ndarray
    vision_words: np.ndarray | None = None
    frames: dict = field(default_factory=dict)  # modality -> (features, intervals) frame level
    qc: dict = field(default_factory=dict)
    duration_s: float = 0.0


def read_transcript_file(path) -> tuple[str | None, Path | None]:
    """(text, None) for a .txt file; (None, path) for a .TextGrid."""
    path = Path(path)
    if not path.is_file():
        raise MsaflowError(f"transcript file {path} does not exist")
    if path.suffix.lower() == ".textgrid":
        return None, path
    text = path.read_text(encoding="utf-8-sig", errors="replace").strip()
    if not text:
        raise MsaflowError(f"transcript file {path} is empty; a transcript is required (msaflow predict has no ASR)")
    return text, None


class Predictor:
    """Loaded runs (one seed, or the seeds of a result as an ensemble) and the clip pipeline.

    Set OMP_WAIT_POLICY=PASSIVE before torch/numpy start their thread pools (the CLI does): the
    stages take turns on the cores and busy-waiting pools slow the next stage down many times."""

    def __init__(self, bundles, device: str = "cpu", log=None):
        from msaflow.bundle import load_model
        from msaflow.encoders import load_tokenizer

        if not bundles:
            raise MsaflowError("no runs to predict with")
        self.log = log or get_logger("predict")
        self.bundles = list(bundles)
        keys = {b.inference_key() for b in self.bundles}
        if len(keys) > 1:
            raise MsaflowError(f"the runs {[str(b.run_dir) for b in self.bundles]} read clips differently (their "
                               "pipeline settings or normalisation statistics differ); predict with one of them")
        first = self.bundles[0]
        self.model_name = first.model
        self.meta, self.pipeline = first.meta, first.pipeline
        if not self.pipeline:
            raise MsaflowError(f"{first.run_dir}/bundle.json records no pipeline settings; retrain the run")
        if self.pipeline.get("source") == "sdk":
            raise MsaflowError(
                f"{first.model} was trained on CMU-MultimodalSDK features ({self.meta.get('audio_words', {}).get('fset')}), "
                "which msaflow cannot compute for a new clip (COVAREP is MATLAB); train on raw media (the MMSA layout, "
                "acoustic set covarep_like) to score new clips")
        if (first.record.get("describe") or {}).get("speech_encoder"):
            raise MsaflowError(
                f"{first.model} reads the raw waveform through a speech encoder (CMT); msaflow predict builds the "
                "word-level features of a clip, not the waveforms file, so it cannot score new clips with it yet. "
                "Its test predictions are in the run's predictions.tsv; for new clips use a model that reads "
                "features (tbert, cmbert, lfbert, senbert, mhmf)")
        for key in ("audio_words",):
            if not self.meta.get(key) or not self.meta[key].get("fill"):
                raise MsaflowError(f"{first.run_dir}: its tokens metadata lacks '{key}' (statistics of the word "
                                   "features); rebuild tokens and retrain the run")
        # only a model that reads vision needs the visual stage (its tokens may carry vision it ignores)
        self.uses_vision = int(self.meta.get("vision_dim") or 0) > 0 and "vision" in first.modalities
        self.sample_rate = int(self.pipeline["audio"]["sample_rate"])
        self.ffmpeg_timeout = float(self.pipeline["audio"].get("ffmpeg_timeout_s", 300))
        self.align_settings = self._align_settings(self.pipeline["align"])
        self.fset = self.pipeline["acoustic"]["fset"]
        self.options = self.pipeline["acoustic"].get("options") or {}
        self.device = device
        t0 = time.time()
        self.tokenizer = load_tokenizer(self.meta["encoder"])
        self.models = [load_model(b, device) for b in self.bundles]
        self.worker = None
        if self.align_settings.engine == "pocketsphinx":
            from msaflow.align.aligner import PocketsphinxWorker
            from msaflow.align.g2p import PronunciationCache

            # out-of-vocabulary words get espeak-ng pronunciations on first sight (the stage adds a shard's at once)
            self.worker = PocketsphinxWorker(self.align_settings,
                                             g2p_cache=PronunciationCache(None, self.align_settings.espeak_voice))
            self.worker.normal  # noqa: B018 -- build the decoder now: loading, not per-clip time
        self._warm_up_extractor()
        self.load_time_s = time.time() - t0

    def _warm_up_extractor(self) -> None:
        """Imports and first-call set-up of the feature extractor belong to loading, not to a clip."""
        from msaflow.features import registry

        t = np.arange(self.sample_rate // 2) / self.sample_rate
        try:
            registry.extract(self.fset, 0.1 * np.sin(2 * np.pi * 150 * t), self.sample_rate, self.options)
        except Exception as error:  # a real clip will report the problem properly
            self.log.debug("extractor warm-up: %s", error)

    @staticmethod
    def _align_settings(align: dict):
        from dataclasses import fields

        from msaflow.align.aligner import AlignSettings

        names = {f.name for f in fields(AlignSettings)}
        return AlignSettings(**{k: v for k, v in align.items() if k in names})

    # -- stages -------------------------------------------------------------------------------
    def _audio(self, req: ClipRequest, tmp: Path, qc: dict):
        return clip_audio(req, tmp, qc, self.sample_rate, self.ffmpeg_timeout)

    def _align(self, req: ClipRequest, wav: Path, qc: dict):
        from msaflow.align.aligner import align_utterance, finish_alignment
        from msaflow.align.audio import read_wav_int16
        from msaflow.align.textgrid import engine_words_from_textgrid, read_textgrid
        from msaflow.text import normalize_transcript

        samples = read_wav_int16(wav, req.utterance_id, self.sample_rate)
        if req.textgrid is not None:
            grid = read_textgrid(req.textgrid)
            engine_words = engine_words_from_textgrid(grid, str(req.textgrid))
            text = " ".join(w.word for w in engine_words)
            words = normalize_transcript(text, keep_markers=self.align_settings.keep_markers)
            if not words:
                result = None
                reason = f"{req.textgrid}: the words tier holds no words"
            else:
                result = finish_alignment(req.utterance_id, words, samples, self.sample_rate, "textgrid", engine_words,
                                          "", self.align_settings)
        elif self.worker is None:
            raise ClipError(req.media, "align", f"the run aligned with {self.align_settings.engine!r}, which predict does "
                            "not run; give the word timings as --transcript-file <clip>.TextGrid (e.g. from MFA)", qc)
        else:
            from msaflow.stages.align import failed_utterance

            try:  # as the align stage: a decoder error is the utterance's failure, with its reason
                result = align_utterance(req.utterance_id, req.transcript or "", samples, self.sample_rate, self.worker,
                                         self.align_settings)
            except MsaflowError as error:
                result = failed_utterance(req.utterance_id, req.transcript or "", self.align_settings, str(error))
            except RuntimeError as error:
                result = failed_utterance(req.utterance_id, req.transcript or "", self.align_settings,
                                          f"pocketsphinx error: {error}")
        if result is None or result.status == "failed":
            reason = reason if result is None else result.reason
            qc["align"] = {"status": "failed", "reason": reason}
            raise ClipError(req.media, "align", reason, qc)
        qc["align"] = {"status": result.status, "reason": result.reason}
        # The words stage reads intervals from the align table, written with 3 decimals: round alike.
        from msaflow.align.types import WordInterval

        intervals = [WordInterval(x.word, *(float(v) for v in x.as_row("", 0)[3:5]), x.source) for x in result.intervals]
        return result.words, intervals, result.duration

    def _acoustic(self, req: ClipRequest, signal, qc: dict):
        from msaflow.features import registry

        x, sr = signal
        try:
            ff = registry.extract(self.fset, x, sr, self.options)
        except MsaflowError as error:
            qc["acoustic"] = {"status": "failed", "reason": str(error)}
            raise ClipError(req.media, "acoustic", str(error), qc) from None
        except Exception as error:  # the stage records extractor bugs as failures too
            reason = f"{self.fset} extraction error: {type(error).__name__}: {error}"
            qc["acoustic"] = {"status": "failed", "reason": reason}
            raise ClipError(req.media, "acoustic", reason, qc) from None
        qc["acoustic"] = {"status": "ok", "reason": "; ".join(ff.notes)}
        return ff.features, ff.intervals, [c.name for c in registry.columns(self.fset)]

    def _visual(self, req: ClipRequest, tmp: Path, qc: dict):
        """Frame-level visual features through the visual stage's own CLI (it runs its engine's environment)."""
        import importlib.util
        import json
        import subprocess
        import sys

        from msaflow.common import read_qc, write_tsv
        from msaflow.corpus import SHARD_COLUMNS
        from msaflow.features.csd import read_csd

        visual = self.pipeline.get("visual")
        vset = (self.meta.get("vision_words") or {}).get("fset")
        if not visual or not vset or importlib.util.find_spec("msaflow.stages.visual") is None:
            reason = "this model reads vision, but the run bundle or this installation has no visual stage"
            qc["visual"] = {"status": "failed", "reason": reason}
            raise ClipError(req.media, "visual", reason, qc)
        shard = tmp / "clip.tsv"
        row = {c: "" for c in SHARD_COLUMNS}
        row.update(utterance_id=req.utterance_id, video_id=req.utterance_id, clip_id=req.utterance_id,
                   text=req.transcript or "", label="0", mode="test", shard="s000", media_path=str(req.media))
        write_tsv(shard, SHARD_COLUMNS, [[row[c] for c in SHARD_COLUMNS]])
        out, out_qc = tmp / "visual.h5", tmp / "visual.qc.tsv"
        cmd = [sys.executable, "-m", "msaflow.cli", "visual", "--vset", vset, "--shard-manifest", str(shard),
               "--options", json.dumps((visual.get("options") or {}).get(vset, {}), sort_keys=True),
               "--min-face-fraction", str(visual.get("min_face_fraction", 0.5)), "--out", str(out), "--qc", str(out_qc)]
        if visual.get("engine"):
            cmd += ["--engine", visual["engine"]]
        python = os.environ.get("MSAFLOW_VISUAL_PYTHON") or str(Path(__file__).resolve().parents[2] / (visual.get("python") or ".venv-visual/bin/python"))
        cmd += ["--python", python]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not out_qc.exists():
            reason = (done.stderr.strip().splitlines() or ["the visual stage failed"])[-1]
            qc["visual"] = {"status": "failed", "reason": reason}
            raise ClipError(req.media, "visual", reason, qc)
        status, reason = read_qc(out_qc).get(req.utterance_id, ("failed", "not in the visual QC"))
        qc["visual"] = {"status": status, "reason": reason}
        if status == "failed":
            raise ClipError(req.media, "visual", reason, qc)
        frames, meta = read_csd(out, [req.utterance_id])
        feats, intervals = frames[req.utterance_id]
        return feats, intervals, meta["column names"]

    @staticmethod
    def _word_features(frame_feats, frame_intervals, frame_columns, words_meta: dict, intervals) -> np.ndarray:
        """The words stage for one utterance, with the training data's columns, fill and z-norm statistics."""
        from msaflow.features import words_build

        fill = words_meta["fill"]
        index = {n: i for i, n in enumerate(frame_columns)}
        missing = [n for n in words_meta["columns"] if n not in index]
        if missing:
            raise MsaflowError(f"the run's word features use columns {missing[:3]} that the extractor does not produce "
                               "(a different feature-set version); retrain the run")
        col_idx = [index[n] for n in words_meta["columns"]]
        table = words_build.WordTable([x.word for x in intervals], np.array([[x.start, x.end] for x in intervals], np.float64))
        means = words_build.word_means(frame_feats, frame_intervals, table, fill["mode"], fill["fill_value"], col_idx)
        znorm = words_meta.get("znorm") or {}
        if znorm.get("speaker"):  # one clip of an unknown speaker: the train split's raw statistics
            means = SpeakerNorm.from_metadata(znorm["speaker"]).apply(None, means)
        mean = std = None
        if znorm.get("applied"):
            mean, std = np.asarray(znorm["mean"], np.float64), np.asarray(znorm["std"], np.float64)
        return words_build.apply(means, mean, std, fill["fill_value"])

    def features(self, req: ClipRequest, tmp: Path) -> _Features:
        qc: dict = {}
        timing = {}
        t = time.perf_counter()
        wav, signal = self._audio(req, tmp, qc)
        timing["audio"] = time.perf_counter() - t
        t = time.perf_counter()
        words, intervals, duration = self._align(req, wav, qc)
        timing["align"] = time.perf_counter() - t
        t = time.perf_counter()
        feats, frame_intervals, columns = self._acoustic(req, signal, qc)
        timing["acoustic"] = time.perf_counter() - t
        out = _Features(words, intervals, None, qc=qc, duration_s=duration)
        out.frames["audio"] = (feats, frame_intervals)
        vision_cols = None
        if self.uses_vision:
            t = time.perf_counter()
            vfeats, vintervals, vision_cols = self._visual(req, tmp, qc)
            out.frames["vision"] = (vfeats, vintervals)
            timing["visual"] = time.perf_counter() - t
        t = time.perf_counter()
        out.audio_words = self._word_features(feats, frame_intervals, columns, self.meta["audio_words"], intervals)
        if self.uses_vision:
            out.vision_words = self._word_features(*out.frames["vision"], vision_cols, self.meta["vision_words"], intervals)
        speaker_note = ("speaker normalisation: one clip of an unknown speaker, normalised with the train split's "
                        "statistics" if (self.meta["audio_words"].get("znorm") or {}).get("speaker") else "")
        qc["words"] = {"status": "ok", "reason": speaker_note}
        timing["words"] = time.perf_counter() - t
        out.qc["timing"] = timing
        return out

    def _tokens(self, req: ClipRequest, f: _Features, qc: dict) -> dict:
        from msaflow.stages.tokens import build_tokens

        uid = req.utterance_id
        rows = [{"utterance_id": uid, "label": "0", "mode": "test"}]
        vision = {uid: f.vision_words} if f.vision_words is not None else {}
        with contextlib.redirect_stderr(io.StringIO()):  # the stage's progress bar is noise for one clip
            data, tqc = build_tokens(rows, {uid: f.words}, {uid: f.audio_words}, vision, self.tokenizer,
                                     int(self.meta["max_length"]))
        status, reason = tqc.rows[uid]
        qc["tokens"] = {"status": status, "reason": reason}
        if status == "failed":
            raise ClipError(req.media, "tokens", reason, qc)
        split = data["test"]
        self._add_frame_sequences(split, f)
        return split

    def _add_frame_sequences(self, split: dict, f: _Features) -> None:
        """Unaligned frame sequences (`{m}_frames`) for models that read them, normalised with the
        train-split statistics in the tokens metadata (msaflow.frames)."""
        # a modality the model does not read (vision for CM-BERT) was not extracted: leave it out
        wanted = [m for m in ("audio", "vision") if int(self.meta.get(f"{m}_frames_dim") or 0) > 0 and m in f.frames]
        if not wanted:
            return
        from msaflow import frames as fr  # only runs that carry frame sequences need it

        for m in wanted:
            feats, intervals = f.frames[m]
            z = self.meta["frame_znorm"][m]
            seq = fr.resample(feats, intervals, float(self.meta["frame_rate"]), int(self.meta["max_frames"]))
            if z.get("speaker"):  # as for the word-level features: a lone clip gets the train statistics
                seq = replace(seq, values=SpeakerNorm.from_metadata(z["speaker"]).apply(None, seq.values))
            tensor, lengths, valid = fr.stack([seq], int(self.meta[f"{m}_frames_dim"]), np.asarray(z["mean"], np.float32),
                                              np.asarray(z["std"], np.float32), self.meta.get("frame_dtype", "float16"))
            split[f"{m}_frames"], split[f"{m}_frame_lengths"], split[f"{m}_frames_valid"] = tensor, lengths, valid

    def _run_models(self, split: dict) -> tuple[list[float], np.ndarray | None]:
        import torch

        from msaflow.training.trainer import make_batches, move

        scores, attentions = [], []
        for bundle, model in zip(self.bundles, self.models, strict=True):
            trim = bool(bundle.record.get("train", {}).get("trim_padding", True))
            batch = next(make_batches(split, np.arange(1), 1, trim))
            with torch.no_grad():
                out = model(move(batch, torch.device(self.device)))
            scores.append(float(out.float().cpu()[0]))
            att = model.prediction_attention()
            if att is not None:
                attentions.append(att.float().cpu().numpy()[0])
        attention = np.mean(attentions, axis=0) if attentions else None
        return scores, attention

    def predict(self, req: ClipRequest) -> dict:
        """Score one clip; raises ClipError for a clip the pipeline cannot use."""
        if req.transcript is None and req.textgrid is None:
            raise MsaflowError("a transcript is required (msaflow predict has no speech recogniser): "
                               "--transcript TEXT or --transcript-file FILE.txt|FILE.TextGrid")
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="msaflow-predict-") as tmp:
            f = self.features(req, Path(tmp))
        qc = f.qc
        timing = qc.pop("timing")
        t = time.perf_counter()
        split = self._tokens(req, f, qc)
        timing["tokens"] = time.perf_counter() - t
        t = time.perf_counter()
        scores, attention = self._run_models(split)
        qc["model"] = {"status": "ok", "reason": ""}
        timing["model"] = time.perf_counter() - t
        score = float(np.mean(scores))
        words = [{"word": x.word, "start": x.start, "end": x.end, "source": x.source} for x in f.intervals]
        attention_info = None
        if attention is not None:
            word_index = split["word_index"][0].numpy()[: len(attention)]
            per_word = np.zeros(len(words))
            np.add.at(per_word, word_index[word_index >= 0], attention[word_index >= 0])
            for w, a in zip(words, per_word, strict=True):
                w["attention"] = float(a)
            attention_info = {"what": "fusion attention of the prediction position over word-pieces, summed per word "
                                      "(mean over seeds); the rest falls on [CLS]/[SEP]",
                              "on_special_tokens": float(attention[word_index < 0].sum())}
        timing["total"] = time.perf_counter() - t0
        out = {
            "clip": str(req.media),
            "utterance_id": req.utterance_id,
            "status": "ok",
            "model": self.model_name,
            "describe": self.bundles[0].record.get("describe", {}),
            "score": score,
            "classes": sentiment_classes(score),
            "seeds": {str(b.seed): s for b, s in zip(self.bundles, scores, strict=True)},
            "runs": [str(b.run_dir) for b in self.bundles],
            "duration_s": round(f.duration_s, 3),
            "words": words,
            "attention": attention_info,
            "qc": qc,
            "timing_s": {k: round(v, 4) for k, v in timing.items()},
        }
        if req.label is not None:
            out["label"] = req.label
        return out


def clip_audio(req: ClipRequest, tmp: Path, qc: dict, sample_rate: int = 16000, timeout_s: float = 300):
    """The audio stage for one clip: (wav path, (signal, rate)); ClipError with the stage's own reason."""
    from msaflow.audio import extract_audio, require_ffmpeg
    from msaflow.stages.acoustic import read_wav

    require_ffmpeg()
    if req.problem or not Path(req.media).is_file():
        reason = req.problem or f"media file missing: {req.media}"
        qc["audio"] = {"status": "failed", "reason": reason}
        raise ClipError(req.media, "audio", reason, qc)
    wav = Path(tmp) / f"{req.utterance_id}.wav"
    result = extract_audio(req.media, wav, req.utterance_id, sample_rate, timeout_s=timeout_s)
    if not result.ok:
        qc["audio"] = {"status": "failed", "reason": result.reason}
        raise ClipError(req.media, "audio", result.reason, qc)
    qc["audio"] = {"status": "ok", "reason": ""}
    return wav, read_wav(wav)


def check_clip_audio(req: ClipRequest, sample_rate: int = 16000, timeout_s: float = 300) -> None:
    """Fail fast, before any model is loaded, on a clip whose audio the pipeline cannot use."""
    with tempfile.TemporaryDirectory(prefix="msaflow-predict-") as tmp:
        clip_audio(req, Path(tmp), {}, sample_rate, timeout_s)


def folder_requests(folder, table=None) -> list[ClipRequest]:
    """Clips of a folder with a label.csv-like table (clip_id, text; optional video_id, label, path).

    Media: the `path` column, else <folder>/Raw/<video_id>/<clip_id>.<ext> (MMSA layout),
    <folder>/<video_id>/<clip_id>.<ext>, or <folder>/<clip_id>.<ext>.
    """
    import csv

    from msaflow.common import make_utterance_id
    from msaflow.corpus import MEDIA_EXTENSIONS, find_media

    folder = Path(folder)
    table = Path(table) if table else folder / "label.csv"
    if not table.is_file():
        raise MsaflowError(f"{table} not found: a folder of clips needs a transcript table (columns clip_id, text; "
                           "optional video_id, label, path), given with --transcript-file or as <folder>/label.csv")
    with open(table, newline="", encoding="utf-8-sig") as handle:
        sample = handle.read(4096)
        handle.seek(0)
        dialect = csv.excel_tab if table.suffix.lower() == ".tsv" or ("\t" in sample and "," not in sample.split("\n")[0]) else csv.excel
        rows = list(csv.DictReader(handle, dialect=dialect))
    if not rows or "text" not in rows[0] or not ({"clip_id", "path"} & set(rows[0])):
        raise MsaflowError(f"{table}: needs columns clip_id (or path) and text; found {list(rows[0]) if rows else 'no rows'}")
    out = []
    for line, row in enumerate(rows, start=2):
        clip_id = (row.get("clip_id") or "").strip()
        video_id = (row.get("video_id") or "").strip()
        media = None
        if (row.get("path") or "").strip():
            media = Path(row["path"].strip())
            media = media if media.is_absolute() else folder / media
        else:
            for base in ([folder / "Raw", folder] if video_id else []):
                found, _ = find_media(base, video_id, clip_id)
                if found:
                    media = found
                    break
            if media is None:
                media = next((folder / f"{clip_id}.{e}" for e in MEDIA_EXTENSIONS if (folder / f"{clip_id}.{e}").is_file()), None)
        problem = None
        if media is None:
            where = (f"{folder / 'Raw' / video_id / clip_id}.*, {folder / video_id / clip_id}.* or " if video_id else "")
            problem = f"{table.name} line {line}: no media file for clip {clip_id!r} (looked for {where}{folder / clip_id}.*)"
            media = folder / (clip_id or f"line{line}")
        label = row.get("label")
        try:
            label = float(label) if label not in (None, "") else None
        except ValueError:
            label = None
        uid = make_utterance_id(video_id, clip_id) if video_id and clip_id else (clip_id or media.stem)
        out.append(ClipRequest(media=media, transcript=(row.get("text") or "").strip(), clip_id=uid, label=label,
                               problem=problem))
    return out


__all__ = ["STAGES", "ClipError", "ClipRequest", "Predictor", "check_clip_audio", "clip_audio", "folder_requests",
           "read_transcript_file"]
