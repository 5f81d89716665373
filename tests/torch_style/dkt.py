"""Deep Knowledge Tracing (Piech et al. 2015) as its public PyTorch ports write it, at a tiny size on synthetic
students whose answers follow a per-skill mastery curve.

- jarviszhb-style ``DKT``: the (skill, correct) one-hot built in numpy (``onehot[i][skill + num_q * correct] = 1``),
  an ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN(tanh)`` with ``batch_first=True`` from a ``torch.zeros`` h0, Linear +
  ``nn.Sigmoid``; its ``lossFunc``: per student ``pred[:max_step - 1].mm(delta[1:].t())`` picked by ``gather(0,
  index)``, the answers from ``(... .sum(1) + 1) // 2``, the padded tail cut by the backward ``if p[i] > 0`` scan,
  ``nn.BCELoss`` summed over students, ``torch.cat`` of predictions and answers.
- chsong513-style ``DKTPacked``: ids to one-hot by ``torch.zeros`` + index assignment or ``F.one_hot``,
  ``pad_sequence`` of variable-length students, ``pack_padded_sequence(..., batch_first=True,
  enforce_sorted=False)``, ``pad_packed_sequence``, the next skill's logit by ``torch.gather(pred, 2,
  next_skill.unsqueeze(-1))``, a ``masked_select`` over the padded steps and ``nn.BCEWithLogitsLoss``.
- hcnoh-style ``DKTEmbed``: ``nn.Embedding(num_q * 2, emb)`` of ``q + num_q * r``, the collate_fn's float
  ``pad_sequence(padding_value=-1e3)`` with a ``bool * bool`` mask multiplied in, ``(y * one_hot(qshft.long(),
  num_q)).sum(-1)``, ``masked_select`` and ``F.binary_cross_entropy``.
- ``train`` / ``evaluate``: Adam, ``clip_grad_norm_``, AUC by sorting in numpy (trapezoids over the ROC) and
  accuracy at 0.5, and the log lines."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence


def make_students(n, num_q, max_len, seed):
    """Synthetic students: per-student ability, per-skill difficulty, mastery growing with practice."""
    rng = np.random.RandomState(seed)
    difficulty = rng.randn(num_q)
    students = []
    for _ in range(n):
        length = rng.randint(3, max_len + 1)
        ability = rng.randn()
        skills = rng.randint(0, num_q, size=length)
        practice = np.zeros(num_q)
        answers = []
        for s in skills:
            p = 1.0 / (1.0 + np.exp(-(ability - difficulty[s] + 0.8 * practice[s])))
            answers.append(int(rng.rand() < p))
            practice[s] += 1
        students.append((skills.astype(np.int64), np.array(answers, dtype=np.int64)))
    return students


def onehot(skills, answers, num_q, max_step):
    """DataReader/OneHot: a (max_step, 2 * num_q) array, correct answers in the second half."""
    result = np.zeros(shape=[max_step, 2 * num_q])
    for i in range(len(skills)):
        if answers[i] > 0:
            result[i][skills[i] + num_q] = 1
        else:
            result[i][skills[i]] = 1
    return result


class DKT(nn.Module):
    def __init__(self, input_dim, hidden_dim, layer_dim, output_dim, cell="LSTM"):
        super(DKT, self).__init__()  # noqa: UP008 - the ports' spelling
        self.hidden_dim = hidden_dim
        self.layer_dim = layer_dim
        self.output_dim = output_dim
        self.cell = cell
        if cell == "LSTM":
            self.rnn = nn.LSTM(input_dim, hidden_dim, layer_dim, batch_first=True)
        elif cell == "GRU":
            self.rnn = nn.GRU(input_dim, hidden_dim, layer_dim, batch_first=True)
        else:
            self.rnn = nn.RNN(input_dim, hidden_dim, layer_dim, batch_first=True, nonlinearity='tanh')
        self.fc = nn.Linear(self.hidden_dim, self.output_dim)
        self.sig = nn.Sigmoid()

    def forward(self, x):
        h0 = torch.zeros(self.layer_dim, x.size(0), self.hidden_dim)
        if self.cell == "LSTM":
            c0 = torch.zeros(self.layer_dim, x.size(0), self.hidden_dim)
            out, hn = self.rnn(x, (h0, c0))
        else:
            out, hn = self.rnn(x, h0)  # noqa: RUF059 - the ports' spelling
        res = self.sig(self.fc(out))
        return res


class lossFunc(nn.Module):  # noqa: N801 - the ports' name
    def __init__(self, num_of_questions, max_step):
        super(lossFunc, self).__init__()  # noqa: UP008
        self.crossEntropy = nn.BCELoss()
        self.num_of_questions = num_of_questions
        self.max_step = max_step

    def forward(self, pred, batch):
        loss = 0
        prediction = torch.tensor([])
        ground_truth = torch.tensor([])
        nq = self.num_of_questions
        for student in range(pred.shape[0]):
            delta = batch[student][:, 0:nq] + batch[student][:, nq:]
            temp = pred[student][:self.max_step - 1].mm(delta[1:].t())
            index = torch.LongTensor([[i for i in range(self.max_step - 1)]])
            p = temp.gather(0, index)[0]
            a = (((batch[student][:, 0:nq] - batch[student][:, nq:]).sum(1) + 1) // 2)[1:]
            for i in range(len(p) - 1, -1, -1):
                if p[i] > 0:
                    p = p[:i + 1]
                    a = a[:i + 1]
                    break
            loss += self.crossEntropy(p, a)
            prediction = torch.cat([prediction, p])
            ground_truth = torch.cat([ground_truth, a])
        return loss, prediction, ground_truth


class DKTPacked(nn.Module):
    """The padded / packed spelling: ids in, next-skill logits out."""
    def __init__(self, num_skills, hidden_size, num_layers=1, cell="LSTM", use_one_hot=False):
        super().__init__()
        self.num_skills = num_skills
        self.use_one_hot = use_one_hot
        rnn = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[cell]
        self.rnn = rnn(2 * num_skills, hidden_size, num_layers, batch_first=True)
        self.out = nn.Linear(hidden_size, num_skills)

    def encode(self, skills, corrects):
        interaction = skills + self.num_skills * corrects
        if self.use_one_hot:
            return F.one_hot(interaction, num_classes=2 * self.num_skills).float()
        x = torch.zeros(interaction.size(0), interaction.size(1), 2 * self.num_skills)
        b = torch.arange(interaction.size(0)).unsqueeze(1).expand_as(interaction)
        t = torch.arange(interaction.size(1)).unsqueeze(0).expand_as(interaction)
        x[b, t, interaction] = 1
        return x

    def forward(self, skills, corrects, lengths):
        x = self.encode(skills, corrects)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=skills.size(1))
        return self.out(out)


class DKTEmbed(nn.Module):
    """hcnoh's knowledge-tracing-collection spelling: an Embedding of ``q + num_q * r``, LSTM, Linear, dropout."""
    def __init__(self, num_q, emb_size, hidden_size, dropout=0.0):
        super().__init__()
        self.num_q = num_q
        self.interaction_emb = nn.Embedding(self.num_q * 2, emb_size)
        self.lstm_layer = nn.LSTM(emb_size, hidden_size, batch_first=True)
        self.out_layer = nn.Linear(hidden_size, self.num_q)
        self.dropout_layer = nn.Dropout(dropout)

    def forward(self, q, r):
        x = q + self.num_q * r
        h, _ = self.lstm_layer(self.interaction_emb(x))
        y = self.out_layer(h)
        y = self.dropout_layer(y)
        y = torch.sigmoid(y)
        return y


