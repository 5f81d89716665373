"""Section 6.2, Figure 2 (a): the 784-1000-1000-10 ReLU network with dropout on MNIST;
Adam, AdaGrad, RMSProp, SGD-Nesterov and AdaDelta, training cost on a log axis.

    python examples/mnist_mlp.py --epochs 200        # the paper's length
    python examples/mnist_mlp.py --quick
"""

from tinygrad_adam.experiments import main

if __name__ == "__main__":
    main("mnist-mlp", full_epochs=200, quick_epochs=2, quick_limit=10000)
