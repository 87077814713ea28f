"""adapters: models from other libraries, turned into plain ``torch.nn.Module`` s.

- `explainr.adapters.keras`: Keras 3 ``.keras`` / ``.h5`` files, read without Keras or
  TensorFlow (``pip install 'explainr[keras]'`` for h5py).

Each adapter is imported only when used: ``import explainr.adapters`` needs torch only.
"""
