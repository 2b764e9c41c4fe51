"""MA2ML on-policy (the paper's ablation): MA2ML without the replay buffer.

Every update uses only the batch just evaluated, for both the critic regression and the policy gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

from ma2ml_agents.ma2ml import MA2ML, MA2MLConfig


@dataclass(frozen=True)
class MA2MLOnPolicyConfig(MA2MLConfig):
    """MA2ML's settings with ``use_replay`` off."""

    use_replay: bool = False
    """Off: the critic and the policies learn from the batch just evaluated only."""
    replay_capacity: int = 1
    """Unused without replay; kept tiny so checkpoints stay small."""


class MA2MLOnPolicy(MA2ML):
    """MA2ML trained on the current batch only."""

    name = "ma2ml_onpolicy"

    @classmethod
    def default_config(cls) -> MA2MLOnPolicyConfig:
        return MA2MLOnPolicyConfig()
