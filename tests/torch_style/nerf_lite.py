"""The core of a NeRF written as ordinary PyTorch code, the way the tiny-NeRF PyTorch ports and nerf-pytorch's
run_nerf_helpers.py / run_nerf.py write it: ``get_rays`` through ``torch.meshgrid`` (the old call without
``indexing``, which warns, and ``indexing='ij'``) and ``.t()``, the positional ``Embedder`` (``2.**torch.linspace``,
sin / cos), the MLP with a skip connection and view directions, ``raw2outputs`` (the ``1e10`` last interval, the
ray-length scaling, alpha compositing by an exclusive ``cumprod``, depth / disparity / accumulation maps, white
background), stratified samples, hierarchical ``sample_pdf`` (``searchsorted`` + ``gather``), the coarse and fine
networks, ``img2mse`` / ``mse2psnr`` and Adam with the exponential learning-rate decay written into
``param_group['lr']``. The scene: a procedurally coloured sphere seen from a ring of cameras, rendered by numpy.
The random numbers (ray batches, stratified offsets, the pdf's ``u``, the density noise) come from numpy, as
nerf-pytorch's ``pytest`` branches draw them, so that torch and ours see the same ones. One change for the harness:
those arrays are cast to float32 before ``torch.Tensor`` (ours keeps a float64 array's dtype there; see README)."""
# ruff: noqa: E731, B006, UP008, B007, SIM401 - nerf-pytorch's own spellings (and ModuleDict has no ``get``)

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

img2mse = lambda x, y: torch.mean((x - y) ** 2)
mse2psnr = lambda x: -10. * torch.log(x) / torch.log(torch.Tensor([10.]))
to8b = lambda x: (255 * np.clip(x, 0, 1)).astype(np.uint8)


# ---------------------------------------------------------------- the scene (numpy)
def pose_spherical(theta, phi, radius):
    """A (4, 4) float32 camera-to-world matrix looking at the origin from angle ``theta``, elevation ``phi``."""
    th, ph = np.deg2rad(theta), np.deg2rad(phi)
    pos = radius * np.array([np.cos(ph) * np.sin(th), np.sin(ph), np.cos(ph) * np.cos(th)])
    back = pos / np.linalg.norm(pos)  # the camera looks along -z
    right = np.cross([0., 1., 0.], back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, up, back, pos
    return c2w.astype(np.float32)


def render_sphere(H, W, focal, c2w, radius=1.0):
    """The ground-truth (H, W, 3) float32 image of a sphere at the origin with colours from its normals, on white."""
    i, j = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32), indexing='xy')
    dirs = np.stack([(i - W * .5) / focal, -(j - H * .5) / focal, -np.ones_like(i)], -1)
    rays_d = np.sum(dirs[..., None, :] * c2w[:3, :3], -1)
    rays_d /= np.linalg.norm(rays_d, axis=-1, keepdims=True)
    o = c2w[:3, -1]
    b = rays_d @ o
    disc = b ** 2 - (o @ o - radius ** 2)
    t = -b - np.sqrt(np.maximum(disc, 0))
    n = o + t[..., None] * rays_d
    colour = 0.5 + 0.5 * np.stack([np.sin(3 * n[..., 0]), n[..., 1], np.cos(2 * n[..., 2])], -1)
    return np.where((disc > 0)[..., None], colour, 1.).astype(np.float32)


def make_scene(n_views=4, H=8, W=8, radius=4.0):
    focal = 0.5 * W / np.tan(0.5 * np.deg2rad(40.))
    poses = np.stack([pose_spherical(th, -20., radius) for th in np.linspace(0., 360., n_views, endpoint=False)])
    images = np.stack([render_sphere(H, W, focal, p) for p in poses])
    return images, poses, H, W, focal


# ---------------------------------------------------------------- run_nerf_helpers.py
class Embedder:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.create_embedding_fn()

    def create_embedding_fn(self):
        embed_fns = []
        d = self.kwargs['input_dims']
        out_dim = 0
        if self.kwargs['include_input']:
            embed_fns.append(lambda x: x)
            out_dim += d

        max_freq = self.kwargs['max_freq_log2']
        N_freqs = self.kwargs['num_freqs']

        if self.kwargs['log_sampling']:
            freq_bands = 2.**torch.linspace(0., max_freq, steps=N_freqs)
        else:
            freq_bands = torch.linspace(2.**0., 2.**max_freq, steps=N_freqs)

        for freq in freq_bands:
            for p_fn in self.kwargs['periodic_fns']:
                embed_fns.append(lambda x, p_fn=p_fn, freq=freq: p_fn(x * freq))
                out_dim += d

        self.embed_fns = embed_fns
        self.out_dim = out_dim

    def embed(self, inputs):
        return torch.cat([fn(inputs) for fn in self.embed_fns], -1)


