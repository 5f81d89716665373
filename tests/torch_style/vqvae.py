"""A VQ-VAE as the 2018-2020 GitHub implementations write it (zalandoresearch/pytorch-vq-vae's model, its two
quantizers, rosinality/vq-vae-2-pytorch's EMA ``Quantize``), at a tiny size on synthetic 3x16x16 images.

- ``Encoder`` / ``Decoder``: strided Conv2d + ReLU, a ``ResidualStack`` of ``x + self._block(x)`` blocks whose
  first layer is ``nn.ReLU(True)`` (it rectifies ``x`` itself in place, so the sum adds ``relu(x)``: the original's
  quirk), ConvTranspose2d(kernel 4, stride 2, padding 1) back up; rosinality's ``ResBlock`` (``out += input``).
- ``VectorQuantizer``: ``nn.Embedding`` with ``weight.data.uniform_(-1/K, 1/K)``, the expanded squared distances,
  ``argmin(...).unsqueeze(1)``, a ``zeros(...).scatter_(1, indices, 1)`` one-hot, q / e latent losses, the
  straight-through estimator and the perplexity.
- ``VectorQuantizerEMA``: zalando's EMA spelling, which reassigns its buffer (``self._ema_cluster_size = ...``) and
  wraps new ``nn.Parameter``s for ``_ema_w`` and the embedding's weight at every training step.
- ``Quantize``: rosinality's EMA quantizer (``register_buffer`` for ``embed`` / ``cluster_size`` / ``embed_avg``,
  ``.data.mul_(decay).add_(..., alpha=1 - decay)``, Laplace smoothing, ``embed.data.copy_``, ``F.one_hot``,
  ``(-dist).max(1)``, ``F.embedding(embed_id, self.embed.transpose(0, 1))``).
- ``train``: Adam(lr 1e-3, amsgrad=False), ``F.mse_loss(data_recon, data) / data_variance``, the logged recon error
  and perplexity with the original's printed lines, the code indices and each row's distance margin (second
  nearest minus nearest code), the EMA buffers, gradient norms; a checkpoint (model and optimizer state dicts
  through ``torch.save`` / ``torch.load``) and resume into fresh objects; ``model.eval()`` reconstructions.
- ``VQVAE``: rosinality's VQ-VAE-2 (top and bottom ``Quantize``, ``torch.cat`` of the decoded top latents with the
  bottom encoder's, ConvTranspose2d upsampling, ``decode_code``) and ``train_vqvae2``, his loop (``nn.MSELoss``,
  ``latent_loss.mean()``, the running mse line with ``optimizer.param_groups[0]["lr"]``).
- ``init_codes``: the codebooks set to encoder outputs of a batch before training (the small runs here collapse to
  one code from the originals' random codebooks)."""

# ruff: noqa: A002, B007 - the originals' ``input`` arguments and ``for i in range(n_res_block)`` loops
import io

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_images(n=64, seed=0):
    """n RGB images (n, 3, 16, 16) float32 in [-0.5, 0.5] (the original's ``Normalize((0.5,) * 3, (1.0,) * 3)``):
    a coloured disc or bar on a coloured background, with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:16, :16]
    images = np.empty((n, 3, 16, 16), np.float32)
    for i in range(n):
        cy, cx, r = rng.uniform(4, 12), rng.uniform(4, 12), rng.uniform(2, 5)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r if i % 2 else abs(xx - cx) < r / 2
        background, colour = rng.uniform(0, 1, (2, 3, 1, 1))
        images[i] = np.where(mask, colour, background) + 0.05 * rng.standard_normal((3, 16, 16))
    return np.clip(images, 0, 1) - 0.5


class Residual(nn.Module):
    def __init__(self, in_channels, num_hiddens, num_residual_hiddens):
        super(Residual, self).__init__()  # noqa: UP008 - the original's spelling
        self._block = nn.Sequential(
            nn.ReLU(True),
            nn.Conv2d(in_channels=in_channels, out_channels=num_residual_hiddens, kernel_size=3, stride=1,
                      padding=1, bias=False),
            nn.ReLU(True),
            nn.Conv2d(in_channels=num_residual_hiddens, out_channels=num_hiddens, kernel_size=1, stride=1,
                      bias=False)
        )

    def forward(self, x):
        return x + self._block(x)


class ResidualStack(nn.Module):
    def __init__(self, in_channels, num_hiddens, num_residual_layers, num_residual_hiddens):
        super(ResidualStack, self).__init__()  # noqa: UP008
        self._num_residual_layers = num_residual_layers
        self._layers = nn.ModuleList([Residual(in_channels, num_hiddens, num_residual_hiddens)
                                      for _ in range(self._num_residual_layers)])

    def forward(self, x):
        for i in range(self._num_residual_layers):
            x = self._layers[i](x)
        return F.relu(x)


class ResBlock(nn.Module):
    """rosinality's residual block."""

    def __init__(self, in_channel, channel):
        super().__init__()
        self.conv = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(in_channel, channel, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channel, in_channel, 1),
        )

    def forward(self, input):
        out = self.conv(input)
        out += input
        return out


