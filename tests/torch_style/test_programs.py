"""Complete programs written as ordinary PyTorch code, run on torch and, with only the imports swapped, on ours;
the numbers must agree step by step. Where seeds cannot be shared (the two libraries' generators differ), the
harness hands both the same initial weights and minibatches from numpy.

- ``classifier.py``: a tutorial-style MNIST classifier (Dataset, DataLoader, nn.Module, CrossEntropyLoss, SGD, StepLR)
- (``test_makemore_mlp.py`` holds the makemore-style MLP with manual SGD through ``p.data``)
- ``examples/char_gpt.py``: the character-level GPT (written with our imports; swapped to torch's here)
- ``char_lstm.py``: an LSTM + causal MultiheadAttention language model with a custom autograd.Function, a forward
  hook, AdamW, CosineAnnealingWarmRestarts and clip_grad_norm_
- ``seq_classifier.py``: Conv1d, GroupNorm, max_pool1d + interpolate, a TransformerEncoder with a padding mask, a GRU
  over a packed batch, Bilinear, RAdam and LinearLR
- (``test_program_seq2seq.py`` runs ``seq2seq.py``: a bidirectional LSTM encoder over a packed batch, an LSTMCell
  decoder with attention, teacher forcing, ReduceLROnPlateau and greedy decoding)
- (``test_program_numerics.py`` runs ``numerics.py``: k-means, Gaussian-process regression fitted by LBFGS and Adam,
  a ranking loss written with in-place updates through views, and a conditional VAE with torch.distributions)
- (``test_program_finetune.py`` runs ``finetune.py``: a pretrained backbone loaded with strict=False into a model
  with a new head, freezing and unfreezing with add_param_group, warmup schedules, early stopping, an exact resume,
  and ConcatDataset / random_split / Subset / a padding collate_fn)
- (``test_program_actor_critic.py`` runs ``actor_critic.py``: REINFORCE, the one-step actor-critic and A2C with GAE
  on a numpy CartPole, with Categorical(probs / logits=), smooth_l1_loss, Adam and clip_grad_norm_)
- (``test_program_realnvp.py`` runs ``realnvp.py``: a RealNVP flow with ActNorm on two moons, MultivariateNormal /
  Independent(Normal) priors, Adamax / Adam + ExponentialLR, clip_grad_value_, weight_norm, log-dets against
  autograd.functional.jacobian + slogdet)
- (``test_program_gnn.py`` runs ``gnn.py``: GCN and GAT node classification on a stochastic-block-model graph with
  scatter_add_ / index_add_ / index_put_ / torch.sparse.mm message passing, a scatter_reduce segment softmax, masked
  nll_loss, Adam with weight decay and early stopping)
- (``test_program_unet.py`` runs ``unet.py``: a U-Net with BatchNorm, ConvTranspose2d and bilinear up blocks, BCE +
  Dice, AdamW under OneCycleLR with accumulation, and a checkpoint resume)
- (``test_program_metric_learning.py`` runs ``metric_learning.py``: batch-hard triplet mining, the metric-learning
  losses, recall@k, and knowledge distillation with KLDivLoss and label smoothing)
- (``test_program_forecaster.py`` runs ``forecaster.py``: a seq2seq nn.Transformer with teacher forcing and an
  autoregressive forecast, and a two-layer LSTM encoder, on sliding windows; L1 / MSE, AdamW + LambdaLR warmup,
  clip_grad_norm_, MAE / RMSE and a torch.save / torch.load round trip)
- (``test_program_style_transfer.py`` runs ``style_transfer.py``: the neural style transfer tutorial, its loss
  modules inserted into a copy of a feature net, an LBFGS closure clamping the image in place, and a forward-hook +
  Adam variant)
- (``test_program_pointnet.py`` runs ``pointnet.py``: PointNet classification and part segmentation as
  fxia22/pointnet.pytorch writes them, STN3d / STNkd T-nets with the feature-transform regularizer, on synthetic
  point clouds augmented with torch ops; Adam + StepLR, BatchNorm momentum decay, checkpoint dicts and a resume)
- (``test_program_pointnet2.py`` runs ``pointnet2.py``: PointNet++ as yanx27/Pointnet_Pointnet2_pytorch writes it
  (pointnet2_utils' ``square_distance`` by ``-2 * matmul`` + sums of squares, ``index_points`` by
  ``arange(B).view(view_shape).repeat(repeat_shape)`` advanced indexing, ``farthest_point_sample`` with numpy-fed
  starts, ``query_ball_point``'s ``group_idx[sqrdists > radius ** 2] = N`` / ``sort`` / ``group_first`` fill,
  ``sample_and_group`` / ``_all``, PointNetSetAbstraction / ...Msg Conv2d + BatchNorm2d stacks max-pooled by
  ``torch.max(x, 2)[0]``, PointNetFeaturePropagation's three-nearest inverse-distance interpolation), the SSG / MSG
  classifiers and the SSG part segmenter (``to_categorical`` by ``eye()[labels.numpy(),]``, the one-hot
  ``view(B, 16, 1).repeat``), provider's numpy point dropout / scale / shift, train_classification's Adam +
  early-stepped StepLR (its warning) with instance / class accuracies and a ``best_model.pth`` resume, and
  train_partseg's lr and BatchNorm-momentum decay by ``model.apply`` with accuracies and class / instance mIoUs;
  dropout masks fed by hooks, and each step's gradients from torch's state against torch's float64 truth)
- (``test_program_old_vae.py`` runs ``old_vae.py``: the pytorch/examples VAE and a CVAE in the 2017-2018 spelling,
  ``Variable`` / ``.data.new`` / in-place reparameterisation, ``size_average=False`` and ``nn.BCELoss`` with the
  in-place KLD, ``scatter_`` one-hot labels, Adam and a state_dict round trip)
- (``test_program_spatial_transformer.py`` runs ``spatial_transformer.py``: the Spatial Transformer Networks
  tutorial on synthetic shapes, affine_grid + grid_sample (default, align_corners=True, nearest / border), the
  identity-initialised ``fc_loc`` through ``.data``, nll_loss with ``size_average=False``, visualize_stn and a
  state_dict round trip)
- (``test_program_recsys_mdn.py`` runs ``recsys_mdn.py``: matrix factorization on ``sparse=True`` embeddings under
  SparseAdam (alone, or beside Adam over split parameter lists) with a checkpoint resume, guoyang9's NCF / NeuMF /
  BPR with numpy negative sampling and HR@10 / NDCG@10 by topk + take, and the hardmaru / sagelywizard MDNs with the
  prod and logsumexp losses, clip_grad_norm_ and gathered draws)
- (``test_program_ncf.py`` runs ``ncf.py``: guoyang9/NCF end to end (config, ``load_all``'s scipy ``dok_matrix``,
  NCFData's numpy ``ng_sample``, ``DataLoader(shuffle=False)``, the GMF / MLP / NeuMF models with their
  ``_init_weight_`` (normal / xavier / kaiming(a=1, sigmoid), zeroed biases) and the NeuMF-pre copy of pretrained
  weights with the 0.5-weighted ``torch.cat`` predict layer, BCEWithLogitsLoss under Adam or SGD, HR@10 / NDCG@10
  by ``topk`` + ``take``, the printed lines and best-epoch state dicts), with dropout masks fed by forward hooks)
- (``test_program_vqvae.py`` runs ``vqvae.py``: zalando's VQ-VAE with its plain and EMA quantizers (``scatter_``
  one-hot, straight-through, perplexity, a buffer and Parameters reassigned each step), rosinality's EMA ``Quantize``
  (``register_buffer``, ``.data.mul_().add_(alpha=)``, ``F.one_hot``, ``F.embedding``) and VQ-VAE-2, Adam, and a
  checkpoint resume)
- (``test_program_pytorch_examples_small.py`` runs ``pytorch_examples_small.py``: pytorch/examples'
  time_sequence_prediction (two LSTMCells in float64 under LBFGS, ``chunk`` / ``stack`` and ``future``), regression
  (a polynomial fitted by hand through ``param.data.add_``, ``poly_desc``'s ``format`` of 0-d tensors) and
  super_resolution (PixelShuffle, ``init.orthogonal_``, Adam, PSNR, a checkpoint resume and ``super_resolve``))
- (``test_program_simclr.py`` runs ``simclr.py``: sthalles/SimCLR's contrastive pretraining with batch augmentations
  written in tensor ops, ``info_nce_loss``, imagenet/main.py's ``accuracy`` and meters, ``torch.cuda.amp``'s disabled
  GradScaler / autocast, Adam + CosineAnnealingLR logged through ``get_lr()``, a checkpoint resume, and the
  frozen-backbone linear evaluation)
- (``test_program_cyclegan.py`` runs ``cyclegan.py``: junyanz's CycleGAN and pix2pix (ResnetGenerator with
  reflect / replicate / zero padding, UnetGenerator, PatchGAN, ``functools.partial`` norm layers, ``init_weights``,
  GANLoss lsgan / vanilla / wgangp with a gradient penalty, ImagePool on Python's ``random``, LambdaLR linear decay,
  ``tensor2im``, save / load_networks with the InstanceNorm state_dict patch and a resume) and aitorzip's 2017
  spelling (``Variable``, ``torch.Tensor(n)``, ``init.normal``, ReplayBuffer, a LambdaLR class))
- (``test_program_vit_mixer.py`` runs ``vit_mixer.py``: a ViT and an MLP-Mixer without einops (conv and
  ``unfold`` patch embeddings, class token and positions, hand-written / ``nn.MultiheadAttention`` /
  ``F.scaled_dot_product_attention`` / einsum attention, ``_init_weights``), AdamW with a no-decay group, warmup +
  cosine LambdaLR, label smoothing, a disabled GradScaler, attention maps by forward hooks and their rollout, and a
  checkpoint resume)
- (``test_program_ddpm.py`` runs ``ddpm.py``: a minimal DDPM as lucidrains / the annotated-diffusion blog / dome272
  write it: linear, quadratic, sigmoid and cosine schedules as float32 buffers, ``extract``, sinusoidal embeddings,
  a GroupNorm / SiLU U-Net (plain, or weight-standardized with scale-shift and einsum attention) and a 2-D point
  MLP, l1 / l2 / huber / min-SNR losses, Adam with clip_grad_norm_, EMA by ``mul_().add_()`` / ``lerp_`` / dome272's
  helper, a checkpoint resume, and four reverse samplers (DDPM, clipped, DDIM, dome272's) to uint8 images)
- (``test_program_moe_ff.py`` runs ``moe_ff.py``: davidmrau's sparsely-gated Mixture-of-Experts (noisy top-k
  gating, ``_prob_in_top_k`` through ``Normal.cdf``, ``cv_squared``, the SparseDispatcher's ``nonzero().sort(0)`` /
  ``split`` / ``index_add`` and its log-space combine), a Switch top-1 layer with a capacity (``one_hot``, ``cumsum``
  positions, dropped tokens, the load-balancing loss), a checkpoint resume, and pytorch/examples' Forward-Forward)
- (``test_program_tabular_lrfind.py`` runs ``tabular_lrfind.py``: a fast.ai-v1-style TabularModel (embeddings by
  the ``1.6 * n ** 0.56`` rule, BatchNorm1d on the continuous columns, a y_range sigmoid) on synthetic tables, MSE
  on log1p targets with RMSLE / RMSE or class-weighted cross-entropy with accuracy, the hand-written LR finder
  (smoothed loss, stop at 4x the best, deep-copied state restored), OneCycleLR with SGD + Nesterov or AdamW,
  early stopping on cloned state, a generator-shuffled DataLoader and a checkpoint resume)
- (``test_program_fast_neural_style.py`` runs ``fast_neural_style.py``: pytorch/examples' fast neural style, a
  TransformerNet of ReflectionPad2d convs, InstanceNorm2d(affine=True), residual blocks and nearest-``interpolate``
  upsampling trained by Adam against a frozen VGG-like net's namedtuple of relu features (gram matrices by ``bmm``,
  ``normalize_batch`` with ``new_tensor`` / ``div_``), its log lines, ``eval().cpu()`` checkpoints and a resume, and
  ``stylize`` deleting the old InstanceNorm ``running_*`` keys before ``load_state_dict``)
- (``test_program_bert_mlm.py`` runs ``bert_mlm.py``: a BERT-mini masked-LM pretraining as HF-imitating tutorials
  write it (``position_ids`` buffer, ``transpose_for_scores``, ``finfo.min`` / ``-10000.0`` extended masks, three
  GELUs, a decoder tied to the word embeddings, DataCollatorForLanguageModeling's 80-10-10 masking, AdamW with the
  ``no_decay`` groups, a linear-warmup LambdaLR, attention maps by forward hooks, a checkpoint resume and a top-5
  fill-mask), and codertimo/BERT-pytorch's model with NLLLoss(ignore_index=0) under a Noam ScheduledOptim)
- (``test_program_made_maf.py`` runs ``made_maf.py``: karpathy's MADE (a float ``mask`` buffer set from numpy bool
  masks, seeded ``RandomState`` degrees cycled over ``num_masks``, BCE-with-logits ``size_average=False``, sigmoid
  sampling) and ikostrikov's MAF (``get_mask``, MADE blocks with an inverse loop, BatchNormFlow's running stats and
  its ``momentum = 0`` pass, Reverse, ``log_probs`` / ``sample`` from fed noise, Adam, ``copy.deepcopy`` best model
  and a checkpoint resume))
- (``test_program_tcn.py`` runs ``tcn.py``: locuslab/TCN's Chomp1d, TemporalBlock (weight-normed dilated causal
  Conv1d by the hook-based or the parametrization ``weight_norm``, held as ``conv1`` and in ``net``), the adding
  problem (mse_loss, Adam, clip_grad_norm_) and the sequential-MNIST classifier (log_softmax + nll_loss, lr decay
  through ``param_group['lr']``), with a checkpoint resume)
- (``test_program_pytorch_examples_pairs.py`` runs ``pytorch_examples_pairs.py``: pytorch/examples' siamese_network
  (a ResNet-like backbone with its ``conv1`` replaced and ``fc`` dropped through ``children()``, ``xavier_uniform_``
  init by ``apply``, a pair Dataset on Python's ``random``, BCELoss, ``torch.where`` accuracy) and mnist_rnn (an
  LSTM over image rows, BatchNorm1d, ``Dropout2d`` on 2-D features, nll_loss, the ``dry_run`` break and a saved
  state_dict reloaded and re-evaluated), both under Adadelta + StepLR with the examples' log lines)
- (``test_program_exact_gp.py`` runs ``exact_gp.py``: exact GP regression written by hand as blog posts re-derive
  GPyTorch's tutorial: softplus-constrained raw hyperparameters, an RBF kernel by ``cdist`` or the clamped expanded
  square, cholesky / cholesky_solve / solve_triangular (and the 2019 ``torch.cholesky`` / ``triangular_solve``), the
  marginal likelihood by hand or by MultivariateNormal under Adam, float64 and float32, 3 batched outputs, predictive
  log_probs and draws, and a jittered ``cholesky_ex`` on near-singular kernels)
- (``test_program_d2l_attention.py`` runs ``d2l_attention.py``: Dive into Deep Learning's attention chapter
  (Nadaraya-Watson kernel regression, ``sequence_mask`` / ``masked_softmax``, additive, dot-product and multi-head
  attention on ``nn.LazyLinear`` layers, positional encoding, a GRU encoder and the Bahdanau decoder trained with
  MaskedSoftmaxCELoss, the hand-written ``grad_clipping``, ``xavier_uniform_`` over ``_flat_weights_names`` and
  Adam, greedy ``predict_seq2seq`` and BLEU) on a synthetic reversal "translation" corpus)
- (``test_program_sngan_ema.py`` runs ``sngan_ema.py``: an SN-GAN as pytorch-spectral-normalization-gan / mimicry
  write it, a DCGAN-like generator and a discriminator under the hook ``nn.utils.spectral_norm`` or the
  parametrization, LeakyReLU(0.1), hinge / Wasserstein / BCEWithLogits losses, Adam(0, 0.9) with ``n_dis`` D steps
  under ExponentialLR, an EMA generator by ``AveragedModel`` + ``get_ema_multi_avg_fn`` and ``update_bn``, sigma
  estimates from the u / v buffers, and a checkpoint resume)
- (``test_program_ppo.py`` runs ``ppo.py``: CleanRL's PPO on a numpy point mass, an ``Agent`` of ``layer_init``
  (``orthogonal_`` + ``constant_``) Tanh MLPs with ``Categorical(logits=)`` or ``Normal`` and a learnable
  ``actor_logstd``, preallocated rollout storage, GAE, shuffled minibatches, the clipped surrogate and value losses,
  approx_kl / clip fractions, ``clip_grad_norm_``, annealed Adam and ``target_kl``; and nikhilbarhate99's
  PPO-PyTorch (Softmax / ``MultivariateNormal`` actors, Monte-Carlo returns, two param groups, ``policy_old``,
  action-std decay, save / load)
- (``test_program_captioning.py`` runs ``captioning.py``: yunjey's image_captioning (an EncoderCNN over a tiny
  backbone's ``children()[:-1]`` under no_grad with Linear + BatchNorm1d(momentum=0.01), the DecoderRNN over a
  ``pack_padded_sequence``d batch with its greedy ``sample``, the Vocabulary, the length-sorting collate_fn, Adam
  over the decoder and the encoder's head, the perplexity log line, checkpoints and sample.py), and a variant over
  an unsorted batch (``enforce_sorted=False``, ``pad_packed_sequence``, ``ignore_index``))
- (``test_program_mae.py`` runs ``mae.py``: facebookresearch/mae's MaskedAutoencoderViT (timm's PatchEmbed conv,
  the cls / mask tokens, numpy 2-D sin-cos position tables copied through ``.data.copy_``, ``xavier_uniform_`` on
  the conv weight's ``view``, ``_init_weights`` by ``apply``, Blocks with ``partial(nn.LayerNorm, eps=1e-6)``,
  ``random_masking`` by two ``argsort``s and ``gather`` on fed numpy noise, ``patchify`` / ``unpatchify`` by
  ``reshape(shape=...)`` + einsum, ``norm_pix_loss``), main_pretrain / engine_pretrain (timm's ``add_weight_decay``
  groups, AdamW(0.9, 0.95), the per-iteration warmup + half-cycle cosine ``adjust_learning_rate``, ``accum_iter``,
  NativeScalerWithGradNormCount over a disabled GradScaler, ``get_grad_norm_``, MetricLogger lines, ``save_model``
  and an exact ``--resume``), and main_finetune (models_vit's global-pool VisionTransformer loaded ``strict=False``,
  ``interpolate_pos_embed``'s bicubic resize, ``param_groups_lrd`` with ``lr_scale``, batch mixup in tensor ops into
  SoftTargetCrossEntropy or LabelSmoothingCrossEntropy, ``clip_grad_norm_``, top-1 / top-5 ``evaluate``))
- (``test_program_distill_mixup.py`` runs ``distill_mixup.py``: a conv teacher trained with mixup-cifar10's mixup
  or CutMix-PyTorch's ``rand_bbox`` box pasting under ``CrossEntropyLoss(label_smoothing=0.1)``, SGD + Nesterov +
  weight decay under OneCycleLR or CosineAnnealingWarmRestarts stepped by fractional epochs, an MLP student
  distilled by Hinton's loss (``KLDivLoss`` batchmean / ``size_average=False`` / ``log_target=True``) with and
  without mixup, mnist-style test accuracy, imagenet's topk ``accuracy`` and a checkpoint resume)
- (``test_program_einsum_transformer.py`` runs ``einsum_transformer.py``: Aladdin Persson's Transformer from scratch
  (list-form einsum attention, ``masked_fill(mask == 0, float("-1e20"))``, ``arange(...).expand`` positions, the
  ``tril`` target mask) on a copy / reverse task with Adam, ``CrossEntropyLoss(ignore_index=pad)``,
  clip_grad_norm_ and greedy decoding, and the einsum spellings such code uses (implicit, ellipsis, ``ii``, batch
  outer products, three operands) with their gradients)
- (``test_program_ffjord.py`` runs ``ffjord.py``: rtqichen/ffjord's continuous normalizing flows on 2-D toy data
  (ConcatSquashLinear's ``sigmoid(_hyper_gate(t.view(1, 1)))`` gate and ``_hyper_bias``, ConcatLinear, the ODEnet
  with softplus / tanh / swish, ODEfunc's brute-force divergence by a loop of ``autograd.grad`` and Hutchinson's
  ``autograd.grad(dy, y, e, create_graph=True)`` with numpy Rademacher / Gaussian e, the ``_num_evals`` buffer reset
  by ``before_odeint``, ``torch.tensor(t).type_as(y)``, the residual ODEfunc, RegularizedODEfunc's kinetic energy,
  e-based Jacobian norm, l2 / directional / Jacobian-Frobenius states, CNF over ``torch.tensor([0.0, T])`` and its
  ``_flip``, SequentialFlow), torchdiffeq's fixed-step rk4 / euler ``odeint`` written in plain torch, and
  train_toy.py (``standard_normal_logprob``, ``-mean(logpx)``, Adam with weight decay, RunningAverageMeters, NFE
  log lines, the ``no_grad`` + ``eval()`` test loss and best checkpoint, densities on a grid and samples integrated
  back from the prior))
- (``test_program_neural_ode.py`` runs ``neural_ode.py``: a neural ODE written without torchdiffeq (an nn.Tanh
  ``ODEFunc(t, y)`` with t joined as a feature, Euler / RK4 loops over ``linspace`` points, ``torch.stack``ed
  trajectories fitted to the spiral by ``F.mse_loss``, Adam + ExponentialLR) and a CNF with the exact trace and
  Hutchinson's estimator by ``autograd.grad(create_graph=True)``, a MultivariateNormal base, ``no_grad`` +
  ``enable_grad`` evaluation with detached steps, and float64 ``autograd.gradcheck`` / ``gradgradcheck``)
- (``test_program_imagenet_loop.py`` runs ``imagenet_loop.py``: pytorch/examples' imagenet/main.py harness around a
  tiny CNN on synthetic images: argparse flags, ``--seed`` with its warning, the CUDA / MPS / CPU device choice,
  ``nn.DataParallel`` around the model or its ``features``, SGD + StepLR, ``AverageMeter`` / ``ProgressMeter`` /
  ``Summary``, top-1 / top-5 ``accuracy``, ``train`` / ``validate``, ``save_checkpoint`` with ``model_best.pth.tar``,
  ``--resume`` and ``--evaluate``)
- (``test_program_nerf_lite.py`` runs ``nerf_lite.py``: nerf-pytorch's core on 8x8 views of a numpy sphere:
  ``get_rays`` by ``meshgrid`` (with and without ``indexing``) and ``.t()``, the sin / cos ``Embedder``, the skip
  MLP with view directions, ``raw2outputs`` (alpha compositing by ``cumprod``, depth / disparity maps),
  stratified and hierarchical ``sample_pdf`` (``searchsorted`` + ``gather``) samples from numpy, coarse and fine
  networks, ``mse2psnr`` and Adam with its lr decay written into ``param_group['lr']``)
- (``test_program_bayes_backprop.py`` runs ``bayes_backprop.py``: Bayes by Backprop as the blog notebooks write it
  (``Gaussian`` posteriors with ``sigma = log1p(exp(rho))`` and ``Normal(0, 1).sample`` epsilons, a scale-mixture
  prior, ``BayesianLinear`` keeping ``log_prior`` / ``log_variational_posterior`` in forward, ``sample_elbo`` over
  preallocated ``torch.zeros`` samples with ``size_average=False``, Adam, the ensemble test, a closed-form
  ``kl_divergence(Normal, Normal)`` variant and a checkpoint resume)
- (``test_program_bilstm_crf.py`` runs ``bilstm_crf.py``: PyTorch's Bi-LSTM CRF tutorial as written (``argmax`` by
  ``torch.max(vec, 1)`` + ``.item()``, ``log_sum_exp`` through ``view(1, -1).expand``, the per-tag forward algorithm
  and Viterbi loops over ``torch.cat`` of 1-element pieces, transitions set through ``.data`` and indexed by 0-d long
  tensors, ``init_hidden``'s ``randn`` states, SGD with weight decay, the ``no_grad`` checks) on the tutorial's
  sentences and a synthetic 7-tag set)
- (``test_program_sac_spinup.py`` runs ``sac_spinup.py``: OpenAI Spinning Up's PyTorch SAC on a numpy point-reaching
  task: ``mlp`` into ``nn.Sequential``, the SquashedGaussianMLPActor (clamped log-std, ``Normal.rsample`` with
  numpy noise, ``log_prob(...).sum(axis=-1)`` and the softplus tanh correction), twin Q networks, the numpy
  ReplayBuffer of ``as_tensor`` batches, a ``deepcopy`` target under Polyak ``.data.mul_`` / ``add_``, Adam over an
  ``itertools.chain`` (the original's unfrozen Q step, and a list that freezes it) and the logger-free loop)
- (``test_program_backprop_ninja.py`` runs ``backprop_ninja.py``: Karpathy's makemore part 4 on synthetic names: the
  hand-written BatchNorm MLP chunked into steps kept by ``retain_grad``, every step's gradient by hand against
  autograd's through ``cmp`` (exact / approximate / maxdiff), the fused cross-entropy and batchnorm backwards, the
  training loop on manual gradients under ``no_grad`` through ``p.data``, batchnorm calibration, split losses, samples)
- (``test_program_func_tutorials.py`` runs ``func_tutorials.py``: PyTorch's torch.func tutorials as written:
  per-sample gradients (a loop of ``autograd.grad`` against ``vmap(grad(compute_loss), in_dims=(None, None, 0, 0))``
  over ``functional_call``), model ensembling (``stack_module_state``, ``vmap(fmodel)`` with ``in_dims=(0, 0, None)``),
  and Jacobians / Hessians / hvp (``jacrev`` / ``jacfwd`` / ``hessian`` / ``vjp`` / ``jvp``, ``argnums``, batched by
  ``vmap``, ``autograd.functional.jacobian``, an NTK and parameter Hessians through ``torch.func.functional_call``))
- (``test_program_hooks_telemetry.py`` runs ``hooks_telemetry.py``: fast.ai's 2019 course notebooks 06 / 07a as
  written: Hook / Hooks (``__del__``, a context manager) with append_stats' means, stds and ``histc`` histograms,
  get_hist / get_min, GeneralRelu's in-place ``sub_`` / ``clamp_max_``, init_cnn, ``Lambda(flatten)``, SGD under a
  hand-written combine_scheds / sched_cos one-cycle, LSUV through a bias property, a forward pre-hook, full backward
  hooks and the global ``nn.modules.module.register_module_forward_hook``)
- (``test_program_mamba_minimal.py`` runs ``mamba_minimal.py``: johnma2006's mamba-minimal (the ``ModelArgs``
  dataclass's ``__post_init__``, an lm_head tied to the embedding, RMSNorm, ``split(split_size=...)``, a depthwise
  causal Conv1d cut to length l, softplus delta, the selective scan by ``torch.einsum`` and a Python loop stacked
  with ``torch.stack``), next-token cross_entropy under AdamW's decay / no-decay groups, clip_grad_norm_ and a
  warmup-cosine LambdaLR, a checkpoint resume, greedy generation by argmax + ``torch.cat``, a state_dict round trip)
- (``test_program_ntm.py`` runs ``ntm.py``: loudinthecloud/pytorch-ntm (NTMMemory's ``mem_bias`` buffer, cosine
  content focus, interpolation, the circular shift by ``F.conv1d``, sharpening, erase / add writes by ``matmul``,
  read and write heads of ``_split_cols``, the LSTM controller's learned initial states, heads grown by ``+=`` on a
  ModuleList) on the copy task with BCELoss, RMSprop(momentum=0.9, alpha=0.95), ``grad.data.clamp_``, the cost in
  bits by ``apply_``, a no_grad evaluation and a checkpoint resume)
- (``test_program_efficient_kan.py`` runs ``efficient_kan.py``: Blealtan's efficient-kan (KANLinear's ``grid``
  buffer, Cox-de Boor ``b_splines`` on boolean masks, ``curve2coeff`` by a batched ``linalg.lstsq``, ``update_grid``
  under ``@torch.no_grad()`` with its sorted-input quantiles by an int64 ``linspace``, the l1 / entropy
  regularization, the KAN container), the mnist example's AdamW + ExponentialLR classifier with periodic grid
  updates and a checkpoint resume, and test_simple_math's fit by LBFGS (strong Wolfe, float64) and by AdamW)
- (``test_program_mean_teacher.py`` runs ``mean_teacher.py``: CuriousAI's mean-teacher in its torch 0.3 / 0.4
  spelling (``Variable(volatile=True)``, ``add_(1 - alpha, tensor)``, ``CrossEntropyLoss(size_average=False,
  ignore_index=NO_LABEL)``): a ``detach_``ed EMA teacher with the alpha warmup, softmax mse / kl consistency under a
  sigmoid rampup, the two-head residual logit cost, TwoStreamBatchSampler over a relabelled dataset, SGD + Nesterov
  with a linear lr warmup and per-step cosine rampdown, topk accuracy into AverageMeterSets and a checkpoint resume)
- (``test_program_tabnet.py`` runs ``tabnet.py``: dreamquark-ai's pytorch-tabnet (the Sparsemax / Entmax15 /
  Entmoid15 autograd Functions with their in-place ``input -= max_val`` and hand-written backwards, ghost batch norm
  by ``chunk``, GLU blocks over shared layers, attentive transformers with priors, the encoder's ``M_loss``, the
  EmbeddingGenerator, explain masks reduced by a scipy csc matrix), its classifier loop (cross-entropy minus
  ``lambda_sparse * M_loss``, Adam, StepLR, clip_grad_norm_, softmax predictions, feature importances), the
  self-supervised pretraining (decoder, obfuscator, UnsupervisedLoss, ``load_weights_from_unsupervised``) and a
  checkpoint resume)
- (``test_program_set_transformer.py`` runs ``set_transformer.py``: juho-lee's set_transformer (MAB with its heads
  split along the features and stacked along the batch, optional LayerNorms, SAB, ISAB's xavier inducing points and
  PMA's seeds repeated over the batch, DeepSet, SetTransformer) and its amortized-clustering demo (MixtureOfMVNs /
  MultivariateNormalDiag by ``gather`` of repeated labels, ``logsumexp`` log-likelihoods, softmax / softplus
  ``parse``, ``stats`` through ``eye()[(None,)*k]``, Adam with the halfway lr cut, a ``torch.save``d benchmark, a
  ``no_grad`` test, argmax labels, and a ``model.tar`` resume))
- (``test_program_nanogpt.py`` runs ``nanogpt.py``: Karpathy's nanoGPT (model.py's LayerNorm with an optional
  bias, CausalSelfAttention by ``scaled_dot_product_attention(is_causal=True)`` or, without it, the manual
  ``masked_fill`` over a ``tril`` buffer, tied ``wte`` / ``lm_head``, the scaled ``c_proj`` init, last-position
  logits, ``crop_block_size``, ``from_pretrained``'s transposed Conv1D copies, ``configure_optimizers``' decay groups
  and fused check, ``estimate_mfu``, ``generate``), prepare.py's ``.bin`` / ``meta.pkl``, train.py's loop (warmup +
  cosine ``get_lr``, gradient accumulation, the GradScaler's ``scale`` / ``unscale_`` / ``step`` / ``update``,
  clip_grad_norm_, ``estimate_loss``, its checkpoint dict and the ``_orig_mod.`` resume) and sample.py)
- (``test_program_byol.py`` runs ``byol.py``: lucidrains' byol-pytorch (``default`` / ``flatten`` / the
  ``singleton`` decorator, ``loss_fn``, RandomApply, EMA and ``update_moving_average`` through ``.data``, MLP and
  SimSiamMLP, NetWrapper's hidden layer by name or ``children()`` index with a forward hook, the projector built
  lazily from the hidden's shape and ``.to(hidden)``, the deep-copied target encoder, the symmetric loss,
  ``return_embedding`` / ``return_projection``, ``use_momentum=False``) with numpy-seeded batch augmentations
  (jitter, grayscale, flip, blur by a grouped ``conv2d``, resized crops by slicing + ``interpolate``), and the
  README's Adam loop saving the improved net)
- (``test_program_poincare.py`` runs ``poincare.py``: facebookresearch's poincare-embeddings (hype's Euclidean and
  Poincaré manifolds, the distance as an autograd Function with its hand-written backward and eps clamps, the
  ``renorm_`` projection of the embedding's output under ``no_grad``, rgrad, RiemannianSGD on ``optimizer.required``,
  the negative-sampling cross entropy, burn-in, mean rank / MAP, a checkpoint resume) on a tree's transitive
  closure in float64 and float32, and points within 1e-5 of the ball's boundary)
- (``test_program_pygat.py`` runs ``pygat.py``: Diego999's pyGAT (the dense GraphAttentionLayer's two-matmul
  broadcast logits, ``-9e15`` ``where`` mask, softmax and dropout; SpGraphAttentionLayer over ``adj.nonzero()`` with
  the SpecialSpmmFunction saving a ``sparse_coo_tensor`` and picking edge gradients out of the dense one, exp(-e)
  weights normalised by an spmm with ones; GAT / SpGAT heads in a plain list registered by ``add_module``), utils'
  scipy ``normalize_adj`` / ``normalize_features`` and ``accuracy``, and train.py's Adam loop with patience early
  stopping through ``{epoch}.pkl`` files and the best reloaded, dense and sparse, and dropout statistics)
- (``test_program_gradcam_deepdream.py`` runs ``gradcam_deepdream.py``: jacobgil's pytorch-grad-cam core
  (ActivationsAndGradients' forward hooks with ``output.register_hook`` prepending gradients, ``handle.remove()``,
  BaseCAM's ``zero_grad`` + ``backward(retain_graph=True)`` over ClassifierOutputTargets, GradCAM / GradCAM++ /
  XGradCAM / EigenCAM's numpy weights and SVD, ``scale_cam_image`` by a bilinear ``F.interpolate``) and a tutorial
  DeepDream (a leaf image ascended through ``.data`` by mean-normalised gradients of a hooked or truncated layer's
  norm / mean, ``torch.roll`` jitter by numpy integers, clamping to the normalised range, bilinear octaves))
- (``test_program_growing_nca.py`` runs ``growing_nca.py``: the Growing Neural Cellular Automata as its PyTorch
  ports write it (chenmingxiang110's CAModel: NHWC <-> NCHW ``transpose(1, 3)``, a depthwise ``F.conv2d`` of identity
  / rotated Sobel filters repeated over channels, fc0 -> ReLU -> a zeroed fc1, ``torch.rand(...) > fire_rate``
  updates fed numpy uniforms through a hook, ``max_pool2d`` alive masks; and the 1x1-conv NCHW spelling with a
  stacked kernel buffer and ``permute``), the sample-pool loop (numpy indices, loss ranking, re-seeding, circle
  damage, per-sample ``mse_loss``, per-parameter gradient normalisation through ``p.grad.data``, Adam under
  ExponentialLR / MultiStepLR) and a ``torch.save`` checkpoint resume)
- (``test_program_moco.py`` runs ``moco.py``: facebookresearch/moco's builder (encoder_q / encoder_k with the ``mlp``
  head hack, the key copy through ``.data.copy_`` frozen by ``requires_grad = False``, the normalised ``queue`` and
  long ``queue_ptr`` buffers, the momentum update by ``param_k.data =``, ``_dequeue_and_enqueue``, the one-process
  batch shuffle by a numpy permutation and ``argsort``, list-form einsum logits, ``logits /= self.T``), main_moco's
  SGD loop (cosine / step ``adjust_learning_rate``, topk ``accuracy``, AverageMeter / ProgressMeter, checkpoints with
  the queue and a resume) and main_lincls (renamed ``module.encoder_q.`` keys, ``strict=False``, the frozen net in
  eval mode, the fc init and ``sanity_check``))
- (``test_program_swin.py`` runs ``swin.py``: microsoft/Swin-Transformer (Mlp, window_partition / window_reverse,
  WindowAttention's ``relative_position_bias_table`` gathered through the ``relative_position_index`` buffer built by
  an ``indexing``-less ``meshgrid``, the shifted-window ``attn_mask`` buffer from a slice-filled ``img_mask`` and
  ``masked_fill``, ``torch.roll`` cyclic shifts, the window clamp, timm's DropPath / ``trunc_normal_`` / ``to_2tuple``,
  PatchMerging, BasicLayer under ``torch.utils.checkpoint``, PatchEmbed, the absolute position embedding,
  ``_init_weights``, ``flops()``), ``set_weight_decay``'s skip list / keywords, AdamW, timm's per-update warmup +
  cosine CosineLRScheduler, LabelSmoothingCrossEntropy, gradient accumulation, the CUDA-less GradScaler's
  ``clip_grad_norm_`` wrapper, top-1 / top-5 validation and the checkpoint auto-resume)
- (``test_program_llama2c.py`` runs ``llama2c.py``: Karpathy's llama2.c (model.py's ModelArgs, RMSNorm with the
  float ``rsqrt`` and ``type_as``, real cos / sin RoPE by ``torch.outer`` with ``reshape_for_broadcast`` and the
  ``unbind`` / ``stack(...).flatten(3)`` rotation, ``repeat_kv`` grouped-query attention by SDPA ``is_causal=True``
  or the manual ``-inf`` ``triu`` mask buffer, SwiGLU sized by ``multiple_of``, tied embeddings, the scaled ``w3`` /
  ``wo`` init, ``last_loss``, ``configure_optimizers``' fused check, ``estimate_mfu``, ``@torch.inference_mode()``
  greedy / top-k ``generate``), export.py's version-0 ``model.bin``, tinystories.py's ``IterableDataset`` over uint16
  shards, and train.py's loop (warmup + cosine ``get_lr``, accumulation, the GradScaler, clip_grad_norm_,
  ``estimate_loss``, the checkpoint dict and an exact ``init_from='resume'``))
- (``test_program_dino.py`` runs ``dino.py``: facebookresearch/dino (a ViT with PatchEmbed's conv, ``trunc_normal_``
  by ``erfinv_``, qkv attention, DropPath and ``interpolate_pos_encoding``'s bicubic resize with the ``+ 0.1`` scale
  factors for the local crops, ``get_last_selfattention`` / ``get_intermediate_layers``; DINOHead's GELU MLP,
  ``normalize`` and frozen-``weight_g`` ``weight_norm`` last layer; MultiCropWrapper's ``unique_consecutive`` /
  ``cumsum`` resolution groups; DINOLoss's centre buffer, temperature warmup and crop-pair cross-entropies),
  main_dino's loop (a frozen EMA teacher through ``.data.mul_().add_()``, ``get_params_groups``, per-iteration
  cosine lr / wd / momentum schedules written into the groups, ``clip_gradients``, ``cancel_gradients_last_layer``,
  AdamW or utils' LARS subclass, SyncBatchNorm heads, MetricLogger lines, checkpoints and
  ``restart_from_checkpoint``) on numpy multi-crops)
- (``test_program_convnext.py`` runs ``convnext.py``: facebookresearch/ConvNeXt (Block's depthwise 7x7 conv, the
  channels-last permute, LayerNorm, Linear pointwise convs with GELU, the layer-scale ``gamma``, DropPath at
  ``linspace`` rates; the ``channels_first`` LayerNorm by mean / pow / sqrt; the stem and downsample layers in a
  ModuleList; ``_init_weights`` and ``head_init_scale``), optim_factory's layer-wise lr decay into ``lr_scale``
  groups with no decay for 1-d / bias parameters, AdamW, the numpy ``cosine_scheduler`` written per iteration into
  the groups' lr and weight decay, ``NativeScalerWithGradNormCount`` (a disabled GradScaler, ``clip_grad_norm_`` or
  ``get_grad_norm_``), ``update_freq`` accumulation, label smoothing or a batch mixup into SoftTargetCrossEntropy,
  timm's ModelEma over ``state_dict()`` values, MetricLogger lines, top-1 / top-5 ``evaluate``, ``save_model`` /
  ``auto_load_model`` with the EMA and an exact resume)
- (``test_program_pixelcnn_pp.py`` runs ``pixelcnn_pp.py``: pclouds/pixel-cnn-pp (``concat_elu``, ``log_sum_exp`` /
  ``log_prob_from_logits`` by hand, the 3-channel and 1-channel discretized mixture of logistics losses with their
  float-mask branch selection at ±0.999 and the tiny-probability ``log_pdf_mid`` branch, ``to_one_hot`` by
  ``scatter_``, the samplers on fed numpy uniforms, ``down_shift`` / ``right_shift`` by ``ZeroPad2d``, the hook
  ``weight_norm``ed shifted convs and cropped deconvs, ``nin``'s permuted Linear, ``gated_resnet``, the up / down
  streams with their u_list / ul_list pops and the ``init_padding`` channel), main.py's Adam + StepLR loop in bits
  per dim with ``torch.save`` checkpoints, pixel-by-pixel sampling, and a resume through ``load_part_of_model``)
- (``test_program_barlow_twins.py`` runs ``barlow_twins.py``: facebookresearch/barlowtwins (``off_diagonal`` by
  ``flatten()[:-1].view(n - 1, n + 1)``, BarlowTwins over a torchvision-style ResNet with ``fc = nn.Identity()``, the
  "a-b-c" projector of bias-free Linear / BatchNorm1d / ReLU, the affine-free ``bn`` cross-correlation ``div_`` by the
  batch and the in-place ``add_`` / ``pow_`` on- and off-diagonal loss), main.py's LARS subclass (filters for 1-d
  parameters, nested ``torch.where`` trust ratio, ``mu`` state), the weights / biases groups, warmup + cosine
  ``adjust_learning_rate``, the CUDA-less GradScaler / autocast loop, JSON ``stats.txt`` lines, checkpoints with an
  exact automatic resume and the saved backbone; hubconf's ``strict=False`` load and evaluate.py's linear evaluation
  (``missing_keys`` asserted, fc init, ``--weights freeze`` / ``finetune``, SGD + CosineAnnealingLR, top-1 / top-5,
  best accuracies, the frozen-weights check and a resume))
- (``test_program_glow.py`` runs ``glow.py``: rosinality/glow-pytorch (ActNorm's data-dependent ``initialize`` under
  the uint8 ``initialized`` buffer, InvConv2d by ``torch.qr`` with the float64 ``slogdet`` logdet and ``.inverse()``
  reverse, InvConv2dLU from scipy's ``la.qr`` / ``la.lu`` with its mask / sign / eye buffers and ``calc_weight``,
  ZeroConv2d's ``F.pad(value=1)``, affine (``sigmoid(log_s + 2)``) and additive coupling, the squeeze by ``view`` /
  ``permute``, split priors, ``gaussian_log_p`` / ``gaussian_sample``, multi-scale ``forward`` / ``reverse`` with
  ``reconstruct``) and train.py (``calc_z_shapes``, ``calc_loss`` in bits per dimension, n_bits dequantisation with
  numpy noise, the ``no_grad`` first batch, Adam with the warmup lr in ``param_groups[0]["lr"]``, temperature
  samples, DataParallel ``torch.save`` checkpoints and an exact resume))
- (``test_program_siren.py`` runs ``siren.py``: vsitzmann/siren's explore_siren notebook (SineLayer's
  ``omega_0`` init under ``no_grad`` by ``uniform_``, ``forward_with_intermediate``, Siren with ``outermost_linear``,
  ``forward``'s ``clone().detach().requires_grad_(True)`` coordinates, ``forward_with_activations`` with
  ``retain_grad`` into an OrderedDict, ``get_mgrid`` with and without ``indexing``), diff_operators' ``gradient`` /
  ``divergence`` / ``laplace`` / ``hessian`` / ``jacobian`` by ``autograd.grad(create_graph=True)``, the image,
  Sobel-gradient, Laplacian (third derivatives in training) and audio (``first_omega_0=3000``) fits under Adam with
  their summary prints and fields, scipy.ndimage ground truths, loss_functions' ``sdf``, modules.py's FCBlock /
  SingleBVPNet with ``apply``-ed inits, training.py-style checkpoints and an exact resume)
- (``test_program_transformer_xl.py`` runs ``transformer_xl.py``: kimiyoung/transformer-xl's PyTorch code
  (PositionalEmbedding by ``torch.ger``, PositionwiseFF with ``pre_lnorm``, RelPartialLearnableMultiHeadAttn with
  ``_rel_shift``'s zero-pad / view trick, the ``ibnd,jbnd->ijbn`` / ``ibnd,jnd->ijbn`` einsums, shared ``r_w_bias`` /
  ``r_r_bias`` and the ``-inf`` ``masked_fill`` of the causal or ``same_length`` mask; MemTransformerLM's empty
  ``init_mems``, ``_update_mems`` under ``no_grad``, ``clamp_len`` and ``reset_length``; AdaptiveEmbedding with
  ``div_val`` 2 (``nonzero().squeeze()``, ``index_select``, ``index_copy_``, in-place ``emb_scale``) and
  ProjectedAdaptiveLogSoftmax's head / tail clusters with tied weights and projections), LMOrderedIterator over a
  numpy corpus, and train.py's loop (Adam, manual warmup then CosineAnnealingLR stepped with ``train_step``,
  clip_grad_norm_, memories carried across segments, evaluation, ppl log lines, a checkpoint restart))
- (``test_program_tv_classification.py`` runs ``tv_classification.py``: torchvision's classification reference
  training its MobileNetV2 (``_make_divisible``, Conv2dNormActivation with ReLU6 and depthwise ``groups``,
  InvertedResidual's ``use_res_connect``, the init loop) and an EfficientNet-B0-style net (MBConv with
  SqueezeExcitation and ``mode="row"`` StochasticDepth, the ``init_range`` classifier) by train.py: ``set_weight_decay``
  no-decay norm / bias groups, SGD + Nesterov / RMSprop(eps=0.0316, alpha=0.9) / AdamW, a LinearLR / ConstantLR
  warmup in SequentialLR before Cosine / Step / ExponentialLR, label smoothing on RandomMixup / RandomCutmix soft
  targets, the ``ExponentialMovingAverage(AveragedModel)`` EMA with its warmup reset, clip_grad_norm_, a disabled
  GradScaler, MetricLogger lines, top-1 / top-5 ``evaluate`` and a checkpoint resume)
- (``test_program_rwkv.py`` runs ``rwkv.py``: BlinkDL/RWKV-LM's RWKV-4 (RWKV_TimeMix's layer-dependent
  ``time_decay`` / ``time_first`` / ``time_mix`` init by ``torch.ones`` / ``torch.pow``, the ``ZeroPad2d((0, 0, 1,
  -1))`` time shift, sigmoid receptance and the WKV as a Python loop over time with the ``torch.maximum`` /
  ``torch.exp`` max trick; RWKV_ChannelMix's ``torch.square(torch.relu(k))``; ``ln0`` on block 0 and the
  ``RWKV-ffnPre`` variant; RWKV_Init's ``orthogonal_`` gains, ``zeros_``, ``eye_`` and ``normal_`` branches; the
  L2Wrap autograd Function's ``scatter_`` at ``torch.max(..., -1, keepdim=True)``), the neo layerwise-lr groups or
  v4's one group under Adam(0.9, 0.99), trainer.py's token-counted warmup + exponential decay into
  ``param_group['lr']``, a checkpoint resume, and model_run.py's RWKV_RNN (``SimpleNamespace`` weights from the
  ``.pth``, the ``xx`` / ``aa`` / ``bb`` / ``pp`` state) giving the GPT-mode logits)
- (``test_program_densenet.py`` runs ``densenet.py``: torchvision's DenseNet (_DenseLayer's ``add_module`` layers,
  ``bn_function``'s ``torch.cat``, the ``memory_efficient`` path through ``torch.utils.checkpoint.checkpoint(closure,
  *prev_features, use_reentrant=False)`` behind ``any_requires_grad`` / ``torch.jit.is_scripting``, its recomputed
  ``norm1`` updating the running statistics twice, ``F.dropout``, the ``nn.ModuleDict`` _DenseBlock over ``items()``,
  the ``nn.Sequential`` _Transition, the ``OrderedDict`` features stem, the init loop, the old-checkpoint key regex)
  trained by SGD + Nesterov + weight decay under CosineAnnealingLR, with eval logits and a checkpoint resume)
- (``test_program_detr.py`` runs ``detr.py``: facebookresearch/detr (NestedTensor padding masks from
  ``nested_tensor_from_tensor_list``, FrozenBatchNorm2d's buffers and its ``_load_from_state_dict`` dropping
  ``num_batches_tracked`` from a BatchNorm2d "pretrained" backbone, the interpolated mask, PositionEmbeddingSine's
  cumsum / sin-cos ``stack(...).flatten(3)`` and the learned one, DETR's post- and pre-norm encoder / decoder layers
  on ``nn.MultiheadAttention`` with ``key_padding_mask`` and ``query_pos``, the ``return_intermediate`` stack,
  class_embed + the sigmoid MLP box head with aux outputs, box_ops' GIoU by ``torch.max`` / ``min`` broadcasting, the
  HungarianMatcher's ``cdist(p=1)`` cost ``.cpu()``-split into scipy's ``linear_sum_assignment``, SetCriterion's
  ``empty_weight`` cross-entropy, L1 / GIoU / cardinality losses and ``_get_src_permutation_idx``), engine's weighted
  loss sum with MetricLogger lines and ``clip_grad_norm_(0.1)``, main's AdamW with a lower backbone lr, StepLR, the
  checkpoint dict and an exact ``--resume``, and PostProcess detections)
- (``test_program_nflows.py`` runs ``nflows.py``: bayesiains/nflows' neural spline flow (the rational-quadratic
  spline with linear tails: ``F.pad``ded derivatives set in place to the identity-tail constant, masked tuple
  assignment, softmax widths / heights, ``cumsum`` + ``F.pad((1, 0))`` knots, ``searchsorted`` bumping its last
  location in place, ``gather(-1, bin_idx)[..., 0]``, the forward formula and the quadratic-root inverse;
  PiecewiseRationalQuadraticCouplingTransform's ``num_bins * 3 - 1`` split divided in place by
  ``np.sqrt(hidden_features)``, ``masked_select`` feature indices from ``.byte()`` or arange-parity masks, ResidualNet,
  LULinear by ``np.tril_indices`` writes, ``F.softplus`` diagonal and ``linalg.solve_triangular`` inverse,
  ReversePermutation, CompositeTransform, StandardNormal's float64 ``_log_z``, Flow), two-moons training under Adam,
  clip_grad_norm_ and CosineAnnealingLR with a checkpoint resume, round trips, fed-noise samples, and the float64
  spline at its knots, ±tail_bound and outside)
- (``test_program_lora.py`` runs ``lora.py``: microsoft/LoRA's loralib (LoRALayer's r / lora_alpha / scaling /
  dropout-or-identity / merged bookkeeping; lora.Linear with ``fan_in_fan_out``, its kaiming / zeros
  ``reset_parameters`` and the ``train(mode)`` override merging into and out of ``weight.data``; lora.Embedding
  through ``F.embedding`` with padding_idx / max_norm; MergedLinear's ``lora_ind`` mask, grouped ``F.conv1d`` B and
  ``zero_pad``; ``mark_only_lora_as_trainable`` and ``lora_state_dict`` under each ``bias=``) in examples/NLG's GPT-2
  (Conv1D by ``addmm``, the TF LayerNorm, c_attn as ``MergedLinear(enable_lora=[True, False, True],
  fan_in_fan_out=True)``, tied head, masked / label-smoothed losses): Adam pretraining, a ``strict=False`` load,
  AdamW + warmup LambdaLR fine-tuning with clip_grad_norm_, eval / train merge cycles and the LoRA-only checkpoint
  restored into a fresh model)
- (``test_program_sparse_autoencoder.py`` runs ``sparse_autoencoder.py``: openai/sparse_autoencoder's TopK
  autoencoder (model.py's Autoencoder with ``pre_bias`` / ``latent_bias``, bias-free encoder / decoder Linears,
  ``encode_pre_act`` with ``latent_slice``, the LN ``normalize`` path, the ``stats_last_nonzero`` buffer updated by
  ``*= (latents == 0).all(dim=0).long()`` / ``+= 1``, TopK's ``topk`` + ``scatter_`` of the ReLU'd values,
  TiedTranspose, the ``state_dict(destination, prefix, keep_vars)`` overrides and ``from_state_dict``), loss.py's
  normalized MSE / L1, the Triton ``mse`` / ``normalized_mse`` / ``triton_add_mul_`` written densely, and train.py's
  transposed-encoder decoder init in column-major layout, ``unit_norm_decoder_``, the einsum
  ``unit_norm_decoder_grad_adjustment_``, AuxK on dead latents (``x.data *= dead_mask``, ``topk``, the residual
  target, ``nan_to_num``), ``init_from_data_`` from a batch mean, Adam(eps=6.25e-10, fused=True) under a disabled
  GradScaler, clipping by ``_foreach_mul_``, the ``_foreach_lerp_`` EMA with its bias-corrected ``.data`` swap,
  ``batch_tensors``, an exact resume, and ``topk`` with ties)
- (``test_program_deepspeech.py`` runs ``deepspeech.py``: SeanNaren/deepspeech.pytorch's DeepSpeech 2 (MaskConv's
  Conv2d / BatchNorm2d / ``Hardtanh(0, 20, inplace=True)`` masked per module by ``torch.BoolTensor(x.size())``,
  ``narrow(...).fill_(1)`` and ``masked_fill``; ``get_seq_lens`` through ``nn.modules.conv.Conv2d`` and
  ``true_divide``; SequenceWise; BatchRNN's SequenceWise(BatchNorm1d), ``pack_padded_sequence(...,
  enforce_sorted=False)``, bidirectional LSTM / GRU summed by ``view(T, N, 2, -1).sum(2)``; Lookahead's ``F.pad`` +
  depthwise Conv1d; InferenceBatchSoftmax; the SequenceWise head), data_loader's normalised spectrograms, sorting
  ``_collate_fn`` and numpy BucketingSampler, train.py (``CTCLoss(reduction='sum', zero_infinity=True)`` on
  ``log_softmax().float()`` over concatenated IntTensor targets divided by the batch, ``check_loss`` skipping an inf
  loss, ``clip_grad_norm_``, SGD + Nesterov or AdamW, lr annealed by dividing each group's lr, checkpoints and
  ``--continue-from``) and the GreedyDecoder's WER / CER by a pure-Python Levenshtein, on sorted and unsorted batches)
- (``test_program_neural_process.py`` runs ``neural_process.py``: EmilienDupont/neural-processes (Encoder's
  ``torch.cat((x, y), dim=1)`` into a Linear / ``ReLU(inplace=True)`` Sequential, MuSigmaEncoder's
  ``0.1 + 0.9 * sigmoid`` sigma, the Decoder's ``z.unsqueeze(1).repeat(1, num_points, 1)`` and ``view`` flattening
  with a ``0.1 + 0.9 * softplus`` sigma, NeuralProcess's ``torch.mean(r_i, dim=1)`` aggregation, ``Normal`` latents,
  ``rsample`` on fed noise and its train / eval paths, the trainer's ``-log_prob(...).mean(dim=0).sum()`` +
  ``kl_divergence(q_target, q_context).mean(dim=0).sum()`` loss under Adam with ``randint`` context sizes,
  ``context_target_split``'s ``np.random.choice``, SineData, prior and posterior ``loc`` / ``scale`` predictions, a
  state_dict round trip and a checkpoint resume), and an Attentive NP's uniform / laplace / dot-product (einsum) /
  ``nn.MultiheadAttention`` cross-attention path)
- (``test_program_stylegan2.py`` runs ``stylegan2.py``: rosinality/stylegan2-pytorch at 8x8 (op/'s
  ``upfirdn2d_native`` by ``F.pad`` zero insertion, negative-pad crops, a flipped-kernel ``conv2d`` and strided
  slices, the CPU ``fused_leaky_relu``, conv2d_gradfix's ``could_use_op`` fallback; PixelNorm, ``make_kernel``,
  Upsample / Blur, EqualConv2d / EqualLinear with ``lr_mul``, ModulatedConv2d's demodulation by ``rsqrt`` and its
  fused grouped ``conv2d`` / grouped ``conv_transpose2d`` or unfused path, fed NoiseInjection, ConstantInput, ToRGB
  skips, the mapping network, style mixing by Python's ``random``, truncation around ``mean_latent``; the
  Discriminator's ResBlocks and minibatch stddev), train.py's logistic / non-saturating losses, R1 and path-length
  penalties by ``autograd.grad(..., create_graph=True)`` under lazy regularisation, ``requires_grad`` toggling, Adam
  with ``0 ** ratio`` betas, ``accumulate`` into g_ema and a checkpoint resume; and projector.py's noise_regularize /
  noise_normalize_ loop)
- (``test_program_yolov3.py`` runs ``yolov3.py``: eriklindernoren/PyTorch-YOLOv3 (parse_model_config over a cfg
  string, create_modules' Conv2d + BatchNorm2d(momentum=0.1) + LeakyReLU(0.1), shortcut / route by ``torch.cat``, an
  Upsample by nearest ``F.interpolate``, YOLOLayer's ``view`` / ``permute`` and eval-mode sigmoid / exp decoding over
  an ``indexing="ij"`` ``meshgrid`` grid and ``anchor_grid`` buffer, Darknet with ``yolo_layers`` a plain list of
  modules held in ``module_list``), utils/loss.py (build_targets' anchor matching by wh ratio and clamped grid
  cells, the gathered predictions, CIoU ``bbox_iou`` with its ``no_grad`` alpha, BCEWithLogitsLoss(pos_weight) for
  objectness on ``iou.detach().clamp(0)`` targets and one-hot classes, the lbox / lobj / lcls weights), train.py's
  Adam with the burn-in and step lr written into the groups, checkpoints and a resume, and non_max_suppression
  (xywh2xyxy by ``x.new``, multi-label ``nonzero``, a class-offset pure-torch NMS) on 32x32 numpy batches)
- (``test_program_whisper_model.py`` runs ``whisper_model.py``: OpenAI whisper's model.py at a tiny
  ModelDimensions (LayerNorm in float32 cast back, Linear / Conv1d casting weights to the input's dtype through
  ``F.linear`` / an overridden ``_conv_forward``, ``sinusoids`` buffer, MultiHeadAttention's ``qkv_attention`` by
  ``scaled_dot_product_attention(is_causal=...)`` or the scaled ``q @ k`` + ``mask[:n_ctx, :n_ctx]`` path under
  ``disable_sdpa``, cross-attention blocks, the ``-inf`` ``triu_`` mask buffer, logits against the transposed token
  embedding, the sparse bool ``alignment_heads`` buffer and ``set_alignment_heads``, ``install_kv_cache_hooks``),
  decoding.py's PyTorchInference (last token only, offset from the kv cache) in a greedy loop checked against
  uncached decoding, timing.py's cross-attention QKs by forward hooks, teacher-forced AdamW fine-tuning with
  ``cross_entropy(ignore_index=-100)``, and float16 runs (half mels; ``model.half()``, refused by the CPU
  ``layer_norm`` until the LayerNorms are float32 again))
- (``test_program_maml.py`` runs ``maml.py``: dragen1860/MAML-Pytorch (the config-built ``Learner`` of an
  ``nn.ParameterList`` with ``requires_grad=False`` running statistics in ``vars_bn``, its forward over a list of
  fast weights by ``F.conv2d`` / ``F.linear`` / ``F.batch_norm(training=True)`` / ``F.relu(inplace=True)`` /
  ``F.max_pool2d``; ``Meta``'s inner loop of ``autograd.grad`` with ``create_graph=True`` or detached first-order
  grads and ``list(map(lambda p: p[1] - lr * p[0], ...))`` updates, query accuracies by ``argmax`` +
  ``eq().sum().item()``, Adam on the averaged query loss, ``finetunning`` on a ``deepcopy``, omniglot_train.py's loop
  and prints) on tiny random N-way K-shot tasks, and cbfinn's sinusoid regression as its PyTorch ports write it, the
  second-order meta-gradients compared step by step and, in float64, against torch and finite differences)
- (``test_program_egnn.py`` runs ``egnn.py``: vgsatorras/egnn's E(n)-equivariant GNN (models/gcl.py's ``E_GCL``:
  ``torch.cat([source, target, radial, edge_attr], dim=1)`` edge MLP with a Sigmoid attention, messages and
  coordinate updates by ``unsorted_segment_sum`` / ``_mean`` over ``new_full(...).scatter_add_`` with an expanded
  index, ``coord_diff * coord_mlp(edge_feat)`` clamped, ``norm_diff``, ``xavier_uniform_(gain=0.001)``, the
  ``tanh`` ``coords_range`` attribute, ``coord +=`` in place on ``loc.detach()``), the n-body ``EGNN_vel``
  (``add_module("gcl_%d")`` layers, the ``coord_mlp_vel`` term) and its GNN / RF_vel baselines trained with MSE on
  numpy charged-particle trajectories read by NBodyDataset,
  and the QM9 ``EGNN`` (``E_GCL_mask``, ``h * node_mask``, sum pooling, QM9's padding collate, ``preprocess_input``,
  ``get_adj_matrix``, L1 on ``meann`` / ``mad``-normalised labels) under Adam + CosineAnnealingLR, both ``train``
  loops with ``res['loss'] / res['counter']``, best-validation selection and ``losess.json``; per-step losses,
  predictions, gradients and parameters, and E(n) equivariance errors, in float64 and float32; forces by
  ``autograd.grad(create_graph=True)`` through ``scatter_add_`` and their second-order parameter gradients)
- (``test_program_custom_optimizers.py`` runs ``custom_optimizers.py``: hand-written ``Optimizer`` subclasses as
  their repositories write them: lucidrains' Lion (``@torch.no_grad()`` ``step`` with an ``enable_grad`` closure,
  ``filter(lambda p: exists(p.grad), ...)``, ``update_fn``'s ``mul_`` / ``sign_`` / ``add_``, decoupled weight
  decay) and its ``_foreach_mul_`` / ``_foreach_lerp`` / ``_foreach_sign_`` / ``_foreach_add_`` / ``_foreach_lerp_``
  variant; sail-sg's Adan (multi-tensor ``_foreach_sub`` / ``_add`` / ``_addcmul_`` / ``_sqrt`` / ``_div_`` and
  single-tensor paths, ``pre_grad`` state, per-group steps with bias corrections, ``restart_opt``, the global-norm
  clip by ``torch.sqrt`` / ``torch.clamp(max=1.0)``, ``no_prox``); cybertronai's Lamb (the deprecated ``add_(alpha,
  tensor)`` / ``addcmul_(value, t1, t2)`` spellings, ``weight_norm`` clamped to 10, the Python trust-ratio branch and
  its ``state`` entries) and Liu et al.'s SophiaG (``update_hessian``'s ``addcmul_`` from numpy-sampled labels, 0-d
  tensor steps, the clipped ``ratio`` and ``addcmul_`` of signs), on a tiny MLP and a tiny causal transformer with a
  LambdaLR warmup rebuilt when ``add_param_group`` unfreezes the head, and an exact checkpoint resume)
- (``test_program_data_pipelines.py`` runs ``data_pipelines.py``: the ``torch.utils.data`` patterns of training
  scripts: map-style Datasets returning dicts / tuples / namedtuples / nested lists of numpy arrays, Python numbers,
  strings and tensors through ``default_collate`` (also by ``torch.utils.data.dataloader``) and ``default_convert``
  (``batch_size=None``), a ``pad_sequence`` collate_fn, ``drop_last``, Sequential / SubsetRandom / WeightedRandom
  samplers and a BatchSampler on seeded generators, IterableDatasets sharded by ``get_worker_info()`` or a
  ``worker_init_fn`` under ``num_workers=2`` (persistent, prefetch_factor, pin_memory), ConcatDataset / ChainDataset /
  Subset / fractional ``random_split`` / TensorDataset / StackDataset, mismatched-shape errors, and a tiny model
  trained by Adam on the map-style loader's batches and on two workers' shards of a stream)
- (``test_program_world_models.py`` runs ``world_models.py``: ctallec/world-models (models/vae.py's conv Encoder with
  ``fc_mu`` / ``fc_logsigma`` and transposed-conv Decoder ending in ``F.sigmoid``, the ``logsigma.exp()`` /
  ``randn_like`` reparameterisation on fed numpy noise; models/mdrnn.py's ``gmm_loss`` by ``Normal.log_prob`` and a
  hand-written logsumexp, ``_MDRNNBase``'s ``gmm_linear``, MDRNN over ``nn.LSTM`` and MDRNNCell over ``nn.LSTMCell``
  with their ``gmm_outs`` slicing, ``torch.exp`` sigmas and ``log_softmax`` weights; the linear Controller on
  ``torch.cat(inputs, dim=1)``), trainvae.py (summed ``mse_loss(size_average=False)`` + KLD, Adam,
  ReduceLROnPlateau and utils/learning's EarlyStopping with their state_dicts, ``save_checkpoint`` to
  ``checkpoint.tar`` / ``best.tar``, the ``best.tar`` reload, samples), trainmdrnn.py (``to_latent`` under
  ``no_grad`` with ``f.upsample(mode='bilinear', align_corners=True)``, ``get_loss``'s GMM + BCE-with-logits + MSE
  over ``scale`` with and without rewards, RMSprop(alpha=.9), ``data_pass``'s postfix lines), and utils/misc.py's
  ``flatten_parameters`` / ``torch.Tensor(params)`` / ``load_parameters`` with the RolloutGenerator (an MDRNNCell
  loaded by ``k.strip('_l0')``) evaluating a controller population on a numpy toy environment)
- (``test_program_distributions_vi.py`` runs ``distributions_vi.py``: variational inference with torch.distributions
  as tutorials and small repos write it: Bayesian logistic regression under a mean-field ``Normal(loc,
  F.softplus(rho))`` guide (``Bernoulli(logits=)`` likelihood, ``kl_divergence(Normal, Normal)``), full-rank
  ``MultivariateNormal(scale_tril=)`` and ``LowRankMultivariateNormal`` guides (entropy, log_prob, closed-form KLs),
  YongfeiYan's Gumbel-Softmax VAE (``sample_gumbel`` on fed uniforms, the straight-through ``hard`` sample by
  ``scatter_`` and ``(y_hard - y).detach() + y``, the KL to a uniform categorical, ``np.maximum`` temperature
  annealing, ``RelaxedOneHotCategorical`` / ``OneHotCategorical`` log_probs, one-hot generation), a
  ``MixtureSameFamily(Categorical, Independent(Normal))`` fitted by maximum likelihood under a ``Dirichlet`` prior,
  ``TransformedDistribution`` (Affine + Sigmoid, Exp) and ``LogNormal`` guides for Beta-Bernoulli / Gamma-Poisson,
  and a zoo of log_probs, moments, entropies, cdf / icdf, registered KLs and their gradients on extreme parameters,
  supports and ``validate_args`` errors)
- (``test_program_prune_parametrize.py`` runs ``prune_parametrize.py``: PyTorch's Pruning and Parametrizations
  tutorials on a LeNet: random / l1 / ln_structured pruning, a PruningContainer, ``prune.remove``,
  ``global_unstructured`` with the sparsity lines, a custom BasePruningMethod, a reloaded pruned state_dict and Adam
  through the masks; Symmetric, Skew + matrix_exp, right_inverse, ``cached``, ``remove_parametrizations``, and
  spectral_norm / orthogonal / weight_norm trained by SGD and Adam)
- (``test_program_hf_gpt2.py`` runs ``hf_gpt2.py``: Hugging Face's modeling_gpt2 in plain PyTorch (Conv1D by
  ``addmm``, GPT2Attention's ``split`` / ``_split_heads`` / ``_merge_heads``, the non-persistent bool ``tril`` bias,
  ``torch.where`` with a ``finfo.min`` tensor, the ``(1.0 - mask) * finfo.min`` padding mask, ``layer_past`` presents by
  ``torch.cat``, ``_upcast_and_reordered_attn`` by ``baddbmm(beta=0)``, the sdpa class with its 4-D float mask,
  ``get_head_mask``, NewGELUActivation, cumsum position ids for left padding, the tied ``lm_head``, the shifted loss
  with -100 labels, ``_init_weights`` with the scaled ``c_proj``, GPT2ForSequenceClassification's last-non-pad pooling
  and three losses), hand-written greedy / top-k top-p sampling on numpy uniforms / beam search with ``index_select``ed
  pasts and length penalties and the repetition penalty, the TopP / Typical / Eta / MinLength processors, AdamW under a
  linear-warmup LambdaLR with clip_grad_norm_, save / from_pretrained and resize_token_embeddings)
- (``test_program_clip_model.py`` runs ``clip_model.py``: openai/CLIP's clip/model.py (Bottleneck's avgpool
  anti-aliased strides and ``OrderedDict`` downsample, AttentionPool2d by ``F.multi_head_attention_forward`` with
  separate q / k / v weights and a ``torch.cat`` bias, ModifiedResNet's 3-conv stem, the float32 LayerNorm subclass,
  QuickGELU, ResidualAttentionBlock over ``nn.MultiheadAttention`` with the ``-inf`` ``triu_`` mask,
  VisionTransformer's class embedding, ``initialize_parameters``, ``encode_text``'s end-of-text pick by ``argmax``,
  normalised features and ``logit_scale.exp()``, ``convert_weights``' fp16 model and ``build_model`` from a state
  dict), the symmetric contrastive loss under Adam with open_clip's ``logit_scale`` clamp, and prompt-averaged
  zero-shot classification)
- (``test_program_swav.py`` runs ``swav.py``: facebookresearch/swav's resnet50.py (the multi-crop forward grouping
  crops by resolution through ``unique_consecutive(return_counts=True)`` + ``cumsum``, the projection head, the
  l2-normalised features and ``prototypes`` as ``Linear(bias=False)``), main_swav.py's ``train`` (prototypes
  renormalised under ``no_grad`` by ``.data.clone()`` / ``copy_``, ``distributed_sinkhorn`` with its guarded
  ``all_reduce``, the ``torch.zeros`` queue filled, shifted and used once full, the swapped-prediction loss over
  ``np.delete``d crop ids, prototypes frozen by ``p.grad = None``, SGD under the numpy warmup + cosine ``lr_schedule``)
  and utils.py's ``AverageMeter`` and ``restart_from_checkpoint`` with the saved queue)
- (``test_program_ft_transformer.py`` runs ``ft_transformer.py``: yandex-research/rtdl's FT-Transformer (the
  'uniform' ``_TokenInitialization``, NumericalFeatureTokenizer's ``weight[None] * x[..., None]`` from
  ``nn.Parameter(Tensor(n, d))``, CategoricalFeatureTokenizer's ``cumsum`` ``category_offsets`` buffer into one
  ``nn.Embedding``, CLSToken's ``view`` / ``expand`` + ``torch.cat``, the hand-written MultiheadAttention with
  ``_reshape`` and key / value compression over the token axis (headwise / key-value / layerwise sharing), ReGLU /
  GEGLU by ``chunk``, pre- or post-norm blocks in ModuleDicts with ``last_layer_query_idx=[-1]``, the head built by
  ``getattr(nn, name)`` (``nn.Identity(d_in)``), ``make_default``, ``optimization_param_groups`` and AdamW), the
  bin/ft_transformer.py loop (MSE / cross-entropy / BCE-with-logits, ``no_grad`` RMSE / accuracy, ``best.pt`` and an
  exact ``checkpoint.pt`` resume, patience, the best model's val / test scores), and MLPs on rtdl_num_embeddings'
  PiecewiseLinearEncoding (``torch.quantile`` bins, ``clamp`` / ``torch.where``, a boolean-mask selection) or
  PeriodicEmbeddings (``trunc_normal_`` frequencies, cos / sin, ``_NLinear`` by transposed batched matmul, or lite))
- (``test_program_hnn.py`` runs ``hnn.py``: greydanus/hamiltonian-nn (the MLP of ``orthogonal_`` Linears, the last
  bias-free, with ``choose_nonlinearity``; HNN's ``y.split(1, 1)`` into F1 / F2, ``autograd.grad(F.sum(), x,
  create_graph=True)`` conservative and solenoidal fields through ``torch.eye`` and the symplectic
  ``permutation_tensor`` (``torch.cat`` of eye's rows, or the Levi-Civita one by in-place slice products),
  ``dF @ M.t()``, the baseline MLP, utils' ``rk4`` and ``rk4_time_derivative``), numpy spring / pendulum datasets,
  train.py's Adam(weight_decay=1e-4) on ``L2_loss`` with its log lines, the learned field integrated by the RK4 with
  ``requires_grad_`` / ``detach`` states and energies along it; and a torch port of MilesCranmer/lagrangian_nns (a
  softplus MLP L(q, q_t), q_tt by ``autograd.functional.hessian`` / ``jacobian`` + ``linalg.solve`` or by
  ``torch.func`` ``hessian`` / ``grad`` / ``jacrev(jacrev)`` under ``vmap`` + ``linalg.pinv``, Adam, and a Jacobian
  penalty on the learned dynamics through pinv's double backward))
- (``test_program_ebm_score.py`` runs ``ebm_score.py``: wgrathwohl/JEM (``F`` / ``CCF`` with ``logits.logsumexp(1)``,
  ``sample_p_0``'s replay buffer re-initialised where ``rand < reinit_freq``, ``sample_q``'s SGLD through
  ``autograd.grad(retain_graph=True)`` and ``x_k.data +=`` with numpy noise, ``clamp_``, ``fp.mean() - fq.mean()`` +
  cross-entropy + an L2 energy term, Adam under a warmup LambdaLR), rosinality/igebm-pytorch (hook
  ``spectral_norm`` convs with class embeddings, the Langevin loop through ``neg_img.data.add_(-step, grad)`` /
  ``grad.data.clamp_`` / ``grad.zero_()``, ``clip_grad`` by Adam's ``step`` / ``exp_avg_sq`` state), and
  ermongroup's score matching on 2-D toy data (denoising, sliced and variance-reduced sliced with fed projections,
  exact with a ``create_graph`` trace loop for score and energy nets, a noise-conditional net dividing by
  ``sigmas[labels]``, anneal_dsm and annealed Langevin over geometric sigmas))
- (``test_program_decision_transformer.py`` runs ``decision_transformer.py``: the Decision Transformer as
  kzl/decision-transformer's gym code writes it over its own small GPT-2 (``discount_cumsum`` returns-to-go, state
  mean / std, left-padded ``get_batch`` windows with float64 masks through ``torch.from_numpy(np.concatenate(...))``,
  ``embed_timestep`` + Linear return / state / action embeddings stacked and ``permute``d into (R, s, a) tokens,
  ``embed_ln``, the stacked attention mask into a ``tril``-buffer ``torch.where`` / ``-10000.0`` masked attention,
  the Tanh action head, the masked action MSE, AdamW + the LambdaLR warmup + ``clip_grad_norm_(..., .25)``, and
  ``evaluate_episode_rtg``'s ``get_action`` rollouts on the last K steps under ``no_grad`` / ``eval``), its atari
  minGPT (conv state encoder, strided token writes, ``repeat_interleave`` + ``gather`` global positions,
  configure_optimizers, token-counted lr decay, sampled rollouts), and nikhilbarhate99/min-decision-transformer
  (``masked_fill(-inf)`` over a registered ``tril``, post-norm blocks, right-padded ``traj_mask`` batches,
  ``evaluate_on_env`` and a saved / reloaded best model))
- (``test_program_wavenet.py`` runs ``wavenet.py``: r9y9/wavenet_vocoder's WaveNet (mu-law companding and
  quantization on numpy or torch, pytorch-wavenet's ``np.digitize`` bins and ``scatter_`` one-hot inputs, the
  incremental ``nn.Conv1d`` subclass with its shifted input buffer and a linearized weight cleared by
  ``register_backward_hook``, weight-normed ``std_mul``-initialized convs, gated residual blocks with local and
  speaker conditioning, ``F.interpolate`` + Conv2d and ConvTranspose2d upsampling, skips scaled by
  ``sqrt(1 / len(layers))``, ``receptive_field_size``), trained with ``MaskedCrossEntropyLoss`` over 256 classes
  or the discretized mixture-of-logistics loss under Adam, ``clip_grad_norm_``, a step lr decay and an
  ``ExponentialMovingAverage`` averaged model, a checkpoint resume, and incremental generation from handed-in
  uniforms checked against the full forward)
- (``test_program_dlrm.py`` runs ``dlrm.py``: facebookresearch/dlrm's ``dlrm_s_pytorch.py`` at tiny sizes:
  ``create_mlp``'s Linear + ReLU / Sigmoid stacks with the numpy normal init copied in through ``.data =
  torch.tensor(W, requires_grad=True)``, ``create_emb``'s ``EmbeddingBag(mode="sum", sparse=True)``, ``apply_emb`` in
  the offsets form with fixed or learned ``per_sample_weights``, the "dot" (``bmm`` + ``Z[:, li, lj]``, with or
  without the diagonal) and "cat" interactions, the ``loss_threshold`` clamp, BCE / MSE / the weighted BCE with its
  float64 ``loss_ws``, ``LRPolicyScheduler``'s warmup and polynomial decay, the numpy random batches, SGD / Adagrad
  on sparse and dense gradients or SparseAdam + Adam, ``np.round`` accuracies, the log lines and a checkpoint resume)
- (``test_program_td3.py`` runs ``td3.py``: sfujim/TD3's TD3, DDPG and OurDDPG on a numpy Pendulum (the Actor's
  ``max_action * torch.tanh``, the twin-Q Critic over ``torch.cat([state, action], 1)`` with ``Q1``, ``copy.deepcopy``
  targets, utils' numpy ReplayBuffer of ``torch.FloatTensor(...).to(device)`` batches, target policy smoothing by
  clamped ``randn_like`` noise fed from numpy, the ``torch.min`` backup under ``no_grad`` / ``.detach()``, two
  ``F.mse_loss``es, delayed policy updates, the ``.data.copy_`` Polyak update, ``select_action`` by
  ``.cpu().data.numpy().flatten()``, main.py's loop with numpy exploration noise, printed lines, evaluations and
  ``save`` / ``load`` of the actor, critic and optimizer ``state_dict``s), and Spinning Up's TD3 (``mlp`` with a Tanh
  output, ``p_targ.data.mul_`` / ``add_`` under ``no_grad``, ``requires_grad = False`` on the one-shot
  ``itertools.chain`` or a list of Q parameters during the policy step, test episodes))
- (``test_program_dkt.py`` runs ``dkt.py``: Deep Knowledge Tracing as jarviszhb's / chsong513's ports write it on
  synthetic students (the numpy (skill, correct) one-hot, ``nn.LSTM`` / ``GRU`` / ``RNN(tanh)`` with
  ``batch_first=True`` from ``torch.zeros`` states, Linear + Sigmoid, ``lossFunc``'s per-student ``mm`` + ``gather(0,
  index)`` pick, ``// 2`` answers, the backward ``p[i] > 0`` trim, summed ``nn.BCELoss`` and ``torch.cat`` from
  ``torch.tensor([])``; and the padded spelling: ``torch.zeros`` + index assignment or ``F.one_hot``, ``pad_sequence``,
  ``pack_padded_sequence(enforce_sorted=False)`` / ``pad_packed_sequence(total_length=)``, ``torch.gather(pred, 2,
  next_skill.unsqueeze(-1))`` or a one-hot dot product, ``masked_select``, BCEWithLogitsLoss; and hcnoh's Embedding
  of ``q + num_q * r`` with a ``-1e3``-padded float collate, ``y * one_hot(qshft.long())`` and
  ``F.binary_cross_entropy``), Adam, ``clip_grad_norm_``, AUC by sorting in numpy, accuracy, log lines and a
  state_dict round trip)
- (``test_program_m5_audio.py`` runs ``m5_audio.py``: torchaudio's speech-command M5 on synthetic tones (pad_sequence
  collate, a windowed-sinc Resample by strided conv1d, Conv1d / BatchNorm1d / MaxPool1d with an avg_pool1d or
  adaptive pooling head, log_softmax + ``nll_loss(output.squeeze(), target)`` on a last batch of one, Adam + StepLR)
- (``test_program_transformer_translation.py`` runs ``transformer_translation.py``: the nn.Transformer translation
  tutorial (float causal / bool padding masks, a PositionalEncoding buffer, label-smoothed CrossEntropyLoss with
  ignore_index, greedy decoding under no_grad) and a batch-first spelling decoded under inference_mode)
- (``test_program_ctr_embeddingbag.py`` runs ``ctr_embeddingbag.py``: a DeepFM on multi-hot click logs
  (EmbeddingBag sum with per_sample_weights and include_last_offset, mean with padding_idx, max via
  ``F.embedding_bag`` on 2-D input, ``from_pretrained``), Adagrad dense or sparse, SparseAdam beside Adam, AUC)
- (``test_program_perceiver_io.py`` runs ``perceiver_io.py``: a Perceiver IO classifier / autoencoder (Fourier
  features by linspace / meshgrid(indexing="ij") / sin / cos, ``nn.MultiheadAttention(batch_first=True, kdim=,
  vdim=)`` cross- and self-attention, AdamW with a no-decay group, CosineAnnealingLR, clip_grad_norm_, an exact
  checkpoint resume) and perceiver-pytorch's byte-level masked LM (einsum attention, a ``-finfo.max`` padding mask,
  GEGLU, shared latent blocks, ``trunc_normal_``, ``ignore_index``))
- (``test_program_alphazero_ttt.py`` runs ``alphazero_ttt.py``: AlphaZero on tic-tac-toe (a Conv2d / BatchNorm2d
  residual policy-value net, PUCT search on ``no_grad`` eval-mode evaluations with ``masked_fill(-inf)`` priors and
  numpy-drawn moves, rot90 / flip symmetries, soft-target ``cross_entropy``, SGD with momentum and weight decay, the
  coach's deepcopy / pit / reject / ``torch.save`` loop) and alpha-zero-general's TicTacToeNNet / NNetWrapper)
- (``test_program_reformer_lsh.py`` runs ``reformer_lsh.py``: a Reformer LM (angular LSH by argmax over fixed
  rotations, ``sort(stable=True)`` / ``argsort`` / gather / batched index_select, chunked look-one-back attention
  with self and causal masks and logsumexp-weighted hash rounds, reversible layers as an ``autograd.Function`` whose
  backward recomputes, against plain and ``torch.utils.checkpoint`` runs), Adam, gradcheck)
- (``test_program_resume_trainer.py`` runs ``resume_trainer.py``: a hand-written trainer with an exact resume
  (random_split / Subset, a collate_fn drawing from Python's ``random``, drop_last, dropout, accumulation, AdamW +
  OneCycleLR per step + ReduceLROnPlateau, checkpoints of every state and generator, epoch and mid-epoch resumes))
- (``test_program_s4d_ssm.py`` runs ``s4d_ssm.py``: an S4D-real state-space model, kernel by powers and einsum,
  causal convolution by unfold / matmul or a cumprod / cumsum scan, GLU, Dropout1d, ``_optim``-tagged parameter
  groups)
- (``test_program_graph_transformer.py`` runs ``graph_transformer.py``: GATv2 / TransformerConv-style layers on an
  edge list, a scatter softmax by ``scatter_reduce(amax, include_self=False)`` + ``index_add_``, bincount mean
  aggregation and pooling)
- (``test_program_bidaf_qa.py`` runs ``bidaf_qa.py``: BiDAF with a char-CNN, highway layers, BiLSTMs over packed
  ragged batches, C2Q / Q2C attention under masked softmaxes, nll_loss(ignore_index), Adadelta, an EMA through
  ``param.data``, triu / tril span decoding, and a checkpoint resume)
- (``test_program_pointer_generator.py`` runs ``pointer_generator.py``: See et al.'s pointer-generator, coverage
  attention, the extended-vocabulary mixture by ``cat`` + ``scatter_add``, Adagrad, greedy and beam decoding)
- (``test_program_gumbel_vae.py`` runs ``gumbel_vae.py``: a categorical VAE with numpy-fed Gumbel noise, annealed
  temperature, the hand-written straight-through sample, ``F.gumbel_softmax(hard=True)`` checked in each library,
  and the Categorical / RelaxedOneHotCategorical / OneHotCategoricalStraightThrough distributions)
- (``test_program_dpsgd_per_sample.py`` runs ``dpsgd_per_sample.py``: DP-SGD without Opacus, per-sample gradients by
  ``vmap(grad(...))`` over ``functional_call`` against one backward per example, per-sample clipping, numpy-fed
  noise, on a Conv2d + GroupNorm CNN and an MLP)
- (``test_program_sam_optimizer.py`` runs ``sam_optimizer.py``: SAM and adaptive SAM as an Optimizer subclass whose
  base optimizer shares its ``param_groups``, two explicit steps or ``step(closure)``, BatchNorm momentum switched
  off for the second pass, StepLR, a state_dict round trip)
- (``test_program_influence_hvp.py`` runs ``influence_hvp.py``: Hessian-vector products by double backward,
  ``autograd.functional.hvp / vhp / hessian`` and torch.func, a finite-difference check, power iteration, LiSSA
  and influence scores against an exact damped solve)
- (``test_program_convlstm_density.py`` runs ``convlstm_density.py``: a ConvLSTM next-frame predictor, an RNNCell
  language model with an orthogonal parametrization and AdaptiveLogSoftmaxWithLoss, GaussianNLLLoss / PoissonNLLLoss
  / MixtureSameFamily on bucketized features, an Unfold / Fold patch autoencoder under torch.profiler)
- (``test_program_schnet_forces.py`` runs ``schnet_forces.py``: a SchNet-style potential fitted to energies and to
  forces by ``autograd.grad(create_graph=True)``, and ListNet / LambdaRank scorers with NDCG@k)
- (``test_program_dgcnn.py`` runs ``dgcnn.py``: WangYueFt/dgcnn's DGCNN, knn by matmul + topk, the flat-gather
  edge features, EdgeConv blocks, label smoothing by scatter, SGD + CosineAnnealingLR)
- (``test_program_conformer.py`` runs ``conformer.py``: a Conformer CTC recognizer with a matmul-DFT log-mel front
  end, SpecAugment, relative-position attention with ``rel_shift``, the GLU / depthwise-conv module, Noam LambdaLR)
- (``test_program_performer_lm.py`` runs ``performer_lm.py``: Performer (FAVOR+) attention by QR random features and
  ``cumsum``, its recurrent decoding form, label smoothing, GradScaler, NAdam + CyclicLR, top-k / top-p sampling)
- (``test_program_graphsage.py`` runs ``graphsage.py``: GraphSAGE's mean / max-pool / sum aggregators by
  ``index_reduce_`` / ``scatter_reduce`` / ``index_add_``, a GIN through ``torch.sparse.mm``, Jumping Knowledge)
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import realdata

torch = pytest.importorskip("torch")

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent.parent / "examples"

# (torch's import line, ours): the only edits between the two runs
IMPORTS = [
    ("import torch\n", "import tinygrad_adam as torch\n"),
    ("from torch import nn\n", "from tinygrad_adam import nn\n"),
    ("from torch import Tensor, nn\n", "from tinygrad_adam import Tensor, nn\n"),
    ("import torch.nn as nn\n", "import tinygrad_adam.nn as nn\n"),
    ("import torch.nn.functional as F\n", "import tinygrad_adam.nn.functional as F\n"),
    ("import torch.nn.init as init\n", "import tinygrad_adam.nn.init as init\n"),
    ("from torch.nn import functional as F\n", "from tinygrad_adam.nn import functional as F\n"),
    ("import torch.optim as optim\n", "import tinygrad_adam.optim as optim\n"),
    ("from torch.utils.data import DataLoader, Dataset\n",
     "from tinygrad_adam.utils.data import DataLoader, Dataset\n"),
    ("from torch.utils.data import ", "from tinygrad_adam.utils.data import "),
    ("from torch.utils.data.dataloader import ", "from tinygrad_adam.utils.data.dataloader import "),
    ("from torch import optim\n", "from tinygrad_adam import optim\n"),
    ("from torch import optim as optim\n", "from tinygrad_adam import optim as optim\n"),
    ("from torch import nn, optim\n", "from tinygrad_adam import nn, optim\n"),
    ("from torch.nn.utils.rnn import ", "from tinygrad_adam.nn.utils.rnn import "),
    ("from torch.distributions import ", "from tinygrad_adam.distributions import "),
    ("from torch.distributions.", "from tinygrad_adam.distributions."),
    ("from torch.optim.lr_scheduler import ", "from tinygrad_adam.optim.lr_scheduler import "),
    ("from torch.optim.swa_utils import ", "from tinygrad_adam.optim.swa_utils import "),
    ("from torch.optim.optimizer import ", "from tinygrad_adam.optim.optimizer import "),
    ("from torch.optim import ", "from tinygrad_adam.optim import "),
    ("from torch.autograd import ", "from tinygrad_adam.autograd import "),
    ("from torch.autograd.function import ", "from tinygrad_adam.autograd.function import "),
    ("from torch.func import ", "from tinygrad_adam.func import "),
    ("from torch.utils.tensorboard import ", "from tinygrad_adam.utils.tensorboard import "),
    ("from torch.cuda.amp import ", "from tinygrad_adam.cuda.amp import "),
    ("from torch.nn import init\n", "from tinygrad_adam.nn import init\n"),
    ("from torch.nn import Linear, BatchNorm1d, ReLU\n", "from tinygrad_adam.nn import Linear, BatchNorm1d, ReLU\n"),
    ("from torch.nn.utils import ", "from tinygrad_adam.nn.utils import "),
    ("from torch.utils import data\n", "from tinygrad_adam.utils import data\n"),
    ("import torch.backends.cudnn as cudnn\n", "import tinygrad_adam.backends.cudnn as cudnn\n"),
    ("import torch.distributed as dist\n", "import tinygrad_adam.distributed as dist\n"),
    ("import torch.nn.parallel\n", "import tinygrad_adam.nn.parallel\n"),
    ("import torch.optim\n", "import tinygrad_adam.optim\n"),
    ("import torch.utils.data\n", "import tinygrad_adam.utils.data\n"),
    ("import torch.utils.data as data\n", "import tinygrad_adam.utils.data as data\n"),
    ("import torch.utils.checkpoint as checkpoint\n", "import tinygrad_adam.utils.checkpoint as checkpoint\n"),
    ("import torch.utils.checkpoint as cp\n", "import tinygrad_adam.utils.checkpoint as cp\n"),
    ("from torch import Tensor\n", "from tinygrad_adam import Tensor\n"),
    ("from torch import autograd, nn, optim\n", "from tinygrad_adam import autograd, nn, optim\n"),
    ("from torch.nn.functional import ", "from tinygrad_adam.nn.functional import "),
    ("import torch.nn.functional as f\n", "import tinygrad_adam.nn.functional as f\n"),
    ("from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss\n",
     "from tinygrad_adam.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss\n"),
    ("import torch.nn.utils.prune as prune\n", "import tinygrad_adam.nn.utils.prune as prune\n"),
    ("import torch.nn.utils.parametrize as P\n", "import tinygrad_adam.nn.utils.parametrize as P\n"),
    ("import torch.nn.functional as tnnF\n", "import tinygrad_adam.nn.functional as tnnF\n"),
    ("from torch.nn import Transformer\n", "from tinygrad_adam.nn import Transformer\n"),
    ("from torch.profiler import ", "from tinygrad_adam.profiler import "),
]


class EpochOrder:
    """A sampler as a plain iterable: a fresh numpy permutation each epoch, the same for both libraries."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.rng = n, np.random.default_rng(seed)

    def __iter__(self):
        return iter(self.rng.permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


def assert_params_close(ours: dict, theirs: dict, **tol: float) -> None:
    """Two {name: array} dicts (a program's final parameters) with the same names, each pair within ``tol``."""
    assert ours.keys() == theirs.keys()
    for name in theirs:
        np.testing.assert_allclose(ours[name], theirs[name], err_msg=name, **tol)


def assert_same_run(whole: dict, resumed: dict) -> None:
    """A resumed run's log (lists, and a ``"params"`` dict of arrays) equals the uninterrupted one's exactly."""
    assert whole.keys() == resumed.keys()
    for key in whole:
        if key == "params":
            for name in whole[key]:
                assert np.array_equal(whole[key][name], resumed[key][name]), name
        else:
            assert whole[key] == resumed[key], key


def from_torch_weights(path: Path, make: Callable[[types.ModuleType], Any],
                       run: Callable[[types.ModuleType, Any, str], dict]) -> tuple[dict, dict]:
    """``run(module, model, lib)`` on the program at ``path`` with torch's imports, then with ours, each model made by
    ``make(module)`` after ``torch.manual_seed(0)``; ours loads torch's initial weights (same names, same order)."""
    results, weights = [], None
    for lib in ("torch", "ours"):
        with program(path, lib) as m:
            torch.manual_seed(0)
            model = make(m)
            if weights is None:
                weights = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
            else:
                assert list(model.state_dict()) == list(weights)
                model.load_state_dict(weights)
            results.append(run(m, model, lib))
    return results[0], results[1]


def run_on_torch_weights(path: Path) -> tuple[dict, dict]:
    """The program at ``path``, whose ``run(weights=None)`` returns its log with its initial weights under
    ``"weights"``: run with torch's imports, then with ours from torch's initial weights; the two logs (torch's,
    ours) without the weights, their keys checked equal."""
    with program(path, "torch") as m:
        theirs = m.run()
    with program(path, "ours") as m:
        ours = m.run(weights=theirs.pop("weights"))
    ours.pop("weights")
    assert ours.keys() == theirs.keys()
    return theirs, ours


def needs(folder: str) -> pytest.MarkDecorator:
    return pytest.mark.data(folder)


@contextmanager
def program(path: Path, lib: str) -> Iterator[types.ModuleType]:
    """``path`` loaded as a module with torch's imports (``lib="torch"``) or ours (``lib="ours"``)."""
    source = path.read_text()
    for theirs, ours in IMPORTS:
        source = source.replace(*((ours, theirs) if lib == "torch" else (theirs, ours)))
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert any("tinygrad_adam as torch" in line for line in imports) == (lib == "ours"), imports
    nested = [line.strip() for line in source.splitlines() if line.strip().startswith(("import ", "from "))]
    assert lib == "torch" or not any(line.split()[1].split(".")[0] == "torch" for line in nested), nested  # (indented
    # ones too: whisper's ``try:``-guarded ``from torch.nn.functional import ...`` stayed torch's until a pair named it)
    name = f"torch_style_{path.stem}_{lib}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses look their module up
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)
        yield module
    finally:
        del sys.modules[name]


