"""nn: explainr's own recurrent modules, recordable by `explainr.record`.

- `PeepholeLSTM`: LSTM with peephole connections, a drop-in for ``torch.nn.LSTM``;
- `ConvLSTM`: convolutional LSTM over feature maps (Shi et al. 2015);
- `ResetBeforeGRU`: the GRU with the reset gate before the recurrent product (Cho et al.
  2014; Keras ``GRU(reset_after=False)``).
"""

from explainr.nn._convlstm import ConvLSTM
from explainr.nn._peephole import PeepholeLSTM
from explainr.nn._reset_before_gru import ResetBeforeGRU

__all__ = ["ConvLSTM", "PeepholeLSTM", "ResetBeforeGRU"]
