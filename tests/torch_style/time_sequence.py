"""pytorch/examples' time_sequence_prediction (``generate_sine_wave.py`` and ``train.py``) as the repository writes
it, at small sizes: sine waves of random phase drawn by ``np.random.seed(2)`` and ``torch.save``d, a ``Sequence``
of two ``nn.LSTMCell``s (51 hidden) stepped in a Python loop over ``input.chunk(input.size(1), dim=1)`` from
``torch.zeros(..., dtype=torch.double)`` states (or the 2017 ``Variable(torch.zeros(...).double(),
requires_grad=False)``), ``torch.stack(outputs, 1).squeeze(2)``, ``future`` steps fed back from the predictions,
the model made ``.double()``, ``nn.MSELoss`` and ``optim.LBFGS(seq.parameters(), lr=0.8)`` with a closure that
zeroes the gradients, prints the loss and returns it, then a ``torch.no_grad()`` prediction read back by
``pred.detach().numpy()``. ``train`` also takes LBFGS's ``max_iter`` / ``line_search_fn`` and a checkpoint to stop
at and resume from (the model's and the optimizer's state dicts, ``torch.save``d), and logs LBFGS's state after
each step."""
# ruff: noqa: A001, A002, B007, B023, SIM115 - the example's own names and spelling

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.autograd import Variable


def generate_sine_wave(path, T=20, L=1000, N=100):
    np.random.seed(2)
    x = np.empty((N, L), 'int64')
    x[:] = np.array(range(L)) + np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
    data = np.sin(x / 1.0 / T).astype('float64')
    torch.save(data, open(path, 'wb'))


class Sequence(nn.Module):
    def __init__(self, legacy=False):
        super(Sequence, self).__init__()  # noqa: UP008 - the example's spelling
        self.lstm1 = nn.LSTMCell(1, 51)
        self.lstm2 = nn.LSTMCell(51, 51)
        self.linear = nn.Linear(51, 1)
        self.legacy = legacy

    def forward(self, input, future = 0):
        outputs = []
        if self.legacy:  # the 2017 spelling
            h_t = Variable(torch.zeros(input.size(0), 51).double(), requires_grad=False)
            c_t = Variable(torch.zeros(input.size(0), 51).double(), requires_grad=False)
            h_t2 = Variable(torch.zeros(input.size(0), 51).double(), requires_grad=False)
            c_t2 = Variable(torch.zeros(input.size(0), 51).double(), requires_grad=False)
        else:
            h_t = torch.zeros(input.size(0), 51, dtype=torch.double)
            c_t = torch.zeros(input.size(0), 51, dtype=torch.double)
            h_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)
            c_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)

        for i, input_t in enumerate(input.chunk(input.size(1), dim=1)):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):# if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        outputs = torch.stack(outputs, 1).squeeze(2)
        return outputs


def lbfgs_state(optimizer):
    """LBFGS's global state after a step: its counts, last step length, initial-Hessian scale, previous loss, the
    number of curvature pairs kept and the last direction (as numbers and a numpy array)."""
    state = optimizer.state_dict()['state'][0]
    return {'func_evals': state['func_evals'], 'n_iter': state['n_iter'], 't': float(state['t']),
            'H_diag': float(state['H_diag']), 'prev_loss': float(state['prev_loss']),
            'pairs': len(state['old_dirs']), 'd': np.array(state['d'].tolist())}


def train(seq, path, steps=15, future=1000, max_iter=20, line_search_fn=None, stop_at=None, resume_from=None):
    """train.py's main on the data at ``path`` (the seeds are the caller's): per step, every loss the closure
    printed, LBFGS's state, the test loss and the (3, L - 1 + future) prediction. ``stop_at``: save a checkpoint
    after that many steps, to ``resume_from``'s path, and stop; ``resume_from``: load it and run the remaining
    steps."""
    np.random.seed(0)
    torch.manual_seed(0)
    # load data and make training set
    data = torch.load(path, weights_only=False)
    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    # build the model
    seq.double()
    criterion = nn.MSELoss()
    # use LBFGS as optimizer since we can load the whole data to train
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8, max_iter=max_iter, line_search_fn=line_search_fn)
    first = 0
    if resume_from is not None and stop_at is None:
        checkpoint = torch.load(resume_from, weights_only=False)
        seq.load_state_dict(checkpoint['model'])
        optimizer.load_state_dict(checkpoint['optimizer'])
        first = checkpoint['step']
    log = {'loss': [], 'returned': [], 'lbfgs': [], 'test': [], 'pred': []}
    #begin to train
    for i in range(first, steps if stop_at is None else stop_at):
        print('STEP: ', i)
        losses = []

        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            print('loss:', loss.item())
            losses.append(loss.item())
            loss.backward()
            return loss
        returned = optimizer.step(closure)
        log['loss'].append(losses)
        log['returned'].append(returned.item())
        log['lbfgs'].append(lbfgs_state(optimizer))
        # begin to predict, no need to track gradient here
        with torch.no_grad():
            pred = seq(test_input, future = future)
            loss = criterion(pred[:, :-future], test_target)
            print('test loss:', loss.item())
            y = pred.detach().numpy()
        log['test'].append(loss.item())
        log['pred'].append(y)
    if stop_at is not None:
        torch.save({'model': seq.state_dict(), 'optimizer': optimizer.state_dict(), 'step': stop_at},
                   open(resume_from, 'wb'))
    log['params'] = {k: v.detach().numpy().copy() for k, v in seq.state_dict().items()}
    return log
