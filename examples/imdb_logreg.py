"""Section 6.1, Figure 1 (right): logistic regression on 10,000-word bag-of-words IMDB features
with 50% input dropout, alpha_t = alpha / sqrt(t); Adam, AdaGrad, RMSProp, SGD-Nesterov.

    python examples/imdb_logreg.py --epochs 160      # the paper's length
    python examples/imdb_logreg.py --quick
"""

from tinygrad_adam.experiments import main

if __name__ == "__main__":
    main("imdb-logreg", full_epochs=160, quick_epochs=3, quick_limit=None)
