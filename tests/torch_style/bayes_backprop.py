"""Bayes by Backprop (Blundell et al. 2015, "Weight Uncertainty in Neural Networks") as the popular PyTorch blog
notebooks write it: a reparameterised Gaussian posterior over every weight (``sigma = log1p(exp(rho))``), a
scale-mixture prior, ``log_prior`` / ``log_variational_posterior`` kept by each layer's forward, the ELBO over
``samples`` forward passes, Adam, and the ensemble test; plus a variant whose complexity cost is the closed-form
``kl_divergence(Normal, Normal)``. Synthetic 4x4 "images" of 3 classes, tiny sizes."""
# ruff: noqa: A002 - the notebook names its arguments ``input``

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

BATCH_SIZE = 8
TEST_BATCH_SIZE = 8
CLASSES = 3
TRAIN_EPOCHS = 3
SAMPLES = 2
TEST_SAMPLES = 3
PIXELS = 4 * 4
HIDDEN = 12

PI = 0.5
SIGMA_1 = torch.FloatTensor([math.exp(-0)])
SIGMA_2 = torch.FloatTensor([math.exp(-6)])
PRIOR_SIGMA = 0.1


class Gaussian(object):  # noqa: UP004 - the notebook's spelling
    def __init__(self, mu, rho):
        super().__init__()
        self.mu = mu
        self.rho = rho
        self.normal = torch.distributions.Normal(0, 1)

    @property
    def sigma(self):
        return torch.log1p(torch.exp(self.rho))

    def sample(self):
        epsilon = self.normal.sample(self.rho.size())
        return self.mu + self.sigma * epsilon

    def log_prob(self, input):
        return (-math.log(math.sqrt(2 * math.pi))
                - torch.log(self.sigma)
                - ((input - self.mu) ** 2) / (2 * self.sigma ** 2)).sum()


class ScaleMixtureGaussian(object):  # noqa: UP004
    def __init__(self, pi, sigma1, sigma2):
        super().__init__()
        self.pi = pi
        self.sigma1 = sigma1
        self.sigma2 = sigma2
        self.gaussian1 = torch.distributions.Normal(0, sigma1)
        self.gaussian2 = torch.distributions.Normal(0, sigma2)

    def log_prob(self, input):
        prob1 = torch.exp(self.gaussian1.log_prob(input))
        prob2 = torch.exp(self.gaussian2.log_prob(input))
        return (torch.log(self.pi * prob1 + (1 - self.pi) * prob2)).sum()


