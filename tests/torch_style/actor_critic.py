"""Policy-gradient reinforcement learning written as ordinary PyTorch code, after PyTorch's examples
(reinforcement_learning/reinforce.py and actor_critic.py) plus the advantage actor-critic with generalised advantage
estimation (GAE) common on GitHub: a CartPole written in numpy (no gym), a shared-trunk network with a softmax actor
head and a critic head, ``Categorical(probs)`` and ``Categorical(logits=)``, ``log_prob`` / ``entropy``, discounted
returns built with ``returns.insert(0, R)`` and normalised, ``smooth_l1_loss`` against ``torch.tensor([R])``,
``torch.stack(...).sum()`` / ``torch.cat(...).sum()``, Adam, ``clip_grad_norm_``, a running reward, and the
episode buffers emptied with ``del``. Actions are drawn by inverse CDF from uniforms that numpy hands in, so both
libraries take the same actions; ``m.sample()`` runs only to show its shape, dtype and range. The harness runs it
on torch and, with the imports swapped, on ours."""

import math
from collections import namedtuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import Categorical

eps = np.finfo(np.float32).eps.item()
SavedAction = namedtuple("SavedAction", ["log_prob", "value"])


class CartPole:
    """``n`` carts with poles, states (n, 4) = (x, x_dot, theta, theta_dot); actions push left (0) or right (1).
    Reward 1 per step; an episode ends when the pole leans past 12 degrees or the cart leaves [-2.4, 2.4], and a
    finished cart starts again from a fresh state drawn from ``seed``'s generator (Euler steps of 0.02 s)."""

    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02

    def __init__(self, n=1, seed=0):
        self.n, self.rng = n, np.random.default_rng(seed)

    def reset(self):
        self.state = self.rng.uniform(-0.05, 0.05, (self.n, 4))
        return self.state.astype(np.float32)

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state.T
        force = np.where(np.asarray(action) == 1, self.force_mag, -self.force_mag)
        total, polemass_length = self.masspole + self.masscart, self.masspole * self.length
        temp = (force + polemass_length * theta_dot ** 2 * np.sin(theta)) / total
        thetaacc = (self.gravity * np.sin(theta) - np.cos(theta) * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * np.cos(theta) ** 2 / total))
        xacc = temp - polemass_length * thetaacc * np.cos(theta) / total
        self.state = np.stack([x + self.tau * x_dot, x_dot + self.tau * xacc,
                               theta + self.tau * theta_dot, theta_dot + self.tau * thetaacc], axis=1)
        done = (np.abs(self.state[:, 0]) > 2.4) | (np.abs(self.state[:, 2]) > 12 * 2 * math.pi / 360)
        self.state[done] = self.rng.uniform(-0.05, 0.05, (int(done.sum()), 4))
        return self.state.astype(np.float32), np.ones(self.n, np.float32), done


def inverse_cdf(probs, u):
    """The class whose CDF interval holds each uniform ``u`` (..., 1): as ``Categorical.sample`` would draw it."""
    cdf = probs.detach().cumsum(-1)
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp(max=probs.shape[-1] - 1)


# ---------------------------------------------------------------- REINFORCE (reinforce.py)
class PolicyNet(nn.Module):
    def __init__(self, hidden=32):
        super(PolicyNet, self).__init__()  # noqa: UP008 - the example's spelling
        self.affine1 = nn.Linear(4, hidden)
        self.affine2 = nn.Linear(hidden, 2)
        self.saved_log_probs = []
        self.rewards = []

    def forward(self, x):
        x = F.relu(self.affine1(x))
        action_scores = self.affine2(x)
        return F.softmax(action_scores, dim=1)


