"""Proximal Policy Optimization written as ordinary PyTorch code, after CleanRL's single-file ppo.py and
ppo_continuous_action.py: a vectorised 1-D point mass written in numpy (no gym), an ``Agent(nn.Module)`` whose
separate critic and actor MLPs (Tanh) are built by ``layer_init`` (``orthogonal_`` + ``constant_``),
``Categorical(logits=...)`` for discrete pushes and ``Normal(mean, actor_logstd.exp())`` with a learnable
``actor_logstd`` and ``.sum(1)`` log-probs for a continuous force, rollout storage preallocated with
``torch.zeros((num_steps, num_envs) + shape)`` and filled by index, GAE computed backwards, shuffled minibatches
from ``np.random.shuffle(b_inds)``, the clipped surrogate with ``approx_kl`` and clip fractions, a clipped value
loss, an entropy bonus, ``clip_grad_norm_``, Adam(eps=1e-5) with lr annealed through ``param_groups[0]["lr"]``,
an early stop on ``target_kl`` and the explained variance in numpy. One change for the harness: ``run`` may be
handed the actions to take (the ones torch sampled), which go in through ``get_action_and_value``'s ``action``
argument, so both libraries walk the same trajectories. The harness runs it on torch and, with the imports swapped,
on ours."""

import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.distributions.categorical import Categorical
from torch.distributions.multivariate_normal import MultivariateNormal
from torch.distributions.normal import Normal


class PointMass:
    """``num_envs`` unit masses on a line, states (pos, vel); the agent pushes them back to 0. Discrete actions
    0 / 1 / 2 push with force -1 / 0 / +1, continuous ones (num_envs, 1) with their value clipped to [-1, 1].
    Reward -pos^2 - 0.01 force^2 per step; an episode ends past |pos| > 2 or after ``max_steps``, and the env
    restarts itself (as gym's vector envs do) from numpy's global generator. Observations (num_envs, 2) float32,
    rewards float64, dones float32."""

    def __init__(self, num_envs=4, continuous=False, max_steps=24, dt=0.1):
        self.num_envs, self.continuous, self.max_steps, self.dt = num_envs, continuous, max_steps, dt
        self.single_observation_space_shape = (2,)
        self.single_action_space_shape = (1,) if continuous else ()
        self.single_action_space_n = 3

    def reset(self):
        self.pos = np.random.uniform(-1, 1, self.num_envs)
        self.vel, self.t = np.zeros(self.num_envs), np.zeros(self.num_envs, dtype=np.int64)
        self.episode_return = np.zeros(self.num_envs)
        return np.stack([self.pos, self.vel], 1).astype(np.float32)

    def step(self, action):
        force = np.clip(action[:, 0], -1, 1) if self.continuous else action.astype(np.float64) - 1
        self.vel = self.vel + self.dt * force
        self.pos = self.pos + self.dt * self.vel
        self.t += 1
        reward = -self.pos ** 2 - 0.01 * force ** 2
        self.episode_return += reward
        done = (np.abs(self.pos) > 2) | (self.t >= self.max_steps)
        infos = [{"episode": {"r": self.episode_return[i], "l": int(self.t[i])}} if done[i] else {}
                 for i in range(self.num_envs)]
        n = int(done.sum())
        self.pos[done], self.vel[done], self.t[done], self.episode_return[done] = np.random.uniform(-1, 1, n), 0, 0, 0
        return np.stack([self.pos, self.vel], 1).astype(np.float32), reward, done.astype(np.float32), infos


