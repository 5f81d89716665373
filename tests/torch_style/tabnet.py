"""The core of dreamquark-ai's pytorch-tabnet as its ``sparsemax.py`` and ``tab_network.py`` write it (the Sparsemax /
Entmax15 autograd Functions, ghost batch norm, GLU blocks with shared layers, the attentive and feature transformers,
the encoder's sparsity loss, the embedding generator and the explain masks), and its classifier's training loop on a
synthetic table: cross-entropy minus ``lambda_sparse * M_loss``, Adam under StepLR, clip_grad_norm_, softmax
predictions and feature importances from ``explain``."""
# ruff: noqa: UP008, A001, A002, B006, B007, N801, N802, RUF059, I001 - the repository's own names and spelling

import copy
import io

import numpy as np
from scipy.sparse import csc_matrix
import torch
from torch import nn
from torch.autograd import Function
import torch.nn.functional as F
from torch.nn import Linear, BatchNorm1d, ReLU
from torch.nn.utils import clip_grad_norm_
from torch.utils.data import DataLoader, Dataset


# ---------------------------------------------------------------- sparsemax.py

def _make_ix_like(input, dim=0):
    d = input.size(dim)
    rho = torch.arange(1, d + 1, device=input.device, dtype=input.dtype)
    view = [1] * input.dim()
    view[0] = -1
    return rho.view(view).transpose(0, dim)


