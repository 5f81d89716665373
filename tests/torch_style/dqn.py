"""Deep Q-learning written as ordinary PyTorch code, after PyTorch's DQN tutorial (reinforcement_q_learning.py) and
the many 2017-2019 GitHub agents copied from it: a slippery 1-D chain written in numpy (no gym), a ``ReplayMemory``
of ``namedtuple`` Transitions, an MLP Q-network, epsilon-greedy actions through ``policy_net(state).max(1)[1].view(1,
1)`` and ``_, a = q.data.max(1)``, batches from ``Transition(*zip(*transitions))`` and ``torch.cat``, the non-final
mask ``torch.tensor(tuple(map(lambda s: s is not None, ...)), dtype=torch.bool)``, ``gather(1, action_batch)``,
``next_state_values[non_final_mask] = target_net(...).max(1)[0].detach()``, the Double-DQN target (argmax from the
policy net, value from the target net), ``SmoothL1Loss`` / ``F.smooth_l1_loss``, RMSprop with
``param.grad.data.clamp_(-1, 1)`` or Adam / AdamW (amsgrad) with ``clip_grad_value_``, the target net updated by
hard copy (``load_state_dict(policy_net.state_dict())``), by Polyak averaging through ``.data.copy_`` or through
the state dict, and a checkpoint (both state dicts, the optimizer and the step count) saved with ``torch.save``,
loaded with ``map_location=lambda storage, loc: storage`` and resumed into fresh objects. The 2017 spelling too:
``Variable(..., volatile=True)``, ``FloatTensor = torch.cuda.FloatTensor if use_cuda else torch.FloatTensor``,
``.type(FloatTensor)``, a ``ByteTensor`` non-final mask. And the Udacity-style agent (``np.vstack`` batches, a
``(1 - dones)`` mask, ``F.mse_loss``, ``eval()`` / ``train()`` around acting, ``np.argmax(q.cpu().data.numpy())``,
a soft update per learning step). One change for the harness: ``random.sample`` / ``random.random`` are a numpy
generator's, so both libraries draw the same minibatches and the same exploration; the harness runs it on torch
and, with the imports swapped, on ours."""

import io
from collections import deque, namedtuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

Transition = namedtuple('Transition', ('state', 'action', 'next_state', 'reward'))

use_cuda = torch.cuda.is_available()
FloatTensor = torch.cuda.FloatTensor if use_cuda else torch.FloatTensor
LongTensor = torch.cuda.LongTensor if use_cuda else torch.LongTensor
ByteTensor = torch.cuda.ByteTensor if use_cuda else torch.ByteTensor
Tensor = FloatTensor


class Chain:
    """A chain of ``n`` cells; the agent starts at cell 2, action 0 steps left and 1 right, but with probability
    ``slip`` it moves the other way. Cell 0 pays 0 and cell n-1 pays 1, both end the episode; every other step
    pays -0.01. Observations (n + 1,) float32: the cell one-hot and the step count / ``max_steps``."""

    def __init__(self, n=6, slip=0.1, max_steps=15, seed=0):
        self.n, self.slip, self.max_steps, self.rng = n, slip, max_steps, np.random.default_rng(seed)

    def observe(self):
        obs = np.zeros(self.n + 1, np.float32)
        obs[self.pos], obs[-1] = 1.0, self.t / self.max_steps
        return obs

    def reset(self):
        self.pos, self.t = 2, 0
        return self.observe()

    def step(self, action):
        move = 1 if action == 1 else -1
        if self.rng.random() < self.slip:
            move = -move
        self.pos, self.t = self.pos + move, self.t + 1
        if self.pos == self.n - 1:
            return self.observe(), 1.0, True
        if self.pos == 0:
            return self.observe(), 0.0, True
        return self.observe(), -0.01, self.t >= self.max_steps


class ReplayMemory(object):  # noqa: UP004 - the tutorial's spelling
    def __init__(self, capacity, rng):
        self.capacity = capacity
        self.memory = []
        self.position = 0
        self.rng = rng

    def push(self, *args):
        """Saves a transition."""
        if len(self.memory) < self.capacity:
            self.memory.append(None)
        self.memory[self.position] = Transition(*args)
        self.position = (self.position + 1) % self.capacity

    def sample(self, batch_size):
        return [self.memory[i] for i in self.rng.choice(len(self.memory), batch_size, replace=False)]

    def __len__(self):
        return len(self.memory)