@dataclass
class Args:
    seed: int = 1
    torch_deterministic: bool = True
    cuda: bool = False
    learning_rate: float = 2.5e-3
    num_envs: int = 4
    num_steps: int = 16
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    update_epochs: int = 4
    norm_adv: bool = True
    clip_coef: float = 0.2
    clip_vloss: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float = None
    total_timesteps: int = 320
    continuous: bool = False

    @property
    def batch_size(self):
        return int(self.num_envs * self.num_steps)

    @property
    def minibatch_size(self):
        return int(self.batch_size // self.num_minibatches)


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):  # noqa: B008 - CleanRL's spelling
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self, envs, hidden=16):
        super().__init__()
        obs_dim = np.array(envs.single_observation_space_shape).prod()
        self.continuous = envs.continuous
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, 1), std=1.0),
        )
        act_dim = np.prod(envs.single_action_space_shape) if self.continuous else envs.single_action_space_n
        self.actor_mean = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, act_dim), std=0.01),
        )
        if self.continuous:
            self.actor_logstd = nn.Parameter(torch.zeros(1, np.prod(envs.single_action_space_shape)))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action=None):
        if self.continuous:
            action_mean = self.actor_mean(x)
            action_logstd = self.actor_logstd.expand_as(action_mean)
            action_std = torch.exp(action_logstd)
            probs = Normal(action_mean, action_std)
            if action is None:
                action = probs.sample()
            return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.critic(x)
        logits = self.actor_mean(x)
        probs = Categorical(logits=logits)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(x)


def make_agent(continuous=False, num_envs=4):
    return Agent(PointMass(num_envs, continuous))


