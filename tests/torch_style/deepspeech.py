# ruff: noqa: UP004, UP008, UP031, UP032, E721, B007, F841, RUF059 - the repository's own spellings
"""SeanNaren/deepspeech.pytorch (DeepSpeech 2) written as its model.py, decoder.py, data_loader.py and train.py
write it (the 2.x releases, after the move from warp-ctc to ``nn.CTCLoss``), shrunk to tiny sizes, on synthetic
spectrogram-like numpy inputs.

- ``MaskConv``: a Sequential of Conv2d / BatchNorm2d / Hardtanh(0, 20, inplace=True) applied module by module, each
  output masked past every sample's length by ``torch.BoolTensor(x.size()).fill_(0)``, ``narrow(...).fill_(1)`` and
  ``masked_fill(mask, 0)``.
- ``SequenceWise`` (T*N collapsed, then viewed back), ``BatchRNN`` (an optional SequenceWise(BatchNorm1d),
  ``pack_padded_sequence(x, output_lengths.cpu(), enforce_sorted=False)``, an LSTM / GRU, ``pad_packed_sequence``,
  the two directions summed by ``view(T, N, 2, -1).sum(2)``, ``flatten_parameters``), ``Lookahead`` (``F.pad`` and
  a depthwise Conv1d for the unidirectional model), ``InferenceBatchSoftmax`` (softmax only in eval mode), the
  SequenceWise(BatchNorm1d + Linear) head, ``get_seq_lens`` (the conv length formula by ``true_divide``, ``.int()``)
  and ``serialize`` / ``load_model_package``.
- decoder.py's ``GreedyDecoder`` (argmax, repeats collapsed, blanks removed) with ``wer`` / ``cer`` by a
  Levenshtein distance (the repository imports python-Levenshtein; here a pure-Python one).
- data_loader.py's ``SpectrogramDataset`` (numpy log-spectrograms, normalised in place by their mean / std),
  ``_collate_fn`` (zero-padded batch sorted by length, ``input_percentages``, concatenated IntTensor targets),
  ``BucketingSampler`` (numpy-shuffled bins) and ``AudioDataLoader``.
- train.py: SGD (momentum, Nesterov) or AdamW, ``out.transpose(0, 1)``, ``log_softmax(-1)``, ``float()``,
  ``CTCLoss(blank=0, reduction='sum', zero_infinity=True)`` divided by the batch size, ``check_loss`` skipping the
  update on an inf / nan / negative loss, ``clip_grad_norm_(max_norm=400)``, the AverageMeter log lines, per-epoch
  validation with WER / CER, the annealed lr (each group's lr divided), checkpoints, the best model, and
  ``--continue-from`` resuming at the saved epoch.

Changes for a tiny CPU run: no apex / amp, no distributed branch, no visdom / tensorboard, no timing columns in the
log lines; ``collate_unsorted`` (the collate without its sort) feeds an unsorted batch, so the packed sequences'
``enforce_sorted=False`` path is used; ``history`` records what the test compares (the repository prints)."""

import argparse
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

LABELS = "_'ABCDEFGHIJ "  # blank first, space last (the repository's labels.json, shrunk)


class SequenceWise(nn.Module):
    def __init__(self, module):
        """
        Collapses input of dim T*N*H to (T*N)*H, and applies to a module.
        Allows handling of variable sequence lengths and minibatch sizes.
        :param module: Module to apply input to.
        """
        super(SequenceWise, self).__init__()
        self.module = module

    def forward(self, x):
        t, n = x.size(0), x.size(1)
        x = x.view(t * n, -1)
        x = self.module(x)
        x = x.view(t, n, -1)
        return x

    def __repr__(self):
        tmpstr = self.__class__.__name__ + ' (\n'
        tmpstr += self.module.__repr__()
        tmpstr += ')'
        return tmpstr


class MaskConv(nn.Module):
    def __init__(self, seq_module):
        """
        Adds padding to the output of the module based on the given lengths. This is to ensure that the
        results of the model do not change when batch sizes change during inference.
        Input needs to be in the shape of (BxCxDxT)
        :param seq_module: The sequential module containing the conv stack.
        """
        super(MaskConv, self).__init__()
        self.seq_module = seq_module

    def forward(self, x, lengths):
        """
        :param x: The input of size BxCxDxT
        :param lengths: The actual length of each sequence in the batch
        :return: Masked output from the module
        """
        for module in self.seq_module:
            x = module(x)
            mask = torch.BoolTensor(x.size()).fill_(0)
            if x.is_cuda:
                mask = mask.cuda()
            for i, length in enumerate(lengths):
                length = length.item()
                if (mask[i].size(2) - length) > 0:
                    mask[i].narrow(2, length, mask[i].size(2) - length).fill_(1)
            x = x.masked_fill(mask, 0)
        return x, lengths


