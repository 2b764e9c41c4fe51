"""DHA (Zhou et al., "DHA: End-to-End Joint Optimization of Data Augmentation Policy, Hyper-parameter and
Architecture", TMLR 2022) on the NAS-Bench-201 cell: ``run_dha`` trains one network while it searches and
returns it, without retraining. Pieces: ``coding`` (ISTA-NAS's compressed architecture code), ``policy`` (the
pair-augmentation schedule), ``hypergrad`` (one-step hypergradients of lr and wd), ``search`` (the loop).

It is not a propose/observe search (it evaluates no pipeline): ``baselines.registry.ONE_SHOT`` lists it, and
a command that accepts searches runs it as ``run_dha(task, seed=, config=, out_dir=)``, which writes
``result.json`` in the run folder (test accuracy of the returned model, its cell, lr, wd, seconds).
"""

from baselines.dha.search import DHAConfig, DHAResult, run_dha

__all__ = ["DHAConfig", "DHAResult", "run_dha"]
