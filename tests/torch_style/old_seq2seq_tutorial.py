"""The 2017 PyTorch tutorial "Translation with a Sequence to Sequence Network and Attention" in its original
spelling (``Variable``, the ``use_cuda`` switches, ``.data``, ``topk`` on ``.data``, per-step ``loss +=``), on a
tiny synthetic parallel corpus: each "sentence" is a short sequence of word tokens and its "translation" is the same
sequence reversed. A ``Lang`` with ``word2index``, an ``EncoderRNN`` (Embedding + GRU fed one word at a time), an
``AttnDecoderRNN`` (attention by ``bmm`` over the encoder outputs, ``attn_combine``, ``relu``, ``log_softmax``),
the tutorial's ``train`` with teacher forcing drawn from a numpy generator the harness shares between the two runs,
SGD for both networks and ``nn.NLLLoss``; ``evaluate`` with greedy decoding that stops at EOS and keeps the
attention matrix; and ``torch.save`` / ``torch.load`` of both state_dicts. The harness runs it on torch and, imports
swapped, on ours."""
# ruff: noqa: N802, A001, A002, RUF059, SIM210 - the tutorial's own names and spelling

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim
from torch.autograd import Variable

use_cuda = torch.cuda.is_available()

SOS_token = 0
EOS_token = 1
MAX_LENGTH = 8


class Lang:
    def __init__(self, name):
        self.name = name
        self.word2index = {}
        self.word2count = {}
        self.index2word = {0: "SOS", 1: "EOS"}
        self.n_words = 2  # Count SOS and EOS

    def addSentence(self, sentence):
        for word in sentence.split(" "):
            self.addWord(word)

    def addWord(self, word):
        if word not in self.word2index:
            self.word2index[word] = self.n_words
            self.word2count[word] = 1
            self.index2word[self.n_words] = word
            self.n_words += 1
        else:
            self.word2count[word] += 1


