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
