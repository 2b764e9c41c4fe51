"""Single-agent REINFORCE (the paper's Figure 1 left): one controller emits the tokens of every agent.

The same learner as MA2ML-Lite (moving-average baseline, Adam) with a single LSTM over the concatenation of
all agents' tokens, so later modules condition on earlier ones' choices.
"""

from __future__ import annotations

from ma2ml_agents.lite import MA2MLLite


class SingleAgentReinforce(MA2MLLite):
    """One autoregressive controller over the whole joint action."""

    name = "reinforce"

    def token_groups(self) -> list[slice]:
        return [slice(0, self.space.total_tokens)]
