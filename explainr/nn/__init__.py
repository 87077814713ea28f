"""nn: explainr's own recurrent modules, recordable by `explainr.record`.

- `PeepholeLSTM`: LSTM with peephole connections, a drop-in for ``torch.nn.LSTM``;
- `ConvLSTM`: convolutional LSTM over feature maps (Shi et al. 2015).
"""

from explainr.nn._convlstm import ConvLSTM
from explainr.nn._peephole import PeepholeLSTM

__all__ = ["ConvLSTM", "PeepholeLSTM"]