class Encoder(nn.Module):
    def __init__(self, in_channels, num_hiddens, num_residual_layers, num_residual_hiddens, rosinality=False):
        super(Encoder, self).__init__()  # noqa: UP008
        self._conv_1 = nn.Conv2d(in_channels=in_channels, out_channels=num_hiddens // 2, kernel_size=4, stride=2,
                                 padding=1)
        self._conv_2 = nn.Conv2d(in_channels=num_hiddens // 2, out_channels=num_hiddens, kernel_size=4, stride=2,
                                 padding=1)
        self._conv_3 = nn.Conv2d(in_channels=num_hiddens, out_channels=num_hiddens, kernel_size=3, stride=1,
                                 padding=1)
        if rosinality:
            self._residual_stack = nn.Sequential(*[ResBlock(num_hiddens, num_residual_hiddens)
                                                   for _ in range(num_residual_layers)], nn.ReLU(inplace=True))
        else:
            self._residual_stack = ResidualStack(num_hiddens, num_hiddens, num_residual_layers, num_residual_hiddens)

    def forward(self, inputs):
        x = self._conv_1(inputs)
        x = F.relu(x)

        x = self._conv_2(x)
        x = F.relu(x)

        x = self._conv_3(x)
        return self._residual_stack(x)


class Decoder(nn.Module):
    def __init__(self, in_channels, num_hiddens, num_residual_layers, num_residual_hiddens):
        super(Decoder, self).__init__()  # noqa: UP008
        self._conv_1 = nn.Conv2d(in_channels=in_channels, out_channels=num_hiddens, kernel_size=3, stride=1,
                                 padding=1)
        self._residual_stack = ResidualStack(num_hiddens, num_hiddens, num_residual_layers, num_residual_hiddens)
        self._conv_trans_1 = nn.ConvTranspose2d(in_channels=num_hiddens, out_channels=num_hiddens // 2,
                                                kernel_size=4, stride=2, padding=1)
        self._conv_trans_2 = nn.ConvTranspose2d(in_channels=num_hiddens // 2, out_channels=3, kernel_size=4,
                                                stride=2, padding=1)

    def forward(self, inputs):
        x = self._conv_1(inputs)
        x = self._residual_stack(x)
        x = self._conv_trans_1(x)
        x = F.relu(x)
        return self._conv_trans_2(x)


def margins(distances):
    """Each row's second-smallest minus smallest distance (how far its code is from a tie), as numpy."""
    two = torch.topk(distances.detach(), 2, dim=1, largest=False)[0]
    return (two[:, 1] - two[:, 0]).cpu().numpy()


