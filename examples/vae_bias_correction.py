"""Section 6.4, Figure 4: the VAE (500 softplus units, 50-d Gaussian latent, Bernoulli decoder) trained with
Adam over beta1 in {0, 0.9}, beta2 in {0.99, 0.999, 0.9999} and log10(lr) in -5..-1, with and without
bias correction. Without it and with beta2 near 1, the first steps are far too large.

    python examples/vae_bias_correction.py --epochs 10
    python examples/vae_bias_correction.py --quick   # 5000 examples, lr 1e-4..1e-2, 1 epoch
"""

from tinygrad_adam.experiments import main_bias_correction

if __name__ == "__main__":
    main_bias_correction()
