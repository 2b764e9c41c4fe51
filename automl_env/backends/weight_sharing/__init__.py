"""The weight-sharing backend: rewards from one shared supernet instead of training every pipeline.

Backend name ``weight-sharing`` (``automl_env.parallel_env("fashion-mnist-nb201", backend="weight-sharing")``):
any search of the library (MA2ML, REA, TPE, random, AutoHAS) then searches with weight sharing, one
argument away from multi-trial search on the ``train`` backend. Tasks: those whose architecture is a
NAS-Bench-201 cell (``fashion-mnist-nb201``).

An evaluation of pipeline (alpha, h) is AutoHAS's iteration without its controller (Dong et al., AutoHAS,
arXiv:2006.03656; PEERS.md):

1. temporary step: W* = W_alpha - lr_h (m v + grad + wd_h W_alpha) on one training batch augmented by h's
   policy (``temporary.py``); the reward is W*'s top-1 accuracy on one validation batch (256 images);
2. W* is dropped and the shared weights take one SGD step with the same (alpha, h) on a fresh training
   batch (``train_policy="queried"``, AutoHAS), or with a uniformly drawn pipeline (``"uniform"``).

Choices the paper leaves open (PEERS.md gaps): fresh batch for the shared step (G1); the shared momentum
buffer is read by the temporary step, never written (G2); batch statistics in BatchNorm everywhere (G4);
one validation batch of 256 (G5); the sampled learning rate times an optional cosine factor (G3).

Biases (what a reward here is not; measured by ``examples/bench_weight_sharing.py``, docs/peers.md):

- Noise. One 256-image validation batch gives a binomial SD of about sqrt(p(1-p)/256), 3 points at 70%;
  the training batch of the temporary step adds more. A search that keeps one reward per pipeline for
  life (REA's population, TPE's history) ranks on this noise; ``score(pipeline, val_batches=k)`` rescoring
  averages it down.
- Drift. W keeps training, so the same pipeline scores higher later in the run: rewards from different
  times are not comparable, and a pipeline queried early looks worse than one queried late.
- Policy dependence. With "queried", the pipelines a searcher asks about most train the shared weights,
  so they get better weights (rich get richer) and each searcher faces its own reward function; "uniform"
  removes that coupling, for comparisons between searchers.
- Short horizon. One step cannot show weight decay (its one-step effect is lr * wd * |W|, far below the
  noise) nor what augmentation does over training (it only makes the one training batch harder): the
  HPO and AUG decisions are barely identifiable from this reward. Supernet ranks of architectures also
  differ from stand-alone ranks: retrain before comparing.
- State. ``evaluate``'s seed does not reset anything: the backend's answers depend on every earlier call,
  so an evaluation store must not cache them and two searches must not share one instance.
"""

from automl_env.backends.weight_sharing.backend import WeightSharingBackend

__all__ = ["WeightSharingBackend"]