def reinforce(policy, episodes, seed=0, gamma=0.99, lr=1e-2, max_steps=60):
    optimizer = optim.Adam(policy.parameters(), lr=lr)
    env, rng = CartPole(1, seed), np.random.default_rng(seed + 1)
    out = {"loss": [], "log_probs": [], "ep_reward": [], "running_reward": [], "norm": [], "sample": []}
    running_reward = 10
    for i_episode in range(episodes):
        state, ep_reward = env.reset()[0], 0
        for t in range(1, max_steps):
            state = torch.from_numpy(state).float().unsqueeze(0)
            probs = policy(state)
            m = Categorical(probs)
            if t == 1:
                torch.manual_seed(i_episode)
                drawn = m.sample((3,))
                out["sample"].append((tuple(drawn.shape), drawn.dtype == torch.int64, drawn.min().item(),
                                      drawn.max().item()))
            action = inverse_cdf(probs, torch.tensor([[rng.uniform()]], dtype=torch.float32))
            policy.saved_log_probs.append(m.log_prob(action))
            state, reward, done = env.step([action.item()])
            state, reward = state[0], reward[0].item()
            policy.rewards.append(reward)
            ep_reward += reward
            if done[0]:
                break
        running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
        R, policy_loss, returns = 0, [], []
        for r in policy.rewards[::-1]:
            R = r + gamma * R
            returns.insert(0, R)
        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        for log_prob, R in zip(policy.saved_log_probs, returns):
            policy_loss.append(-log_prob * R)
        optimizer.zero_grad()
        policy_loss = torch.cat(policy_loss).sum()
        policy_loss.backward()
        grads = [p.grad.flatten() for p in policy.parameters()]
        optimizer.step()
        out["norm"].append(torch.cat(grads).norm().item())
        out["loss"].append(policy_loss.item())
        out["log_probs"].append(torch.cat(policy.saved_log_probs).detach().numpy().copy())
        out["ep_reward"].append(ep_reward)
        out["running_reward"].append(running_reward)
        del policy.rewards[:]
        del policy.saved_log_probs[:]
    out["params"] = {k: v.detach().numpy().copy() for k, v in policy.named_parameters()}
    return out


# ---------------------------------------------------------------- actor-critic (actor_critic.py)
class Policy(nn.Module):
    """A shared affine layer, then an actor head (softmax over the 2 actions) and a critic head (the state value)."""

    def __init__(self, hidden=32):
        super(Policy, self).__init__()  # noqa: UP008
        self.affine1 = nn.Linear(4, hidden)
        self.action_head = nn.Linear(hidden, 2)
        self.value_head = nn.Linear(hidden, 1)
        self.saved_actions = []
        self.rewards = []

    def forward(self, x):
        x = F.relu(self.affine1(x))
        action_prob = F.softmax(self.action_head(x), dim=-1)
        state_values = self.value_head(x)
        return action_prob, state_values


def select_action(model, state, u, entropies):
    state = torch.from_numpy(state).float()
    probs, state_value = model(state)
    m = Categorical(probs)
    action = inverse_cdf(probs, torch.tensor([u], dtype=torch.float32))
    model.saved_actions.append(SavedAction(m.log_prob(action), state_value))
    entropies.append(m.entropy().item())
    return action.item()


def finish_episode(model, optimizer, gamma, max_norm):
    R = 0
    saved_actions = model.saved_actions
    policy_losses = []
    value_losses = []
    returns = []
    for r in model.rewards[::-1]:
        R = r + gamma * R
        returns.insert(0, R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + eps)
    for (log_prob, value), R in zip(saved_actions, returns):
        advantage = R - value.item()
        policy_losses.append(-log_prob * advantage)
        value_losses.append(F.smooth_l1_loss(value, torch.tensor([R])))
    optimizer.zero_grad()
    loss = torch.stack(policy_losses).sum() + torch.stack(value_losses).sum()
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    log_probs = torch.stack([a.log_prob for a in saved_actions]).detach().numpy().copy()
    del model.rewards[:]
    del model.saved_actions[:]
    return loss.item(), norm.item(), log_probs