def get_embedder(multires, i=0, log_sampling=True):
    if i == -1:
        return nn.Identity(), 3

    embed_kwargs = {
        'include_input': True,
        'input_dims': 3,
        'max_freq_log2': multires - 1,
        'num_freqs': multires,
        'log_sampling': log_sampling,
        'periodic_fns': [torch.sin, torch.cos],
    }

    embedder_obj = Embedder(**embed_kwargs)
    embed = lambda x, eo=embedder_obj: eo.embed(x)
    return embed, embedder_obj.out_dim


class NeRF(nn.Module):
    def __init__(self, D=8, W=256, input_ch=3, input_ch_views=3, output_ch=4, skips=[4], use_viewdirs=False):
        super(NeRF, self).__init__()
        self.D = D
        self.W = W
        self.input_ch = input_ch
        self.input_ch_views = input_ch_views
        self.skips = skips
        self.use_viewdirs = use_viewdirs

        self.pts_linears = nn.ModuleList(
            [nn.Linear(input_ch, W)] + [nn.Linear(W, W) if i not in self.skips else nn.Linear(W + input_ch, W)
                                        for i in range(D - 1)])
        self.views_linears = nn.ModuleList([nn.Linear(input_ch_views + W, W // 2)])

        if use_viewdirs:
            self.feature_linear = nn.Linear(W, W)
            self.alpha_linear = nn.Linear(W, 1)
            self.rgb_linear = nn.Linear(W // 2, 3)
        else:
            self.output_linear = nn.Linear(W, output_ch)

    def forward(self, x):
        input_pts, input_views = torch.split(x, [self.input_ch, self.input_ch_views], dim=-1)
        h = input_pts
        for i, l in enumerate(self.pts_linears):
            h = self.pts_linears[i](h)
            h = F.relu(h)
            if i in self.skips:
                h = torch.cat([input_pts, h], -1)

        if self.use_viewdirs:
            alpha = self.alpha_linear(h)
            feature = self.feature_linear(h)
            h = torch.cat([feature, input_views], -1)

            for i, l in enumerate(self.views_linears):
                h = self.views_linears[i](h)
                h = F.relu(h)

            rgb = self.rgb_linear(h)
            outputs = torch.cat([rgb, alpha], -1)
        else:
            outputs = self.output_linear(h)

        return outputs


def get_rays(H, W, K, c2w, old_meshgrid=False):
    """Rays through every pixel: origins and directions, each (H, W, 3)."""
    if old_meshgrid:  # the pre-1.10 call: 'ij' by default, with a warning
        i, j = torch.meshgrid(torch.linspace(0, W - 1, W), torch.linspace(0, H - 1, H))
    else:
        i, j = torch.meshgrid(torch.linspace(0, W - 1, W), torch.linspace(0, H - 1, H), indexing='ij')
    i = i.t()
    j = j.t()
    dirs = torch.stack([(i - K[0][2]) / K[0][0], -(j - K[1][2]) / K[1][1], -torch.ones_like(i)], -1)
    # Rotate ray directions from camera frame to the world frame
    rays_d = torch.sum(dirs[..., np.newaxis, :] * c2w[:3, :3], -1)
    # Translate camera frame's origin to the world frame. It is the origin of all rays.
    rays_o = c2w[:3, -1].expand(rays_d.shape)
    return rays_o, rays_d


def sample_pdf(bins, weights, N_samples, det=False, u_np=None):
    """``N_samples`` points per ray drawn from the piecewise-constant pdf ``weights`` (N_rays, N_bins) over
    ``bins`` (N_rays, N_bins + 1); ``u_np`` (N_rays, N_samples) numpy uniforms replace ``torch.rand``."""
    # Get pdf
    weights = weights + 1e-5  # prevent nans
    pdf = weights / torch.sum(weights, -1, keepdim=True)
    cdf = torch.cumsum(pdf, -1)
    cdf = torch.cat([torch.zeros_like(cdf[..., :1]), cdf], -1)  # (batch, len(bins))

    # Take uniform samples
    if det:
        u = torch.linspace(0., 1., steps=N_samples)
        u = u.expand(list(cdf.shape[:-1]) + [N_samples])
    else:
        u = torch.Tensor(u_np.astype(np.float32))

    # Invert CDF
    u = u.contiguous()
    inds = torch.searchsorted(cdf, u, right=True)
    below = torch.max(torch.zeros_like(inds - 1), inds - 1)
    above = torch.min((cdf.shape[-1] - 1) * torch.ones_like(inds), inds)
    inds_g = torch.stack([below, above], -1)  # (batch, N_samples, 2)

    matched_shape = [inds_g.shape[0], inds_g.shape[1], cdf.shape[-1]]
    cdf_g = torch.gather(cdf.unsqueeze(1).expand(matched_shape), 2, inds_g)
    bins_g = torch.gather(bins.unsqueeze(1).expand(matched_shape), 2, inds_g)

    denom = (cdf_g[..., 1] - cdf_g[..., 0])
    denom = torch.where(denom < 1e-5, torch.ones_like(denom), denom)
    t = (u - cdf_g[..., 0]) / denom
    samples = bins_g[..., 0] + t * (bins_g[..., 1] - bins_g[..., 0])

    return samples


# ---------------------------------------------------------------- run_nerf.py
def raw2outputs(raw, z_vals, rays_d, raw_noise_std=0, white_bkgd=False, noise_np=None):
    """Transforms model's predictions (N_rays, N_samples, 4) to semantically meaningful values."""
    raw2alpha = lambda raw, dists, act_fn=F.relu: 1. - torch.exp(-act_fn(raw) * dists)

    dists = z_vals[..., 1:] - z_vals[..., :-1]
    dists = torch.cat([dists, torch.Tensor([1e10]).expand(dists[..., :1].shape)], -1)  # [N_rays, N_samples]

    dists = dists * torch.norm(rays_d[..., None, :], dim=-1)

    rgb = torch.sigmoid(raw[..., :3])  # [N_rays, N_samples, 3]
    noise = 0.
    if raw_noise_std > 0.:
        noise = torch.Tensor(noise_np.astype(np.float32)) * raw_noise_std

    alpha = raw2alpha(raw[..., 3] + noise, dists)  # [N_rays, N_samples]
    weights = alpha * torch.cumprod(torch.cat([torch.ones((alpha.shape[0], 1)), 1. - alpha + 1e-10], -1), -1)[:, :-1]
    rgb_map = torch.sum(weights[..., None] * rgb, -2)  # [N_rays, 3]

    depth_map = torch.sum(weights * z_vals, -1)
    disp_map = 1. / torch.max(1e-10 * torch.ones_like(depth_map), depth_map / torch.sum(weights, -1))
    acc_map = torch.sum(weights, -1)

    if white_bkgd:
        rgb_map = rgb_map + (1. - acc_map[..., None])

    return rgb_map, disp_map, acc_map, weights, depth_map


def run_network(inputs, viewdirs, fn, embed_fn, embeddirs_fn, netchunk=1024 * 64):
    inputs_flat = torch.reshape(inputs, [-1, inputs.shape[-1]])
    embedded = embed_fn(inputs_flat)

    if viewdirs is not None:
        input_dirs = viewdirs[:, None].expand(inputs.shape)
        input_dirs_flat = torch.reshape(input_dirs, [-1, input_dirs.shape[-1]])
        embedded_dirs = embeddirs_fn(input_dirs_flat)
        embedded = torch.cat([embedded, embedded_dirs], -1)

    outputs_flat = torch.cat([fn(embedded[i:i + netchunk]) for i in range(0, embedded.shape[0], netchunk)], 0)
    outputs = torch.reshape(outputs_flat, list(inputs.shape[:-1]) + [outputs_flat.shape[-1]])
    return outputs


def render_rays(ray_batch, network_fn, network_query_fn, N_samples, rng, network_fine=None, N_importance=0,
                perturb=1., lindisp=False, raw_noise_std=0., white_bkgd=True, netchunk=1024 * 64):
    """Renders a (N_rays, 8 or 11) batch of rays (origins, directions, near, far[, view directions]); ``rng`` is the
    numpy generator for the stratified offsets, the pdf samples and the density noise."""
    N_rays = ray_batch.shape[0]
    rays_o, rays_d = ray_batch[:, 0:3], ray_batch[:, 3:6]  # [N_rays, 3] each
    viewdirs = ray_batch[:, -3:] if ray_batch.shape[-1] > 8 else None
    bounds = torch.reshape(ray_batch[..., 6:8], [-1, 1, 2])
    near, far = bounds[..., 0], bounds[..., 1]  # [-1,1]

    t_vals = torch.linspace(0., 1., steps=N_samples)
    if not lindisp:
        z_vals = near * (1. - t_vals) + far * (t_vals)
    else:
        z_vals = 1. / (1. / near * (1. - t_vals) + 1. / far * (t_vals))

    z_vals = z_vals.expand([N_rays, N_samples])

    if perturb > 0.:
        # get intervals between samples
        mids = .5 * (z_vals[..., 1:] + z_vals[..., :-1])
        upper = torch.cat([mids, z_vals[..., -1:]], -1)
        lower = torch.cat([z_vals[..., :1], mids], -1)
        # stratified samples in those intervals
        t_rand = rng.random(list(z_vals.shape))
        t_rand = torch.Tensor(t_rand.astype(np.float32))
        z_vals = lower + (upper - lower) * t_rand

    pts = rays_o[..., None, :] + rays_d[..., None, :] * z_vals[..., :, None]  # [N_rays, N_samples, 3]

    raw = network_query_fn(pts, viewdirs, network_fn)
    noise = rng.standard_normal(raw.shape[:-1]) if raw_noise_std > 0. else None
    rgb_map, disp_map, acc_map, weights, depth_map = raw2outputs(raw, z_vals, rays_d, raw_noise_std, white_bkgd,
                                                                 noise_np=noise)
    ret = {'rgb_map': rgb_map, 'disp_map': disp_map, 'acc_map': acc_map, 'depth_map': depth_map, 'z_coarse': z_vals}

    if N_importance > 0:
        rgb_map_0, disp_map_0, acc_map_0 = rgb_map, disp_map, acc_map

        z_vals_mid = .5 * (z_vals[..., 1:] + z_vals[..., :-1])
        u_np = rng.random((N_rays, N_importance)) if perturb > 0. else None
        z_samples = sample_pdf(z_vals_mid, weights[..., 1:-1], N_importance, det=(perturb == 0.), u_np=u_np)
        z_samples = z_samples.detach()

        z_vals, _ = torch.sort(torch.cat([z_vals, z_samples], -1), -1)
        pts = rays_o[..., None, :] + rays_d[..., None, :] * z_vals[..., :, None]

        run_fn = network_fn if network_fine is None else network_fine
        raw = network_query_fn(pts, viewdirs, run_fn)
        noise = rng.standard_normal(raw.shape[:-1]) if raw_noise_std > 0. else None
        rgb_map, disp_map, acc_map, weights, depth_map = raw2outputs(raw, z_vals, rays_d, raw_noise_std, white_bkgd,
                                                                     noise_np=noise)
        ret = {'rgb_map': rgb_map, 'disp_map': disp_map, 'acc_map': acc_map, 'depth_map': depth_map,
               'rgb0': rgb_map_0, 'disp0': disp_map_0, 'acc0': acc_map_0, 'z_samples': z_samples,
               'z_vals': z_vals, 'z_coarse': ret['z_coarse']}
    return ret


def rays_batch(rays_o, rays_d, near=2., far=6., use_viewdirs=True):
    """The (N_rays, 8 or 11) batch ``render_rays`` takes, from origins and directions of any leading shape."""
    rays_o = torch.reshape(rays_o, [-1, 3]).float()
    rays_d = torch.reshape(rays_d, [-1, 3]).float()
    near, far = near * torch.ones_like(rays_d[..., :1]), far * torch.ones_like(rays_d[..., :1])
    rays = torch.cat([rays_o, rays_d, near, far], -1)
    if use_viewdirs:
        viewdirs = rays_d / torch.norm(rays_d, dim=-1, keepdim=True)
        rays = torch.cat([rays, viewdirs], -1)
    return rays


def create_nerf(multires=4, multires_views=2, netdepth=4, netwidth=32, N_importance=8, use_viewdirs=True):
    """The coarse and fine models (one ``nn.ModuleDict``, so one state dict) and the query function."""
    embed_fn, input_ch = get_embedder(multires)
    embeddirs_fn, input_ch_views = get_embedder(multires_views) if use_viewdirs else (None, 0)
    output_ch = 5 if N_importance > 0 else 4
    skips = [2]
    model = NeRF(D=netdepth, W=netwidth, input_ch=input_ch, output_ch=output_ch, skips=skips,
                 input_ch_views=input_ch_views, use_viewdirs=use_viewdirs)
    models = nn.ModuleDict({'coarse': model})
    if N_importance > 0:
        models['fine'] = NeRF(D=netdepth, W=netwidth, input_ch=input_ch, output_ch=output_ch, skips=skips,
                              input_ch_views=input_ch_views, use_viewdirs=use_viewdirs)
    network_query_fn = lambda inputs, viewdirs, network_fn: run_network(inputs, viewdirs, network_fn,
                                                                        embed_fn=embed_fn, embeddirs_fn=embeddirs_fn)
    return models, network_query_fn


def train(models, network_query_fn, n_iters=6, N_rand=16, lrate=5e-3, lrate_decay=1, old_meshgrid=False, seed=0,
          use_viewdirs=True, **render_kwargs):
    """nerf-pytorch's training loop over random rays from all views (``render_kwargs`` go to ``render_rays``, 8
    coarse and 8 fine samples unless given); returns a log of every step."""
    render_kwargs = {'N_samples': 8, 'N_importance': 8, **render_kwargs}
    images, poses, H, W, focal = make_scene()
    K = np.array([[focal, 0, 0.5 * W], [0, focal, 0.5 * H], [0, 0, 1]])
    rng = np.random.default_rng(seed)
    grad_vars = list(models.parameters())
    optimizer = torch.optim.Adam(params=grad_vars, lr=lrate, betas=(0.9, 0.999))
    network_fine = models['fine'] if 'fine' in models else None
    render_kwargs['N_importance'] = render_kwargs['N_importance'] if network_fine is not None else 0

    rays = torch.stack([torch.stack(get_rays(H, W, K, torch.Tensor(p), old_meshgrid), 0) for p in poses], 0)
    rays_rgb = torch.cat([rays, torch.Tensor(images)[:, None]], 1)  # [N, ro+rd+rgb, H, W, 3]
    rays_rgb = rays_rgb.permute(0, 2, 3, 1, 4).reshape(-1, 3, 3)  # [N*H*W, ro+rd+rgb, 3]

    log = {'loss': [], 'psnr': [], 'psnr0': [], 'lr': [], 'grad_norm': [], 'lines': []}
    for i in range(n_iters):
        batch = rays_rgb[torch.from_numpy(rng.choice(rays_rgb.shape[0], N_rand, replace=False))]
        batch = torch.transpose(batch, 0, 1)
        batch_rays, target_s = batch[:2], batch[2]

        ret = render_rays(rays_batch(*batch_rays, use_viewdirs=use_viewdirs), models['coarse'], network_query_fn,
                          rng=rng, network_fine=network_fine, **render_kwargs)
        rgb = ret['rgb_map']

        optimizer.zero_grad()
        img_loss = img2mse(rgb, target_s)
        loss = img_loss
        psnr = mse2psnr(img_loss)

        if 'rgb0' in ret:
            img_loss0 = img2mse(ret['rgb0'], target_s)
            loss = loss + img_loss0
            psnr0 = mse2psnr(img_loss0)
            log['psnr0'].append(psnr0.item())

        loss.backward()
        optimizer.step()

        # NOTE: IMPORTANT!
        ###   update learning rate   ###
        decay_rate = 0.1
        decay_steps = lrate_decay * 1000
        new_lrate = lrate * (decay_rate ** ((i + 1) / decay_steps))
        for param_group in optimizer.param_groups:
            param_group['lr'] = new_lrate
        ################################

        norm = torch.sqrt(sum(torch.sum(p.grad ** 2) for p in grad_vars if p.grad is not None))
        log['loss'].append(loss.item())
        log['psnr'].append(psnr.item())
        log['lr'].append(optimizer.param_groups[0]['lr'])
        log['grad_norm'].append(norm.item())
        log['lines'].append(f"[TRAIN] Iter: {i} Loss: {loss.item()}  PSNR: {psnr.item()}")
        if i == 0:
            log['z_vals'] = ret.get('z_vals', ret['z_coarse']).detach().numpy()
            log['z_samples'] = ret['z_samples'].numpy() if 'z_samples' in ret else None
    log['params'] = {k: v.detach().numpy().copy() for k, v in models.state_dict().items()}
    return log


def render_view(models, network_query_fn, c2w, H, W, K, chunk=32, use_viewdirs=True, **render_kwargs):
    """The maps of a whole (H, W) view, deterministic (``perturb=0``), in chunks of rays, under ``no_grad``."""
    render_kwargs = {'N_samples': 8, 'N_importance': 8 if 'fine' in models else 0, **render_kwargs}
    rays_o, rays_d = get_rays(H, W, K, c2w)
    rays = rays_batch(rays_o, rays_d, use_viewdirs=use_viewdirs)
    out = {}
    with torch.no_grad():
        for i in range(0, rays.shape[0], chunk):
            ret = render_rays(rays[i:i + chunk], models['coarse'], network_query_fn, rng=None,
                              network_fine=models['fine'] if 'fine' in models else None, perturb=0., **render_kwargs)
            for k in ('rgb_map', 'disp_map', 'acc_map', 'depth_map', 'z_samples', 'z_coarse'):
                if k in ret:
                    out.setdefault(k, []).append(ret[k])
    return {k: torch.reshape(torch.cat(v, 0), [H, W, -1]).numpy() for k, v in out.items()}
