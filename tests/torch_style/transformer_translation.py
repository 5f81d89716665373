"""A translation model written as ordinary PyTorch code after the "Language Translation with nn.Transformer and
torchtext" tutorial, without torchtext: special symbols and a vocabulary from token counts, ``sequential_transforms``
/ ``tensor_transform`` adding BOS / EOS, a ``collate_fn`` padding with ``pad_sequence``, the ``Seq2SeqTransformer``
(nn.Transformer, a TokenEmbedding scaled by sqrt(emb_size), a PositionalEncoding buffer made with ``torch.exp`` /
``sin`` / ``cos``), the tutorial's ``generate_square_subsequent_mask`` and ``create_mask`` (bool source mask, float
-inf target mask, padding masks by ``(src == PAD_IDX).transpose(0, 1)``), xavier_uniform_ on every matrix,
CrossEntropyLoss(ignore_index=PAD_IDX, label_smoothing=...), Adam(betas=(0.9, 0.98), eps=1e-9), ``train_epoch`` /
``evaluate``, and ``greedy_decode`` / ``translate`` under ``torch.no_grad`` or ``torch.inference_mode``. A second
spelling is batch-first with ``norm_first=True``, gelu, ``nn.Transformer.generate_square_subsequent_mask`` and
bool padding masks. The harness runs it on torch and, with the imports swapped, on ours."""

import math
from collections import Counter

import torch
import torch.nn as nn
from torch import Tensor
from torch.nn import Transformer
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# Define special symbols and indices
UNK_IDX, PAD_IDX, BOS_IDX, EOS_IDX = 0, 1, 2, 3
# Make sure the tokens are in order of their indices to properly insert them in vocab
special_symbols = ["<unk>", "<pad>", "<bos>", "<eos>"]


def tokenize(text):
    return text.split()


class Vocab:
    def __init__(self, counter):
        self.itos = special_symbols + sorted(counter, key=lambda t: (-counter[t], t))
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def __call__(self, tokens):
        return [self.stoi.get(t, UNK_IDX) for t in tokens]

    def lookup_tokens(self, indices):
        return [self.itos[i] for i in indices]


def build_vocab(texts):
    counter = Counter()
    for text in texts:
        counter.update(tokenize(text))
    return Vocab(counter)


# helper function to club together sequential operations
def sequential_transforms(*transforms):
    def func(txt_input):
        for transform in transforms:
            txt_input = transform(txt_input)
        return txt_input
    return func


# function to add BOS/EOS and create tensor for input sequence indices
def tensor_transform(token_ids):
    return torch.cat((torch.tensor([BOS_IDX]),
                      torch.tensor(token_ids),
                      torch.tensor([EOS_IDX])))


