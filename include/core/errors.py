"""The two kinds of stage failure.

``FatalError``: the input, an artifact or the configuration is wrong; retrying cannot help. The DAG
layer raises ``AirflowFailException`` with the message, so the message must be one sentence a user
can act on.

``RetryableError``: a timeout, a busy resource, a provider hiccup. The DAG layer re-raises it and
Airflow retries with exponential backoff.
"""


class StageError(Exception):
    """Base class for errors a stage raises on purpose."""


class FatalError(StageError):
    """Bad input, missing artifact or bad config: fail at once, no retry."""


class RetryableError(StageError):
    """Transient trouble: let Airflow retry with backoff."""
