"""The one error type explainr raises on purpose."""


class ExplainrError(Exception):
    """Base of every error explainr raises on purpose.

    The message says what was found and what to do about it.

    >>> try:
    ...     raise ExplainrError("no recurrent module found")
    ... except ExplainrError as e:
    ...     str(e)
    'no recurrent module found'
    """


class ModelError(ExplainrError, RuntimeError):
    """The user's model failed when explainr called it; the message says on what input.

    A `RuntimeError` too, so code that caught the model's own runtime errors still does.
    """