def actor_critic(model, episodes, seed=0, gamma=0.99, lr=3e-2, max_steps=60, max_norm=5.0):
    optimizer = optim.Adam(model.parameters(), lr=lr)
    env, rng = CartPole(1, seed), np.random.default_rng(seed + 1)
    out = {"loss": [], "norm": [], "log_probs": [], "entropy": [], "ep_reward": [], "running_reward": []}
    running_reward = 10
    for _ in range(episodes):
        state, ep_reward, entropies = env.reset()[0], 0, []
        for _ in range(1, max_steps):
            action = select_action(model, state, rng.uniform(), entropies)
            state, reward, done = env.step([action])
            state = state[0]
            model.rewards.append(reward[0].item())
            ep_reward += reward[0].item()
            if done[0]:
                break
        running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
        loss, norm, log_probs = finish_episode(model, optimizer, gamma, max_norm)
        for key, value in (("loss", loss), ("norm", norm), ("log_probs", log_probs), ("entropy", entropies),
                           ("ep_reward", ep_reward), ("running_reward", running_reward)):
            out[key].append(value)
    out["params"] = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    return out


# ---------------------------------------------------------------- A2C with GAE over a batch of environments
class ActorCritic(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.actor = nn.Linear(hidden, 2)
        self.critic = nn.Linear(hidden, 1)

    def forward(self, x):
        h = self.trunk(x)
        return self.actor(h), self.critic(h).squeeze(-1)


def compute_gae(rewards, values, next_value, masks, gamma, lam):
    """rewards, values, masks (T, N), next_value (N,): advantages and returns (T, N), no gradient through either."""
    values = torch.cat([values.detach(), next_value.detach().unsqueeze(0)])
    advantages = torch.zeros_like(rewards)
    gae = 0
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * values[t + 1] * masks[t] - values[t]
        gae = delta + gamma * lam * masks[t] * gae
        advantages[t] = gae
    return advantages, advantages + values[:-1]


def a2c(model, updates, n_envs=4, steps=8, seed=0, gamma=0.99, lam=0.95, lr=1e-2, max_norm=0.5):
    optimizer = optim.Adam(model.parameters(), lr=lr)
    envs, rng = CartPole(n_envs, seed), np.random.default_rng(seed + 1)
    states = envs.reset()
    out = {"loss": [], "policy_loss": [], "value_loss": [], "entropy": [], "norm": [], "log_probs": [],
           "advantages": [], "episodes": []}
    finished = 0
    for _ in range(updates):
        log_probs, values, rewards, masks, entropies = [], [], [], [], []
        for _ in range(steps):
            logits, value = model(torch.from_numpy(states))
            dist = Categorical(logits=logits)
            u = torch.from_numpy(rng.uniform(size=(n_envs, 1)).astype(np.float32))
            action = inverse_cdf(dist.probs, u)
            states, reward, done = envs.step(action.numpy())
            log_probs.append(dist.log_prob(action))
            entropies.append(dist.entropy())
            values.append(value)
            rewards.append(torch.from_numpy(reward))
            masks.append(torch.tensor(1.0 - done, dtype=torch.float32))
            finished += int(done.sum())
        with torch.no_grad():
            _, next_value = model(torch.from_numpy(states))
        advantages, returns = compute_gae(torch.stack(rewards), torch.stack(values), next_value,
                                          torch.stack(masks), gamma, lam)
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        log_probs = torch.stack(log_probs)
        policy_loss = -(log_probs * advantages).mean()
        value_loss = F.mse_loss(torch.stack(values), returns)
        entropy = torch.stack(entropies).mean()
        loss = policy_loss + 0.5 * value_loss - 0.01 * entropy
        optimizer.zero_grad()
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        for key, value in (("loss", loss), ("policy_loss", policy_loss), ("value_loss", value_loss),
                           ("entropy", entropy), ("norm", norm)):
            out[key].append(value.item())
        out["log_probs"].append(log_probs.detach().numpy().copy())
        out["advantages"].append(advantages.numpy().copy())
        out["episodes"].append(finished)
    out["params"] = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    return out