class InferenceBatchSoftmax(nn.Module):
    def forward(self, input_):
        if not self.training:
            return F.softmax(input_, dim=-1)
        else:
            return input_


class BatchRNN(nn.Module):
    def __init__(self, input_size, hidden_size, rnn_type=nn.LSTM, bidirectional=False, batch_norm=True):
        super(BatchRNN, self).__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bidirectional = bidirectional
        self.batch_norm = SequenceWise(nn.BatchNorm1d(input_size)) if batch_norm else None
        self.rnn = rnn_type(input_size=input_size, hidden_size=hidden_size,
                            bidirectional=bidirectional, bias=True)
        self.num_directions = 2 if bidirectional else 1

    def flatten_parameters(self):
        self.rnn.flatten_parameters()

    def forward(self, x, output_lengths):
        if self.batch_norm is not None:
            x = self.batch_norm(x)
        x = nn.utils.rnn.pack_padded_sequence(x, output_lengths.cpu(), enforce_sorted=False)
        x, h = self.rnn(x)
        x, _ = nn.utils.rnn.pad_packed_sequence(x)
        if self.bidirectional:
            x = x.view(x.size(0), x.size(1), 2, -1).sum(2).view(x.size(0), x.size(1), -1)  # (TxNxH*2) -> (TxNxH) by sum
        return x


class Lookahead(nn.Module):
    # Wang et al 2016 - Lookahead Convolution Layer for Unidirectional Recurrent Neural Networks
    # input shape - sequence, batch, feature - TxNxH
    # output shape - same as input
    def __init__(self, n_features, context):
        super(Lookahead, self).__init__()
        assert context > 0
        self.context = context
        self.n_features = n_features
        self.pad = (0, self.context - 1)
        self.conv = nn.Conv1d(self.n_features, self.n_features, kernel_size=self.context, stride=1,
                              groups=self.n_features, padding=0, bias=False)

    def forward(self, x):
        x = x.transpose(0, 1).transpose(1, 2)
        x = F.pad(x, pad=self.pad, value=0)
        x = self.conv(x)
        x = x.transpose(1, 2).transpose(0, 1).contiguous()
        return x

    def __repr__(self):
        return self.__class__.__name__ + '(' \
            + 'n_features=' + str(self.n_features) \
            + ', context=' + str(self.context) + ')'


supported_rnns = {
    'lstm': nn.LSTM,
    'rnn': nn.RNN,
    'gru': nn.GRU
}
supported_rnns_inv = dict((v, k) for k, v in supported_rnns.items())