def uniform_init(seed: int):
    rng = np.random.default_rng(seed)
    return lambda *key: rng.uniform(-0.1, 0.1, key[-1])


@needs("mnist")
def test_tutorial_classifier_matches_torch() -> None:
    from tinygrad_adam.data.mnist import mnist_arrays

    arrays = mnist_arrays(realdata.find("mnist"))
    split = (arrays["x_train"][:1024], arrays["y_train"][:1024], arrays["x_test"][:512], arrays["y_test"][:512])
    with program(HERE / "classifier.py", "torch") as t, program(HERE / "classifier.py", "ours") as o:
        theirs, ours = t.run(*split, uniform_init(0)), o.run(*split, uniform_init(0))
    np.testing.assert_allclose(ours["train"], theirs["train"], rtol=1e-4)
    np.testing.assert_allclose(ours["test_loss"], theirs["test_loss"], rtol=1e-4)
    np.testing.assert_allclose(ours["accuracy"], theirs["accuracy"], atol=1.5 / 512)  # at most one borderline digit
    assert ours["train"][-1] < 0.5 * ours["train"][0] and ours["accuracy"][-1] > 0.7  # it learned (96 steps)


def test_char_gpt_matches_torch() -> None:
    import tinygrad_adam

    config = {"block_size": 16, "vocab_size": 65, "n_layer": 2, "n_head": 2, "n_embd": 32, "dropout": 0.0}
    rng = np.random.default_rng(3)
    with program(EXAMPLES / "char_gpt.py", "torch") as t, program(EXAMPLES / "char_gpt.py", "ours") as o:
        torch.manual_seed(0)
        theirs = t.GPT(t.GPTConfig(**config))
        ours = o.GPT(o.GPTConfig(**config))
        assert list(ours.state_dict()) == list(theirs.state_dict())  # tied weights and the mask buffer included
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
        assert ours.lm_head.weight is ours.transformer.wte.weight
        opts = [m.configure_optimizers(weight_decay=0.1, learning_rate=3e-3, betas=(0.9, 0.99)) for m in (ours, theirs)]
        assert [len(g["params"]) for g in opts[0].param_groups] == [len(g["params"]) for g in opts[1].param_groups]
        for step in range(4):
            x = rng.integers(0, 65, (4, 16))
            y = rng.integers(0, 65, (4, 16))
            y[0, :3] = -1  # ignore_index=-1, as nanoGPT's loss allows
            results = []
            for lib, model, opt in ((tinygrad_adam, ours, opts[0]), (torch, theirs, opts[1])):
                logits, loss = model(lib.tensor(x), lib.tensor(y))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                norm = lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                results.append((logits.detach().numpy(), loss.item(), norm.item()))
            (lo, loss_o, norm_o), (lt, loss_t, norm_t) = results
            np.testing.assert_allclose(lo, lt, rtol=2e-4, atol=2e-5, err_msg=f"logits at step {step}")
            assert loss_o == pytest.approx(loss_t, rel=1e-5) and norm_o == pytest.approx(norm_t, rel=1e-4)
        for name, p in theirs.named_parameters():
            np.testing.assert_allclose(dict(ours.named_parameters())[name].numpy(), p.detach().numpy(), rtol=1e-3,
                                       atol=1e-5, err_msg=name)
        sample = ours.generate(tinygrad_adam.zeros((1, 1), dtype=tinygrad_adam.long), 20, top_k=5,
                               generator=tinygrad_adam.Generator().manual_seed(0))
        assert sample.shape == (1, 21) and int(sample.min()) >= 0 and int(sample.max()) < 65