class DQN(nn.Module):
    def __init__(self, inputs=7, hidden=32, outputs=2):
        super(DQN, self).__init__()  # noqa: UP008 - the tutorial's spelling
        self.fc1 = nn.Linear(inputs, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, outputs)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.head(x.view(x.size(0), -1))


class Agent:
    """Everything that is not a tensor: the environment, the memory, the generator and the counters. A checkpoint
    saves the networks and the optimizer; the agent goes on with the objects loaded from it."""

    def __init__(self, seed=0, capacity=500, eps_start=0.9, eps_end=0.05, eps_decay=60):
        self.rng = np.random.default_rng(seed)
        self.env, self.memory = Chain(seed=seed + 1), ReplayMemory(capacity, self.rng)
        self.eps_start, self.eps_end, self.eps_decay = eps_start, eps_end, eps_decay
        self.steps_done, self.state = 0, None
        self.out = {"loss": [], "q": [], "actions": [], "greedy": [], "returns": [], "target_q": [], "grad": []}
        self.episode_return = 0.0

    def select_action(self, policy_net, state):
        sample = self.rng.random()
        eps_threshold = self.eps_end + (self.eps_start - self.eps_end) * np.exp(-1. * self.steps_done / self.eps_decay)
        self.steps_done += 1
        if sample > eps_threshold:
            with torch.no_grad():
                return policy_net(state).max(1)[1].view(1, 1)
        return torch.LongTensor([[int(self.rng.integers(2))]])

    def select_action_2017(self, policy_net, state):
        """The 2017 tutorial's spelling: Variable(volatile=True), ``.type(FloatTensor)`` and ``.data.max(1)``."""
        sample = self.rng.random()
        eps_threshold = self.eps_end + (self.eps_start - self.eps_end) * np.exp(-1. * self.steps_done / self.eps_decay)
        self.steps_done += 1
        if sample > eps_threshold:
            return policy_net(
                torch.autograd.Variable(state, volatile=True).type(FloatTensor)).data.max(1)[1].view(1, 1)
        return LongTensor([[int(self.rng.integers(2))]])


def optimize_model(policy_net, target_net, optimizer, memory, batch_size=16, gamma=0.9, double=False,
                   criterion=None):
    if len(memory) < batch_size:
        return None
    transitions = memory.sample(batch_size)
    batch = Transition(*zip(*transitions))

    non_final_mask = torch.tensor(tuple(map(lambda s: s is not None, batch.next_state)), dtype=torch.bool)
    non_final_next_states = torch.cat([s for s in batch.next_state if s is not None])
    state_batch = torch.cat(batch.state)
    action_batch = torch.cat(batch.action)
    reward_batch = torch.cat(batch.reward)

    state_action_values = policy_net(state_batch).gather(1, action_batch)

    next_state_values = torch.zeros(batch_size)
    if double:
        with torch.no_grad():
            next_actions = policy_net(non_final_next_states).max(1).indices.unsqueeze(1)
            next_state_values[non_final_mask] = target_net(non_final_next_states).gather(1, next_actions).squeeze(1)
    else:
        next_state_values[non_final_mask] = target_net(non_final_next_states).max(1)[0].detach()
    expected_state_action_values = (next_state_values * gamma) + reward_batch

    if criterion is None:
        loss = F.smooth_l1_loss(state_action_values, expected_state_action_values.unsqueeze(1))
    else:
        loss = criterion(state_action_values, expected_state_action_values.unsqueeze(1))

    optimizer.zero_grad()
    loss.backward()
    return loss, state_action_values, expected_state_action_values