class DeepSpeech(nn.Module):
    def __init__(self, rnn_type=nn.LSTM, labels="abc", rnn_hidden_size=768, nb_layers=5, audio_conf=None,
                 bidirectional=True, context=20):
        super(DeepSpeech, self).__init__()

        self.hidden_size = rnn_hidden_size
        self.hidden_layers = nb_layers
        self.rnn_type = rnn_type
        self.audio_conf = audio_conf
        self.labels = labels
        self.bidirectional = bidirectional

        sample_rate = self.audio_conf["sample_rate"]
        window_size = self.audio_conf["window_size"]
        num_classes = len(self.labels)

        self.conv = MaskConv(nn.Sequential(
            nn.Conv2d(1, 4, kernel_size=(5, 3), stride=(2, 2), padding=(2, 1)),
            nn.BatchNorm2d(4),
            nn.Hardtanh(0, 20, inplace=True),
            nn.Conv2d(4, 4, kernel_size=(3, 3), stride=(2, 1), padding=(1, 1)),
            nn.BatchNorm2d(4),
            nn.Hardtanh(0, 20, inplace=True)
        ))
        # Based on above convolutions and spectrogram size using conv formula (W - F + 2P)/ S+1
        rnn_input_size = int(math.floor((sample_rate * window_size) / 2) + 1)
        rnn_input_size = int(math.floor(rnn_input_size + 2 * 2 - 5) / 2 + 1)
        rnn_input_size = int(math.floor(rnn_input_size + 2 * 1 - 3) / 2 + 1)
        rnn_input_size *= 4

        rnns = []
        rnn = BatchRNN(input_size=rnn_input_size, hidden_size=rnn_hidden_size, rnn_type=rnn_type,
                       bidirectional=bidirectional, batch_norm=False)
        rnns.append(('0', rnn))
        for x in range(nb_layers - 1):
            rnn = BatchRNN(input_size=rnn_hidden_size, hidden_size=rnn_hidden_size, rnn_type=rnn_type,
                           bidirectional=bidirectional)
            rnns.append(('%d' % (x + 1), rnn))
        self.rnns = nn.Sequential(*[module for _, module in rnns])
        self.lookahead = nn.Sequential(
            # consider adding batch norm?
            Lookahead(rnn_hidden_size, context=context),
            nn.Hardtanh(0, 20, inplace=True)
        ) if not bidirectional else None

        fully_connected = nn.Sequential(
            nn.BatchNorm1d(rnn_hidden_size),
            nn.Linear(rnn_hidden_size, num_classes, bias=False)
        )
        self.fc = nn.Sequential(
            SequenceWise(fully_connected),
        )
        self.inference_softmax = InferenceBatchSoftmax()

    def forward(self, x, lengths):
        lengths = lengths.cpu().int()
        output_lengths = self.get_seq_lens(lengths)
        x, _ = self.conv(x, output_lengths)

        sizes = x.size()
        x = x.view(sizes[0], sizes[1] * sizes[2], sizes[3])  # Collapse feature dimension
        x = x.transpose(1, 2).transpose(0, 1).contiguous()  # TxNxH

        for rnn in self.rnns:
            x = rnn(x, output_lengths)

        if not self.bidirectional:  # no need for lookahead layer in bidirectional
            x = self.lookahead(x)

        x = self.fc(x)
        x = x.transpose(0, 1)
        # identity in training mode, softmax in eval mode
        x = self.inference_softmax(x)
        return x, output_lengths

    def get_seq_lens(self, input_length):
        """
        Given a 1D Tensor or Variable containing integer sequence lengths, return a 1D tensor or variable
        containing the size sequences that will be output by the network.
        :param input_length: 1D Tensor
        :return: 1D Tensor scaled by model
        """
        seq_len = input_length
        for m in self.conv.modules():
            if type(m) == nn.modules.conv.Conv2d:
                seq_len = seq_len + 2 * m.padding[1] - m.dilation[1] * (m.kernel_size[1] - 1) - 1
                seq_len = seq_len.true_divide(m.stride[1]) + 1
        return seq_len.int()

    @classmethod
    def load_model_package(cls, package):
        model = cls(rnn_hidden_size=package['hidden_size'], nb_layers=package['hidden_layers'],
                    labels=package['labels'], audio_conf=package['audio_conf'],
                    rnn_type=supported_rnns[package['rnn_type']], bidirectional=package.get('bidirectional', True),
                    context=package.get('context', 20))
        model.load_state_dict(package['state_dict'])
        for x in model.rnns:
            x.flatten_parameters()
        return model

    @staticmethod
    def serialize(model, optimizer=None, epoch=None, iteration=None, loss_results=None,
                  cer_results=None, wer_results=None, avg_loss=None, meta=None):
        package = {
            'version': model.version,
            'hidden_size': model.hidden_size,
            'hidden_layers': model.hidden_layers,
            'rnn_type': supported_rnns_inv.get(model.rnn_type, model.rnn_type.__name__.lower()),
            'audio_conf': model.audio_conf,
            'labels': model.labels,
            'state_dict': model.state_dict(),
            'bidirectional': model.bidirectional,
            'context': model.lookahead[0].context if model.lookahead is not None else None,
        }
        if optimizer is not None:
            package['optim_dict'] = optimizer.state_dict()
        if avg_loss is not None:
            package['avg_loss'] = avg_loss
        if epoch is not None:
            package['epoch'] = epoch + 1  # increment for readability
        if iteration is not None:
            package['iteration'] = iteration
        if loss_results is not None:
            package['loss_results'] = loss_results
            package['cer_results'] = cer_results
            package['wer_results'] = wer_results
        if meta is not None:
            package['meta'] = meta
        return package

    @staticmethod
    def get_param_size(model):
        params = 0
        for p in model.parameters():
            tmp = 1
            for x in p.size():
                tmp *= x
            params += tmp
        return params