class VectorQuantizer(nn.Module):
    def __init__(self, num_embeddings, embedding_dim, commitment_cost):
        super(VectorQuantizer, self).__init__()  # noqa: UP008

        self._embedding_dim = embedding_dim
        self._num_embeddings = num_embeddings

        self._embedding = nn.Embedding(self._num_embeddings, self._embedding_dim)
        self._embedding.weight.data.uniform_(-1 / self._num_embeddings, 1 / self._num_embeddings)
        self._commitment_cost = commitment_cost

    def forward(self, inputs):
        # convert inputs from BCHW -> BHWC
        inputs = inputs.permute(0, 2, 3, 1).contiguous()
        input_shape = inputs.shape

        # Flatten input
        flat_input = inputs.view(-1, self._embedding_dim)

        # Calculate distances
        distances = (torch.sum(flat_input**2, dim=1, keepdim=True)
                     + torch.sum(self._embedding.weight**2, dim=1)
                     - 2 * torch.matmul(flat_input, self._embedding.weight.t()))

        # Encoding
        encoding_indices = torch.argmin(distances, dim=1).unsqueeze(1)
        encodings = torch.zeros(encoding_indices.shape[0], self._num_embeddings, device=inputs.device)
        encodings.scatter_(1, encoding_indices, 1)

        # Quantize and unflatten
        quantized = torch.matmul(encodings, self._embedding.weight).view(input_shape)

        # Loss
        e_latent_loss = F.mse_loss(quantized.detach(), inputs)
        q_latent_loss = F.mse_loss(quantized, inputs.detach())
        loss = q_latent_loss + self._commitment_cost * e_latent_loss

        quantized = inputs + (quantized - inputs).detach()
        avg_probs = torch.mean(encodings, dim=0)
        perplexity = torch.exp(-torch.sum(avg_probs * torch.log(avg_probs + 1e-10)))

        self.last_margins = margins(distances)
        # convert quantized from BHWC -> BCHW
        return loss, quantized.permute(0, 3, 1, 2).contiguous(), perplexity, encodings


class VectorQuantizerEMA(nn.Module):
    def __init__(self, num_embeddings, embedding_dim, commitment_cost, decay, epsilon=1e-5):
        super(VectorQuantizerEMA, self).__init__()  # noqa: UP008

        self._embedding_dim = embedding_dim
        self._num_embeddings = num_embeddings

        self._embedding = nn.Embedding(self._num_embeddings, self._embedding_dim)
        self._embedding.weight.data.normal_()
        self._commitment_cost = commitment_cost

        self.register_buffer('_ema_cluster_size', torch.zeros(num_embeddings))
        self._ema_w = nn.Parameter(torch.Tensor(num_embeddings, self._embedding_dim))
        self._ema_w.data.normal_()

        self._decay = decay
        self._epsilon = epsilon

    def forward(self, inputs):
        inputs = inputs.permute(0, 2, 3, 1).contiguous()
        input_shape = inputs.shape
        flat_input = inputs.view(-1, self._embedding_dim)

        distances = (torch.sum(flat_input**2, dim=1, keepdim=True)
                     + torch.sum(self._embedding.weight**2, dim=1)
                     - 2 * torch.matmul(flat_input, self._embedding.weight.t()))

        encoding_indices = torch.argmin(distances, dim=1).unsqueeze(1)
        encodings = torch.zeros(encoding_indices.shape[0], self._num_embeddings, device=inputs.device)
        encodings.scatter_(1, encoding_indices, 1)

        quantized = torch.matmul(encodings, self._embedding.weight).view(input_shape)

        # Use EMA to update the embedding vectors
        if self.training:
            self._ema_cluster_size = self._ema_cluster_size * self._decay + \
                (1 - self._decay) * torch.sum(encodings, 0)

            # Laplace smoothing of the cluster size
            n = torch.sum(self._ema_cluster_size.data)
            self._ema_cluster_size = (
                (self._ema_cluster_size + self._epsilon)
                / (n + self._num_embeddings * self._epsilon) * n)

            dw = torch.matmul(encodings.t(), flat_input)
            self._ema_w = nn.Parameter(self._ema_w * self._decay + (1 - self._decay) * dw)

            self._embedding.weight = nn.Parameter(self._ema_w / self._ema_cluster_size.unsqueeze(1))

        e_latent_loss = F.mse_loss(quantized.detach(), inputs)
        loss = self._commitment_cost * e_latent_loss

        quantized = inputs + (quantized - inputs).detach()
        avg_probs = torch.mean(encodings, dim=0)
        perplexity = torch.exp(-torch.sum(avg_probs * torch.log(avg_probs + 1e-10)))

        self.last_margins = margins(distances)
        return loss, quantized.permute(0, 3, 1, 2).contiguous(), perplexity, encodings