def make_pairs(n_pairs=40, vocab=10, seed=0):
    """(input sentence, its reversal) pairs of 3..6 words from ``vocab`` made-up words, and the two Langs."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab)]
    pairs = []
    for _ in range(n_pairs):
        sentence = [words[i] for i in rng.integers(0, vocab, rng.integers(3, 7))]
        pairs.append([" ".join(sentence), " ".join(reversed(sentence))])
    input_lang, output_lang = Lang("src"), Lang("rev")
    for pair in pairs:
        input_lang.addSentence(pair[0])
        output_lang.addSentence(pair[1])
    return input_lang, output_lang, pairs


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super(EncoderRNN, self).__init__()  # noqa: UP008 - the tutorial's spelling
        self.hidden_size = hidden_size

        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size)

    def forward(self, input, hidden):
        embedded = self.embedding(input).view(1, 1, -1)
        output = embedded
        output, hidden = self.gru(output, hidden)
        return output, hidden

    def initHidden(self):
        result = Variable(torch.zeros(1, 1, self.hidden_size))
        if use_cuda:
            return result.cuda()
        else:
            return result


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, dropout_p=0.1, max_length=MAX_LENGTH):
        super(AttnDecoderRNN, self).__init__()  # noqa: UP008
        self.hidden_size = hidden_size
        self.output_size = output_size
        self.dropout_p = dropout_p
        self.max_length = max_length

        self.embedding = nn.Embedding(self.output_size, self.hidden_size)
        self.attn = nn.Linear(self.hidden_size * 2, self.max_length)
        self.attn_combine = nn.Linear(self.hidden_size * 2, self.hidden_size)
        self.dropout = nn.Dropout(self.dropout_p)
        self.gru = nn.GRU(self.hidden_size, self.hidden_size)
        self.out = nn.Linear(self.hidden_size, self.output_size)

    def forward(self, input, hidden, encoder_outputs):
        embedded = self.embedding(input).view(1, 1, -1)
        embedded = self.dropout(embedded)

        attn_weights = F.softmax(
            self.attn(torch.cat((embedded[0], hidden[0]), 1)), dim=1)
        attn_applied = torch.bmm(attn_weights.unsqueeze(0),
                                 encoder_outputs.unsqueeze(0))

        output = torch.cat((embedded[0], attn_applied[0]), 1)
        output = self.attn_combine(output).unsqueeze(0)

        output = F.relu(output)
        output, hidden = self.gru(output, hidden)

        output = F.log_softmax(self.out(output[0]), dim=1)
        return output, hidden, attn_weights

    def initHidden(self):
        return Variable(torch.zeros(1, 1, self.hidden_size))


def indexesFromSentence(lang, sentence):
    return [lang.word2index[word] for word in sentence.split(" ")]


def variableFromSentence(lang, sentence):
    indexes = indexesFromSentence(lang, sentence)
    indexes.append(EOS_token)
    result = Variable(torch.LongTensor(indexes).view(-1, 1))
    if use_cuda:
        return result.cuda()
    else:
        return result


def variablesFromPair(input_lang, output_lang, pair):
    input_variable = variableFromSentence(input_lang, pair[0])
    target_variable = variableFromSentence(output_lang, pair[1])
    return (input_variable, target_variable)


teacher_forcing_ratio = 0.5


def train(input_variable, target_variable, encoder, decoder, encoder_optimizer, decoder_optimizer, criterion,
          use_teacher_forcing, max_length=MAX_LENGTH):
    encoder_hidden = encoder.initHidden()

    encoder_optimizer.zero_grad()
    decoder_optimizer.zero_grad()

    input_length = input_variable.size()[0]
    target_length = target_variable.size()[0]

    encoder_outputs = Variable(torch.zeros(max_length, encoder.hidden_size))
    encoder_outputs = encoder_outputs.cuda() if use_cuda else encoder_outputs

    loss = 0

    for ei in range(input_length):
        encoder_output, encoder_hidden = encoder(
            input_variable[ei], encoder_hidden)
        encoder_outputs[ei] = encoder_output[0][0]

    decoder_input = Variable(torch.LongTensor([[SOS_token]]))
    decoder_input = decoder_input.cuda() if use_cuda else decoder_input

    decoder_hidden = encoder_hidden

    if use_teacher_forcing:
        # Teacher forcing: Feed the target as the next input
        for di in range(target_length):
            decoder_output, decoder_hidden, decoder_attention = decoder(
                decoder_input, decoder_hidden, encoder_outputs)
            loss += criterion(decoder_output, target_variable[di])
            decoder_input = target_variable[di]  # Teacher forcing

    else:
        # Without teacher forcing: use its own predictions as the next input
        for di in range(target_length):
            decoder_output, decoder_hidden, decoder_attention = decoder(
                decoder_input, decoder_hidden, encoder_outputs)
            topv, topi = decoder_output.data.topk(1)
            ni = topi[0][0]

            decoder_input = Variable(torch.LongTensor([[ni]]))
            decoder_input = decoder_input.cuda() if use_cuda else decoder_input

            loss += criterion(decoder_output, target_variable[di])
            if ni == EOS_token:
                break

    loss.backward()

    encoder_optimizer.step()
    decoder_optimizer.step()

    return loss.item() / target_length


def evaluate(encoder, decoder, input_lang, output_lang, sentence, max_length=MAX_LENGTH):
    input_variable = variableFromSentence(input_lang, sentence)
    input_length = input_variable.size()[0]
    encoder_hidden = encoder.initHidden()

    encoder_outputs = Variable(torch.zeros(max_length, encoder.hidden_size))

    for ei in range(input_length):
        encoder_output, encoder_hidden = encoder(input_variable[ei],
                                                 encoder_hidden)
        encoder_outputs[ei] = encoder_outputs[ei] + encoder_output[0][0]

    decoder_input = Variable(torch.LongTensor([[SOS_token]]))  # SOS

    decoder_hidden = encoder_hidden

    decoded_words = []
    decoder_attentions = torch.zeros(max_length, max_length)

    for di in range(max_length):
        decoder_output, decoder_hidden, decoder_attention = decoder(
            decoder_input, decoder_hidden, encoder_outputs)
        decoder_attentions[di] = decoder_attention.data
        topv, topi = decoder_output.data.topk(1)
        ni = topi[0][0].item()
        if ni == EOS_token:
            decoded_words.append("<EOS>")
            break
        else:
            decoded_words.append(output_lang.index2word[ni])

        decoder_input = Variable(torch.LongTensor([[ni]]))

    return decoded_words, decoder_attentions[:di + 1]


def make_models(input_lang, output_lang, hidden_size=16):
    """The two networks; dropout is the tutorial's layer with p=0 so that both runs draw nothing."""
    encoder = EncoderRNN(input_lang.n_words, hidden_size)
    decoder = AttnDecoderRNN(hidden_size, output_lang.n_words, dropout_p=0.0)
    return encoder, decoder