def collate_fn(batch, pad_val=-1e3):
    """Float sequences padded with ``pad_val``; the mask keeps steps where both now and next are real."""
    q_seqs, r_seqs, qshft_seqs, rshft_seqs = [], [], [], []
    for q_seq, r_seq in batch:
        q_seqs.append(torch.FloatTensor(q_seq[:-1]))
        r_seqs.append(torch.FloatTensor(r_seq[:-1]))
        qshft_seqs.append(torch.FloatTensor(q_seq[1:]))
        rshft_seqs.append(torch.FloatTensor(r_seq[1:]))
    q_seqs = pad_sequence(q_seqs, batch_first=True, padding_value=pad_val)
    r_seqs = pad_sequence(r_seqs, batch_first=True, padding_value=pad_val)
    qshft_seqs = pad_sequence(qshft_seqs, batch_first=True, padding_value=pad_val)
    rshft_seqs = pad_sequence(rshft_seqs, batch_first=True, padding_value=pad_val)
    mask_seqs = (q_seqs != pad_val) * (qshft_seqs != pad_val)
    q_seqs, r_seqs, qshft_seqs, rshft_seqs = \
        q_seqs * mask_seqs, r_seqs * mask_seqs, qshft_seqs * mask_seqs, rshft_seqs * mask_seqs
    return q_seqs, r_seqs, qshft_seqs, rshft_seqs, mask_seqs


def embed_loss(model, students):
    q, r, qshft, rshft, m = collate_fn(students)
    y = model(q.long(), r.long())
    y = (y * F.one_hot(qshft.long(), model.num_q)).sum(-1)
    y = torch.masked_select(y, m)
    t = torch.masked_select(rshft, m)
    return F.binary_cross_entropy(y, t), y, t


