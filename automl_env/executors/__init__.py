"""Executors: where and when a backend's evaluations run (``automl_env.executors.base`` has the protocol)."""

from automl_env.executors.base import Completed, Executor, ExecutorBackend, SerialExecutor
from automl_env.executors.simulated import SimulatedExecutor

__all__ = ["Completed", "Executor", "ExecutorBackend", "SerialExecutor", "SimulatedExecutor"]