class BayesianLinear(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        # Weight parameters
        self.weight_mu = nn.Parameter(torch.Tensor(out_features, in_features).uniform_(-0.2, 0.2))
        self.weight_rho = nn.Parameter(torch.Tensor(out_features, in_features).uniform_(-5, -4))
        self.weight = Gaussian(self.weight_mu, self.weight_rho)
        # Bias parameters
        self.bias_mu = nn.Parameter(torch.Tensor(out_features).uniform_(-0.2, 0.2))
        self.bias_rho = nn.Parameter(torch.Tensor(out_features).uniform_(-5, -4))
        self.bias = Gaussian(self.bias_mu, self.bias_rho)
        # Prior distributions
        self.weight_prior = ScaleMixtureGaussian(PI, SIGMA_1, SIGMA_2)
        self.bias_prior = ScaleMixtureGaussian(PI, SIGMA_1, SIGMA_2)
        self.log_prior = 0
        self.log_variational_posterior = 0

    def forward(self, input, sample=False, calculate_log_probs=False):
        if self.training or sample:
            weight = self.weight.sample()
            bias = self.bias.sample()
        else:
            weight = self.weight.mu
            bias = self.bias.mu
        if self.training or calculate_log_probs:
            self.log_prior = self.weight_prior.log_prob(weight) + self.bias_prior.log_prob(bias)
            self.log_variational_posterior = self.weight.log_prob(weight) + self.bias.log_prob(bias)
        else:
            self.log_prior, self.log_variational_posterior = 0, 0

        return F.linear(input, weight, bias)


class BayesianLinearKL(BayesianLinear):
    """The closed-form variant: KL(q || N(0, PRIOR_SIGMA)) in place of the sampled log-probabilities."""

    def forward(self, input, sample=False, calculate_log_probs=False):
        if self.training or sample:
            weight = self.weight.sample()
            bias = self.bias.sample()
        else:
            weight = self.weight.mu
            bias = self.bias.mu
        prior = torch.distributions.Normal(0., PRIOR_SIGMA)
        self.kl = torch.distributions.kl_divergence(
            torch.distributions.Normal(self.weight_mu, self.weight.sigma), prior).sum() + \
            torch.distributions.kl_divergence(torch.distributions.Normal(self.bias_mu, self.bias.sigma), prior).sum()
        return F.linear(input, weight, bias)


class BayesianNetwork(nn.Module):
    def __init__(self, layer=BayesianLinear):
        super().__init__()
        self.l1 = layer(PIXELS, HIDDEN)
        self.l2 = layer(HIDDEN, HIDDEN)
        self.l3 = layer(HIDDEN, CLASSES)

    def forward(self, x, sample=False):
        x = x.view(-1, PIXELS)
        x = F.relu(self.l1(x, sample))
        x = F.relu(self.l2(x, sample))
        x = F.log_softmax(self.l3(x, sample), dim=1)
        return x

    def log_prior(self):
        return self.l1.log_prior \
            + self.l2.log_prior \
            + self.l3.log_prior

    def log_variational_posterior(self):
        return self.l1.log_variational_posterior \
            + self.l2.log_variational_posterior \
            + self.l3.log_variational_posterior

    def kl(self):
        return self.l1.kl + self.l2.kl + self.l3.kl

    def sample_elbo(self, input, target, samples=SAMPLES):
        outputs = torch.zeros(samples, BATCH_SIZE, CLASSES)
        log_priors = torch.zeros(samples)
        log_variational_posteriors = torch.zeros(samples)
        for i in range(samples):
            outputs[i] = self(input, sample=True)
            log_priors[i] = self.log_prior()
            log_variational_posteriors[i] = self.log_variational_posterior()
        log_prior = log_priors.mean()
        log_variational_posterior = log_variational_posteriors.mean()
        negative_log_likelihood = F.nll_loss(outputs.mean(0), target, size_average=False)
        loss = (log_variational_posterior - log_prior) / NUM_BATCHES + negative_log_likelihood
        return loss, log_prior, log_variational_posterior, negative_log_likelihood

    def sample_elbo_kl(self, input, target, samples=SAMPLES):
        outputs = torch.zeros(samples, BATCH_SIZE, CLASSES)
        for i in range(samples):
            outputs[i] = self(input, sample=True)
        negative_log_likelihood = F.nll_loss(outputs.mean(0), target, size_average=False)
        kl = self.kl()
        loss = kl / NUM_BATCHES + negative_log_likelihood
        return loss, kl, negative_log_likelihood


def make_data(seed=0, n_train=64, n_test=24):
    """Three classes of 4x4 images: a bright row, a bright column or a bright diagonal, in noise."""
    rng = np.random.RandomState(seed)

    def draw(n):
        y = rng.randint(0, CLASSES, n)
        x = rng.normal(0, 0.5, (n, 1, 4, 4)).astype(np.float32)
        for k in range(n):
            j = rng.randint(0, 4)
            if y[k] == 0:
                x[k, 0, j, :] += 2
            elif y[k] == 1:
                x[k, 0, :, j] += 2
            else:
                x[k, 0, np.arange(4), np.arange(4)] += 2
        return torch.from_numpy(x), torch.from_numpy(y)

    return draw(n_train), draw(n_test)


def train(net, optimizer, epoch, train_loader, log, kl=False):
    net.train()
    for batch_idx, (data, target) in enumerate(train_loader):  # noqa: B007
        net.zero_grad()
        if kl:
            loss, complexity, negative_log_likelihood = net.sample_elbo_kl(data, target)
            log["kl"].append(complexity.item())
        else:
            loss, log_prior, log_variational_posterior, negative_log_likelihood = net.sample_elbo(data, target)
            log["log_prior"].append(log_prior.item())
            log["log_variational_posterior"].append(log_variational_posterior.item())
        loss.backward()
        log["loss"].append(loss.item())
        log["nll"].append(negative_log_likelihood.item())
        log["grad_norm"].append(math.sqrt(sum(p.grad.pow(2).sum().item() for p in net.parameters())))
        optimizer.step()


def test_ensemble(net, test_loader, test_size):
    net.eval()
    correct = 0
    corrects = np.zeros(TEST_SAMPLES + 1, dtype=int)
    with torch.no_grad():
        for data, target in test_loader:
            outputs = torch.zeros(TEST_SAMPLES + 1, TEST_BATCH_SIZE, CLASSES)
            for i in range(TEST_SAMPLES):
                outputs[i] = net(data, sample=True)
            outputs[TEST_SAMPLES] = net(data, sample=False)
            output = outputs.mean(0)
            preds = outputs.max(2, keepdim=True)[1]
            pred = output.max(1, keepdim=True)[1]  # index of max log-probability
            corrects += preds.eq(target.view_as(pred)).sum(dim=1).squeeze().cpu().numpy()
            correct += pred.eq(target.view_as(pred)).sum().item()
    for index, num in enumerate(corrects):
        if index < TEST_SAMPLES:
            print('Component {} Accuracy: {}/{}'.format(index, num, test_size))  # noqa: UP032
        else:
            print('Posterior Mean Accuracy: {}/{}'.format(num, test_size))  # noqa: UP032
    print('Ensemble Accuracy: {}/{}'.format(correct, test_size))  # noqa: UP032
    return correct, corrects.tolist()


def run(net, epochs=TRAIN_EPOCHS, lr=1e-2, kl=False, seed=0, resume_at=None, path=None):
    """Train ``net`` for ``epochs`` with Adam and run the ensemble test after each: the per-step series, the
    accuracies and the final parameters. With ``resume_at``, a checkpoint saved to ``path`` after that epoch is
    loaded into a fresh network and optimizer, which train on."""
    global NUM_BATCHES
    (x, y), (tx, ty) = make_data(seed)
    train_loader = DataLoader(TensorDataset(x, y), batch_size=BATCH_SIZE, shuffle=False, drop_last=True)
    test_loader = DataLoader(TensorDataset(tx, ty), batch_size=TEST_BATCH_SIZE, shuffle=False)
    NUM_BATCHES = len(train_loader)
    optimizer = optim.Adam(net.parameters(), lr=lr)
    log = {"loss": [], "nll": [], "grad_norm": [], "log_prior": [], "log_variational_posterior": [], "kl": [],
           "ensemble": [], "corrects": []}
    for epoch in range(epochs):
        if epoch == resume_at:
            torch.save({'epoch': epoch, 'model_state_dict': net.state_dict(),
                        'optimizer_state_dict': optimizer.state_dict()}, path)
            net = BayesianNetwork(type(net.l1))
            optimizer = optim.Adam(net.parameters(), lr=lr)
            checkpoint = torch.load(path)
            net.load_state_dict(checkpoint['model_state_dict'])
            optimizer.load_state_dict(checkpoint['optimizer_state_dict'])
        train(net, optimizer, epoch, train_loader, log, kl=kl)
        correct, corrects = test_ensemble(net, test_loader, len(ty))
        log["ensemble"].append(correct)
        log["corrects"].append(corrects)
    log["params"] = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    return log