def trainIters(encoder, decoder, input_lang, output_lang, pairs, n_iters=80, learning_rate=0.1, seed=0,
               path=None):
    """The tutorial's loop: a random pair and a teacher-forcing coin per iteration (numpy, shared by both runs);
    per iteration the loss; then greedy translations with their attention matrices, the checkpoint round trip and
    the final parameters (numpy)."""
    rng = np.random.default_rng(seed)
    encoder_optimizer = optim.SGD(encoder.parameters(), lr=learning_rate)
    decoder_optimizer = optim.SGD(decoder.parameters(), lr=learning_rate)
    training_pairs = [variablesFromPair(input_lang, output_lang, pairs[i])
                      for i in rng.integers(0, len(pairs), n_iters)]
    criterion = nn.NLLLoss()
    out = {"loss": [], "forced": []}
    for iter in range(1, n_iters + 1):
        training_pair = training_pairs[iter - 1]
        input_variable = training_pair[0]
        target_variable = training_pair[1]
        use_teacher_forcing = True if rng.random() < teacher_forcing_ratio else False
        loss = train(input_variable, target_variable, encoder, decoder, encoder_optimizer, decoder_optimizer,
                     criterion, use_teacher_forcing)
        out["loss"].append(loss)
        out["forced"].append(use_teacher_forcing)
    out["old_item"] = old_loss_item(encoder, decoder, input_lang, output_lang, pairs[0], criterion)
    out["decoded"], out["attentions"] = [], []
    for pair in pairs[:5]:
        words, attentions = evaluate(encoder, decoder, input_lang, output_lang, pair[0])
        out["decoded"].append(" ".join(words))
        out["attentions"].append(attentions.numpy().copy())
    if path is not None:
        torch.save(encoder.state_dict(), path / "encoder.pt")
        torch.save(decoder.state_dict(), path / "decoder.pt")
        encoder2, decoder2 = make_models(input_lang, output_lang, encoder.hidden_size)
        encoder2.load_state_dict(torch.load(path / "encoder.pt"))
        decoder2.load_state_dict(torch.load(path / "decoder.pt"))
        words, attentions = evaluate(encoder2, decoder2, input_lang, output_lang, pairs[0][0])
        out["reloaded"] = (" ".join(words), attentions.numpy().copy())
    out["params"] = {("encoder." + k): v.detach().numpy().copy() for k, v in encoder.state_dict().items()}
    out["params"].update({("decoder." + k): v.detach().numpy().copy() for k, v in decoder.state_dict().items()})
    return out


def old_loss_item(encoder, decoder, input_lang, output_lang, pair, criterion):
    """The tutorial's ``loss.data[0]`` on a 0-d loss: an error since PyTorch 0.5; the message (class name) it gives."""
    _, target_variable = variablesFromPair(input_lang, output_lang, pair)
    with torch.no_grad():
        output, _, _ = decoder(Variable(torch.LongTensor([[SOS_token]])), encoder.initHidden(),
                               Variable(torch.zeros(MAX_LENGTH, encoder.hidden_size)))
        loss = criterion(output, target_variable[0])
    try:
        loss.data[0]
    except IndexError as error:
        return type(error).__name__
    return "no error"
