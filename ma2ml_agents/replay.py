"""Replay buffer of <S, A, R>: joint token actions and their shared reward (S is fixed, so not stored)."""

from __future__ import annotations

from typing import Any

import torch


class ReplayBuffer:
    """Fixed-capacity ring buffer; uniform mini-batches (with replacement) drawn from a given generator."""

    def __init__(self, capacity: int, total_tokens: int, *, device: str | torch.device = "cpu") -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.actions = torch.zeros(capacity, total_tokens, dtype=torch.long, device=device)
        self.rewards = torch.zeros(capacity, dtype=torch.float32, device=device)
        self.size = 0
        self.position = 0

    def __len__(self) -> int:
        return self.size

    def add(self, actions: torch.Tensor, rewards: torch.Tensor) -> None:
        """Append rows; the oldest rows are overwritten once the buffer is full."""
        for row in range(actions.shape[0]):
            self.actions[self.position] = actions[row]
            self.rewards[self.position] = rewards[row]
            self.position = (self.position + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, *, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Uniform mini-batch (actions (b, total_tokens), rewards (b,))."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = torch.randint(self.size, (batch_size,), generator=generator, device=generator.device)
        index = index.to(self.actions.device)
        return self.actions[index], self.rewards[index]

    def state_dict(self) -> dict[str, Any]:
        """Tensors and ints only, so checkpoints load with ``torch.load(weights_only=True)``."""
        return {
            "actions": self.actions[: self.size].clone(),
            "rewards": self.rewards[: self.size].clone(),
            "position": self.position,
            "capacity": self.capacity,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["capacity"]) != self.capacity:
            raise ValueError(f"checkpoint buffer capacity {state['capacity']} != {self.capacity}")
        size = state["actions"].shape[0]
        self.actions.zero_()
        self.rewards.zero_()
        self.actions[:size] = state["actions"].to(self.actions.device)
        self.rewards[:size] = state["rewards"].to(self.rewards.device)
        self.size = size
        self.position = int(state["position"])
