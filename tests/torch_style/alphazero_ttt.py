"""AlphaZero on tic-tac-toe, the way the many small "alpha-zero-general"-style PyTorch re-implementations write it,
at a tiny size.

- ``TicTacToe``: a plain Python / numpy game (a 3x3 board of +1 / -1 / 0, the player to move, legal moves, the
  winner), and ``encode``: the board from the mover's side as three planes (own stones, the opponent's, ones).
- ``PolicyValueNet``: a Conv2d + BatchNorm2d stem, residual blocks (two conv-BN layers with the skip added before the
  last ReLU), a policy head (1x1 conv, BN, ReLU, flatten, Linear to 9 logits) and a value head (1x1 conv, BN, ReLU,
  Linear, ReLU, Linear, tanh).
- ``predict``: the net in eval mode under ``torch.no_grad()``; illegal moves ``masked_fill``ed with ``-inf`` before
  the softmax.
- ``MCTS``: PUCT search (Q + c * P * sqrt(N) / (1 + n)), Dirichlet noise mixed into the root priors, values backed
  up with the sign flipped each ply, visit counts to a policy with a temperature.
- ``self_play``: games whose moves are drawn from the visit-count policy; each position stored with its target
  policy and the final outcome from the mover's side; the eight board symmetries by ``torch.rot90`` / ``torch.flip``.
- ``train``: model.train(), minibatches, loss = MSE(value, z) + cross-entropy against the soft search policy
  (``F.cross_entropy`` with probability targets; the hand-written ``-(pi * F.log_softmax(logits, 1)).sum(1)``
  logged beside it), SGD with momentum and weight decay.
- ``arena``: the net (greedy over its masked policy) against a random player.
- ``coach``: alpha-zero-general's loop: the previous net kept by ``copy.deepcopy``, the trained net pitted against
  it (random openings, then greedy play), rejected by ``load_state_dict`` of the old weights when it wins too few,
  else saved with ``torch.save({"state_dict": ...})``; the best checkpoint loaded back at the end.
- ``TicTacToeNNet`` / ``NNetWrapper``: alpha-zero-general's spelling of the net and its wrapper: the board through
  ``torch.FloatTensor(board.astype(np.float64))`` and ``view(-1, 1, x, y)``, unpadded and padded Conv2d +
  BatchNorm2d, fc layers with BatchNorm1d and ``F.dropout(..., training=self.training)``, ``F.log_softmax`` policy
  and tanh value; ``train`` with Adam over minibatches drawn by index, ``loss_pi = -torch.sum(targets * outputs) /
  targets.size()[0]`` and ``loss_v = torch.sum((targets - outputs.view(-1)) ** 2) / targets.size()[0]``, an
  AverageMeter; ``predict`` in eval mode returning ``torch.exp(pi).data.cpu().numpy()[0]``, ``v.data.cpu().numpy()[0]``;
  ``torch.cuda.is_available()`` guarding the ``.contiguous().cuda()`` calls (dropout 0 here: its masks cannot be
  shared).

Changes for the harness: every random draw (Dirichlet noise, the move choices, the minibatch order, the random
player) comes from one ``numpy.random.Generator`` passed in, since torch's ``multinomial`` / ``Generator`` draws
cannot be shared between libraries."""

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


class TicTacToe:
    def __init__(self):
        self.board = np.zeros(9, dtype=np.int8)
        self.player = 1

    def copy(self):
        game = TicTacToe()
        game.board, game.player = self.board.copy(), self.player
        return game

    def legal(self):
        return self.board == 0

    def play(self, move):
        assert self.board[move] == 0
        self.board[move] = self.player
        self.player = -self.player

    def winner(self):
        """+1 / -1 for a win, 0 for a draw, None while the game goes on."""
        for a, b, c in LINES:
            s = int(self.board[a]) + int(self.board[b]) + int(self.board[c])
            if abs(s) == 3:
                return s // 3
        return 0 if not (self.board == 0).any() else None


def encode(game):
    """The board from the side of the player to move: (3, 3, 3) float32 planes."""
    board = game.board.reshape(3, 3) * game.player
    return np.stack([board == 1, board == -1, np.ones((3, 3), bool)]).astype(np.float32)


class ResBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + x)


