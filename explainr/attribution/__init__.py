"""attribute: what a recurrent model's prediction used, per input cell and per hidden unit.

- `attribute`: integrated gradients, gradient SHAP, kernel SHAP, exact Shapley, LIME and
  occlusion through one pipeline (one private module per method); LRP and contextual
  decomposition follow the relevance through the gates themselves.
- `contextual_decomposition`: the part of every state and of the output due to chosen cells.
- `attribute_units`: layer integrated gradients on a recurrent module's hidden states.
- `sliding_windows`: cut model-ready windows from a long DataFrame.

captum, shap and lime are imported only when a method that needs them runs.

The package is named ``attribution`` so that ``explainr.attribute`` is the function.
"""

from explainr._core.windows import Windows, sliding_windows
from explainr.attribution._attribute import METHODS, attribute, attribute_prepared
from explainr.attribution._contextual_decomposition import (
    Decomposition,
    contextual_decomposition,
)
from explainr.attribution._groups import GROUP_BY
from explainr.attribution._loading import load
from explainr.attribution._memory import Memory, memory
from explainr.attribution._result import Attribution, Group
from explainr.attribution._result import concat as concat_attributions
from explainr.attribution._units import UnitAttribution, attribute_units

__all__ = [
    "GROUP_BY",
    "METHODS",
    "Attribution",
    "Decomposition",
    "Group",
    "Memory",
    "UnitAttribution",
    "Windows",
    "attribute",
    "attribute_prepared",
    "attribute_units",
    "concat_attributions",
    "contextual_decomposition",
    "load",
    "memory",
    "sliding_windows",
]