def packed_batch(students):
    """pad_sequence over the students; the inputs are steps [:-1], the targets steps [1:]."""
    skills = pad_sequence([torch.from_numpy(s) for s, _ in students], batch_first=True)
    corrects = pad_sequence([torch.from_numpy(a) for _, a in students], batch_first=True)
    lengths = torch.tensor([len(s) - 1 for s, _ in students])
    mask = torch.arange(skills.size(1) - 1).unsqueeze(0) < lengths.unsqueeze(1)
    return skills[:, :-1], corrects[:, :-1], skills[:, 1:], corrects[:, 1:], lengths, mask


def packed_loss(model, criterion, students, pick="gather"):
    skills, corrects, next_skill, next_correct, lengths, mask = packed_batch(students)
    logits = model(skills, corrects, lengths)
    if pick == "gather":
        pred = torch.gather(logits, 2, next_skill.unsqueeze(-1)).squeeze(-1)
    else:
        pred = (logits * F.one_hot(next_skill, model.num_skills).float()).sum(-1)
    pred = torch.masked_select(pred, mask)
    truth = torch.masked_select(next_correct, mask).float()
    return criterion(pred, truth), torch.sigmoid(pred), truth


def auc(truth, score):
    """ROC AUC by sorting the scores (ties taken as a group), trapezoids over the ROC curve."""
    truth = np.asarray(truth, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(-score, kind="mergesort")
    score, truth = score[order], truth[order]
    distinct = np.where(np.diff(score))[0]
    ends = np.r_[distinct, truth.size - 1]
    tps = np.cumsum(truth)[ends]
    fps = 1 + ends - tps
    tpr = np.r_[0, tps] / tps[-1]
    fpr = np.r_[0, fps] / fps[-1]
    return float(np.trapezoid(tpr, fpr) if hasattr(np, "trapezoid") else np.trapz(tpr, fpr))


def accuracy(truth, score):
    return float(np.mean((np.asarray(score) >= 0.5) == (np.asarray(truth) >= 0.5)))


def train(model, students, epochs, batch_size, lr, num_q, max_step, style="onehot", pick="gather", clip=5.0,
          order_seed=0):
    """Adam over minibatches in a numpy order, clip_grad_norm_, per-epoch AUC / accuracy log lines."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = lossFunc(num_q, max_step) if style == "onehot" else nn.BCEWithLogitsLoss()
    out = {"loss": [], "grad_norm": [], "auc": [], "acc": [], "lines": [], "params": [], "scores": []}
    rng = np.random.RandomState(order_seed)
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(students))
        preds, truths = [], []
        for start in range(0, len(students), batch_size):
            chunk = [students[i] for i in order[start:start + batch_size]]
            if style == "onehot":
                batch = torch.FloatTensor(np.array([onehot(s, a, num_q, max_step) for s, a in chunk]))
                pred = model(batch)
                loss, p, a = criterion(pred, batch)
            elif style == "embed":
                loss, p, a = embed_loss(model, chunk)
            else:
                loss, p, a = packed_loss(model, criterion, chunk, pick)
            optimizer.zero_grad()
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            out["loss"].append(loss.item())
            out["grad_norm"].append(float(norm))
            out["params"].append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
            preds.append(p.detach().numpy())
            truths.append(a.detach().numpy())
        score, truth = np.concatenate(preds), np.concatenate(truths)
        out["scores"].append(score)
        out["auc"].append(auc(truth, score))
        out["acc"].append(accuracy(truth, score))
        out["lines"].append('epoch: %d, loss: %.3f, auc: %.3f, acc: %.3f'  # noqa: UP031 - the ports' spelling
                            % (epoch, out["loss"][-1], out["auc"][-1], out["acc"][-1]))
    return out


def evaluate(model, students, num_q, max_step, style="onehot", pick="gather"):
    model.eval()
    with torch.no_grad():
        if style == "onehot":
            batch = torch.FloatTensor(np.array([onehot(s, a, num_q, max_step) for s, a in students]))
            loss, p, a = lossFunc(num_q, max_step)(model(batch), batch)
        elif style == "embed":
            loss, p, a = embed_loss(model, students)
        else:
            loss, p, a = packed_loss(model, nn.BCEWithLogitsLoss(), students, pick)
    score, truth = p.numpy(), a.numpy()
    return {"loss": loss.item(), "pred": score, "auc": auc(truth, score), "acc": accuracy(truth, score)}


def save_and_reload(model, new_model, path):
    """torch.save of the state_dict, torch.load into a freshly built model."""
    torch.save(model.state_dict(), path)
    new_model.load_state_dict(torch.load(path))
    return new_model