def run(agent, args, actions_to_take=None, log=print):
    """CleanRL's training loop on ``agent``; returns every logged number. ``actions_to_take[update][step]`` (when
    given) replaces the sampled action."""
    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic

    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    envs = PointMass(args.num_envs, args.continuous)
    agent = agent.to(device)
    optimizer = optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    # ALGO Logic: Storage setup
    obs = torch.zeros((args.num_steps, args.num_envs) + envs.single_observation_space_shape).to(device)
    actions = torch.zeros((args.num_steps, args.num_envs) + envs.single_action_space_shape).to(device)
    logprobs = torch.zeros((args.num_steps, args.num_envs)).to(device)
    rewards = torch.zeros((args.num_steps, args.num_envs)).to(device)
    dones = torch.zeros((args.num_steps, args.num_envs)).to(device)
    values = torch.zeros((args.num_steps, args.num_envs)).to(device)

    out = {k: [] for k in ("actions", "logprob", "value", "advantages", "returns", "lr", "pg_loss", "v_loss",
                           "entropy", "old_approx_kl", "approx_kl", "clipfrac", "grad_norm", "explained_variance",
                           "episodic_return")}
    global_step = 0
    next_obs = torch.Tensor(envs.reset()).to(device)
    next_done = torch.zeros(args.num_envs).to(device)
    num_updates = args.total_timesteps // args.batch_size

    for update in range(1, num_updates + 1):
        # Annealing the rate if instructed to do so.
        if args.anneal_lr:
            frac = 1.0 - (update - 1.0) / num_updates
            lrnow = frac * args.learning_rate
            optimizer.param_groups[0]["lr"] = lrnow
        out["lr"].append(optimizer.param_groups[0]["lr"])

        taken = []
        for step in range(0, args.num_steps):
            global_step += 1 * args.num_envs
            obs[step] = next_obs
            dones[step] = next_done

            # ALGO LOGIC: action logic
            with torch.no_grad():
                given = None if actions_to_take is None else torch.tensor(actions_to_take[update - 1][step])
                action, logprob, _, value = agent.get_action_and_value(next_obs, given)
                values[step] = value.flatten()
            actions[step] = action
            logprobs[step] = logprob
            taken.append(action.cpu().numpy())

            # TRY NOT TO MODIFY: execute the game and log data.
            next_obs, reward, done, info = envs.step(action.cpu().numpy())
            rewards[step] = torch.tensor(reward).to(device).view(-1)
            next_obs, next_done = torch.Tensor(next_obs).to(device), torch.Tensor(done).to(device)

            for item in info:
                if "episode" in item.keys():  # noqa: SIM118 - CleanRL's spelling
                    log(f"global_step={global_step}, episodic_return={item['episode']['r']:.4f}")
                    out["episodic_return"].append(item["episode"]["r"])
                    break
        out["actions"].append(taken)
        out["logprob"].append(logprobs.numpy().copy())
        out["value"].append(values.numpy().copy())

        # bootstrap value if not done
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards).to(device)
            lastgaelam = 0
            for t in reversed(range(args.num_steps)):
                if t == args.num_steps - 1:
                    nextnonterminal = 1.0 - next_done
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - dones[t + 1]
                    nextvalues = values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
            returns = advantages + values
        out["advantages"].append(advantages.numpy().copy())
        out["returns"].append(returns.numpy().copy())

        # flatten the batch
        b_obs = obs.reshape((-1,) + envs.single_observation_space_shape)
        b_logprobs = logprobs.reshape(-1)
        b_actions = actions.reshape((-1,) + envs.single_action_space_shape)
        b_advantages = advantages.reshape(-1)
        b_returns = returns.reshape(-1)
        b_values = values.reshape(-1)

        # Optimizing the policy and value network
        b_inds = np.arange(args.batch_size)
        clipfracs = []
        for epoch in range(args.update_epochs):  # noqa: B007 - CleanRL's spelling
            np.random.shuffle(b_inds)
            for start in range(0, args.batch_size, args.minibatch_size):
                end = start + args.minibatch_size
                mb_inds = b_inds[start:end]

                mb_actions = b_actions[mb_inds] if args.continuous else b_actions.long()[mb_inds]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb_inds], mb_actions)
                logratio = newlogprob - b_logprobs[mb_inds]
                ratio = logratio.exp()

                with torch.no_grad():
                    # calculate approx_kl http://joschu.net/blog/kl-approx.html
                    old_approx_kl = (-logratio).mean()
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs += [((ratio - 1.0).abs() > args.clip_coef).float().mean().item()]

                mb_advantages = b_advantages[mb_inds]
                if args.norm_adv:
                    mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)

                # Policy loss
                pg_loss1 = -mb_advantages * ratio
                pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()

                # Value loss
                newvalue = newvalue.view(-1)
                if args.clip_vloss:
                    v_loss_unclipped = (newvalue - b_returns[mb_inds]) ** 2
                    v_clipped = b_values[mb_inds] + torch.clamp(
                        newvalue - b_values[mb_inds],
                        -args.clip_coef,
                        args.clip_coef,
                    )
                    v_loss_clipped = (v_clipped - b_returns[mb_inds]) ** 2
                    v_loss_max = torch.max(v_loss_unclipped, v_loss_clipped)
                    v_loss = 0.5 * v_loss_max.mean()
                else:
                    v_loss = 0.5 * ((newvalue - b_returns[mb_inds]) ** 2).mean()

                entropy_loss = entropy.mean()
                loss = pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef

                optimizer.zero_grad()
                loss.backward()
                grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

                for key, v in (("pg_loss", pg_loss), ("v_loss", v_loss), ("entropy", entropy_loss),
                               ("old_approx_kl", old_approx_kl), ("approx_kl", approx_kl), ("grad_norm", grad_norm)):
                    out[key].append(v.item())

            if args.target_kl is not None:  # noqa: SIM102 - CleanRL's spelling
                if approx_kl > args.target_kl:
                    break

        y_pred, y_true = b_values.cpu().numpy(), b_returns.cpu().numpy()
        var_y = np.var(y_true)
        explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y
        out["clipfrac"].append(np.mean(clipfracs))
        out["explained_variance"].append(explained_var)
        log(f"update={update} losses/value_loss={v_loss.item():.4f} losses/policy_loss={pg_loss.item():.4f} "
            f"losses/clipfrac={np.mean(clipfracs):.4f} losses/explained_variance={explained_var:.4f}")
    out["params"] = {k: v.detach().numpy().copy() for k, v in agent.state_dict().items()}
    return out


# ---------------------------------------------------------------- nikhilbarhate99/PPO-PyTorch's PPO.py
class RolloutBuffer:
    def __init__(self):
        self.actions = []
        self.states = []
        self.logprobs = []
        self.rewards = []
        self.state_values = []
        self.is_terminals = []

    def clear(self):
        del self.actions[:]
        del self.states[:]
        del self.logprobs[:]
        del self.rewards[:]
        del self.state_values[:]
        del self.is_terminals[:]


