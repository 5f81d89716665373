"""Section 6.3, Figure 3: three stages of 5x5 convolution + ReLU + 3x3 max-pool (stride 2), a 1000-unit
ReLU layer; AdaGrad, SGD-Nesterov and Adam, each with and without dropout (six curves). The paper trains
c64-c64-c128 on CIFAR-10 (examples/cifar10_cnn.py); this runs the same network on the bundled MNIST.

    python examples/mnist_cnn.py --epochs 45
    python examples/mnist_cnn.py --quick             # channels 32,32,64 and 5000 examples
"""

from tinygrad_adam.experiments import main

if __name__ == "__main__":
    main("mnist-cnn", full_epochs=45, quick_epochs=1, quick_limit=5000, quick_channels=(32, 32, 64))
