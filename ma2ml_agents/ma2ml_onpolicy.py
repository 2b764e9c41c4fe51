"""MA2ML on-policy (the paper's ablation): MA2ML without the replay buffer.

The critic regresses on the batch just evaluated only; the policy gradient is MA2ML's (on the current
policies' draws), so the two differ exactly in what the critic has seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from ma2ml_agents.ma2ml import MA2ML, MA2MLConfig


@dataclass(frozen=True)
class MA2MLOnPolicyConfig(MA2MLConfig):
    """MA2ML's settings with ``use_replay`` off."""

    use_replay: bool = False
    """Off: the critic learns from the batch just evaluated only."""
    replay_capacity: int = 1
    """Unused without replay; kept tiny so checkpoints stay small."""


class MA2MLOnPolicy(MA2ML):
    """MA2ML trained on the current batch only."""

    name = "ma2ml_onpolicy"

    @classmethod
    def default_config(cls) -> MA2MLOnPolicyConfig:
        return MA2MLOnPolicyConfig()
