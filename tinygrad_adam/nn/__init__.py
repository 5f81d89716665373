"""Neural-network building blocks: modules, layers, functional ops, losses, init."""
