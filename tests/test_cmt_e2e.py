"""CMT end to end on a tiny corpus, through the stages' command lines: waveforms -> pretrain (PT) ->
tapt -> train, with the real minilm-l6 tokenizer/encoder and the embedded hubert-small."""

import json

import numpy as np
import pytest
import torch


def write_wav(path, samples, rate=16000):
    import soundfile as sf

    sf.write(str(path), samples, rate, subtype="PCM_16" if path.suffix == ".wav" else None)


def voice(rng, seconds, pitch):
    """A buzzy tone with a pitch and some noise: enough structure for MFCC clusters to differ."""
    t = np.arange(int(16000 * seconds)) / 16000
    wave = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 6)) * 4000
    return (wave + rng.normal(scale=300, size=len(t))).astype(np.int16)


@pytest.mark.e2e
def test_pretrain_tapt_train_chain(tmp_path):
    from msaflow.cli import main
    from msaflow.encoders import load_tokenizer
    from msaflow.training.synthetic import make_tokens

    rng = np.random.default_rng(0)
    # a LibriSpeech-layout pretraining corpus
    folder = tmp_path / "corpus" / "1" / "0"
    folder.mkdir(parents=True)
    sentences = ["the movie was good", "i hated the plot", "the actors were great", "it was boring",
                 "a wonderful story", "the film was dull"]
    lines = []
    for i in range(14):
        uid = f"1-0-{i:04d}"
        lines.append(f"{uid} {sentences[i % len(sentences)].upper()}")
        write_wav(folder / f"{uid}.flac", voice(rng, 0.6 + 0.1 * (i % 4), 100 + 20 * (i % 5)))
    (folder / "1-0.trans.txt").write_text("\n".join(lines) + "\n")

    # a task corpus: synthetic tokens and one wav per utterance
    tokens = make_tokens(load_tokenizer("minilm-l6"), n=20, max_length=16, seed=1)
    torch.save(tokens, tmp_path / "tokens.pt")
    audio = tmp_path / "audio" / "s000"
    audio.mkdir(parents=True)
    for split in ("train", "valid", "test"):
        for uid in tokens[split]["ids"]:
            write_wav(audio / f"{uid}.wav", voice(rng, 0.5, 110))

    settings = json.dumps({"epochs": 1, "batch_size": 6, "codewords": 8, "max_length": 16})
    assert main(["waveforms", "--tokens", str(tmp_path / "tokens.pt"), "--audio-dirs", str(audio),
                 "--out", str(tmp_path / "tokens.waveforms.pt"), "--qc", str(tmp_path / "w.qc.tsv")]) == 0
    assert main(["pretrain", "--corpus", str(tmp_path / "corpus"), "--text-encoder", "minilm-l6",
                 "--speech-encoder", "hubert-small", "--layers", "1", "--heads", "2", "--settings", settings,
                 "--out-dir", str(tmp_path / "pt"), "--threads", "1"]) == 0
    assert main(["tapt", "--init", str(tmp_path / "pt" / "model.pt"), "--tokens", str(tmp_path / "tokens.pt"),
                 "--waveforms", str(tmp_path / "tokens.waveforms.pt"), "--settings", settings,
                 "--out-dir", str(tmp_path / "tapt"), "--threads", "1"]) == 0
    model_settings = json.dumps({"arch": "cmt", "layers": 1, "heads": 2, "init": "tapt", "speaker_centering": True})
    assert main(["train", "--tokens", str(tmp_path / "tokens.pt"), "--model", "cmt", "--seed", "1",
                 "--model-settings", model_settings, "--train-settings", json.dumps({"batch_size": 4, "epochs": 1}),
                 "--waveforms", str(tmp_path / "tokens.waveforms.pt"),
                 "--init-checkpoint", str(tmp_path / "tapt" / "model.pt"), "--out-dir", str(tmp_path / "run"),
                 "--threads", "1"]) == 0

    for stage in ("pt", "tapt"):
        history = json.loads((tmp_path / stage / "history.json").read_text())
        assert history["steps"] and all(np.isfinite([s["loss_text"] + s["loss_audio"] for s in history["steps"]]))
        assert {"heldout_text_accuracy", "heldout_audio_accuracy"} <= set(history["epochs"][-1])
        assert not (tmp_path / stage / "resume.pt").exists()
    run = json.loads((tmp_path / "run" / "history.json").read_text())
    assert run["describe"]["pretraining"]["stage"] == "pt+tapt" and run["describe"]["speaker_centering"]
    assert "audio_zero" in run["ablation_mean_abs_change"] and run["ablation_mean_abs_change"]["audio_zero"] > 0
    predictions = (tmp_path / "run" / "predictions.tsv").read_text().splitlines()
    assert len(predictions) == 1 + len(tokens["valid"]["ids"]) + len(tokens["test"]["ids"])