class PolicyValueNet(nn.Module):
    def __init__(self, channels=8, blocks=2):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                                  nn.ReLU(inplace=True))
        self.tower = nn.Sequential(*[ResBlock(channels) for _ in range(blocks)])
        self.policy_conv = nn.Conv2d(channels, 2, 1, bias=False)
        self.policy_bn = nn.BatchNorm2d(2)
        self.policy_fc = nn.Linear(2 * 9, 9)
        self.value_conv = nn.Conv2d(channels, 1, 1, bias=False)
        self.value_bn = nn.BatchNorm2d(1)
        self.value_fc1 = nn.Linear(9, 16)
        self.value_fc2 = nn.Linear(16, 1)

    def forward(self, x):
        x = self.tower(self.stem(x))
        p = F.relu(self.policy_bn(self.policy_conv(x)))
        logits = self.policy_fc(p.view(p.size(0), -1))
        v = F.relu(self.value_bn(self.value_conv(x)))
        v = F.relu(self.value_fc1(torch.flatten(v, 1)))
        return logits, torch.tanh(self.value_fc2(v)).squeeze(-1)


def predict(net, game):
    """The masked move probabilities (a list of 9 floats) and the value of ``game`` for the player to move."""
    net.eval()
    with torch.no_grad():
        logits, value = net(torch.from_numpy(encode(game)).unsqueeze(0))
        illegal = torch.from_numpy(~game.legal()).unsqueeze(0)
        probs = F.softmax(logits.masked_fill(illegal, float("-inf")), dim=1)
    return probs[0].tolist(), value.item()


class Node:
    def __init__(self, prior):
        self.prior, self.visits, self.value_sum, self.children = prior, 0, 0.0, {}

    def value(self):
        return self.value_sum / self.visits if self.visits else 0.0


class MCTS:
    def __init__(self, net, simulations=12, c_puct=1.5, alpha=0.6, eps=0.25):
        self.net, self.simulations, self.c_puct, self.alpha, self.eps = net, simulations, c_puct, alpha, eps

    def expand(self, node, game):
        priors, value = predict(self.net, game)
        for move in np.flatnonzero(game.legal()):
            node.children[int(move)] = Node(priors[move])
        return value

    def select(self, node):
        sqrt_n = math.sqrt(node.visits)
        best, best_score = None, -float("inf")
        for move, child in node.children.items():
            score = -child.value() + self.c_puct * child.prior * sqrt_n / (1 + child.visits)
            if score > best_score:
                best, best_score = move, score
        return best

    def run(self, game, rng):
        root = Node(1.0)
        self.expand(root, game)
        noise = rng.dirichlet([self.alpha] * len(root.children))
        for n, child in zip(noise, root.children.values()):
            child.prior = (1 - self.eps) * child.prior + self.eps * float(n)
        for _ in range(self.simulations):
            node, scratch, path = root, game.copy(), [root]
            while node.children:
                move = self.select(node)
                scratch.play(move)
                node = node.children[move]
                path.append(node)
            result = scratch.winner()
            # a finished game: the player to move has just lost (or drawn)
            value = self.expand(node, scratch) if result is None else -abs(result)
            for visited in reversed(path):
                visited.value_sum += value
                visited.visits += 1
                value = -value
        return root

    def policy(self, game, rng, temperature=1.0):
        root = self.run(game, rng)
        counts = np.zeros(9)
        for move, child in root.children.items():
            counts[move] = child.visits
        if temperature == 0:
            pi = np.zeros(9)
            pi[int(counts.argmax())] = 1.0
            return pi
        counts = counts ** (1.0 / temperature)
        return counts / counts.sum()


def symmetries(planes, pi):
    """The eight rotations / reflections of a (3, 3, 3) position and its policy, as tensors."""
    board, policy = torch.from_numpy(planes), torch.from_numpy(pi.astype(np.float32)).view(3, 3)
    out = []
    for k in range(4):
        b, p = torch.rot90(board, k, dims=(1, 2)), torch.rot90(policy, k)
        out.append((b, p.reshape(9)))
        out.append((torch.flip(b, dims=[2]), torch.flip(p, dims=[1]).reshape(9)))
    return out


def self_play(net, games, rng, simulations=12, temp_moves=3):
    mcts = MCTS(net, simulations)
    examples, records = [], []
    for _ in range(games):
        game, history, moves = TicTacToe(), [], []
        while game.winner() is None:
            pi = mcts.policy(game, rng, temperature=1.0 if len(moves) < temp_moves else 0)
            history.append((encode(game), pi, game.player))
            move = int(rng.choice(9, p=pi))
            moves.append(move)
            game.play(move)
        z = game.winner()
        records.append((moves, z))
        for planes, pi, player in history:
            for b, p in symmetries(planes, pi):
                examples.append((b, p, float(z * player)))
    return examples, records


