"""Section 6.3, Figure 3 as in the paper: the c64-c64-c128-1000 CNN on ZCA-whitened CIFAR-10, AdaGrad,
SGD-Nesterov and Adam, each with and without dropout (input 0.2, fully connected 0.5): six curves, drawn for the
first 3 epochs and for all. Needs the official binary release (``tinygrad-adam download cifar10`` fetches it, 162 MB)
and, for the paper's 45 epochs, a GPU (``--device cuda``).

    python examples/cifar10_cnn.py --epochs 45 --seeds 3 --device cuda --resume
    python examples/cifar10_cnn.py --quick             # channels 32,32,64 and 5000 examples, 1 epoch
"""

from tinygrad_adam.experiments import main

if __name__ == "__main__":
    main("cifar10-cnn", full_epochs=45, quick_epochs=1, quick_limit=5000, quick_channels=(32, 32, 64))
