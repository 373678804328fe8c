"""Cross-modal pretraining of the CMT model (Chu et al. 2022, §3.2.2-3.3): masking, codeword targets,
pretraining corpora and the pretraining loop (used by the `pretrain` and `tapt` stages).

* `masking`: RoBERTa's dynamic token masking (15 %, 80/10/10) and wav2vec 2.0 / HuBERT span masking
  of audio frames (start probability p, span length M).
* `codewords`: HuBERT's first-iteration targets: k-means cluster ids of MFCC (+ deltas) frames
  computed on exactly the frames of the speech encoder (400-sample window, 320-sample hop).
* `corpus`: pretraining corpora (LibriSpeech layout, MMSA layout with labels ignored, the
  synthesised offline corpus) and the task corpus's train split (TAPT).
* `synth`: the offline pretraining corpus, synthesised with the demo's speech synthesis.
* `loop`: the pretraining loop (both losses per step, held-out accuracies per epoch, checkpoint).
"""