def optimize_model_2017(policy_net, target_net, optimizer, memory, batch_size=16, gamma=0.9, double=False,
                        criterion=None):
    """The 2017 tutorial's spelling: a ``ByteTensor`` non-final mask, ``Variable``s, ``volatile`` and
    ``torch.zeros(n).type(Tensor)`` (its loss compared (N, 1) with (N,): that broadcasting bug is fixed here by
    ``unsqueeze(1)``, as the tutorial later did)."""
    if len(memory) < batch_size:
        return None
    transitions = memory.sample(batch_size)
    batch = Transition(*zip(*transitions))

    non_final_mask = ByteTensor(tuple(map(lambda s: s is not None, batch.next_state)))
    non_final_next_states = torch.autograd.Variable(torch.cat([s for s in batch.next_state if s is not None]),
                                                    volatile=True)
    state_batch = torch.autograd.Variable(torch.cat(batch.state))
    action_batch = torch.autograd.Variable(torch.cat(batch.action))
    reward_batch = torch.autograd.Variable(torch.cat(batch.reward))

    state_action_values = policy_net(state_batch).gather(1, action_batch)

    next_state_values = torch.autograd.Variable(torch.zeros(batch_size).type(Tensor))
    next_state_values[non_final_mask] = target_net(non_final_next_states).max(1)[0].data
    next_state_values.volatile = False
    expected_state_action_values = (next_state_values * gamma) + reward_batch

    loss = F.smooth_l1_loss(state_action_values, expected_state_action_values.unsqueeze(1))

    optimizer.zero_grad()
    loss.backward()
    return loss, state_action_values, expected_state_action_values


def clamp_grads(policy_net):
    for param in policy_net.parameters():
        param.grad.data.clamp_(-1, 1)


def soft_update(target, source, tau):
    for target_param, param in zip(target.parameters(), source.parameters()):
        target_param.data.copy_(tau * param.data + (1.0 - tau) * target_param.data)


def soft_update_state_dict(target_net, policy_net, tau):
    target_net_state_dict = target_net.state_dict()
    policy_net_state_dict = policy_net.state_dict()
    for key in policy_net_state_dict:
        target_net_state_dict[key] = policy_net_state_dict[key] * tau + target_net_state_dict[key] * (1 - tau)
    target_net.load_state_dict(target_net_state_dict)


def make_optimizer(policy_net, kind):
    if kind == "rmsprop":
        return optim.RMSprop(policy_net.parameters(), lr=1e-3)
    if kind == "adamw":  # the 2023 tutorial's
        return optim.AdamW(policy_net.parameters(), lr=1e-3, amsgrad=True)
    return optim.Adam(policy_net.parameters(), lr=1e-3, amsgrad=True)


def train(agent, policy_net, target_net, optimizer, num_steps, target_update="hard", double=False, tau=0.05,
          update_every=20, legacy=False):
    """``num_steps`` environment steps, each followed by one optimisation step; the target net follows the policy
    net by ``target_update``: "hard" (a copy every ``update_every`` steps), "soft" (``.data.copy_``) or
    "soft_dict" (through the state dicts)."""
    criterion = nn.SmoothL1Loss() if double else None
    out = agent.out
    for _ in range(num_steps):
        if agent.state is None:
            agent.state = torch.from_numpy(agent.env.reset()).unsqueeze(0)
            agent.episode_return = 0.0
        action = (agent.select_action_2017 if legacy else agent.select_action)(policy_net, agent.state)
        out["actions"].append(action.item())
        obs, reward, done = agent.env.step(action.item())
        agent.episode_return += reward
        reward = torch.FloatTensor([reward])
        next_state = None if done else torch.from_numpy(obs).unsqueeze(0)
        agent.memory.push(agent.state, action, next_state, reward)
        agent.state = next_state
        if done:
            out["returns"].append(agent.episode_return)

        result = (optimize_model_2017 if legacy else optimize_model)(policy_net, target_net, optimizer, agent.memory,
                                                                      double=double, criterion=criterion)
        if result is not None:
            loss, q, expected = result
            if isinstance(optimizer, optim.RMSprop):
                clamp_grads(policy_net)
            else:
                torch.nn.utils.clip_grad_value_(policy_net.parameters(), 100)
            out["grad"].append(torch.cat([p.grad.view(-1) for p in policy_net.parameters()]).abs().max().item())
            optimizer.step()
            out["loss"].append(loss.item())
            out["q"].append(q.detach().numpy().copy())
            out["target_q"].append(expected.numpy().copy())

        if target_update == "hard":
            if agent.steps_done % update_every == 0:
                target_net.load_state_dict(policy_net.state_dict())
        elif target_update == "soft":
            soft_update(target_net, policy_net, tau)
        else:
            soft_update_state_dict(target_net, policy_net, tau)

    q = policy_net(torch.eye(agent.env.n + 1)[:agent.env.n])
    _, a = q.data.max(1)
    out["greedy"].append(a.numpy().copy())
    return out