class Quantize(nn.Module):
    """rosinality's EMA quantizer: input (..., dim) channels last."""

    def __init__(self, dim, n_embed, decay=0.99, eps=1e-5):
        super().__init__()

        self.dim = dim
        self.n_embed = n_embed
        self.decay = decay
        self.eps = eps

        embed = torch.randn(dim, n_embed)
        self.register_buffer("embed", embed)
        self.register_buffer("cluster_size", torch.zeros(n_embed))
        self.register_buffer("embed_avg", embed.clone())

    def forward(self, input):
        flatten = input.reshape(-1, self.dim)
        dist = (
            flatten.pow(2).sum(1, keepdim=True)
            - 2 * flatten @ self.embed
            + self.embed.pow(2).sum(0, keepdim=True)
        )
        _, embed_ind = (-dist).max(1)
        embed_onehot = F.one_hot(embed_ind, self.n_embed).type(flatten.dtype)
        embed_ind = embed_ind.view(*input.shape[:-1])
        quantize = self.embed_code(embed_ind)

        if self.training:
            embed_onehot_sum = embed_onehot.sum(0)
            embed_sum = flatten.transpose(0, 1) @ embed_onehot

            self.cluster_size.data.mul_(self.decay).add_(
                embed_onehot_sum, alpha=1 - self.decay
            )
            self.embed_avg.data.mul_(self.decay).add_(embed_sum, alpha=1 - self.decay)
            n = self.cluster_size.sum()
            cluster_size = (
                (self.cluster_size + self.eps) / (n + self.n_embed * self.eps) * n
            )
            embed_normalized = self.embed_avg / cluster_size.unsqueeze(0)
            self.embed.data.copy_(embed_normalized)

        diff = (quantize.detach() - input).pow(2).mean()
        quantize = input + (quantize - input).detach()

        self.last_margins = margins(dist)
        return quantize, diff, embed_ind

    def embed_code(self, embed_id):
        return F.embedding(embed_id, self.embed.transpose(0, 1))


