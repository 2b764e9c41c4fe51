"""automl-env: a PettingZoo environment in which every AutoML module is an agent."""

from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec, get_task, list_tasks, register_task

__version__ = "0.1.0"

__all__ = ["Pipeline", "TaskSpec", "__version__", "get_task", "list_tasks", "register_task"]