DeepSpeech.version = '0.0.1'


# ---------------------------------------------------------------- decoder.py

def levenshtein(s1, s2):
    """The edit distance between two strings (python-Levenshtein's ``Lev.distance``), by the two-row table."""
    if len(s1) < len(s2):
        s1, s2 = s2, s1
    previous = list(range(len(s2) + 1))
    for i, c1 in enumerate(s1):
        current = [i + 1]
        for j, c2 in enumerate(s2):
            current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (c1 != c2)))
        previous = current
    return previous[-1]


class Decoder(object):
    """
    Basic decoder class from which all other decoders inherit. Implements several helper functions. Subclasses
    should implement the decode() method.

    Arguments:
        labels (string): mapping from integers to characters.
        blank_index (int, optional): index for the blank '_' character. Defaults to 0.
    """

    def __init__(self, labels, blank_index=0):
        self.labels = labels
        self.int_to_char = dict([(i, c) for (i, c) in enumerate(labels)])
        self.blank_index = blank_index
        space_index = len(labels)  # To prevent errors in decode, we add an out of bounds index for the space
        if ' ' in labels:
            space_index = labels.index(' ')
        self.space_index = space_index

    def wer(self, s1, s2):
        """
        Computes the Word Error Rate, defined as the edit distance between the
        two provided sentences after tokenizing to words.
        """
        # build mapping of words to integers
        b = set(s1.split() + s2.split())
        word2char = dict(zip(b, range(len(b))))

        # map the words to a char array (Levenshtein packages only accepts
        # strings)
        w1 = [chr(word2char[w]) for w in s1.split()]
        w2 = [chr(word2char[w]) for w in s2.split()]

        return levenshtein(''.join(w1), ''.join(w2))

    def cer(self, s1, s2):
        """
        Computes the Character Error Rate, defined as the edit distance.
        """
        s1, s2, = s1.replace(' ', ''), s2.replace(' ', '')
        return levenshtein(s1, s2)

    def decode(self, probs, sizes=None):
        raise NotImplementedError


class GreedyDecoder(Decoder):
    def __init__(self, labels, blank_index=0):
        super(GreedyDecoder, self).__init__(labels, blank_index)

    def convert_to_strings(self, sequences, sizes=None, remove_repetitions=False, return_offsets=False):
        """Given a list of numeric sequences, returns the corresponding strings"""
        strings = []
        offsets = [] if return_offsets else None
        for x in range(len(sequences)):
            seq_len = sizes[x] if sizes is not None else len(sequences[x])
            string, string_offsets = self.process_string(sequences[x], seq_len, remove_repetitions)
            strings.append([string])  # We only return one path
            if return_offsets:
                offsets.append([string_offsets])
        if return_offsets:
            return strings, offsets
        else:
            return strings

    def process_string(self, sequence, size, remove_repetitions=False):
        string = ''
        offsets = []
        for i in range(size):
            char = self.int_to_char[sequence[i].item()]
            if char != self.int_to_char[self.blank_index]:
                # if this char is a repetition and remove_repetitions=true, then skip
                if remove_repetitions and i != 0 and char == self.int_to_char[sequence[i - 1].item()]:
                    pass
                elif char == self.labels[self.space_index]:
                    string += ' '
                    offsets.append(i)
                else:
                    string = string + char
                    offsets.append(i)
        return string, torch.tensor(offsets, dtype=torch.int)

    def decode(self, probs, sizes=None):
        """
        Returns the argmax decoding given the probability matrix. Removes
        repeated elements in the sequence, as well as blanks.

        Arguments:
            probs: Tensor of character probabilities from the network. Expected shape of batch x seq_length x output_dim
            sizes(optional): Size of each sequence in the mini-batch
        Returns:
            strings: sequences of the model's best guess for the transcription on inputs
            offsets: time step per character predicted
        """
        _, max_probs = torch.max(probs, 2)
        strings, offsets = self.convert_to_strings(max_probs.view(max_probs.size(0), max_probs.size(1)), sizes,
                                                   remove_repetitions=True, return_offsets=True)
        return strings, offsets


# ---------------------------------------------------------------- data_loader.py

