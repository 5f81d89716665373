"""torch.nn.modules.rnn's names, for code that reaches the recurrent classes through that path
(``from torch.nn.modules.rnn import RNNBase``): the same objects as ``nn.RNN`` ... ``nn.GRUCell``."""

from ..recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]
