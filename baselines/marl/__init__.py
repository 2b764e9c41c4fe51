"""General MARL libraries as searches: BenchMARL and Tianshou algorithms on the token mode (BenchMARL's also in
pipeline mode on the TorchRL-native env), one evaluation per episode, recorded in the same run folder as
``ma2ml_agents.run_search`` on the same evaluation budget.

| name               | library   | what learns                                                             |
|--------------------|-----------|-------------------------------------------------------------------------|
| ``benchmarl_mappo`` | BenchMARL | MAPPO: shared policy, centralised critic on the global state            |
| ``benchmarl_ippo``  | BenchMARL | IPPO: shared policy, per-agent critics                                  |
| ``benchmarl_iql``   | BenchMARL | independent Q-learning, shared Q-network                                |
| ``benchmarl_qmix``  | BenchMARL | QMIX: per-agent Q-values mixed by a state-conditioned monotonic network |
| ``benchmarl_*_pipeline`` | BenchMARL | the four above in pipeline mode (native env): one agent per token |
| ``tianshou_dqn``    | Tianshou  | one DQN per module through ``PettingZooEnv(parallel_to_aec(env))``      |
| ``tianshou_ppo``    | Tianshou  | one PPO per module, the same way                                        |

Every runner takes ``(task, backend, backend_options, batches, batch_size, top_k, out_dir, seed, config, name,
restart)``
and returns ``ma2ml_agents.SearchResult``; the libraries are imported only when a runner runs
(``pip install "automl-env[interop]"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from baselines.marl.benchmarl_runner import BenchmarlConfig, run_benchmarl
from baselines.marl.tianshou_config import TianshouConfig
from baselines.marl.tianshou_runner import run_tianshou
from ma2ml_agents.search import SearchResult


@dataclass(frozen=True)
class MarlSpec:
    """A MARL library algorithm as a search: its runner and default config."""

    run: Callable[..., SearchResult]
    config: Any
    """The default config (a frozen dataclass); ``dataclasses.replace`` it to change a setting."""
    description: str


MARL_ALGORITHMS: dict[str, MarlSpec] = {
    "benchmarl_mappo": MarlSpec(run_benchmarl, BenchmarlConfig(algorithm="mappo"), "BenchMARL MAPPO, token mode"),
    "benchmarl_ippo": MarlSpec(run_benchmarl, BenchmarlConfig(algorithm="ippo"), "BenchMARL IPPO, token mode"),
    "benchmarl_iql": MarlSpec(run_benchmarl, BenchmarlConfig(algorithm="iql"), "BenchMARL IQL, token mode"),
    "benchmarl_qmix": MarlSpec(run_benchmarl, BenchmarlConfig(algorithm="qmix"), "BenchMARL QMIX, token mode"),
    **{
        f"benchmarl_{name}_pipeline": MarlSpec(
            run_benchmarl,
            BenchmarlConfig(algorithm=name, mode="pipeline"),
            f"BenchMARL {name.upper()}, pipeline mode on the native env",
        )
        for name in ("mappo", "ippo", "iql", "qmix")
    },
    "tianshou_dqn": MarlSpec(run_tianshou, TianshouConfig(algorithm="dqn"), "Tianshou DQN per module, AEC"),
    "tianshou_ppo": MarlSpec(run_tianshou, TianshouConfig(algorithm="ppo"), "Tianshou PPO per module, AEC"),
}

__all__ = ["MARL_ALGORITHMS", "BenchmarlConfig", "MarlSpec", "TianshouConfig", "run_benchmarl", "run_tianshou"]
