"""``TianshouConfig``: the settings of an independent-learner Tianshou run, shared by the runner and its learners
(a module of its own so that neither imports the other for it, and reading it needs no Tianshou)."""

from __future__ import annotations

from dataclasses import dataclass

TIANSHOU_ALGORITHMS = ("dqn", "ppo")


@dataclass(frozen=True)
class TianshouConfig:
    """An independent-learner run: the algorithm and the settings the module docstring names."""

    algorithm: str = "dqn"
    """``dqn`` or ``ppo``, one learner per agent."""
    lr: float = 1e-3
    """Adam learning rate of every network (Tianshou's high-level default)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of every network (Tianshou's high-level default)."""
    batch_size: int = 64
    """Transitions per gradient step (Tianshou's trainer default)."""
    update_repetitions: int = 1
    """PPO: passes over each collection (Tianshou's trainer default)."""
    gradient_steps_per_env_step: float = 1.0
    """DQN: gradient steps per collected env step (Tianshou's trainer default)."""
    eps_training: float = 0.1
    """DQN: epsilon-greedy exploration while collecting."""
    buffer_size: int = 4096
    """DQN: replay buffer size over all envs (Tianshou's high-level default)."""
    gamma: float = 1.0
    """Discount: one reward per episode, at its end."""

    def __post_init__(self) -> None:
        if self.algorithm not in TIANSHOU_ALGORITHMS:
            raise ValueError(f"Tianshou algorithm must be one of {TIANSHOU_ALGORITHMS}, got {self.algorithm!r}")