class ActorCritic(nn.Module):
    def __init__(self, state_dim, action_dim, has_continuous_action_space, action_std_init, hidden=16):
        super(ActorCritic, self).__init__()  # noqa: UP008 - the repository's spelling
        self.has_continuous_action_space = has_continuous_action_space
        if has_continuous_action_space:
            self.action_dim = action_dim
            self.action_var = torch.full((action_dim,), action_std_init * action_std_init)
            self.actor = nn.Sequential(nn.Linear(state_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                       nn.Linear(hidden, action_dim), nn.Tanh())
        else:
            self.actor = nn.Sequential(nn.Linear(state_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                       nn.Linear(hidden, action_dim), nn.Softmax(dim=-1))
        self.critic = nn.Sequential(nn.Linear(state_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                    nn.Linear(hidden, 1))

    def set_action_std(self, new_action_std):
        self.action_var = torch.full((self.action_dim,), new_action_std * new_action_std)

    def act(self, state, action=None):
        if self.has_continuous_action_space:
            action_mean = self.actor(state)
            cov_mat = torch.diag(self.action_var).unsqueeze(dim=0)
            dist = MultivariateNormal(action_mean, cov_mat)
        else:
            action_probs = self.actor(state)
            dist = Categorical(action_probs)
        if action is None:
            action = dist.sample()
        action_logprob = dist.log_prob(action)
        state_val = self.critic(state)
        return action.detach(), action_logprob.detach(), state_val.detach()

    def evaluate(self, state, action):
        if self.has_continuous_action_space:
            action_mean = self.actor(state)
            action_var = self.action_var.expand_as(action_mean)
            cov_mat = torch.diag_embed(action_var)
            dist = MultivariateNormal(action_mean, cov_mat)
            if self.action_dim == 1:
                action = action.reshape(-1, self.action_dim)
        else:
            action_probs = self.actor(state)
            dist = Categorical(action_probs)
        action_logprobs = dist.log_prob(action)
        dist_entropy = dist.entropy()
        state_values = self.critic(state)
        return action_logprobs, state_values, dist_entropy


class PPO:
    def __init__(self, policy, state_dim, action_dim, lr_actor, lr_critic, gamma, K_epochs, eps_clip,
                 has_continuous_action_space, action_std_init=0.6):
        self.has_continuous_action_space = has_continuous_action_space
        if has_continuous_action_space:
            self.action_std = action_std_init
        self.gamma = gamma
        self.eps_clip = eps_clip
        self.K_epochs = K_epochs
        self.buffer = RolloutBuffer()
        self.policy = policy
        self.optimizer = torch.optim.Adam([
            {'params': self.policy.actor.parameters(), 'lr': lr_actor},
            {'params': self.policy.critic.parameters(), 'lr': lr_critic}
        ])
        self.policy_old = ActorCritic(state_dim, action_dim, has_continuous_action_space, action_std_init)
        self.policy_old.load_state_dict(self.policy.state_dict())
        self.MseLoss = nn.MSELoss()

    def decay_action_std(self, action_std_decay_rate, min_action_std):
        self.action_std = self.action_std - action_std_decay_rate
        self.action_std = round(self.action_std, 4)
        if (self.action_std <= min_action_std):
            self.action_std = min_action_std
        self.policy.set_action_std(self.action_std)
        self.policy_old.set_action_std(self.action_std)

    def select_action(self, state, given=None):
        with torch.no_grad():
            state = torch.FloatTensor(state)
            action, action_logprob, state_val = self.policy_old.act(state, given)
        self.buffer.states.append(state)
        self.buffer.actions.append(action)
        self.buffer.logprobs.append(action_logprob)
        self.buffer.state_values.append(state_val)
        if self.has_continuous_action_space:
            return action.detach().cpu().numpy().flatten()
        return action.item()

    def update(self):
        # Monte Carlo estimate of returns
        rewards = []
        discounted_reward = 0
        for reward, is_terminal in zip(reversed(self.buffer.rewards), reversed(self.buffer.is_terminals)):
            if is_terminal:
                discounted_reward = 0
            discounted_reward = reward + (self.gamma * discounted_reward)
            rewards.insert(0, discounted_reward)

        # Normalizing the rewards
        rewards = torch.tensor(rewards, dtype=torch.float32)
        rewards = (rewards - rewards.mean()) / (rewards.std() + 1e-7)

        # convert list to tensor
        old_states = torch.squeeze(torch.stack(self.buffer.states, dim=0)).detach()
        old_actions = torch.squeeze(torch.stack(self.buffer.actions, dim=0)).detach()
        old_logprobs = torch.squeeze(torch.stack(self.buffer.logprobs, dim=0)).detach()
        old_state_values = torch.squeeze(torch.stack(self.buffer.state_values, dim=0)).detach()

        # calculate advantages
        advantages = rewards.detach() - old_state_values.detach()

        losses = []
        for _ in range(self.K_epochs):
            logprobs, state_values, dist_entropy = self.policy.evaluate(old_states, old_actions)
            state_values = torch.squeeze(state_values)
            ratios = torch.exp(logprobs - old_logprobs.detach())
            surr1 = ratios * advantages
            surr2 = torch.clamp(ratios, 1 - self.eps_clip, 1 + self.eps_clip) * advantages
            loss = -torch.min(surr1, surr2) + 0.5 * self.MseLoss(state_values, rewards) - 0.01 * dist_entropy
            self.optimizer.zero_grad()
            loss.mean().backward()
            self.optimizer.step()
            losses.append(loss.detach().numpy().copy())

        self.policy_old.load_state_dict(self.policy.state_dict())
        self.buffer.clear()
        return losses

    def save(self, checkpoint_path):
        torch.save(self.policy_old.state_dict(), checkpoint_path)

    def load(self, checkpoint_path):
        self.policy_old.load_state_dict(torch.load(checkpoint_path, map_location=lambda storage, loc: storage))
        self.policy.load_state_dict(torch.load(checkpoint_path, map_location=lambda storage, loc: storage))


def make_actor_critic(continuous=False):
    return ActorCritic(2, 1 if continuous else 3, continuous, 0.6)


def train_barhate(policy, continuous=False, max_ep_len=24, update_timestep=48, max_training_timesteps=240,
                  action_std_decay_freq=96, checkpoint_path=None, actions_to_take=None, seed=0):
    """train.py's loop on one PointMass (the repository's single env): an update every ``update_timestep`` steps,
    the action std decayed every ``action_std_decay_freq``, a checkpoint saved and loaded back at the end."""
    np.random.seed(seed)
    torch.manual_seed(seed)
    env = PointMass(1, continuous, max_steps=max_ep_len)
    ppo_agent = PPO(policy, 2, 1 if continuous else 3, 3e-3, 1e-2, 0.99, 4, 0.2, continuous, 0.6)
    out = {"actions": [], "losses": [], "ep_rewards": [], "action_std": []}
    time_step = 0
    while time_step <= max_training_timesteps:
        state = env.reset()[0]
        current_ep_reward = 0
        for t in range(1, max_ep_len + 1):  # noqa: B007 - the repository's spelling
            given = None if actions_to_take is None else torch.tensor(actions_to_take[len(out["actions"])])
            action = ppo_agent.select_action(state, given)
            out["actions"].append(action)
            state, reward, done, _ = env.step(np.array([action]).reshape(1, -1) if continuous else np.array([action]))
            state, reward, done = state[0], reward[0], bool(done[0])
            ppo_agent.buffer.rewards.append(reward)
            ppo_agent.buffer.is_terminals.append(done)
            time_step += 1
            current_ep_reward += reward
            if time_step % update_timestep == 0:
                out["losses"].append(ppo_agent.update())
            if continuous and time_step % action_std_decay_freq == 0:
                ppo_agent.decay_action_std(0.05, 0.1)
                out["action_std"].append(ppo_agent.action_std)
            if done:
                break
        out["ep_rewards"].append(current_ep_reward)
    if checkpoint_path is not None:
        ppo_agent.save(checkpoint_path)
        fresh = PPO(make_actor_critic(continuous), 2, 1 if continuous else 3, 3e-3, 1e-2, 0.99, 4, 0.2, continuous)
        fresh.load(checkpoint_path)
        out["loaded"] = {k: v.numpy().copy() for k, v in fresh.policy.state_dict().items()}
    out["params"] = {k: v.detach().numpy().copy() for k, v in ppo_agent.policy_old.state_dict().items()}
    return out