def make_corpus(n, seed, freq=16, long_target=False):
    """Synthetic utterances: a transcript of 1-3 words over ``LABELS`` and a (freq, T) magnitude "spectrogram" whose
    columns light up frequency bands by character (plus numpy noise), T distinct between 12 and 24 frames (n <= 13).
    With ``long_target`` the last utterance gets a transcript longer than its conv output (an infinite CTC loss)."""
    rng = np.random.default_rng(seed)
    letters = LABELS[2:-1]
    lengths = rng.choice(np.arange(12, 25), n, replace=False)  # distinct: the sorted collate has no ties
    corpus = []
    for k in range(n):
        words = [''.join(rng.choice(list(letters), rng.integers(1, 3))) for _ in range(rng.integers(1, 3))]
        transcript = ' '.join(words)
        frames = int(lengths[k])
        if long_target and k == n - 1:
            frames, transcript = 10, 'ABCDE FGHIJ'  # 11 labels, 5 output frames
        spect = rng.uniform(0, 0.3, (freq, frames))
        for t in range(frames):
            char = transcript[min(t * len(transcript) // frames, len(transcript) - 1)]
            band = LABELS.index(char) % freq
            spect[band, t] += 3.0
        corpus.append((np.abs(spect).astype(np.float32), transcript))
    return corpus


class SpectrogramDataset(Dataset):
    def __init__(self, corpus, labels, normalize=True):
        """
        Dataset that loads tensors via a (spectrogram, transcript) list sorted by duration (the manifest's order)
        """
        ids = sorted(corpus, key=lambda item: item[0].shape[1])
        self.ids = ids
        self.size = len(ids)
        self.labels_map = dict([(labels[i], i) for i in range(len(labels))])
        self.normalize = normalize

    def __getitem__(self, index):
        sample = self.ids[index]
        spect = self.parse_audio(sample[0])
        transcript = self.parse_transcript(sample[1])
        return spect, transcript

    def parse_audio(self, magnitude):
        # S = log(S+1)
        spect = np.log1p(magnitude)
        spect = torch.FloatTensor(spect)
        if self.normalize:
            mean = spect.mean()
            std = spect.std()
            spect.add_(-mean)
            spect.div_(std)
        return spect

    def parse_transcript(self, transcript):
        transcript = list(filter(None, [self.labels_map.get(x) for x in list(transcript)]))
        return transcript

    def __len__(self):
        return self.size


def _collate_fn(batch):
    def func(p):
        return p[0].size(1)

    batch = sorted(batch, key=lambda sample: sample[0].size(1), reverse=True)
    longest_sample = max(batch, key=func)[0]
    freq_size = longest_sample.size(0)
    minibatch_size = len(batch)
    max_seqlength = longest_sample.size(1)
    inputs = torch.zeros(minibatch_size, 1, freq_size, max_seqlength)
    input_percentages = torch.FloatTensor(minibatch_size)
    target_sizes = torch.IntTensor(minibatch_size)
    targets = []
    for x in range(minibatch_size):
        sample = batch[x]
        tensor = sample[0]
        target = sample[1]
        seq_length = tensor.size(1)
        inputs[x][0].narrow(1, 0, seq_length).copy_(tensor)
        input_percentages[x] = seq_length / float(max_seqlength)
        target_sizes[x] = len(target)
        targets.extend(target)
    targets = torch.IntTensor(targets)
    return inputs, targets, input_percentages, target_sizes


def collate_unsorted(batch):
    """``_collate_fn`` without its sort: the batch stays in the sampler's order (lengths not descending)."""
    def func(p):
        return p[0].size(1)

    longest_sample = max(batch, key=func)[0]
    freq_size = longest_sample.size(0)
    minibatch_size = len(batch)
    max_seqlength = longest_sample.size(1)
    inputs = torch.zeros(minibatch_size, 1, freq_size, max_seqlength)
    input_percentages = torch.FloatTensor(minibatch_size)
    target_sizes = torch.IntTensor(minibatch_size)
    targets = []
    for x in range(minibatch_size):
        sample = batch[x]
        tensor = sample[0]
        target = sample[1]
        seq_length = tensor.size(1)
        inputs[x][0].narrow(1, 0, seq_length).copy_(tensor)
        input_percentages[x] = seq_length / float(max_seqlength)
        target_sizes[x] = len(target)
        targets.extend(target)
    targets = torch.IntTensor(targets)
    return inputs, targets, input_percentages, target_sizes


class AudioDataLoader(DataLoader):
    def __init__(self, *args, collate_fn=_collate_fn, **kwargs):
        """
        Creates a data loader for AudioDatasets.
        """
        super(AudioDataLoader, self).__init__(*args, **kwargs)
        self.collate_fn = collate_fn


class BucketingSampler(Sampler):
    def __init__(self, data_source, batch_size=1):
        """
        Samples batches assuming they are in order of size to batch similarly sized samples together.
        """
        super(BucketingSampler, self).__init__()
        self.data_source = data_source
        ids = list(range(0, len(data_source)))
        self.bins = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]

    def __iter__(self):
        for ids in self.bins:
            np.random.shuffle(ids)
            yield ids

    def __len__(self):
        return len(self.bins)

    def shuffle(self, epoch):
        np.random.shuffle(self.bins)


# ---------------------------------------------------------------- train.py

parser = argparse.ArgumentParser(description='DeepSpeech training')
parser.add_argument('--batch-size', default=4, type=int, help='Batch size for training')
parser.add_argument('--hidden-size', default=8, type=int, help='Hidden size of RNNs')
parser.add_argument('--hidden-layers', default=2, type=int, help='Number of RNN layers')
parser.add_argument('--rnn-type', default='lstm', help='Type of the RNN. rnn|gru|lstm are supported')
parser.add_argument('--epochs', default=2, type=int, help='Number of training epochs')
parser.add_argument('--lr', '--learning-rate', default=3e-4, type=float, help='initial learning rate')
parser.add_argument('--momentum', default=0.9, type=float, help='momentum')
parser.add_argument('--max-norm', default=400, type=int, help='Norm cutoff to prevent explosion of gradients')
parser.add_argument('--learning-anneal', default=1.1, type=float, help='Annealing applied to learning rate every epoch')
parser.add_argument('--checkpoint', dest='checkpoint', action='store_true', help='Enables checkpoint saving of model')
parser.add_argument('--save-folder', default='models/', help='Location to save epoch models')
parser.add_argument('--model-path', default='models/deepspeech_final.pth',
                    help='Location to save best validation model')
parser.add_argument('--continue-from', default='', help='Continue from checkpoint model')
parser.add_argument('--finetune', dest='finetune', action='store_true', help='Finetune the model from checkpoint')
parser.add_argument('--no-shuffle', dest='no_shuffle', action='store_true', help='Turn off shuffling')
parser.add_argument('--no-sorta-grad', dest='no_sorta_grad', action='store_true',
                    help='Turn off ordering of dataset on sequence length for the first epoch.')
parser.add_argument('--bidirectional', dest='bidirectional', action='store_true', default=True,
                    help='Turn off bi-directional RNNs, introduces lookahead convolution')
parser.add_argument('--unidirectional', dest='bidirectional', action='store_false')
parser.add_argument('--context', default=3, type=int, help='Lookahead context of the unidirectional model')
parser.add_argument('--optim', default='sgd', help='Optimizer to use (sgd|adam)')
parser.add_argument('--adam-eps', default=1e-8, type=float, help='ADAM eps')
parser.add_argument('--betas', default=(0.9, 0.999), nargs=2, type=float, help='ADAM betas')
parser.add_argument('--weight-decay', default=1e-5, type=float, help='Initial weight decay')
parser.add_argument('--no-zero-infinity', dest='zero_infinity', action='store_false', default=True,
                    help='CTCLoss without zero_infinity (an impossible target then gives an inf loss)')
parser.add_argument('--unsorted', dest='unsorted', action='store_true', help='Batches in sampler order')


class AverageMeter(object):
    """Computes and stores the average and current value"""

    def __init__(self):
        self.reset()

    def reset(self):
        self.val = 0
        self.avg = 0
        self.sum = 0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count


def check_loss(loss, loss_value):
    """
    Check that warp-ctc loss is valid and will not break training
    :return: Return if loss is valid, and the error in case it is not
    """
    loss_valid = True
    error = ''
    if loss_value == float("inf") or loss_value == float("-inf"):
        loss_valid = False
        error = "WARNING: received an inf loss"
    elif torch.isnan(loss).sum() > 0:
        loss_valid = False
        error = 'WARNING: received a nan loss, setting loss value to 0'
    elif loss_value < 0:
        loss_valid = False
        error = "WARNING: received a negative loss"
    return loss_valid, error


def evaluate(test_loader, device, model, decoder, target_decoder, history=None):
    model.eval()
    total_cer, total_wer, num_tokens, num_chars = 0, 0, 0, 0
    output_data = []
    with torch.no_grad():
        for i, (data) in enumerate(test_loader):
            inputs, targets, input_percentages, target_sizes = data
            input_sizes = input_percentages.mul_(int(inputs.size(3))).int()
            inputs = inputs.to(device)

            # unflatten targets
            split_targets = []
            offset = 0
            for size in target_sizes:
                split_targets.append(targets[offset:offset + size])
                offset += size

            out, output_sizes = model(inputs, input_sizes)

            decoded_output, _ = decoder.decode(out, output_sizes)
            target_strings = target_decoder.convert_to_strings(split_targets)

            if history is not None:
                history["eval_probs"].append(out.numpy().copy())
                history["decoded"].append([d[0] for d in decoded_output])
                history["references"].append([t[0] for t in target_strings])
            for x in range(len(target_strings)):
                transcript, reference = decoded_output[x][0], target_strings[x][0]
                wer_inst = decoder.wer(transcript, reference)
                cer_inst = decoder.cer(transcript, reference)
                total_wer += wer_inst
                total_cer += cer_inst
                num_tokens += len(reference.split())
                num_chars += len(reference.replace(' ', ''))
    wer = float(total_wer) / num_tokens
    cer = float(total_cer) / num_chars
    return wer * 100, cer * 100, output_data


def make_model(args, audio_conf):
    return DeepSpeech(rnn_hidden_size=args.hidden_size, nb_layers=args.hidden_layers, labels=LABELS,
                      rnn_type=supported_rnns[args.rnn_type.lower()], audio_conf=audio_conf,
                      bidirectional=args.bidirectional, context=args.context)


def main(argv, train_corpus, val_corpus, model=None, history=None):
    """train.py's main, on ``train_corpus`` / ``val_corpus``; ``model`` (a fresh DeepSpeech from ``make_model``)
    unless ``--continue-from`` loads one."""
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if history is None:
        history = {}
    for key in ("loss", "loss_value", "grad_norm", "lr", "state", "lines", "skipped", "eval_probs", "decoded",
                "references", "wer", "cer", "output_sizes"):
        history.setdefault(key, [])

    loss_results, cer_results, wer_results = torch.Tensor(args.epochs), torch.Tensor(args.epochs), torch.Tensor(
        args.epochs)
    best_wer = None
    avg_loss, start_epoch, start_iter, optim_state = 0, 0, 0, None
    audio_conf = dict(sample_rate=3000, window_size=0.01, window_stride=0.005, window='hamming')
    if args.continue_from:  # Starting from previous model
        print("Loading checkpoint model %s" % args.continue_from)
        package = torch.load(args.continue_from, map_location=lambda storage, loc: storage)
        model = DeepSpeech.load_model_package(package)
        labels = model.labels
        audio_conf = model.audio_conf
        if not args.finetune:  # Don't want to restart training
            optim_state = package['optim_dict']
            start_epoch = int(package.get('epoch', 1)) - 1  # Index start at 0 for training
            start_iter = package.get('iteration', None)
            if start_iter is None:
                start_epoch += 1  # We saved model after epoch finished, start at the next epoch.
                start_iter = 0
            else:
                start_iter += 1
            avg_loss = int(package.get('avg_loss', 0))
            loss_results, cer_results, wer_results = package['loss_results'], package['cer_results'], \
                package['wer_results']
            best_wer = wer_results[start_epoch - 1].item() if start_epoch > 0 else None
    else:
        labels = LABELS

    decoder = GreedyDecoder(labels)
    train_dataset = SpectrogramDataset(train_corpus, labels)
    test_dataset = SpectrogramDataset(val_corpus, labels)
    collate = collate_unsorted if args.unsorted else _collate_fn
    train_sampler = BucketingSampler(train_dataset, batch_size=args.batch_size)
    train_loader = AudioDataLoader(train_dataset, num_workers=0, batch_sampler=train_sampler, collate_fn=collate)
    test_loader = AudioDataLoader(test_dataset, batch_size=args.batch_size, num_workers=0, collate_fn=collate)

    if (not args.no_shuffle and start_epoch != 0) or args.no_sorta_grad:
        print("Shuffling batches for the following epochs")
        train_sampler.shuffle(start_epoch)

    model = model.to(device)
    parameters = model.parameters()
    if args.optim == 'sgd':
        optimizer = torch.optim.SGD(parameters, lr=args.lr, momentum=args.momentum, nesterov=True,
                                    weight_decay=args.weight_decay)
    elif args.optim == 'adam':
        optimizer = torch.optim.AdamW(parameters, lr=args.lr, betas=args.betas, eps=args.adam_eps,
                                      weight_decay=args.weight_decay)
    else:
        raise ValueError("Optimizer not supported")
    if optim_state is not None:
        optimizer.load_state_dict(optim_state)

    criterion = nn.CTCLoss(blank=0, reduction='sum', zero_infinity=args.zero_infinity)
    losses = AverageMeter()

    for epoch in range(start_epoch, args.epochs):
        model.train()
        for i, (data) in enumerate(train_loader, start=start_iter):
            if i == len(train_sampler):
                break
            inputs, targets, input_percentages, target_sizes = data
            input_sizes = input_percentages.mul_(int(inputs.size(3))).int()
            inputs = inputs.to(device)

            out, output_sizes = model(inputs, input_sizes)
            out = out.transpose(0, 1)  # TxNxH
            out = out.log_softmax(-1)

            float_out = out.float()  # ensure float32 for loss
            loss = criterion(float_out, targets, output_sizes, target_sizes).to(device)
            loss = loss / inputs.size(0)  # average the loss by minibatch
            loss_value = loss.item()

            # Check to ensure valid loss was calculated
            valid_loss, error = check_loss(loss, loss_value)
            history["loss"].append(loss_value)
            history["output_sizes"].append(output_sizes.tolist())
            if valid_loss:
                optimizer.zero_grad()
                # compute gradient
                loss.backward()
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_norm)
                optimizer.step()
                history["grad_norm"].append(norm.item())
            else:
                print(error)
                print('Skipping grad update')
                history["skipped"].append((epoch, i, error))
                history["grad_norm"].append(None)
                loss_value = 0

            avg_loss += loss_value
            losses.update(loss_value, inputs.size(0))
            history["loss_value"].append(loss_value)
            history["state"].append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
            line = ('Epoch: [{0}][{1}/{2}]\t'
                    'Loss {loss.val:.4f} ({loss.avg:.4f})\t'.format(
                        (epoch + 1), (i + 1), len(train_sampler), loss=losses))
            history["lines"].append(line)
            print(line)

        avg_loss /= len(train_sampler)
        line = 'Training Summary Epoch: [{0}]\tAverage Loss {loss:.3f}\t'.format(epoch + 1, loss=avg_loss)
        history["lines"].append(line)
        print(line)

        start_iter = 0  # Reset start iteration for next epoch
        wer, cer, output_data = evaluate(test_loader=test_loader, device=device, model=model, decoder=decoder,
                                         target_decoder=decoder, history=history)
        loss_results[epoch] = avg_loss
        wer_results[epoch] = wer
        cer_results[epoch] = cer
        history["wer"].append(wer)
        history["cer"].append(cer)
        line = ('Validation Summary Epoch: [{0}]\t'
                'Average WER {wer:.3f}\t'
                'Average CER {cer:.3f}\t'.format(epoch + 1, wer=wer, cer=cer))
        history["lines"].append(line)
        print(line)

        if args.checkpoint:
            file_path = '%s/deepspeech_%d.pth.tar' % (args.save_folder, epoch + 1)
            torch.save(DeepSpeech.serialize(model, optimizer=optimizer, epoch=epoch, loss_results=loss_results,
                                            wer_results=wer_results, cer_results=cer_results),
                       file_path)
        # anneal lr
        for g in optimizer.param_groups:
            g['lr'] = g['lr'] / args.learning_anneal
        print('Learning rate annealed to: {lr:.6f}'.format(lr=g['lr']))
        history["lr"].append(g['lr'])

        if best_wer is None or best_wer > wer:
            print("Found better validated model, saving to %s" % args.model_path)
            torch.save(DeepSpeech.serialize(model, optimizer=optimizer, epoch=epoch, loss_results=loss_results,
                                            wer_results=wer_results, cer_results=cer_results), args.model_path)
            best_wer = wer
            avg_loss = 0

        if not args.no_shuffle:
            print("Shuffling batches...")
            train_sampler.shuffle(epoch)
    history["loss_results"] = loss_results[:args.epochs].tolist()
    history["wer_results"] = wer_results[:args.epochs].tolist()
    history["cer_results"] = cer_results[:args.epochs].tolist()
    return model
