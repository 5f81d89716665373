"""PyTorch's "Advanced: Making Dynamic Decisions and the Bi-LSTM CRF" tutorial, as it is written: one sentence at a
time, the forward algorithm and Viterbi decoding by Python loops over tags with ``torch.cat`` of 1-element pieces,
SGD with weight decay, and the ``torch.no_grad()`` predictions before and after training. ``run`` trains on the
tutorial's two sentences or on synthetic ones over a larger tag set, and records the losses, Viterbi scores and
paths, and final parameters (the initial LSTM states are ``torch.randn`` draws, as there)."""

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


def argmax(vec):
    # return the argmax as a python int
    _, idx = torch.max(vec, 1)
    return idx.item()


def prepare_sequence(seq, to_ix):
    idxs = [to_ix[w] for w in seq]
    return torch.tensor(idxs, dtype=torch.long)


# Compute log sum exp in a numerically stable way for the forward algorithm
def log_sum_exp(vec):
    max_score = vec[0, argmax(vec)]
    max_score_broadcast = max_score.view(1, -1).expand(1, vec.size()[1])
    return max_score + \
        torch.log(torch.sum(torch.exp(vec - max_score_broadcast)))


START_TAG = "<START>"
STOP_TAG = "<STOP>"


class BiLSTM_CRF(nn.Module):  # noqa: N801 - the tutorial's name

    def __init__(self, vocab_size, tag_to_ix, embedding_dim, hidden_dim):
        super(BiLSTM_CRF, self).__init__()  # noqa: UP008 - the tutorial's spelling
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.vocab_size = vocab_size
        self.tag_to_ix = tag_to_ix
        self.tagset_size = len(tag_to_ix)

        self.word_embeds = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim // 2,
                            num_layers=1, bidirectional=True)

        # Maps the output of the LSTM into tag space.
        self.hidden2tag = nn.Linear(hidden_dim, self.tagset_size)

        # Matrix of transition parameters.  Entry i,j is the score of
        # transitioning *to* i *from* j.
        self.transitions = nn.Parameter(
            torch.randn(self.tagset_size, self.tagset_size))

        # These two statements enforce the constraint that we never transfer
        # to the start tag and we never transfer from the stop tag
        self.transitions.data[tag_to_ix[START_TAG], :] = -10000
        self.transitions.data[:, tag_to_ix[STOP_TAG]] = -10000

        self.hidden = self.init_hidden()

    def init_hidden(self):
        return (torch.randn(2, 1, self.hidden_dim // 2),
                torch.randn(2, 1, self.hidden_dim // 2))

    def _forward_alg(self, feats):
        # Do the forward algorithm to compute the partition function
        init_alphas = torch.full((1, self.tagset_size), -10000.)
        # START_TAG has all of the score.
        init_alphas[0][self.tag_to_ix[START_TAG]] = 0.

        # Wrap in a variable so that we will get automatic backprop
        forward_var = init_alphas

        # Iterate through the sentence
        for feat in feats:
            alphas_t = []  # The forward tensors at this timestep
            for next_tag in range(self.tagset_size):
                # broadcast the emission score: it is the same regardless of
                # the previous tag
                emit_score = feat[next_tag].view(
                    1, -1).expand(1, self.tagset_size)
                # the ith entry of trans_score is the score of transitioning to
                # next_tag from i
                trans_score = self.transitions[next_tag].view(1, -1)
                # The ith entry of next_tag_var is the value for the
                # edge (i -> next_tag) before we do log-sum-exp
                next_tag_var = forward_var + trans_score + emit_score
                # The forward variable for this tag is log-sum-exp of all the
                # scores.
                alphas_t.append(log_sum_exp(next_tag_var).view(1))
            forward_var = torch.cat(alphas_t).view(1, -1)
        terminal_var = forward_var + self.transitions[self.tag_to_ix[STOP_TAG]]
        alpha = log_sum_exp(terminal_var)
        return alpha

    def _get_lstm_features(self, sentence):
        self.hidden = self.init_hidden()
        embeds = self.word_embeds(sentence).view(len(sentence), 1, -1)
        lstm_out, self.hidden = self.lstm(embeds, self.hidden)
        lstm_out = lstm_out.view(len(sentence), self.hidden_dim)
        lstm_feats = self.hidden2tag(lstm_out)
        return lstm_feats

    def _score_sentence(self, feats, tags):
        # Gives the score of a provided tag sequence
        score = torch.zeros(1)
        tags = torch.cat([torch.tensor([self.tag_to_ix[START_TAG]], dtype=torch.long), tags])
        for i, feat in enumerate(feats):
            score = score + \
                self.transitions[tags[i + 1], tags[i]] + feat[tags[i + 1]]
        score = score + self.transitions[self.tag_to_ix[STOP_TAG], tags[-1]]
        return score

    def _viterbi_decode(self, feats):
        backpointers = []

        # Initialize the viterbi variables in log space
        init_vvars = torch.full((1, self.tagset_size), -10000.)
        init_vvars[0][self.tag_to_ix[START_TAG]] = 0

        # forward_var at step i holds the viterbi variables for step i-1
        forward_var = init_vvars
        for feat in feats:
            bptrs_t = []  # holds the backpointers for this step
            viterbivars_t = []  # holds the viterbi variables for this step

            for next_tag in range(self.tagset_size):
                # next_tag_var[i] holds the viterbi variable for tag i at the
                # previous step, plus the score of transitioning
                # from tag i to next_tag.
                # We don't include the emission scores here because the max
                # does not depend on them (we add them in below)
                next_tag_var = forward_var + self.transitions[next_tag]
                best_tag_id = argmax(next_tag_var)
                bptrs_t.append(best_tag_id)
                viterbivars_t.append(next_tag_var[0][best_tag_id].view(1))
            # Now add in the emission scores, and assign forward_var to the set
            # of viterbi variables we just computed
            forward_var = (torch.cat(viterbivars_t) + feat).view(1, -1)
            backpointers.append(bptrs_t)

        # Transition to STOP_TAG
        terminal_var = forward_var + self.transitions[self.tag_to_ix[STOP_TAG]]
        best_tag_id = argmax(terminal_var)
        path_score = terminal_var[0][best_tag_id]

        # Follow the back pointers to decode the best path.
        best_path = [best_tag_id]
        for bptrs_t in reversed(backpointers):
            best_tag_id = bptrs_t[best_tag_id]
            best_path.append(best_tag_id)
        # Pop off the start tag (we dont want to return that to the caller)
        start = best_path.pop()
        assert start == self.tag_to_ix[START_TAG]  # Sanity check
        best_path.reverse()
        return path_score, best_path

    def neg_log_likelihood(self, sentence, tags):
        feats = self._get_lstm_features(sentence)
        forward_score = self._forward_alg(feats)
        gold_score = self._score_sentence(feats, tags)
        return forward_score - gold_score

    def forward(self, sentence):  # dont confuse this with _forward_alg above.
        # Get the emission scores from the BiLSTM
        lstm_feats = self._get_lstm_features(sentence)

        # Find the best path, given the features
        score, tag_seq = self._viterbi_decode(lstm_feats)
        return score, tag_seq


EMBEDDING_DIM = 5
HIDDEN_DIM = 4

# Make up some training data
TUTORIAL_DATA = [(
    "the wall street journal reported today that apple corporation made money".split(),  # noqa: SIM905
    "B I I I O O O B I O O".split()  # noqa: SIM905
), (
    "georgia tech is a university in georgia".split(),  # noqa: SIM905
    "B I O O O O B".split()  # noqa: SIM905
)]
TUTORIAL_TAGS = {"B": 0, "I": 1, "O": 2, START_TAG: 3, STOP_TAG: 4}


def synthetic_data(n_sentences=4, n_words=12, n_tags=5, seed=0):
    """Sentences of 3-8 words ``w0..w{n_words-1}`` over tags ``T0..``, each word's tag fixed by the word."""
    rng = np.random.RandomState(seed)
    word_tag = rng.randint(0, n_tags, n_words)
    data = []
    for _ in range(n_sentences):
        words = rng.randint(0, n_words, rng.randint(3, 9))
        data.append(([f"w{w}" for w in words], [f"T{word_tag[w]}" for w in words]))
    tag_to_ix = {f"T{t}": t for t in range(n_tags)}
    tag_to_ix[START_TAG] = n_tags
    tag_to_ix[STOP_TAG] = n_tags + 1
    return data, tag_to_ix


def make_model(data=TUTORIAL_DATA, tag_to_ix=TUTORIAL_TAGS):
    word_to_ix = {}
    for sentence, _ in data:
        for word in sentence:
            if word not in word_to_ix:
                word_to_ix[word] = len(word_to_ix)
    model = BiLSTM_CRF(len(word_to_ix), tag_to_ix, EMBEDDING_DIM, HIDDEN_DIM)
    model.word_to_ix = word_to_ix
    return model


def run(model, data=TUTORIAL_DATA, epochs=3):
    """The tutorial's training: ``epochs`` passes of one-sentence SGD steps; the log holds each step's loss, the
    Viterbi (score, path) of every sentence before and after, and the final parameters."""
    word_to_ix, tag_to_ix = model.word_to_ix, model.tag_to_ix
    optimizer = optim.SGD(model.parameters(), lr=0.01, weight_decay=1e-4)
    log = {"loss": [], "score": [], "path": []}

    def check():
        with torch.no_grad():
            for sentence, _ in data:
                score, path = model(prepare_sequence(sentence, word_to_ix))
                log["score"].append(score.item())
                log["path"].append(path)

    # Check predictions before training
    with torch.no_grad():
        precheck_sent = prepare_sequence(data[0][0], word_to_ix)
        precheck_tags = torch.tensor([tag_to_ix[t] for t in data[0][1]], dtype=torch.long)
        log["precheck"] = model(precheck_sent)[1]
        log["precheck_nll"] = model.neg_log_likelihood(precheck_sent, precheck_tags).item()
    check()

    for epoch in range(epochs):  # noqa: B007 - the tutorial's loop
        for sentence, tags in data:
            # Step 1. Remember that Pytorch accumulates gradients.
            # We need to clear them out before each instance
            model.zero_grad()

            # Step 2. Get our inputs ready for the network, that is,
            # turn them into Tensors of word indices.
            sentence_in = prepare_sequence(sentence, word_to_ix)
            targets = torch.tensor([tag_to_ix[t] for t in tags], dtype=torch.long)

            # Step 3. Run our forward pass.
            loss = model.neg_log_likelihood(sentence_in, targets)

            # Step 4. Compute the loss, gradients, and update the parameters by
            # calling optimizer.step()
            loss.backward()
            optimizer.step()
            log["loss"].append(loss.item())

    # Check predictions after training
    check()
    log["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return log