@needs("tinyshakespeare")
def test_char_gpt_script_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with program(EXAMPLES / "char_gpt.py", "ours") as o:
        losses = o.main(["--quick", "--max-iters", "2", "--eval-iters", "1"])
    out = capsys.readouterr().out
    assert "step 2: train loss" in out and "ms/step" in out and np.isfinite(losses["val"]) and losses["val"] < 4.6


def run_on_both(file: str, model: str, vocab: int, batches: list, keys: tuple[str, ...]) -> None:
    """``file``'s ``model(vocab)`` built by torch, its weights loaded into ours (the same state_dict keys), then
    ``run`` on ``batches`` in both: every recorded series in ``keys`` agrees step by step, and the loss falls."""
    with program(HERE / file, "torch") as t, program(HERE / file, "ours") as o:
        torch.manual_seed(0)
        theirs = getattr(t, model)(vocab)
        ours = getattr(o, model)(vocab)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
        got, want = o.run(ours, batches, len(batches)), t.run(theirs, batches, len(batches))
    for key in keys:
        np.testing.assert_allclose(got[key], want[key], rtol=2e-4, err_msg=key)
    assert got["loss"][-1] < got["loss"][0]


def test_char_lstm_with_attention_matches_torch() -> None:
    """LSTM, MultiheadAttention, a custom autograd.Function, a forward hook, AdamW, CosineAnnealingWarmRestarts and
    clip_grad_norm_, as a torch program: from torch's initial weights and the same batches, the same numbers."""
    rng = np.random.default_rng(5)
    batches = [(rng.integers(0, 11, (3, 8)), rng.integers(0, 11, (3, 8))) for _ in range(6)]
    run_on_both("char_lstm.py", "CharModel", 11, batches, ("loss", "lr", "norm", "hook"))


def test_sequence_classifier_with_the_tenth_stops_surface_matches_torch() -> None:
    """Conv1d, GroupNorm, max_pool1d, interpolate, TransformerEncoder with a padding mask, a GRU over a packed
    batch, Bilinear, RAdam and LinearLR, as a torch program: from torch's initial weights and the same batches, the
    same numbers."""
    rng = np.random.default_rng(7)
    batch = (rng.integers(0, 13, (4, 10)), [int(n) for n in rng.integers(2, 11, 4)], rng.integers(0, 3, 4))
    batches = [batch] * 8  # one batch, fitted: the loss must fall
    run_on_both("seq_classifier.py", "SeqClassifier", 13, batches, ("loss", "lr", "norm"))