def train(net, optimizer, examples, rng, batch_size=16, epochs=1):
    net.train()
    history = {"loss": [], "value": [], "policy": [], "manual": []}
    for _ in range(epochs):
        order = rng.permutation(len(examples))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size].tolist()
            boards = torch.stack([examples[i][0] for i in idx])
            target_pi = torch.stack([examples[i][1] for i in idx])
            target_v = torch.tensor([examples[i][2] for i in idx])
            logits, v = net(boards)
            value_loss = F.mse_loss(v, target_v)
            policy_loss = F.cross_entropy(logits, target_pi)
            manual = -(target_pi * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
            loss = value_loss + policy_loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history["loss"].append(loss.item())
            history["value"].append(value_loss.item())
            history["policy"].append(policy_loss.item())
            history["manual"].append(manual.item())
    return history


def arena(net, games, rng):
    """The net (first or second in turn) greedy against a random player: (wins, draws, losses)."""
    score = [0, 0, 0]
    for g in range(games):
        game, net_side = TicTacToe(), 1 if g % 2 == 0 else -1
        while game.winner() is None:
            if game.player == net_side:
                probs, _ = predict(net, game)
                move = int(np.argmax(probs))
            else:
                move = int(rng.choice(np.flatnonzero(game.legal())))
            game.play(move)
        result = game.winner() * net_side
        score[0 if result > 0 else 1 if result == 0 else 2] += 1
    return tuple(score)


def learn(net, iterations=2, games=2, seed=0, lr=0.05):
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    log = {"records": [], "loss": [], "value": [], "policy": [], "manual": [], "arena": []}
    for _ in range(iterations):
        examples, records = self_play(net, games, rng)
        log["records"].append(records)
        history = train(net, optimizer, examples, rng)
        for key in ("loss", "value", "policy", "manual"):
            log[key].extend(history[key])
        log["arena"].append(arena(net, 2, rng))
    return log


def pit(net_a, net_b, games, rng, opening=2):
    """``net_a`` against ``net_b``, each game opened by ``opening`` random moves, then greedy: (a wins, draws, b)."""
    score = [0, 0, 0]
    for g in range(games):
        game, a_side = TicTacToe(), 1 if g % 2 == 0 else -1
        for _ in range(opening):
            game.play(int(rng.choice(np.flatnonzero(game.legal()))))
        while game.winner() is None:
            probs, _ = predict(net_a if game.player == a_side else net_b, game)
            game.play(int(np.argmax(probs)))
        result = game.winner() * a_side
        score[0 if result > 0 else 1 if result == 0 else 2] += 1
    return tuple(score)


def coach(net, folder, iterations=3, games=2, seed=0, lr=0.05, threshold=0.55):
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    log = {"pit": [], "accepted": [], "loss": []}
    best = f"{folder}/best.pth.tar"
    torch.save({"state_dict": net.state_dict(), "iteration": 0}, best)
    for it in range(iterations):
        previous = copy.deepcopy(net)
        examples, _ = self_play(net, games, rng)
        log["loss"].extend(train(net, optimizer, examples, rng)["loss"])
        new_wins, draws, old_wins = pit(net, previous, 4, rng)
        log["pit"].append((new_wins, draws, old_wins))
        if new_wins + old_wins == 0 or new_wins / (new_wins + old_wins) < threshold:
            net.load_state_dict(previous.state_dict())
            log["accepted"].append(False)
        else:
            torch.save({"state_dict": net.state_dict(), "iteration": it + 1}, best)
            log["accepted"].append(True)
    checkpoint = torch.load(best)
    net.load_state_dict(checkpoint["state_dict"])
    log["best_iteration"] = checkpoint["iteration"]
    return log


class AverageMeter:
    def __init__(self):
        self.val = self.avg = self.sum = self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count


class TicTacToeNNet(nn.Module):
    def __init__(self, board_x=3, board_y=3, action_size=10, num_channels=16, dropout=0.0):
        super().__init__()
        self.board_x, self.board_y, self.action_size = board_x, board_y, action_size
        self.num_channels, self.dropout = num_channels, dropout
        self.conv1 = nn.Conv2d(1, num_channels, 3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(num_channels, num_channels, 3, stride=1, padding=1)
        self.conv3 = nn.Conv2d(num_channels, num_channels, 3, stride=1, padding=1)
        self.conv4 = nn.Conv2d(num_channels, num_channels, 3, stride=1)
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)
        self.bn3 = nn.BatchNorm2d(num_channels)
        self.bn4 = nn.BatchNorm2d(num_channels)
        self.fc1 = nn.Linear(num_channels * (board_x - 2) * (board_y - 2), 32)
        self.fc_bn1 = nn.BatchNorm1d(32)
        self.fc2 = nn.Linear(32, 16)
        self.fc_bn2 = nn.BatchNorm1d(16)
        self.fc3 = nn.Linear(16, action_size)
        self.fc4 = nn.Linear(16, 1)

    def forward(self, s):
        s = s.view(-1, 1, self.board_x, self.board_y)
        s = F.relu(self.bn1(self.conv1(s)))
        s = F.relu(self.bn2(self.conv2(s)))
        s = F.relu(self.bn3(self.conv3(s)))
        s = F.relu(self.bn4(self.conv4(s)))
        s = s.view(-1, self.num_channels * (self.board_x - 2) * (self.board_y - 2))
        s = F.dropout(F.relu(self.fc_bn1(self.fc1(s))), p=self.dropout, training=self.training)
        s = F.dropout(F.relu(self.fc_bn2(self.fc2(s))), p=self.dropout, training=self.training)
        pi = self.fc3(s)
        v = self.fc4(s)
        return F.log_softmax(pi, dim=1), torch.tanh(v)


class NNetWrapper:
    def __init__(self, nnet, lr=0.01, epochs=2, batch_size=8):
        self.nnet, self.lr, self.epochs, self.batch_size = nnet, lr, epochs, batch_size
        self.cuda = torch.cuda.is_available()
        if self.cuda:
            self.nnet.cuda()

    def train(self, examples, rng):
        """examples: (board (3, 3) numbers, pi (10,), v) triples; minibatches drawn by index from ``rng``."""
        optimizer = torch.optim.Adam(self.nnet.parameters(), lr=self.lr)
        log = {"pi": [], "v": [], "avg": []}
        for _ in range(self.epochs):
            self.nnet.train()
            pi_losses, v_losses = AverageMeter(), AverageMeter()
            for _ in range(max(1, len(examples) // self.batch_size)):
                sample_ids = rng.integers(len(examples), size=self.batch_size)
                boards, pis, vs = list(zip(*[examples[i] for i in sample_ids]))
                boards = torch.FloatTensor(np.array(boards).astype(np.float64))
                target_pis = torch.FloatTensor(np.array(pis))
                target_vs = torch.FloatTensor(np.array(vs).astype(np.float64))
                if self.cuda:
                    boards, target_pis, target_vs = boards.contiguous().cuda(), target_pis.contiguous().cuda(), \
                        target_vs.contiguous().cuda()
                out_pi, out_v = self.nnet(boards)
                l_pi = self.loss_pi(target_pis, out_pi)
                l_v = self.loss_v(target_vs, out_v)
                total_loss = l_pi + l_v
                pi_losses.update(l_pi.item(), boards.size(0))
                v_losses.update(l_v.item(), boards.size(0))
                optimizer.zero_grad()
                total_loss.backward()
                optimizer.step()
                log["pi"].append(l_pi.item())
                log["v"].append(l_v.item())
            log["avg"].append((pi_losses.avg, v_losses.avg))
        return log

    def predict(self, board):
        board = torch.FloatTensor(board.astype(np.float64))
        if self.cuda:
            board = board.contiguous().cuda()
        board = board.view(1, self.nnet.board_x, self.nnet.board_y)
        self.nnet.eval()
        with torch.no_grad():
            pi, v = self.nnet(board)
        return torch.exp(pi).data.cpu().numpy()[0], v.data.cpu().numpy()[0]

    def loss_pi(self, targets, outputs):
        return -torch.sum(targets * outputs) / targets.size()[0]

    def loss_v(self, targets, outputs):
        return torch.sum((targets - outputs.view(-1)) ** 2) / targets.size()[0]


def agz_examples(seed, n=24):
    """Random legal-looking positions with soft policies over 9 cells + pass, and outcomes."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        board = rng.choice([-1, 0, 1], size=(3, 3), p=[0.3, 0.4, 0.3])
        pi = rng.dirichlet(np.ones(10)) * np.append((board == 0).reshape(-1), 1)
        out.append((board, pi / pi.sum(), float(rng.choice([-1, 0, 1]))))
    return out