class SparsemaxFunction(Function):
    """sparsemax: the Euclidean projection of the input onto the simplex (Martins & Astudillo, 2016)."""

    @staticmethod
    def forward(ctx, input, dim=-1):
        ctx.dim = dim
        max_val, _ = input.max(dim=dim, keepdim=True)
        input -= max_val  # same numerical stability trick as for softmax
        tau, supp_size = SparsemaxFunction._threshold_and_support(input, dim=dim)
        output = torch.clamp(input - tau, min=0)
        ctx.save_for_backward(supp_size, output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        supp_size, output = ctx.saved_tensors
        dim = ctx.dim
        grad_input = grad_output.clone()
        grad_input[output == 0] = 0

        v_hat = grad_input.sum(dim=dim) / supp_size.to(output.dtype).squeeze()
        v_hat = v_hat.unsqueeze(dim)
        grad_input = torch.where(output != 0, grad_input - v_hat, grad_input)
        return grad_input, None

    @staticmethod
    def _threshold_and_support(input, dim=-1):
        input_srt, _ = torch.sort(input, descending=True, dim=dim)
        input_cumsum = input_srt.cumsum(dim) - 1
        rhos = _make_ix_like(input, dim)
        support = rhos * input_srt > input_cumsum

        support_size = support.sum(dim=dim).unsqueeze(dim)
        tau = input_cumsum.gather(dim, support_size - 1)
        tau /= support_size.to(input.dtype)
        return tau, support_size


sparsemax = SparsemaxFunction.apply


class Sparsemax(nn.Module):

    def __init__(self, dim=-1):
        self.dim = dim
        super(Sparsemax, self).__init__()

    def forward(self, input):
        return sparsemax(input, self.dim)


class Entmax15Function(Function):
    """1.5-entmax (Peters, Niculae & Martins, 2019) by its exact sort-based threshold."""

    @staticmethod
    def forward(ctx, input, dim=-1):
        ctx.dim = dim

        max_val, _ = input.max(dim=dim, keepdim=True)
        input = input - max_val  # same numerical stability trick as for softmax
        input = input / 2  # divide by 2 to solve actual Entmax

        tau_star, _ = Entmax15Function._threshold_and_support(input, dim)
        output = torch.clamp(input - tau_star, min=0) ** 2
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        Y, = ctx.saved_tensors
        gppr = Y.sqrt()  # = 1 / g'' (Y)
        dX = grad_output * gppr
        q = dX.sum(ctx.dim) / gppr.sum(ctx.dim)
        q = q.unsqueeze(ctx.dim)
        dX -= q * gppr
        return dX, None

    @staticmethod
    def _threshold_and_support(input, dim=-1):
        Xsrt, _ = torch.sort(input, descending=True, dim=dim)

        rho = _make_ix_like(input, dim)
        mean = Xsrt.cumsum(dim) / rho
        mean_sq = (Xsrt ** 2).cumsum(dim) / rho
        ss = rho * (mean_sq - mean ** 2)
        delta = (1 - ss) / rho

        # NOTE this is not exactly the same as in reference algo
        # Fortunately it seems the clamped values never wrongly
        # get selected by tau <= sorted_z. Prove this!
        delta_nz = torch.clamp(delta, 0)
        tau = mean - torch.sqrt(delta_nz)

        support_size = (tau <= Xsrt).sum(dim).unsqueeze(dim)
        tau_star = tau.gather(dim, support_size - 1)
        return tau_star, support_size


class Entmoid15(Function):
    """ A highly optimized equivalent of lambda x: Entmax15([x, 0]) """

    @staticmethod
    def forward(ctx, input):
        output = Entmoid15._forward(input)
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def _forward(input):
        input, is_pos = abs(input), input >= 0
        tau = (input + torch.sqrt(F.relu(8 - input ** 2))) / 2
        tau.masked_fill_(tau <= input, 2.0)
        y_neg = 0.25 * F.relu(tau - input, inplace=True) ** 2
        return torch.where(is_pos, 1 - y_neg, y_neg)

    @staticmethod
    def backward(ctx, grad_output):
        return Entmoid15._backward(ctx.saved_tensors[0], grad_output)

    @staticmethod
    def _backward(output, grad_output):
        gppr0, gppr1 = output.sqrt(), (1 - output).sqrt()
        grad_input = grad_output * gppr0
        q = grad_input / (gppr0 + gppr1)
        grad_input -= q * gppr0
        return grad_input


entmax15 = Entmax15Function.apply
entmoid15 = Entmoid15.apply


class Entmax15(nn.Module):

    def __init__(self, dim=-1):
        self.dim = dim
        super(Entmax15, self).__init__()

    def forward(self, input):
        return entmax15(input, self.dim)


# ---------------------------------------------------------------- tab_network.py

def initialize_non_glu(module, input_dim, output_dim):
    gain_value = np.sqrt((input_dim + output_dim) / np.sqrt(4 * input_dim))
    torch.nn.init.xavier_normal_(module.weight, gain=gain_value)
    # torch.nn.init.zeros_(module.bias)
    return


def initialize_glu(module, input_dim, output_dim):
    gain_value = np.sqrt((input_dim + output_dim) / np.sqrt(input_dim))
    torch.nn.init.xavier_normal_(module.weight, gain=gain_value)
    # torch.nn.init.zeros_(module.bias)
    return


class GBN(torch.nn.Module):
    """
    Ghost Batch Normalization
    https://arxiv.org/abs/1705.08741
    """

    def __init__(self, input_dim, virtual_batch_size=128, momentum=0.01):
        super(GBN, self).__init__()

        self.input_dim = input_dim
        self.virtual_batch_size = virtual_batch_size
        self.bn = BatchNorm1d(self.input_dim, momentum=momentum)

    def forward(self, x):
        chunks = x.chunk(int(np.ceil(x.shape[0] / self.virtual_batch_size)), 0)
        res = [self.bn(x_) for x_ in chunks]

        return torch.cat(res, dim=0)


class TabNetEncoder(torch.nn.Module):
    def __init__(self, input_dim, output_dim, n_d=8, n_a=8, n_steps=3, gamma=1.3, n_independent=2, n_shared=2,
                 epsilon=1e-15, virtual_batch_size=128, momentum=0.02, mask_type="sparsemax"):
        super(TabNetEncoder, self).__init__()
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.is_multi_task = isinstance(output_dim, list)
        self.n_d = n_d
        self.n_a = n_a
        self.n_steps = n_steps
        self.gamma = gamma
        self.epsilon = epsilon
        self.n_independent = n_independent
        self.n_shared = n_shared
        self.virtual_batch_size = virtual_batch_size
        self.mask_type = mask_type
        self.initial_bn = BatchNorm1d(self.input_dim, momentum=0.01)

        if self.n_shared > 0:
            shared_feat_transform = torch.nn.ModuleList()
            for i in range(self.n_shared):
                if i == 0:
                    shared_feat_transform.append(Linear(self.input_dim, 2 * (n_d + n_a), bias=False))
                else:
                    shared_feat_transform.append(Linear(n_d + n_a, 2 * (n_d + n_a), bias=False))

        else:
            shared_feat_transform = None

        self.initial_splitter = FeatTransformer(self.input_dim, n_d + n_a, shared_feat_transform,
                                                n_glu_independent=self.n_independent,
                                                virtual_batch_size=self.virtual_batch_size, momentum=momentum)

        self.feat_transformers = torch.nn.ModuleList()
        self.att_transformers = torch.nn.ModuleList()

        for step in range(n_steps):
            transformer = FeatTransformer(self.input_dim, n_d + n_a, shared_feat_transform,
                                          n_glu_independent=self.n_independent,
                                          virtual_batch_size=self.virtual_batch_size, momentum=momentum)
            attention = AttentiveTransformer(n_a, self.input_dim, virtual_batch_size=self.virtual_batch_size,
                                             momentum=momentum, mask_type=self.mask_type)
            self.feat_transformers.append(transformer)
            self.att_transformers.append(attention)

    def forward(self, x, prior=None):
        x = self.initial_bn(x)

        if prior is None:
            prior = torch.ones(x.shape).to(x.device)

        M_loss = 0
        att = self.initial_splitter(x)[:, self.n_d:]

        steps_output = []
        for step in range(self.n_steps):
            M = self.att_transformers[step](prior, att)
            M_loss += torch.mean(torch.sum(torch.mul(M, torch.log(M + self.epsilon)), dim=1))
            # update prior
            prior = torch.mul(self.gamma - M, prior)
            # output
            masked_x = torch.mul(M, x)
            out = self.feat_transformers[step](masked_x)
            d = ReLU()(out[:, :self.n_d])
            steps_output.append(d)
            # update attention
            att = out[:, self.n_d:]

        M_loss /= self.n_steps
        return steps_output, M_loss

    def forward_masks(self, x):
        x = self.initial_bn(x)

        prior = torch.ones(x.shape).to(x.device)
        M_explain = torch.zeros(x.shape).to(x.device)
        att = self.initial_splitter(x)[:, self.n_d:]
        masks = {}

        for step in range(self.n_steps):
            M = self.att_transformers[step](prior, att)
            masks[step] = M
            # update prior
            prior = torch.mul(self.gamma - M, prior)
            # output
            masked_x = torch.mul(M, x)
            out = self.feat_transformers[step](masked_x)
            d = ReLU()(out[:, :self.n_d])
            # explain
            step_importance = torch.sum(d, dim=1)
            M_explain += torch.mul(M, step_importance.unsqueeze(dim=1))
            # update attention
            att = out[:, self.n_d:]

        return M_explain, masks


class TabNetNoEmbeddings(torch.nn.Module):
    def __init__(self, input_dim, output_dim, n_d=8, n_a=8, n_steps=3, gamma=1.3, n_independent=2, n_shared=2,
                 epsilon=1e-15, virtual_batch_size=128, momentum=0.02, mask_type="sparsemax"):
        super(TabNetNoEmbeddings, self).__init__()
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.is_multi_task = isinstance(output_dim, list)
        self.n_d = n_d
        self.n_a = n_a
        self.n_steps = n_steps
        self.gamma = gamma
        self.epsilon = epsilon
        self.n_independent = n_independent
        self.n_shared = n_shared
        self.virtual_batch_size = virtual_batch_size
        self.mask_type = mask_type
        self.initial_bn = BatchNorm1d(self.input_dim, momentum=0.01)

        self.encoder = TabNetEncoder(input_dim=input_dim, output_dim=output_dim, n_d=n_d, n_a=n_a, n_steps=n_steps,
                                     gamma=gamma, n_independent=n_independent, n_shared=n_shared, epsilon=epsilon,
                                     virtual_batch_size=virtual_batch_size, momentum=momentum, mask_type=mask_type)

        if self.is_multi_task:
            self.multi_task_mappings = torch.nn.ModuleList()
            for task_dim in output_dim:
                task_mapping = Linear(n_d, task_dim, bias=False)
                initialize_non_glu(task_mapping, n_d, task_dim)
                self.multi_task_mappings.append(task_mapping)
        else:
            self.final_mapping = Linear(n_d, output_dim, bias=False)
            initialize_non_glu(self.final_mapping, n_d, output_dim)

    def forward(self, x):
        res = 0
        steps_output, M_loss = self.encoder(x)
        res = torch.sum(torch.stack(steps_output, dim=0), dim=0)

        if self.is_multi_task:
            # Result will be in list format
            out = []
            for task_mapping in self.multi_task_mappings:
                out.append(task_mapping(res))
        else:
            out = self.final_mapping(res)
        return out, M_loss

    def forward_masks(self, x):
        return self.encoder.forward_masks(x)


class TabNetDecoder(torch.nn.Module):
    def __init__(self, input_dim, n_d=8, n_steps=3, n_independent=1, n_shared=1, virtual_batch_size=128,
                 momentum=0.02):
        super(TabNetDecoder, self).__init__()
        self.input_dim = input_dim
        self.n_d = n_d
        self.n_steps = n_steps
        self.n_independent = n_independent
        self.n_shared = n_shared
        self.virtual_batch_size = virtual_batch_size

        self.feat_transformers = torch.nn.ModuleList()

        if self.n_shared > 0:
            shared_feat_transform = torch.nn.ModuleList()
            for i in range(self.n_shared):
                shared_feat_transform.append(Linear(n_d, 2 * n_d, bias=False))
        else:
            shared_feat_transform = None

        for step in range(n_steps):
            transformer = FeatTransformer(n_d, n_d, shared_feat_transform, n_glu_independent=self.n_independent,
                                          virtual_batch_size=self.virtual_batch_size, momentum=momentum)
            self.feat_transformers.append(transformer)

        self.reconstruction_layer = Linear(n_d, input_dim, bias=False)
        initialize_non_glu(self.reconstruction_layer, n_d, input_dim)

    def forward(self, steps_output):
        res = 0
        for step_nb, step_output in enumerate(steps_output):
            x = self.feat_transformers[step_nb](step_output)
            res = torch.add(res, x)
        res = self.reconstruction_layer(res)
        return res


class TabNetPretraining(torch.nn.Module):
    def __init__(self, input_dim, pretraining_ratio=0.2, n_d=8, n_a=8, n_steps=3, gamma=1.3, cat_idxs=[],
                 cat_dims=[], cat_emb_dim=1, n_independent=2, n_shared=2, epsilon=1e-15, virtual_batch_size=128,
                 momentum=0.02, mask_type="sparsemax", n_shared_decoder=1, n_indep_decoder=1):
        super(TabNetPretraining, self).__init__()

        self.cat_idxs = cat_idxs or []
        self.cat_dims = cat_dims or []
        self.cat_emb_dim = cat_emb_dim

        self.input_dim = input_dim
        self.n_d = n_d
        self.n_a = n_a
        self.n_steps = n_steps
        self.gamma = gamma
        self.epsilon = epsilon
        self.n_independent = n_independent
        self.n_shared = n_shared
        self.mask_type = mask_type
        self.pretraining_ratio = pretraining_ratio
        self.n_shared_decoder = n_shared_decoder
        self.n_indep_decoder = n_indep_decoder

        if self.n_steps <= 0:
            raise ValueError("n_steps should be a positive integer.")
        if self.n_independent == 0 and self.n_shared == 0:
            raise ValueError("n_shared and n_independent can't be both zero.")

        self.virtual_batch_size = virtual_batch_size
        self.embedder = EmbeddingGenerator(input_dim, cat_dims, cat_idxs, cat_emb_dim)
        self.post_embed_dim = self.embedder.post_embed_dim

        self.masker = RandomObfuscator(self.pretraining_ratio)
        self.encoder = TabNetEncoder(input_dim=self.post_embed_dim, output_dim=self.post_embed_dim, n_d=n_d,
                                     n_a=n_a, n_steps=n_steps, gamma=gamma, n_independent=n_independent,
                                     n_shared=n_shared, epsilon=epsilon, virtual_batch_size=virtual_batch_size,
                                     momentum=momentum, mask_type=mask_type)
        self.decoder = TabNetDecoder(self.post_embed_dim, n_d=n_d, n_steps=n_steps,
                                     n_independent=self.n_indep_decoder, n_shared=self.n_shared_decoder,
                                     virtual_batch_size=virtual_batch_size, momentum=momentum)

    def forward(self, x):
        """
        Returns: res, embedded_x, obf_vars
            res : output of reconstruction
            embedded_x : embedded input
            obf_vars : which variable where obfuscated
        """
        embedded_x = self.embedder(x)
        if self.training:
            masked_x, obf_vars = self.masker(embedded_x)
            # set prior of encoder with obf_mask
            prior = 1 - obf_vars
            steps_out, _ = self.encoder(masked_x, prior=prior)
            res = self.decoder(steps_out)
            return res, embedded_x, obf_vars
        else:
            steps_out, _ = self.encoder(embedded_x)
            res = self.decoder(steps_out)
            return res, embedded_x, torch.ones(embedded_x.shape).to(x.device)

    def forward_masks(self, x):
        embedded_x = self.embedder(x)
        return self.encoder.forward_masks(embedded_x)


class RandomObfuscator(torch.nn.Module):
    """
    Create and applies obfuscation masks
    """

    def __init__(self, pretraining_ratio):
        super(RandomObfuscator, self).__init__()
        self.pretraining_ratio = pretraining_ratio

    def forward(self, x):
        obfuscated_vars = torch.bernoulli(self.pretraining_ratio * torch.ones(x.shape)).to(x.device)
        masked_input = torch.mul(1 - obfuscated_vars, x)
        return masked_input, obfuscated_vars


class TabNet(torch.nn.Module):
    def __init__(self, input_dim, output_dim, n_d=8, n_a=8, n_steps=3, gamma=1.3, cat_idxs=[], cat_dims=[],
                 cat_emb_dim=1, n_independent=2, n_shared=2, epsilon=1e-15, virtual_batch_size=128, momentum=0.02,
                 mask_type="sparsemax"):
        super(TabNet, self).__init__()
        self.cat_idxs = cat_idxs or []
        self.cat_dims = cat_dims or []
        self.cat_emb_dim = cat_emb_dim

        self.input_dim = input_dim
        self.output_dim = output_dim
        self.n_d = n_d
        self.n_a = n_a
        self.n_steps = n_steps
        self.gamma = gamma
        self.epsilon = epsilon
        self.n_independent = n_independent
        self.n_shared = n_shared
        self.mask_type = mask_type

        if self.n_steps <= 0:
            raise ValueError("n_steps should be a positive integer.")
        if self.n_independent == 0 and self.n_shared == 0:
            raise ValueError("n_shared and n_independent can't be both zero.")

        self.virtual_batch_size = virtual_batch_size
        self.embedder = EmbeddingGenerator(input_dim, cat_dims, cat_idxs, cat_emb_dim)
        self.post_embed_dim = self.embedder.post_embed_dim
        self.tabnet = TabNetNoEmbeddings(self.post_embed_dim, output_dim, n_d, n_a, n_steps, gamma, n_independent,
                                         n_shared, epsilon, virtual_batch_size, momentum, mask_type)

    def forward(self, x):
        x = self.embedder(x)
        return self.tabnet(x)

    def forward_masks(self, x):
        x = self.embedder(x)
        return self.tabnet.forward_masks(x)


class AttentiveTransformer(torch.nn.Module):
    def __init__(self, input_dim, output_dim, virtual_batch_size=128, momentum=0.02, mask_type="sparsemax"):
        super(AttentiveTransformer, self).__init__()
        self.fc = Linear(input_dim, output_dim, bias=False)
        initialize_non_glu(self.fc, input_dim, output_dim)
        self.bn = GBN(output_dim, virtual_batch_size=virtual_batch_size, momentum=momentum)

        if mask_type == "sparsemax":
            # Sparsemax
            self.selector = Sparsemax(dim=-1)
        elif mask_type == "entmax":
            # Entmax
            self.selector = Entmax15(dim=-1)
        else:
            raise NotImplementedError("Please choose either sparsemax" + "or entmax as masktype")

    def forward(self, priors, processed_feat):
        x = self.fc(processed_feat)
        x = self.bn(x)
        x = torch.mul(x, priors)
        x = self.selector(x)
        return x


class FeatTransformer(torch.nn.Module):
    def __init__(self, input_dim, output_dim, shared_layers, n_glu_independent, virtual_batch_size=128,
                 momentum=0.02):
        super(FeatTransformer, self).__init__()
        params = {"n_glu": n_glu_independent, "virtual_batch_size": virtual_batch_size, "momentum": momentum}

        if shared_layers is None:
            # no shared layers
            self.shared = torch.nn.Identity()
            is_first = True
        else:
            self.shared = GLU_Block(input_dim, output_dim, first=True, shared_layers=shared_layers,
                                    n_glu=len(shared_layers), virtual_batch_size=virtual_batch_size,
                                    momentum=momentum)
            is_first = False

        if n_glu_independent == 0:
            # no independent layers
            self.specifics = torch.nn.Identity()
        else:
            spec_input_dim = input_dim if is_first else output_dim
            self.specifics = GLU_Block(spec_input_dim, output_dim, first=is_first, **params)

    def forward(self, x):
        x = self.shared(x)
        x = self.specifics(x)
        return x


class GLU_Block(torch.nn.Module):
    """
    Independent GLU block, specific to each step
    """

    def __init__(self, input_dim, output_dim, n_glu=2, first=False, shared_layers=None, virtual_batch_size=128,
                 momentum=0.02):
        super(GLU_Block, self).__init__()
        self.first = first
        self.shared_layers = shared_layers
        self.n_glu = n_glu
        self.glu_layers = torch.nn.ModuleList()

        params = {"virtual_batch_size": virtual_batch_size, "momentum": momentum}

        fc = shared_layers[0] if shared_layers else None
        self.glu_layers.append(GLU_Layer(input_dim, output_dim, fc=fc, **params))
        for glu_id in range(1, self.n_glu):
            fc = shared_layers[glu_id] if shared_layers else None
            self.glu_layers.append(GLU_Layer(output_dim, output_dim, fc=fc, **params))

    def forward(self, x):
        scale = torch.sqrt(torch.FloatTensor([0.5]).to(x.device))
        if self.first:  # the first layer of the block has no scale multiplication
            x = self.glu_layers[0](x)
            layers_left = range(1, self.n_glu)
        else:
            layers_left = range(self.n_glu)

        for glu_id in layers_left:
            x = torch.add(x, self.glu_layers[glu_id](x))
            x = x * scale
        return x


class GLU_Layer(torch.nn.Module):
    def __init__(self, input_dim, output_dim, fc=None, virtual_batch_size=128, momentum=0.02):
        super(GLU_Layer, self).__init__()

        self.output_dim = output_dim
        if fc:
            self.fc = fc
        else:
            self.fc = Linear(input_dim, 2 * output_dim, bias=False)
        initialize_glu(self.fc, input_dim, 2 * output_dim)

        self.bn = GBN(2 * output_dim, virtual_batch_size=virtual_batch_size, momentum=momentum)

    def forward(self, x):
        x = self.fc(x)
        x = self.bn(x)
        out = torch.mul(x[:, :self.output_dim], torch.sigmoid(x[:, self.output_dim:]))
        return out


class EmbeddingGenerator(torch.nn.Module):
    """
    Classical embeddings generator
    """

    def __init__(self, input_dim, cat_dims, cat_idxs, cat_emb_dim):
        super(EmbeddingGenerator, self).__init__()
        if cat_dims == [] and cat_idxs == []:
            self.skip_embedding = True
            self.post_embed_dim = input_dim
            return

        self.skip_embedding = False
        if isinstance(cat_emb_dim, int):
            self.cat_emb_dims = [cat_emb_dim] * len(cat_idxs)
        else:
            self.cat_emb_dims = cat_emb_dim

        # check that all embeddings are provided
        if len(self.cat_emb_dims) != len(cat_dims):
            msg = f"""cat_emb_dim and cat_dims must be lists of same length, got {len(self.cat_emb_dims)}
                      and {len(cat_dims)}"""
            raise ValueError(msg)
        self.post_embed_dim = int(input_dim + np.sum(self.cat_emb_dims) - len(self.cat_emb_dims))

        self.embeddings = torch.nn.ModuleList()

        # Sort dims by cat_idx
        sorted_idxs = np.argsort(cat_idxs)
        cat_dims = [cat_dims[i] for i in sorted_idxs]
        self.cat_emb_dims = [self.cat_emb_dims[i] for i in sorted_idxs]

        for cat_dim, emb_dim in zip(cat_dims, self.cat_emb_dims):
            self.embeddings.append(torch.nn.Embedding(cat_dim, emb_dim))

        # record continuous indices
        self.continuous_idx = torch.ones(input_dim, dtype=torch.bool)
        self.continuous_idx[cat_idxs] = 0

    def forward(self, x):
        """
        Apply embeddings to inputs
        Inputs should be (batch_size, input_dim)
        Outputs will be of size (batch_size, self.post_embed_dim)
        """
        if self.skip_embedding:
            # no embeddings required
            return x

        cols = []
        cat_feat_counter = 0
        for feat_init_idx, is_continuous in enumerate(self.continuous_idx):
            # Enumerate through continuous idx boolean mask to apply embeddings
            if is_continuous:
                cols.append(x[:, feat_init_idx].float().view(-1, 1))
            else:
                cols.append(self.embeddings[cat_feat_counter](x[:, feat_init_idx].long()))
                cat_feat_counter += 1
        # concat
        post_embeddings = torch.cat(cols, dim=1)
        return post_embeddings


# ---------------------------------------------------------------- utils.py / abstract_model.py / tab_model.py

def UnsupervisedLoss(y_pred, embedded_x, obf_vars, eps=1e-9):
    """
    Implements unsupervised loss function.
    This differs from orginal paper as it's scaled to be batch size independent
    and number of features reconstructed independent (by taking the mean)
    """
    errors = y_pred - embedded_x
    reconstruction_errors = torch.mul(errors, obf_vars) ** 2
    batch_means = torch.mean(embedded_x, dim=0)
    batch_means[batch_means == 0] = 1

    batch_stds = torch.std(embedded_x, dim=0) ** 2
    batch_stds[batch_stds == 0] = batch_means[batch_stds == 0]
    features_loss = torch.matmul(reconstruction_errors, 1 / batch_stds)
    # compute the number of obfuscated variables to reconstruct
    nb_reconstructed_variables = torch.sum(obf_vars, dim=1)
    # take the mean of the reconstructed variable errors
    features_loss = features_loss / (nb_reconstructed_variables + eps)
    # here we take the mean per batch, contrary to the paper
    loss = torch.mean(features_loss)
    return loss


class TorchDataset(Dataset):
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        x, y = self.x[index], self.y[index]
        return x, y


class PredictDataset(Dataset):
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        x = self.x[index]
        return x


def create_explain_matrix(input_dim, cat_emb_dim, cat_idxs, post_embed_dim):
    """The (post_embed_dim, input_dim) 0/1 matrix that sums each categorical column's embedding back onto it."""
    if isinstance(cat_emb_dim, int):
        all_emb_impact = [cat_emb_dim - 1] * len(cat_idxs)
    else:
        all_emb_impact = [emb_dim - 1 for emb_dim in cat_emb_dim]

    acc_emb = 0
    nb_emb = 0
    indices_trick = []
    for i in range(input_dim):
        if i not in cat_idxs:
            indices_trick.append([i + acc_emb])
        else:
            indices_trick.append(range(i + acc_emb, i + acc_emb + all_emb_impact[nb_emb] + 1))
            acc_emb += all_emb_impact[nb_emb]
            nb_emb += 1

    reducing_matrix = np.zeros((post_embed_dim, input_dim))
    for i, cols in enumerate(indices_trick):
        reducing_matrix[cols, i] = 1

    return csc_matrix(reducing_matrix)


def make_data(n=240, n_cont=6, cat_dims=(5, 3), n_classes=3, seed=0):
    """A synthetic table: continuous columns first, then the categorical codes (as floats, the library's habit);
    the class depends on two continuous columns and the first categorical one."""
    rng = np.random.RandomState(seed)
    cont = rng.randn(n, n_cont).astype(np.float32)
    cats = np.stack([rng.randint(0, d, n) for d in cat_dims], axis=1)
    score = np.stack([cont[:, 0] + 0.5 * (cats[:, 0] == 1), cont[:, 1] - cont[:, 0], 0.8 * (cats[:, 0] >= 3)], 1)
    y = score[:, :n_classes].argmax(1).astype(np.int64)
    X = np.concatenate([cont, cats.astype(np.float32)], axis=1)
    return X, y


class TabNetClassifierLite:
    """TabModel's fit / predict_proba / explain / feature_importances_ for classification, as the library runs them
    (``device`` is the CPU); the training batches come from a numpy permutation so both libraries see the same."""

    def __init__(self, network, cat_idxs, cat_emb_dim, lambda_sparse=1e-3, clip_value=1, lr=2e-2, step_size=2,
                 gamma=0.9, batch_size=48, seed=0):
        self.network = network
        self.lambda_sparse = lambda_sparse
        self.clip_value = clip_value
        self.batch_size = batch_size
        self.device = "cpu"
        self.rng = np.random.RandomState(seed)
        self._optimizer = torch.optim.Adam(self.network.parameters(), lr=lr)
        self._scheduler = torch.optim.lr_scheduler.StepLR(self._optimizer, step_size=step_size, gamma=gamma)
        self.loss_fn = torch.nn.functional.cross_entropy
        self.reducing_matrix = create_explain_matrix(network.input_dim, cat_emb_dim, cat_idxs,
                                                     network.post_embed_dim)
        self.log = {"loss": [], "grad_norm": [], "m_loss": [], "lr": [], "accuracy": []}
        self.lines = []

    def compute_loss(self, y_pred, y_true):
        return self.loss_fn(y_pred, y_true.long())

    def _train_batch(self, X, y):
        batch_logs = {"batch_size": X.shape[0]}

        X = X.to(self.device).float()
        y = y.to(self.device).float()

        for param in self.network.parameters():
            param.grad = None

        output, M_loss = self.network(X)

        loss = self.compute_loss(output, y)
        # Add the overall sparsity loss
        loss = loss - self.lambda_sparse * M_loss

        # Perform backward pass and optimization
        loss.backward()
        if self.clip_value:
            total_norm = clip_grad_norm_(self.network.parameters(), self.clip_value)
            self.log["grad_norm"].append(float(total_norm))
        self._optimizer.step()

        batch_logs["loss"] = loss.cpu().detach().numpy().item()
        self.log["m_loss"].append(M_loss.item())
        return batch_logs

    def _train_epoch(self, X_train, y_train):
        self.network.train()
        perm = self.rng.permutation(len(X_train))
        train_loader = DataLoader(TorchDataset(X_train[perm], y_train[perm]), batch_size=self.batch_size,
                                  shuffle=False)
        for batch_idx, (X, y) in enumerate(train_loader):
            batch_logs = self._train_batch(X, y)
            self.log["loss"].append(batch_logs["loss"])

    def fit(self, X_train, y_train, X_valid, y_valid, max_epochs=3):
        for _ in range(max_epochs):
            self._train_epoch(X_train, y_train)
            accuracy = float(np.mean(self.predict(X_valid) == y_valid))
            self.log["accuracy"].append(accuracy)
            self.log["lr"].append(self._optimizer.param_groups[-1]["lr"])
            self.lines.append(f"epoch {len(self.lines):<3} | loss: {self.log['loss'][-1]:.5f} | "
                              f"valid_accuracy: {accuracy:.5f} | lr: {self.log['lr'][-1]:.5f}")
            self._scheduler.step()
        self.feature_importances_ = self._compute_feature_importances(X_train)
        return self

    def predict_proba(self, X):
        self.network.eval()
        dataloader = DataLoader(PredictDataset(X), batch_size=self.batch_size, shuffle=False)

        results = []
        for batch_nb, data in enumerate(dataloader):
            data = data.to(self.device).float()

            output, M_loss = self.network(data)
            predictions = torch.nn.Softmax(dim=1)(output).cpu().detach().numpy()
            results.append(predictions)
        res = np.vstack(results)
        return res

    def predict(self, X):
        return np.argmax(self.predict_proba(X), axis=1)

    def explain(self, X, normalize=False):
        self.network.eval()

        dataloader = DataLoader(PredictDataset(X), batch_size=self.batch_size, shuffle=False)

        res_explain = []

        for batch_nb, data in enumerate(dataloader):
            data = data.to(self.device).float()

            M_explain, masks = self.network.forward_masks(data)
            for key, value in masks.items():
                masks[key] = csc_matrix.dot(value.cpu().detach().numpy(), self.reducing_matrix)

            original_feat_explain = csc_matrix.dot(M_explain.cpu().detach().numpy(), self.reducing_matrix)
            res_explain.append(original_feat_explain)

            if batch_nb == 0:
                res_masks = masks
            else:
                for key, value in masks.items():
                    res_masks[key] = np.vstack([res_masks[key], value])

        res_explain = np.vstack(res_explain)

        if normalize:
            res_explain /= np.sum(res_explain, axis=1)[:, None]

        return res_explain, res_masks

    def _compute_feature_importances(self, X):
        M_explain, _ = self.explain(X, normalize=False)
        sum_explain = M_explain.sum(axis=0)
        feature_importances_ = sum_explain / np.sum(sum_explain)
        return feature_importances_

    def save_checkpoint(self):
        buffer = io.BytesIO()
        torch.save({"network": self.network.state_dict(), "optimizer": self._optimizer.state_dict(),
                    "scheduler": self._scheduler.state_dict(), "rng": self.rng.get_state()}, buffer)
        return buffer.getvalue()

    def load_checkpoint(self, blob):
        checkpoint = torch.load(io.BytesIO(blob), weights_only=False)
        self.network.load_state_dict(checkpoint["network"])
        self._optimizer.load_state_dict(checkpoint["optimizer"])
        self._scheduler.load_state_dict(checkpoint["scheduler"])
        self.rng.set_state(checkpoint["rng"])


CAT_IDXS, CAT_DIMS = [6, 7], [5, 3]


def make_model(mask_type="sparsemax", cat_emb_dim=[3, 2], virtual_batch_size=20, n_shared=2, n_independent=2):
    return TabNet(8, 3, n_d=8, n_a=8, n_steps=3, gamma=1.3, cat_idxs=CAT_IDXS, cat_dims=CAT_DIMS,
                  cat_emb_dim=cat_emb_dim, n_independent=n_independent, n_shared=n_shared,
                  virtual_batch_size=virtual_batch_size, momentum=0.02, mask_type=mask_type)


def run(model, epochs=3, resume_at=None, cat_emb_dim=[3, 2], **options):
    """Fit on the synthetic table for ``epochs`` epochs (with a checkpoint round trip after ``resume_at`` epochs, the
    rest run by a fresh classifier on the reloaded state); returns the logs, predictions, importances, masks and
    final parameters as numpy."""
    X, y = make_data()
    X_train, y_train, X_valid, y_valid = X[:200], y[:200], X[200:], y[200:]
    clf = TabNetClassifierLite(model, CAT_IDXS, cat_emb_dim, **options)
    if resume_at is None:
        clf.fit(X_train, y_train, X_valid, y_valid, max_epochs=epochs)
    else:
        clf.fit(X_train, y_train, X_valid, y_valid, max_epochs=resume_at)
        blob = clf.save_checkpoint()
        resumed = TabNetClassifierLite(model, CAT_IDXS, cat_emb_dim, **options)
        resumed.load_checkpoint(blob)
        resumed.log, resumed.lines = clf.log, clf.lines
        resumed.fit(X_train, y_train, X_valid, y_valid, max_epochs=epochs - resume_at)
        clf = resumed
    explain, masks = clf.explain(X_valid)
    return {**clf.log, "lines": clf.lines, "proba": clf.predict_proba(X_valid),
            "importances": clf.feature_importances_, "explain": explain,
            "masks": [masks[k] for k in sorted(masks)],
            "params": {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}}


class NumpyObfuscator(RandomObfuscator):
    """The harness's stand-in for the obfuscator's ``torch.bernoulli``: the same draws from numpy in both libraries."""

    def __init__(self, pretraining_ratio, seed=0):
        super(NumpyObfuscator, self).__init__(pretraining_ratio)
        self.rng = np.random.RandomState(seed)

    def forward(self, x):
        obfuscated_vars = torch.from_numpy((self.rng.rand(*x.shape) < self.pretraining_ratio).astype(np.float32))
        masked_input = torch.mul(1 - obfuscated_vars, x)
        return masked_input, obfuscated_vars


def make_pretrainer(cat_emb_dim=[3, 2], virtual_batch_size=20):
    return TabNetPretraining(8, pretraining_ratio=0.3, n_d=8, n_a=8, n_steps=3, cat_idxs=CAT_IDXS, cat_dims=CAT_DIMS,
                             cat_emb_dim=cat_emb_dim, virtual_batch_size=virtual_batch_size)


def load_weights_from_unsupervised(network, unsupervised_network):
    update_state_dict = copy.deepcopy(network.state_dict())
    for param, weights in unsupervised_network.state_dict().items():
        if param.startswith("encoder"):  # noqa: SIM108 - the repository's spelling
            # Convert encoder's layers name to match
            new_param = "tabnet." + param
        else:
            new_param = param
        if network.state_dict().get(new_param) is not None:
            # update only common layers
            update_state_dict[new_param] = weights
    network.load_state_dict(update_state_dict)


def pretrain(network, epochs=2, lr=2e-3, batch_size=48, clip_value=1, seed=0):
    """TabNetPretrainer's loop (UnsupervisedLoss on the obfuscated columns, Adam, clip_grad_norm_) with a validation
    loss in eval mode each epoch; returns the logs."""
    X, _ = make_data()
    X_train, X_valid = X[:200], X[200:]
    network.masker = NumpyObfuscator(network.pretraining_ratio, seed)
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    rng = np.random.RandomState(seed)
    log = {"loss": [], "grad_norm": [], "valid_loss": []}
    for epoch in range(epochs):
        network.train()
        perm = rng.permutation(len(X_train))
        for X in DataLoader(PredictDataset(X_train[perm]), batch_size=batch_size, shuffle=False):
            X = X.to("cpu").float()
            for param in network.parameters():
                param.grad = None
            output, embedded_x, obf_vars = network(X)
            loss = UnsupervisedLoss(output, embedded_x, obf_vars)
            loss.backward()
            log["grad_norm"].append(float(clip_grad_norm_(network.parameters(), clip_value)))
            optimizer.step()
            log["loss"].append(loss.cpu().detach().numpy().item())
        network.eval()
        output, embedded_x, obf_vars = network(torch.from_numpy(X_valid).float())
        log["valid_loss"].append(UnsupervisedLoss(output, embedded_x, obf_vars).item())
    return log


def run_pretrained(model, pretrainer, epochs=0, lr=2e-3):
    """Pretrain, copy the embedder and encoder into the classifier, then fine-tune it as ``run`` does (with no epochs:
    the pretrained encoder's predictions, masks and importances)."""
    log = pretrain(pretrainer, lr=lr)
    load_weights_from_unsupervised(model, pretrainer)
    out = run(model, epochs=epochs, lr=lr)
    return {**out, "pretrain_loss": log["loss"], "pretrain_norm": log["grad_norm"], "valid_loss": log["valid_loss"]}


def make_multi_task_and_regressor():
    return torch.nn.ModuleList([TabNet(8, [3, 2], cat_idxs=CAT_IDXS, cat_dims=CAT_DIMS, virtual_batch_size=16),
                                TabNet(8, 1, cat_idxs=CAT_IDXS, cat_dims=CAT_DIMS, cat_emb_dim=2,
                                       virtual_batch_size=16, mask_type="entmax")])


def multi_task_and_regression_step(models, lambda_sparse=1e-3):
    """One training batch of TabNetMultiTaskClassifier (two tasks: the mean of their cross-entropies) and of
    TabNetRegressor (mse_loss on an (n, 1) float target), each minus ``lambda_sparse * M_loss``; returns the losses,
    outputs and gradients as numpy."""
    multi_task, regressor = models
    X, y = make_data(n=64)
    X = torch.from_numpy(X).float()
    y_multi = torch.from_numpy(np.stack([y, y % 2], axis=1))
    y_reg = torch.from_numpy(X.numpy()[:, :1] * 2 + (y[:, None] == 1)).float()
    result = {}
    for name, network in (("multi_task", multi_task), ("regressor", regressor)):
        network.train()
        output, M_loss = network(X)
        if name == "multi_task":
            loss = 0
            for task_id, task_output in enumerate(output):
                loss += torch.nn.functional.cross_entropy(task_output, y_multi[:, task_id].long())
            loss /= len(output)
            result["outputs_" + name] = [o.detach().numpy() for o in output]
        else:
            loss = torch.nn.functional.mse_loss(output, y_reg)
            result["outputs_" + name] = [output.detach().numpy()]
        loss = loss - lambda_sparse * M_loss
        loss.backward()
        result["loss_" + name] = loss.item()
        result["grads_" + name] = {k: p.grad.numpy().copy() for k, p in network.named_parameters()
                                   if p.grad is not None}
    return result