def spaced_rows(z, n):
    """n evenly spaced rows of the channels-last latents z (..., D) flattened to (-1, D)."""
    z = z.reshape(-1, z.shape[-1])
    return z[::z.shape[0] // n][:n]


def init_quantize(quantize, z):
    """A ``Quantize``'s codes set to rows of the channels-last latents ``z``, each counted once."""
    codes = spaced_rows(z, quantize.n_embed)
    quantize.embed.data.copy_(codes.t())
    quantize.embed_avg.data.copy_(codes.t())
    quantize.cluster_size.data.fill_(1)


class Model(nn.Module):
    """quantizer: "plain" (VectorQuantizer), "ema" (zalando's VectorQuantizerEMA) or "rosinality" (Quantize, with
    rosinality's residual blocks in the encoder)."""

    def __init__(self, num_hiddens=16, num_residual_layers=2, num_residual_hiddens=8, num_embeddings=16,
                 embedding_dim=8, commitment_cost=0.25, decay=0.9, quantizer="plain"):
        super(Model, self).__init__()  # noqa: UP008
        self.quantizer = quantizer
        self._encoder = Encoder(3, num_hiddens, num_residual_layers, num_residual_hiddens,
                                rosinality=quantizer == "rosinality")
        self._pre_vq_conv = nn.Conv2d(in_channels=num_hiddens, out_channels=embedding_dim, kernel_size=1, stride=1)
        if quantizer == "ema":
            self._vq_vae = VectorQuantizerEMA(num_embeddings, embedding_dim, commitment_cost, decay)
        elif quantizer == "rosinality":
            self._vq_vae = Quantize(embedding_dim, num_embeddings, decay=decay)
        else:
            self._vq_vae = VectorQuantizer(num_embeddings, embedding_dim, commitment_cost)
        self.commitment_cost, self.num_embeddings, self.embedding_dim = commitment_cost, num_embeddings, embedding_dim
        self._decoder = Decoder(embedding_dim, num_hiddens, num_residual_layers, num_residual_hiddens)

    def quantize(self, z):
        """(loss, quantized BCHW, perplexity, code indices (B*H*W,))."""
        if self.quantizer != "rosinality":
            loss, quantized, perplexity, encodings = self._vq_vae(z)
            return loss, quantized, perplexity, encodings.argmax(1)
        quant, diff, embed_ind = self._vq_vae(z.permute(0, 2, 3, 1))
        avg_probs = F.one_hot(embed_ind.view(-1), self._vq_vae.n_embed).float().mean(0)
        perplexity = torch.exp(-torch.sum(avg_probs * torch.log(avg_probs + 1e-10)))
        return self.commitment_cost * diff, quant.permute(0, 3, 1, 2), perplexity, embed_ind.view(-1)

    def init_codes(self, x):
        """The codebook set to encoder outputs of the batch ``x`` (B, 3, H, W), evenly spaced rows of the flattened
        (B * H' * W', D) latents, each counted once in the EMA statistics."""
        with torch.no_grad():
            z = self._pre_vq_conv(self._encoder(x)).permute(0, 2, 3, 1)
        if self.quantizer == "rosinality":
            init_quantize(self._vq_vae, z)
            return
        codes = spaced_rows(z, self.num_embeddings)
        self._vq_vae._embedding.weight.data.copy_(codes)
        if self.quantizer == "ema":
            self._vq_vae._ema_w.data.copy_(codes)
            self._vq_vae._ema_cluster_size.data.fill_(1)

    def forward(self, x):
        z = self._encoder(x)
        z = self._pre_vq_conv(z)
        loss, quantized, perplexity, self.indices = self.quantize(z)
        x_recon = self._decoder(quantized)

        return loss, x_recon, perplexity


class Encoder2(nn.Module):
    """rosinality's VQ-VAE-2 encoder (downsampling by ``stride`` 4 or 2)."""

    def __init__(self, in_channel, channel, n_res_block, n_res_channel, stride):
        super().__init__()

        if stride == 4:
            blocks = [
                nn.Conv2d(in_channel, channel // 2, 4, stride=2, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(channel // 2, channel, 4, stride=2, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(channel, channel, 3, padding=1),
            ]

        elif stride == 2:
            blocks = [
                nn.Conv2d(in_channel, channel // 2, 4, stride=2, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(channel // 2, channel, 3, padding=1),
            ]

        for i in range(n_res_block):
            blocks.append(ResBlock(channel, n_res_channel))

        blocks.append(nn.ReLU(inplace=True))

        self.blocks = nn.Sequential(*blocks)

    def forward(self, input):
        return self.blocks(input)


class Decoder2(nn.Module):
    def __init__(self, in_channel, out_channel, channel, n_res_block, n_res_channel, stride):
        super().__init__()

        blocks = [nn.Conv2d(in_channel, channel, 3, padding=1)]

        for i in range(n_res_block):
            blocks.append(ResBlock(channel, n_res_channel))

        blocks.append(nn.ReLU(inplace=True))

        if stride == 4:
            blocks.extend(
                [
                    nn.ConvTranspose2d(channel, channel // 2, 4, stride=2, padding=1),
                    nn.ReLU(inplace=True),
                    nn.ConvTranspose2d(channel // 2, out_channel, 4, stride=2, padding=1),
                ]
            )

        elif stride == 2:
            blocks.append(nn.ConvTranspose2d(channel, out_channel, 4, stride=2, padding=1))

        self.blocks = nn.Sequential(*blocks)

    def forward(self, input):
        return self.blocks(input)


class VQVAE(nn.Module):
    """rosinality's two-level VQ-VAE-2: bottom latents at 1/4 of the image size, top latents at 1/8."""

    def __init__(self, in_channel=3, channel=16, n_res_block=1, n_res_channel=8, embed_dim=8, n_embed=16,
                 decay=0.9):
        super().__init__()

        self.enc_b = Encoder2(in_channel, channel, n_res_block, n_res_channel, stride=4)
        self.enc_t = Encoder2(channel, channel, n_res_block, n_res_channel, stride=2)
        self.quantize_conv_t = nn.Conv2d(channel, embed_dim, 1)
        self.quantize_t = Quantize(embed_dim, n_embed, decay=decay)
        self.dec_t = Decoder2(embed_dim, embed_dim, channel, n_res_block, n_res_channel, stride=2)
        self.quantize_conv_b = nn.Conv2d(embed_dim + channel, embed_dim, 1)
        self.quantize_b = Quantize(embed_dim, n_embed, decay=decay)
        self.upsample_t = nn.ConvTranspose2d(embed_dim, embed_dim, 4, stride=2, padding=1)
        self.dec = Decoder2(embed_dim + embed_dim, in_channel, channel, n_res_block, n_res_channel, stride=4)

    def forward(self, input):
        quant_t, quant_b, diff, _, _ = self.encode(input)
        dec = self.decode(quant_t, quant_b)

        return dec, diff

    def encode(self, input):
        enc_b = self.enc_b(input)
        enc_t = self.enc_t(enc_b)

        quant_t = self.quantize_conv_t(enc_t).permute(0, 2, 3, 1)
        quant_t, diff_t, id_t = self.quantize_t(quant_t)
        quant_t = quant_t.permute(0, 3, 1, 2)
        diff_t = diff_t.unsqueeze(0)

        dec_t = self.dec_t(quant_t)
        enc_b = torch.cat([dec_t, enc_b], 1)

        quant_b = self.quantize_conv_b(enc_b).permute(0, 2, 3, 1)
        quant_b, diff_b, id_b = self.quantize_b(quant_b)
        quant_b = quant_b.permute(0, 3, 1, 2)
        diff_b = diff_b.unsqueeze(0)

        return quant_t, quant_b, diff_t + diff_b, id_t, id_b

    def decode(self, quant_t, quant_b):
        upsample_t = self.upsample_t(quant_t)
        quant = torch.cat([upsample_t, quant_b], 1)
        dec = self.dec(quant)

        return dec

    def decode_code(self, code_t, code_b):
        quant_t = self.quantize_t.embed_code(code_t)
        quant_t = quant_t.permute(0, 3, 1, 2)
        quant_b = self.quantize_b.embed_code(code_b)
        quant_b = quant_b.permute(0, 3, 1, 2)

        dec = self.decode(quant_t, quant_b)

        return dec

    def init_codes(self, x):
        """Both codebooks set to latents of the batch ``x``: the top one first, then the bottom one from latents
        made with the top codes."""
        with torch.no_grad():
            enc_b = self.enc_b(x)
            init_quantize(self.quantize_t, self.quantize_conv_t(self.enc_t(enc_b)).permute(0, 2, 3, 1))
            self.quantize_t.eval()
            quant_t = self.quantize_t(self.quantize_conv_t(self.enc_t(enc_b)).permute(0, 2, 3, 1))[0]
            self.quantize_t.train()
            enc_b = torch.cat([self.dec_t(quant_t.permute(0, 3, 1, 2)), enc_b], 1)
            init_quantize(self.quantize_b, self.quantize_conv_b(enc_b).permute(0, 2, 3, 1))


def train_vqvae2(model, steps, lr=3e-4, latent_loss_weight=0.25):
    """rosinality's train loop (nn.MSELoss, ``latent_loss.mean()``, the running average mse and its progress line),
    then ``extract_code``'s encode of a batch and ``decode_code`` of its codes in eval mode."""
    images = make_images()
    model = model.to(device)
    model.init_codes(batch(images, -1))
    criterion = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    log = {"recon": [], "latent": [], "norm": [], "id_t": [], "id_b": [], "margins": [], "buffers": [], "lines": []}
    mse_sum = 0
    mse_n = 0
    model.train()
    for i in range(steps):
        model.zero_grad()
        img = batch(images, i)

        out, latent_loss = model(img)
        recon_loss = criterion(out, img)
        latent_loss = latent_loss.mean()
        loss = recon_loss + latent_loss_weight * latent_loss
        loss.backward()
        log["norm"].append(torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters())).item())
        optimizer.step()

        part_mse_sum = recon_loss.item() * img.shape[0]
        part_mse_n = img.shape[0]
        mse_sum += part_mse_sum
        mse_n += part_mse_n
        lr = optimizer.param_groups[0]["lr"]
        log["lines"].append(
            f"epoch: {1}; mse: {recon_loss.item():.5f}; "
            f"latent: {latent_loss.item():.3f}; avg mse: {mse_sum / mse_n:.5f}; "
            f"lr: {lr:.5f}"
        )
        log["recon"].append(recon_loss.item())
        log["latent"].append(latent_loss.item())
        log["margins"].append(np.concatenate([model.quantize_t.last_margins, model.quantize_b.last_margins]))
        log["buffers"].append(buffers(model))

    model.eval()
    sample = torch.from_numpy(make_images(8, seed=2)).to(device)
    with torch.no_grad():
        out, _ = model(sample)
        _, _, _, id_t, id_b = model.encode(sample)
        decoded = model.decode_code(id_t, id_b)
    log["id_t"], log["id_b"] = id_t.detach().cpu().numpy(), id_b.detach().cpu().numpy()
    log["eval_margins"] = model.quantize_t.last_margins, model.quantize_b.last_margins
    log["sample"], log["decoded"] = out.cpu().numpy(), decoded.cpu().numpy()
    log["params"] = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    return log


def batch(images, step, batch_size=8):
    """Step ``step``'s minibatch: its own numpy generator, so a resumed run draws the same ones."""
    idx = np.random.default_rng(1000 + step).choice(len(images), batch_size, replace=False)
    return torch.from_numpy(images[idx]).to(device)


def buffers(model):
    return {k: v.detach().cpu().numpy().copy() for k, v in model.named_buffers()}


def checkpoint(model, optimizer, step, make):
    """torch.save of both state dicts to a buffer, torch.load into a fresh model and optimizer."""
    f = io.BytesIO()
    torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'step': step}, f)
    f.seek(0)
    state = torch.load(f)
    model = make().to(device)
    model.load_state_dict(state['model'])
    optimizer = optim.Adam(model.parameters(), lr=optimizer.param_groups[0]['lr'], amsgrad=False)
    optimizer.load_state_dict(state['optimizer'])
    return model, optimizer, state['step']


def train(model, num_training_updates, make, resume_at=None, init_codes=False, learning_rate=1e-3, log_every=10):
    images = make_images()
    data_variance = np.var(images + 0.5)
    model = model.to(device)
    if init_codes:
        model.init_codes(batch(images, -1))
    optimizer = optim.Adam(model.parameters(), lr=learning_rate, amsgrad=False)
    model.train()
    log = {"recon_error": [], "vq_loss": [], "perplexity": [], "norm": [], "indices": [], "margins": [],
           "buffers": [], "lines": []}
    train_res_recon_error = log["recon_error"]
    train_res_perplexity = log["perplexity"]

    i = 0
    while i < num_training_updates:
        if i == resume_at:
            model, optimizer, i = checkpoint(model, optimizer, i, make)
            model.train()
        data = batch(images, i)
        optimizer.zero_grad()

        vq_loss, data_recon, perplexity = model(data)
        recon_error = F.mse_loss(data_recon, data) / data_variance
        loss = recon_error + vq_loss
        loss.backward()
        norm = torch.sqrt(sum(p.grad.norm() ** 2 for p in model.parameters() if p.grad is not None))

        optimizer.step()

        train_res_recon_error.append(recon_error.item())
        train_res_perplexity.append(perplexity.item())
        log["vq_loss"].append(vq_loss.item())
        log["norm"].append(norm.item())
        log["indices"].append(model.indices.cpu().numpy())
        log["margins"].append(model._vq_vae.last_margins)
        log["buffers"].append(buffers(model))

        if (i + 1) % log_every == 0:
            log["lines"].append('%d iterations' % (i + 1))  # noqa: UP031
            log["lines"].append('recon_error: %.3f' % np.mean(train_res_recon_error[-log_every:]))  # noqa: UP031
            log["lines"].append('perplexity: %.3f' % np.mean(train_res_perplexity[-log_every:]))  # noqa: UP031
        i += 1

    log["eval"] = evaluate(model, make_images(16, seed=1))
    log["params"] = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    return log


def evaluate(model, valid):
    """The original's reconstruction of a validation batch in eval mode (the EMA buffers must stay put)."""
    model.eval()
    valid_originals = torch.from_numpy(valid).to(device)
    before = buffers(model)
    with torch.no_grad():
        vq_output_eval = model._pre_vq_conv(model._encoder(valid_originals))
        _, valid_quantize, _ = model.quantize(vq_output_eval)[:3]
        valid_reconstructions = model._decoder(valid_quantize)
    after = buffers(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    return (valid_reconstructions.cpu().data + 0.5).numpy()
