"""yunjey's pytorch-tutorial "image_captioning" (model.py, build_vocab.py's Vocabulary, data_loader.py's dataset and
collate_fn, train.py, sample.py), written as that repository writes it, at a tiny size: a small CNN in place of the
pretrained ResNet-152 and synthetic 3x8x8 images whose captions name their colour, their shape and where it sits.

- ``EncoderCNN``: the backbone's children but the last (``list(resnet.children())[:-1]`` into ``nn.Sequential``)
  under ``torch.no_grad()``, ``features.reshape(features.size(0), -1)``, ``self.bn(self.linear(features))`` with
  ``nn.BatchNorm1d(embed_size, momentum=0.01)``; as in the repository the model is never put in ``train()`` /
  ``eval()`` by train.py (so the backbone's BatchNorm keeps updating its running stats under no_grad).
- ``DecoderRNN``: the image feature prepended to the embedded caption, ``pack_padded_sequence`` (sorted batch), an
  LSTM over the packed sequence, ``self.linear(hiddens[0])``; ``sample`` is the greedy loop with ``states``.
- ``DecoderRNNUnsorted``: the same decoder over an unsorted batch (``enforce_sorted=False``), its outputs padded back
  by ``pad_packed_sequence`` and the loss ``CrossEntropyLoss(ignore_index=<pad>)`` over the padded grid.
- ``train`` / ``sample``: train.py's loop (Adam over the decoder and the encoder's linear + bn, the log line with
  ``np.exp(loss.item())``, ``torch.save`` of both state dicts) and sample.py (``load_state_dict(torch.load(...))``,
  ids to words until ``'<end>'``)."""

import os
from collections import Counter

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.data import DataLoader, Dataset

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
COLOURS = ["red", "green", "blue"]


class Vocabulary(object):  # noqa: UP004 - the repository's spelling
    """Simple vocabulary wrapper."""
    def __init__(self):
        self.word2idx = {}
        self.idx2word = {}
        self.idx = 0

    def add_word(self, word):
        if not word in self.word2idx:  # noqa: E713 - the repository's spelling
            self.word2idx[word] = self.idx
            self.idx2word[self.idx] = word
            self.idx += 1

    def __call__(self, word):
        if not word in self.word2idx:  # noqa: E713
            return self.word2idx['<unk>']
        return self.word2idx[word]

    def __len__(self):
        return len(self.word2idx)


def build_vocab(captions, threshold):
    """build_vocab.py: the special tokens, then every word seen at least ``threshold`` times."""
    counter = Counter()
    for caption in captions:
        counter.update(caption.lower().split())
    words = [word for word, cnt in counter.items() if cnt >= threshold]
    vocab = Vocabulary()
    for special in ('<pad>', '<start>', '<end>', '<unk>'):
        vocab.add_word(special)
    for word in words:
        vocab.add_word(word)
    return vocab


def make_images(n, seed):
    """n images (n, 3, 8, 8) float32 and their captions: a bright square or bar of one colour, top or bottom;
    the caption's length depends on the picture ("a red square" / "a big red bar at the top" ...)."""
    rng = np.random.default_rng(seed)
    images = 0.1 * rng.standard_normal((n, 3, 8, 8)).astype(np.float32)
    captions = []
    for i in range(n):
        colour, top, bar, big = rng.integers(0, 3), rng.integers(0, 2), rng.integers(0, 2), rng.integers(0, 2)
        rows = slice(0, 4) if top else slice(4, 8)
        cols = slice(0, 8) if bar else slice(2, 6)
        images[i, colour, rows, cols] += 2.0 if big else 1.0
        words = ["a"] + (["big"] if big else []) + [COLOURS[colour], "bar" if bar else "square"]
        captions.append(" ".join(words + (["at", "the", "top"] if top else [])))
    return images, captions


class CaptionDataset(Dataset):
    """data_loader.py's CocoDataset over in-memory images: (image, caption as ``torch.Tensor`` of word ids)."""
    def __init__(self, images, captions, vocab):
        self.images = images
        self.captions = captions
        self.vocab = vocab

    def __getitem__(self, index):
        vocab = self.vocab
        image = torch.from_numpy((self.images[index] - 0.5) / 0.5)
        tokens = str(self.captions[index]).lower().split()
        caption = []
        caption.append(vocab('<start>'))
        caption.extend([vocab(token) for token in tokens])
        caption.append(vocab('<end>'))
        target = torch.Tensor(caption)
        return image, target

    def __len__(self):
        return len(self.captions)


