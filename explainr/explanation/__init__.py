"""explanation: record, attribute and measure in one call (`explain`), results in `Explanation`."""

from explainr.explanation._explain import DEFAULT_METHODS, Explanation, explain

__all__ = ["DEFAULT_METHODS", "Explanation", "explain"]
