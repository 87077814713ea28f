"""attribute: what a recurrent model's prediction used, per input cell and per hidden unit.

- `attribute`: integrated gradients, gradient SHAP, kernel SHAP, exact Shapley, LIME and
  occlusion through one pipeline (one private module per method).
- `attribute_units`: layer integrated gradients on a recurrent module's hidden states.
- `sliding_windows`: cut model-ready windows from a long DataFrame.

captum, shap and lime are imported only when a method that needs them runs.

The package itself is callable: ``explainr.attribute(model, x)`` is ``attribute(model, x)``.
A subpackage and a function cannot share the name ``explainr.attribute`` otherwise (Python
binds the subpackage on the parent as soon as anything imports it).
"""

import sys
import types
from typing import Any

from explainr.attribute._attribute import METHODS, attribute
from explainr.attribute._groups import GROUP_BY
from explainr.attribute._result import Attribution, Group
from explainr.attribute._units import UnitAttribution, attribute_units
from explainr.attribute._windows import Windows, sliding_windows

__all__ = [
    "GROUP_BY",
    "METHODS",
    "Attribution",
    "Group",
    "UnitAttribution",
    "Windows",
    "attribute",
    "attribute_units",
    "sliding_windows",
]


class _CallablePackage(types.ModuleType):
    """This package, callable as `attribute`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Attribution:
        return attribute(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
