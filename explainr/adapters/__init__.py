"""adapters: models from other libraries, turned into plain ``torch.nn.Module`` s.

- `adapt` (``explainr.adapt``): a fitted darts, neuralforecast, pytorch-forecasting, GluonTS
  or Keras model with its data, as an `Adapter` taking windows in original units.
- `explainr.adapters.keras`: Keras 3 ``.keras`` / ``.h5`` files, read without Keras or
  TensorFlow (``pip install 'explainr[keras]'`` for h5py).

Each library's adapter is imported only when used: ``import explainr.adapters`` needs torch
only.
"""

from explainr._core.windows import Windows
from explainr.adapters._adapt import adapt
from explainr.adapters._adapter import Adapter, WindowDefaults, window_defaults
from explainr.adapters._module import ModuleAdapter

__all__ = ["Adapter", "ModuleAdapter", "WindowDefaults", "Windows", "adapt", "window_defaults"]
