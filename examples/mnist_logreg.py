"""Section 6.1, Figure 1 (left): L2-regularised logistic regression on MNIST pixels,
alpha_t = alpha / sqrt(t), minibatch 128; Adam vs SGD-Nesterov vs AdaGrad.

    python examples/mnist_logreg.py --epochs 45      # the paper's length
    python examples/mnist_logreg.py --quick          # 3 epochs on 20,000 examples (README: how long)
"""

from tinygrad_adam.experiments import main

if __name__ == "__main__":
    main("mnist-logreg", full_epochs=45, quick_epochs=3, quick_limit=20000)
