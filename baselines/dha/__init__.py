"""DHA (Zhou et al., "DHA: End-to-End Joint Optimization of Data Augmentation Policy, Hyper-parameter and
Architecture", TMLR 2022) on the NAS-Bench-201 cell: ``run_dha`` trains one network while it searches and
returns it, without retraining. Pieces: ``coding`` (ISTA-NAS's compressed architecture code), ``policy`` (the
pair-augmentation schedule), ``hypergrad`` (one-step hypergradients of lr and wd), ``search`` (the loop),
``answer`` (its answer as a task's pipeline; where it can run), ``command`` (its budget and run folder).

It is not a propose/observe search (it evaluates no pipeline): ``baselines.registry.ONE_SHOT`` lists it, and
``automl-env train --algorithm dha`` / ``automl-env benchmark --algorithms dha`` run it through
``command.run_in_folder``: DHA trains for one step per evaluation of the budget, and the pipeline it derives
is scored by the backend like any search's answer; ``result.json`` keeps its own network's test accuracy.
"""

from baselines.dha.search import DHAConfig, DHAResult, run_dha

__all__ = ["DHAConfig", "DHAResult", "run_dha"]
