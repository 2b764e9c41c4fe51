"""The ``table`` backend: recorded real evaluations, looked up in bulk, with an optional surrogate.

Files: ``backend`` (``TableBackend``: evaluate, retrain, optimum, describe), ``records`` (``RecordedTable``
and its ``Records`` groups: checked, indexed, looked up in bulk), ``store_export`` (a table read from an
``EvalStore`` export), ``surrogate`` (scikit-learn models predicting the pipelines a table does not hold).
The shipped tables have their readers next to their data: ``automl_env.nb201``, ``automl_env.hpolib``.
"""

from automl_env.backends.table.backend import TableBackend, load_table
from automl_env.backends.table.records import RecordedTable, Records, Split, TableError, TableIndex, task_tokens
from automl_env.backends.table.store_export import read_store_export
from automl_env.backends.table.surrogate import SURROGATES, Surrogate, SurrogateFit, fit_held_out

__all__ = [
    "SURROGATES",
    "RecordedTable",
    "Records",
    "Split",
    "Surrogate",
    "SurrogateFit",
    "TableBackend",
    "TableError",
    "TableIndex",
    "fit_held_out",
    "load_table",
    "read_store_export",
    "task_tokens",
]