def collate_fn(data):
    """Creates mini-batch tensors from the list of tuples (image, caption), sorted by caption length."""
    data.sort(key=lambda x: len(x[1]), reverse=True)
    images, captions = zip(*data)
    images = torch.stack(images, 0)
    lengths = [len(cap) for cap in captions]
    targets = torch.zeros(len(captions), max(lengths)).long()
    for i, cap in enumerate(captions):
        end = lengths[i]
        targets[i, :end] = cap[:end]
    return images, targets, lengths


def collate_unsorted(data):
    """collate_fn without the sort, for ``DecoderRNNUnsorted`` (lengths as a tensor)."""
    images, captions = zip(*data)
    lengths = torch.tensor([len(cap) for cap in captions])
    targets = torch.zeros(len(captions), int(lengths.max())).long()
    for i, cap in enumerate(captions):
        targets[i, :len(cap)] = cap
    return torch.stack(images, 0), targets, lengths


def get_loader(images, captions, vocab, order, batch_size, collate=collate_fn):
    """The DataLoader over the dataset, in the given (numpy-drawn) order of indices."""
    return DataLoader(dataset=CaptionDataset(images, captions, vocab), batch_size=batch_size, sampler=order,
                      collate_fn=collate)


class TinyResNet(nn.Module):
    """Stands in for torchvision's resnet152: the same children layout, ``fc`` last."""
    def __init__(self, width=8):
        super(TinyResNet, self).__init__()  # noqa: UP008
        self.conv1 = nn.Conv2d(3, width, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.avgpool = nn.AdaptiveAvgPool2d((2, 1))
        self.fc = nn.Linear(4 * width, 10)

    def forward(self, x):
        x = self.layer1(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class EncoderCNN(nn.Module):
    def __init__(self, embed_size):
        """Load the (tiny) backbone and replace top fc layer."""
        super(EncoderCNN, self).__init__()  # noqa: UP008
        resnet = TinyResNet()
        modules = list(resnet.children())[:-1]      # delete the last fc layer.
        self.resnet = nn.Sequential(*modules)
        self.linear = nn.Linear(resnet.fc.in_features, embed_size)
        self.bn = nn.BatchNorm1d(embed_size, momentum=0.01)

    def forward(self, images):
        """Extract feature vectors from input images."""
        with torch.no_grad():
            features = self.resnet(images)
        features = features.reshape(features.size(0), -1)
        features = self.bn(self.linear(features))
        return features


class DecoderRNN(nn.Module):
    def __init__(self, embed_size, hidden_size, vocab_size, num_layers, max_seq_length=20):
        """Set the hyper-parameters and build the layers."""
        super(DecoderRNN, self).__init__()  # noqa: UP008
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_size, vocab_size)
        self.max_seg_length = max_seq_length

    def forward(self, features, captions, lengths):
        """Decode image feature vectors and generates captions."""
        embeddings = self.embed(captions)
        embeddings = torch.cat((features.unsqueeze(1), embeddings), 1)
        packed = pack_padded_sequence(embeddings, lengths, batch_first=True)
        hiddens, _ = self.lstm(packed)
        outputs = self.linear(hiddens[0])
        return outputs

    def sample(self, features, states=None):
        """Generate captions for given image features using greedy search."""
        sampled_ids = []
        inputs = features.unsqueeze(1)
        for i in range(self.max_seg_length):  # noqa: B007
            hiddens, states = self.lstm(inputs, states)          # hiddens: (batch_size, 1, hidden_size)
            outputs = self.linear(hiddens.squeeze(1))            # outputs:  (batch_size, vocab_size)
            _, predicted = outputs.max(1)                        # predicted: (batch_size)
            sampled_ids.append(predicted)
            inputs = self.embed(predicted)                       # inputs: (batch_size, embed_size)
            inputs = inputs.unsqueeze(1)                         # inputs: (batch_size, 1, embed_size)
        sampled_ids = torch.stack(sampled_ids, 1)                # sampled_ids: (batch_size, max_seq_length)
        return sampled_ids


class DecoderRNNUnsorted(DecoderRNN):
    """The decoder over an unsorted batch: packed with ``enforce_sorted=False``, padded back (B, T, vocab)."""
    def forward(self, features, captions, lengths):
        embeddings = torch.cat((features.unsqueeze(1), self.embed(captions)), 1)
        packed = pack_padded_sequence(embeddings, lengths, batch_first=True, enforce_sorted=False)
        hiddens, _ = self.lstm(packed)
        padded, out_lengths = pad_packed_sequence(hiddens, batch_first=True, total_length=captions.size(1))
        assert out_lengths.tolist() == lengths.tolist()
        return self.linear(padded)


def train(encoder, decoder, data_loader, num_epochs, learning_rate=1e-2, log_step=2, save_step=None,
          model_path=None, pad=0):
    """train.py's loop; a padded decoder (``DecoderRNNUnsorted``) gets the loss over its padded grid instead."""
    padded = isinstance(decoder, DecoderRNNUnsorted)
    criterion = nn.CrossEntropyLoss(ignore_index=pad) if padded else nn.CrossEntropyLoss()
    params = list(decoder.parameters()) + list(encoder.linear.parameters()) + list(encoder.bn.parameters())
    optimizer = torch.optim.Adam(params, lr=learning_rate)
    total_step = len(data_loader)
    out = {"loss": [], "perplexity": [], "lines": [], "grad_norm": []}
    for epoch in range(num_epochs):
        for i, (images, captions, lengths) in enumerate(data_loader):
            images = images.to(device)
            captions = captions.to(device)
            features = encoder(images)
            outputs = decoder(features, captions, lengths)
            if padded:
                loss = criterion(outputs.reshape(-1, outputs.size(2)), captions.reshape(-1))
            else:
                targets = pack_padded_sequence(captions, lengths, batch_first=True)[0]
                loss = criterion(outputs, targets)
            decoder.zero_grad()
            encoder.zero_grad()
            loss.backward()
            out["grad_norm"].append(torch.norm(torch.stack([p.grad.norm() for p in params])).item())
            optimizer.step()
            out["loss"].append(loss.item())
            out["perplexity"].append(np.exp(loss.item()))
            if i % log_step == 0:
                line = 'Epoch [{}/{}], Step [{}/{}], Loss: {:.4f}, Perplexity: {:5.4f}'.format(  # noqa: UP032
                    epoch, num_epochs, i, total_step, loss.item(), np.exp(loss.item()))
                print(line)
                out["lines"].append(line)
            if save_step and (i + 1) % save_step == 0:
                name = '{}-{}-{}.ckpt'
                torch.save(decoder.state_dict(), os.path.join(model_path, name.format('decoder', epoch + 1, i + 1)))
                torch.save(encoder.state_dict(), os.path.join(model_path, name.format('encoder', epoch + 1, i + 1)))
    return out


def sample(image, vocab, encoder_path, decoder_path, embed_size, hidden_size, num_layers,
           decoder_class=DecoderRNN):
    """sample.py: fresh models loaded from the checkpoints, the encoder in eval mode, one image (3, 8, 8) in."""
    encoder = EncoderCNN(embed_size).eval()  # eval mode (batchnorm uses moving mean/variance)
    decoder = decoder_class(embed_size, hidden_size, len(vocab), num_layers)
    encoder = encoder.to(device)
    decoder = decoder.to(device)
    encoder.load_state_dict(torch.load(encoder_path))
    decoder.load_state_dict(torch.load(decoder_path))
    image_tensor = torch.from_numpy((image[None] - 0.5) / 0.5).to(device)
    feature = encoder(image_tensor)
    sampled_ids = decoder.sample(feature)
    sampled_ids = sampled_ids[0].cpu().numpy()          # (1, max_seq_length) -> (max_seq_length)
    sampled_caption = []
    for word_id in sampled_ids:
        word = vocab.idx2word[word_id]
        sampled_caption.append(word)
        if word == '<end>':
            break
    sentence = ' '.join(sampled_caption)
    return sentence