def checkpoint(policy_net, target_net, optimizer, steps_done, kind):
    """Both state dicts, the optimizer's state and the step count through ``torch.save``; fresh objects loaded back."""
    buffer = io.BytesIO()
    torch.save({
        'policy_net_state_dict': policy_net.state_dict(),
        'target_net_state_dict': target_net.state_dict(),
        'optimizer_state_dict': optimizer.state_dict(),
        'steps_done': steps_done,
    }, buffer)
    buffer.seek(0)
    ckpt = torch.load(buffer, map_location=lambda storage, loc: storage)
    policy_net, target_net = DQN(), DQN()
    policy_net.load_state_dict(ckpt['policy_net_state_dict'])
    target_net.load_state_dict(ckpt['target_net_state_dict'])
    target_net.eval()
    optimizer = make_optimizer(policy_net, kind)
    optimizer.load_state_dict(ckpt['optimizer_state_dict'])
    return policy_net, target_net, optimizer, ckpt['steps_done']


def run(policy_net, num_steps, kind="rmsprop", target_update="hard", double=False, seed=0, resume_at=None,
        legacy=False):
    """Train a fresh agent from ``policy_net``'s weights (the target net starts as its copy); with ``resume_at`` the
    networks and optimizer go through a checkpoint after that many steps and training goes on from the loaded ones."""
    target_net = DQN()
    target_net.load_state_dict(policy_net.state_dict())
    target_net.eval()
    optimizer = make_optimizer(policy_net, kind)
    agent = Agent(seed)
    kwargs = {"target_update": target_update, "double": double, "legacy": legacy}
    if resume_at is None:
        train(agent, policy_net, target_net, optimizer, num_steps, **kwargs)
    else:
        train(agent, policy_net, target_net, optimizer, resume_at, **kwargs)
        policy_net, target_net, optimizer, steps_done = checkpoint(policy_net, target_net, optimizer,
                                                                   agent.steps_done, kind)
        assert steps_done == agent.steps_done
        train(agent, policy_net, target_net, optimizer, num_steps - resume_at, **kwargs)
    out = dict(agent.out)
    out["params"] = {k: v.detach().numpy().copy() for k, v in policy_net.named_parameters()}
    out["target"] = {k: v.numpy().copy() for k, v in target_net.state_dict().items()}
    out["optimizer"] = {k: torch.as_tensor(v).numpy().copy() for k, v in optimizer.state_dict()["state"][0].items()}
    return out


# ---------------------------------------------------------------- the Udacity-style agent (dqn_agent.py)
class QNetwork(nn.Module):
    """Actor (Policy) Model."""

    def __init__(self, state_size=7, action_size=2, seed=0, fc1_units=32, fc2_units=32):
        super(QNetwork, self).__init__()  # noqa: UP008
        self.seed = torch.manual_seed(seed)
        self.fc1 = nn.Linear(state_size, fc1_units)
        self.fc2 = nn.Linear(fc1_units, fc2_units)
        self.fc3 = nn.Linear(fc2_units, action_size)

    def forward(self, state):
        x = F.relu(self.fc1(state))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class ReplayBuffer:
    """Fixed-size buffer to store experience tuples (``random.sample`` is ``rng.choice`` here)."""

    def __init__(self, action_size, buffer_size, batch_size, rng):
        self.action_size = action_size
        self.memory = deque(maxlen=buffer_size)
        self.batch_size = batch_size
        self.experience = namedtuple("Experience", field_names=["state", "action", "reward", "next_state", "done"])
        self.rng = rng

    def add(self, state, action, reward, next_state, done):
        self.memory.append(self.experience(state, action, reward, next_state, done))

    def sample(self):
        experiences = [self.memory[i] for i in self.rng.choice(len(self.memory), self.batch_size, replace=False)]
        states = torch.from_numpy(np.vstack([e.state for e in experiences if e is not None])).float()
        actions = torch.from_numpy(np.vstack([e.action for e in experiences if e is not None])).long()
        rewards = torch.from_numpy(np.vstack([e.reward for e in experiences if e is not None])).float()
        next_states = torch.from_numpy(np.vstack([e.next_state for e in experiences if e is not None])).float()
        dones = torch.from_numpy(np.vstack([e.done for e in experiences if e is not None]).astype(np.uint8)).float()
        return (states, actions, rewards, next_states, dones)

    def __len__(self):
        return len(self.memory)