# helper Module that adds positional encoding to the token embedding to introduce a notion of word order.
class PositionalEncoding(nn.Module):
    def __init__(self, emb_size, dropout, maxlen=5000, batch_first=False):
        super().__init__()
        den = torch.exp(- torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pos_embedding = torch.zeros((maxlen, emb_size))
        pos_embedding[:, 0::2] = torch.sin(pos * den)
        pos_embedding[:, 1::2] = torch.cos(pos * den)
        pos_embedding = pos_embedding.unsqueeze(0 if batch_first else -2)
        self.batch_first = batch_first
        self.dropout = nn.Dropout(dropout)
        self.register_buffer('pos_embedding', pos_embedding)

    def forward(self, token_embedding: Tensor):
        if self.batch_first:
            return self.dropout(token_embedding + self.pos_embedding[:, :token_embedding.size(1), :])
        return self.dropout(token_embedding + self.pos_embedding[:token_embedding.size(0), :])


# helper Module to convert tensor of input indices into corresponding tensor of token embeddings
class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size: int, emb_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.emb_size = emb_size

    def forward(self, tokens: Tensor):
        return self.embedding(tokens.long()) * math.sqrt(self.emb_size)


# Seq2Seq Network
class Seq2SeqTransformer(nn.Module):
    def __init__(self, num_encoder_layers: int, num_decoder_layers: int, emb_size: int, nhead: int,
                 src_vocab_size: int, tgt_vocab_size: int, dim_feedforward: int = 512, dropout: float = 0.1,
                 batch_first: bool = False, norm_first: bool = False, activation: str = "relu"):
        super().__init__()
        self.transformer = Transformer(d_model=emb_size, nhead=nhead, num_encoder_layers=num_encoder_layers,
                                       num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
                                       dropout=dropout, batch_first=batch_first, norm_first=norm_first,
                                       activation=activation)
        self.generator = nn.Linear(emb_size, tgt_vocab_size)
        self.src_tok_emb = TokenEmbedding(src_vocab_size, emb_size)
        self.tgt_tok_emb = TokenEmbedding(tgt_vocab_size, emb_size)
        self.positional_encoding = PositionalEncoding(emb_size, dropout=dropout, batch_first=batch_first)

    def forward(self, src: Tensor, trg: Tensor, src_mask: Tensor, tgt_mask: Tensor, src_padding_mask: Tensor,
                tgt_padding_mask: Tensor, memory_key_padding_mask: Tensor):
        src_emb = self.positional_encoding(self.src_tok_emb(src))
        tgt_emb = self.positional_encoding(self.tgt_tok_emb(trg))
        outs = self.transformer(src_emb, tgt_emb, src_mask, tgt_mask, None,
                                src_padding_mask, tgt_padding_mask, memory_key_padding_mask)
        return self.generator(outs)

    def encode(self, src: Tensor, src_mask: Tensor, src_padding_mask=None):
        return self.transformer.encoder(self.positional_encoding(self.src_tok_emb(src)), src_mask,
                                        src_key_padding_mask=src_padding_mask)

    def decode(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor, memory_key_padding_mask=None):
        return self.transformer.decoder(self.positional_encoding(self.tgt_tok_emb(tgt)), memory, tgt_mask,
                                        memory_key_padding_mask=memory_key_padding_mask)


def generate_square_subsequent_mask(sz):
    mask = (torch.triu(torch.ones((sz, sz), device=DEVICE)) == 1).transpose(0, 1)
    mask = mask.float().masked_fill(mask == 0, float('-inf')).masked_fill(mask == 1, float(0.0))  # noqa: UP018
    return mask


def create_mask(src, tgt):
    src_seq_len = src.shape[0]
    tgt_seq_len = tgt.shape[0]

    tgt_mask = generate_square_subsequent_mask(tgt_seq_len)
    src_mask = torch.zeros((src_seq_len, src_seq_len), device=DEVICE).type(torch.bool)

    src_padding_mask = (src == PAD_IDX).transpose(0, 1)
    tgt_padding_mask = (tgt == PAD_IDX).transpose(0, 1)
    return src_mask, tgt_mask, src_padding_mask, tgt_padding_mask


def create_mask_batch_first(src, tgt):
    """The batch-first spelling: nn.Transformer's static causal mask, no source mask, bool padding masks."""
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt.size(1), device=DEVICE)
    return None, tgt_mask, src == PAD_IDX, tgt == PAD_IDX