class UdacityAgent:
    """Interacts with and learns from the environment: a local and a target ``QNetwork``, Adam, a learning step
    every ``update_every`` steps, each followed by a soft update of the target."""

    def __init__(self, qnetwork_local, seed=0, buffer_size=1000, batch_size=16, gamma=0.9, tau=1e-2, lr=5e-3,
                 update_every=2):
        self.rng = np.random.default_rng(seed)
        self.action_size, self.gamma, self.tau, self.update_every = 2, gamma, tau, update_every
        self.qnetwork_local = qnetwork_local
        self.qnetwork_target = QNetwork(seed=seed)
        self.qnetwork_target.load_state_dict(qnetwork_local.state_dict())
        self.optimizer = optim.Adam(self.qnetwork_local.parameters(), lr=lr)
        self.memory = ReplayBuffer(self.action_size, buffer_size, batch_size, self.rng)
        self.t_step = 0
        self.out = {"loss": [], "q": [], "target_q": [], "actions": []}

    def step(self, state, action, reward, next_state, done):
        self.memory.add(state, action, reward, next_state, done)
        self.t_step = (self.t_step + 1) % self.update_every
        if self.t_step == 0 and len(self.memory) > self.memory.batch_size:
            self.learn(self.memory.sample(), self.gamma)

    def act(self, state, eps=0.):
        state = torch.from_numpy(state).float().unsqueeze(0)
        self.qnetwork_local.eval()
        with torch.no_grad():
            action_values = self.qnetwork_local(state)
        self.qnetwork_local.train()
        if self.rng.random() > eps:
            return np.argmax(action_values.cpu().data.numpy())
        return self.rng.choice(np.arange(self.action_size))

    def learn(self, experiences, gamma):
        states, actions, rewards, next_states, dones = experiences
        Q_targets_next = self.qnetwork_target(next_states).detach().max(1)[0].unsqueeze(1)
        Q_targets = rewards + (gamma * Q_targets_next * (1 - dones))
        Q_expected = self.qnetwork_local(states).gather(1, actions)
        loss = F.mse_loss(Q_expected, Q_targets)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.soft_update(self.qnetwork_local, self.qnetwork_target, self.tau)
        self.out["loss"].append(loss.item())
        self.out["q"].append(Q_expected.detach().numpy().copy())
        self.out["target_q"].append(Q_targets.numpy().copy())

    def soft_update(self, local_model, target_model, tau):
        for target_param, local_param in zip(target_model.parameters(), local_model.parameters()):
            target_param.data.copy_(tau * local_param.data + (1.0 - tau) * target_param.data)


def dqn(qnetwork_local, n_episodes=40, max_t=15, eps_start=1.0, eps_end=0.05, eps_decay=0.9, seed=0):
    """The Udacity training loop: episodes of at most ``max_t`` steps, epsilon decayed per episode, the scores in a
    ``deque(maxlen=10)`` window; the local network saved with ``torch.save(state_dict)`` and loaded into a fresh
    ``QNetwork``, which must act the same."""
    agent, env = UdacityAgent(qnetwork_local, seed=seed), Chain(seed=seed + 1)
    scores, scores_window, eps = [], deque(maxlen=10), eps_start
    for _ in range(1, n_episodes + 1):
        state, score = env.reset(), 0
        for _ in range(max_t):
            action = agent.act(state, eps)
            agent.out["actions"].append(int(action))
            next_state, reward, done = env.step(action)
            agent.step(state, action, reward, next_state, done)
            state, score = next_state, score + reward
            if done:
                break
        scores_window.append(score)
        scores.append(score)
        eps = max(eps_end, eps_decay * eps)
    buffer = io.BytesIO()
    torch.save(agent.qnetwork_local.state_dict(), buffer)
    buffer.seek(0)
    loaded = QNetwork(seed=seed)
    loaded.load_state_dict(torch.load(buffer))
    states = torch.eye(env.n + 1)[:env.n]
    out = dict(agent.out, scores=scores, window=float(np.mean(scores_window)))
    out["loaded_equal"] = bool(torch.equal(loaded(states), agent.qnetwork_local(states)))
    out["greedy"] = [int(np.argmax(loaded(states).data.numpy()[i])) for i in range(env.n)]
    out["params"] = {k: v.detach().numpy().copy() for k, v in agent.qnetwork_local.named_parameters()}
    out["target"] = {k: v.detach().numpy().copy() for k, v in agent.qnetwork_target.named_parameters()}
    return out