class Translator:
    """The tutorial's module-level state (vocabularies, transforms, model, loss) in one object."""

    def __init__(self, pairs, model, batch_first=False, label_smoothing=0.0, lr=0.0001):
        self.src_vocab = build_vocab(src for src, _ in pairs)
        self.tgt_vocab = build_vocab(tgt for _, tgt in pairs)
        self.text_transform = {
            "src": sequential_transforms(tokenize, self.src_vocab, tensor_transform),
            "tgt": sequential_transforms(tokenize, self.tgt_vocab, tensor_transform),
        }
        self.model = model.to(DEVICE)
        self.batch_first = batch_first
        self.loss_fn = torch.nn.CrossEntropyLoss(ignore_index=PAD_IDX, label_smoothing=label_smoothing)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)

    # function to collate data samples into batch tensors
    def collate_fn(self, batch):
        src_batch, tgt_batch = [], []
        for src_sample, tgt_sample in batch:
            src_batch.append(self.text_transform["src"](src_sample.rstrip("\n")))
            tgt_batch.append(self.text_transform["tgt"](tgt_sample.rstrip("\n")))

        src_batch = pad_sequence(src_batch, padding_value=PAD_IDX, batch_first=self.batch_first)
        tgt_batch = pad_sequence(tgt_batch, padding_value=PAD_IDX, batch_first=self.batch_first)
        return src_batch, tgt_batch

    def step_loss(self, src, tgt):
        if self.batch_first:
            tgt_input = tgt[:, :-1]
            src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = create_mask_batch_first(src, tgt_input)
            tgt_out = tgt[:, 1:]
        else:
            tgt_input = tgt[:-1, :]
            src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = create_mask(src, tgt_input)
            tgt_out = tgt[1:, :]
        logits = self.model(src, tgt_input, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask,
                            src_padding_mask)
        return self.loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))

    def train_epoch(self, train_iter, batch_size, sampler, history):
        self.model.train()
        losses = 0
        train_dataloader = DataLoader(train_iter, batch_size=batch_size, sampler=sampler,
                                      collate_fn=self.collate_fn)

        for src, tgt in train_dataloader:
            src = src.to(DEVICE)
            tgt = tgt.to(DEVICE)
            loss = self.step_loss(src, tgt)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            losses += loss.item()
            history["loss"].append(loss.item())

        return losses / len(list(train_dataloader))

    def evaluate(self, val_iter, batch_size):
        self.model.eval()
        losses = 0
        val_dataloader = DataLoader(val_iter, batch_size=batch_size, collate_fn=self.collate_fn)
        with torch.no_grad():
            for src, tgt in val_dataloader:
                losses += self.step_loss(src.to(DEVICE), tgt.to(DEVICE)).item()
        return losses / len(list(val_dataloader))

    # function to generate output sequence using greedy algorithm
    def greedy_decode(self, src, src_mask, max_len, start_symbol):
        src = src.to(DEVICE)
        src_mask = src_mask.to(DEVICE)

        memory = self.model.encode(src, src_mask)
        ys = torch.ones(1, 1).fill_(start_symbol).type(torch.long).to(DEVICE)
        for i in range(max_len - 1):  # noqa: B007 - the tutorial's loop
            memory = memory.to(DEVICE)
            tgt_mask = (generate_square_subsequent_mask(ys.size(0))
                        .type(torch.bool)).to(DEVICE)
            out = self.model.decode(ys, memory, tgt_mask)
            out = out.transpose(0, 1)
            prob = self.model.generator(out[:, -1])
            _, next_word = torch.max(prob, dim=1)
            next_word = next_word.item()

            ys = torch.cat([ys,
                            torch.ones(1, 1).type_as(src.data).fill_(next_word)], dim=0)
            if next_word == EOS_IDX:
                break
        return ys

    def greedy_decode_batch_first(self, src, max_len, start_symbol):
        """Batch-first, a whole batch at once under inference_mode, each row stopping at its EOS."""
        with torch.inference_mode():
            src_padding_mask = src == PAD_IDX
            memory = self.model.encode(src, None, src_padding_mask)
            ys = torch.full((src.size(0), 1), start_symbol, dtype=torch.long, device=DEVICE)
            done = torch.zeros(src.size(0), dtype=torch.bool, device=DEVICE)
            for _ in range(max_len - 1):
                tgt_mask = nn.Transformer.generate_square_subsequent_mask(ys.size(1), device=DEVICE)
                out = self.model.decode(ys, memory, tgt_mask, memory_key_padding_mask=src_padding_mask)
                next_word = self.model.generator(out[:, -1]).argmax(dim=-1)
                next_word = torch.where(done, torch.full_like(next_word, PAD_IDX), next_word)
                ys = torch.cat([ys, next_word.unsqueeze(1)], dim=1)
                done |= next_word == EOS_IDX
                if done.all():
                    break
        return ys

    # actual function to translate input sentence into target language
    def translate(self, src_sentence: str):
        self.model.eval()
        src = self.text_transform["src"](src_sentence).view(-1, 1)
        num_tokens = src.shape[0]
        src_mask = (torch.zeros(num_tokens, num_tokens)).type(torch.bool)
        with torch.no_grad():
            tgt_tokens = self.greedy_decode(
                src, src_mask, max_len=num_tokens + 5, start_symbol=BOS_IDX).flatten()
        return " ".join(self.tgt_vocab.lookup_tokens(list(tgt_tokens.cpu().numpy()))).replace(
            "<bos>", "").replace("<eos>", "")

    def translate_batch(self, sentences):
        self.model.eval()
        src = pad_sequence([self.text_transform["src"](s) for s in sentences], padding_value=PAD_IDX,
                           batch_first=True)
        rows = self.greedy_decode_batch_first(src.to(DEVICE), src.size(1) + 5, BOS_IDX).tolist()
        out = []
        for row in rows:
            words = [w for w in self.tgt_vocab.lookup_tokens(row) if w not in ("<bos>", "<pad>")]
            out.append(" ".join(words[:words.index("<eos>")] if "<eos>" in words else words))
        return out


def init_params(model):
    for p in model.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)


def run(translator, train_pairs, val_pairs, test_sentences, orders, batch_size=8):
    history = {"loss": [], "train": [], "val": []}
    for order in orders:
        history["train"].append(translator.train_epoch(train_pairs, batch_size, order, history))
        history["val"].append(translator.evaluate(val_pairs, batch_size))
    if translator.batch_first:
        history["translations"] = translator.translate_batch(test_sentences)
    else:
        history["translations"] = [translator.translate(s) for s in test_sentences]
    return history
