"""PyTorch's tutorial "Visualizing Models, Data, and Training with TensorBoard" as its readers type it, shrunk to
seconds: the FashionMNIST CNN (random images here: no torchvision), ``SummaryWriter('runs/...')``, an image,
``add_graph(net, images)``, ``add_embedding`` of flattened images with class labels and label images, the training
loop's ``add_scalar('training loss', ...)`` and ``add_figure('predictions vs. actuals', ...)`` of a matplotlib figure
with coloured titles, then ``add_pr_curve`` per class from the softmax of the test predictions.

Initial weights come from torch's run (``weights``). ``run(weights)`` returns what the test compares: the events read
back with tensorboard's own reader (scalars, PR curves, the graph's scopes and input / output nodes, the projector's
tensors), and the predictions and probabilities the figures show."""

# ruff: noqa: UP008, UP030, UP032 - the tutorial's own spellings
import os
import shutil
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.tensorboard import SummaryWriter

classes = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
           'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle Boot')


# helper function to show an image
def matplotlib_imshow(img, one_channel=False):
    if one_channel:
        img = img.mean(dim=0)
    img = img / 2 + 0.5     # unnormalize
    npimg = img.numpy()
    if one_channel:
        plt.imshow(npimg, cmap="Greys")
    else:
        plt.imshow(np.transpose(npimg, (1, 2, 0)))


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 4 * 4)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def images_to_probs(net, images):
    '''
    Generates predictions and corresponding probabilities from a trained
    network and a list of images
    '''
    output = net(images)
    # convert output probabilities to predicted class
    _, preds_tensor = torch.max(output, 1)
    preds = np.squeeze(preds_tensor.numpy())
    return preds, [F.softmax(el, dim=0)[i].item() for i, el in zip(preds, output)]


def plot_classes_preds(net, images, labels):
    '''
    Generates matplotlib Figure using a trained network, along with images
    and labels from a batch, that shows the network's top prediction along
    with its probability, alongside the actual label, coloring this
    information based on whether the prediction was correct or not.
    Uses the "images_to_probs" function.
    '''
    preds, probs = images_to_probs(net, images)
    # plot the images in the batch, along with predicted and true labels
    fig = plt.figure(figsize=(12, 48))
    for idx in np.arange(4):
        ax = fig.add_subplot(1, 4, idx+1, xticks=[], yticks=[])
        matplotlib_imshow(images[idx], one_channel=True)
        ax.set_title("{0}, {1:.1f}%\n(label: {2})".format(
            classes[preds[idx]],
            probs[idx] * 100.0,
            classes[labels[idx]]),
                    color=("green" if preds[idx]==labels[idx].item() else "red"))
    return fig


def read_back(log_dir):
    """What the run wrote, through tensorboard's own reader (the harness's part, not the tutorial's)."""
    events = EventAccumulator(log_dir, size_guidance={"tensors": 0, "scalars": 0}, purge_orphaned_data=False)
    events.Reload()
    scalars = [(s.step, s.value) for s in events.Scalars("training loss")]
    curves = {tag: make_ndarray(events.Tensors(tag)[0].tensor_proto) for tag in events.Tags()["tensors"]}
    graph = events.Graph()
    scopes = sorted({n.name.rpartition("/")[0] for n in graph.node
                     if n.op not in ("IO Node", "prim::GetAttr", "prim::Constant") and not n.op.startswith("prim::")
                     and n.op not in ("aten::size", "aten::Int")})
    io = sorted((n.name, [d.size for d in n.attr["_output_shapes"].list.shape[0].dim]) for n in graph.node
                if n.op == "IO Node")
    with open(os.path.join(log_dir, "00000", "default", "tensors.tsv")) as f:
        projected = np.array([[float(v) for v in line.split("\t")] for line in f])
    with open(os.path.join(log_dir, "00000", "default", "metadata.tsv")) as f:
        metadata = f.read().split("\n")
    images = sorted(events.Tags()["images"])
    shutil.rmtree(os.path.dirname(os.path.dirname(log_dir)))  # (the temporary directory run() made)
    return scalars, curves, scopes, io, projected, metadata, images


def run(weights=None):
    rng = np.random.default_rng(0)
    images_all = torch.tensor(rng.uniform(-1, 1, (48, 1, 28, 28)).astype(np.float32))
    labels_all = torch.tensor(rng.integers(0, 10, 48))
    trainloader = DataLoader(TensorDataset(images_all[:40], labels_all[:40]), batch_size=4, shuffle=False)
    testloader = DataLoader(TensorDataset(images_all[40:], labels_all[40:]), batch_size=4, shuffle=False)

    net = Net()
    if weights is not None:
        net.load_state_dict(weights["net"])
    log = {"weights": {"net": {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}}}
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

    # default `log_dir` is "runs" - we'll be more specific here
    log_dir = os.path.join(tempfile.mkdtemp(), 'runs', 'fashion_mnist_experiment_1')
    writer = SummaryWriter(log_dir)

    # get some random training images
    dataiter = iter(trainloader)
    images, labels = next(dataiter)

    # show images
    matplotlib_imshow(images[0], one_channel=True)
    plt.close("all")

    # write to tensorboard
    writer.add_image('four_fashion_mnist_images', images[0] / 2 + 0.5)
    writer.add_graph(net, images)
    writer.close()

    # get the class labels for each image
    features = images_all.view(-1, 28 * 28)[:20]
    class_labels = [classes[lab] for lab in labels_all[:20]]
    writer.add_embedding(features,
                         metadata=class_labels,
                         label_img=images_all[:20])
    writer.close()

    running_loss = 0.0
    for epoch in range(1):  # loop over the dataset multiple times

        for i, data in enumerate(trainloader, 0):

            # get the inputs; data is a list of [inputs, labels]
            inputs, labels = data

            # zero the parameter gradients
            optimizer.zero_grad()

            # forward + backward + optimize
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()

            running_loss += loss.item()
            if i % 5 == 4:    # every 5 mini-batches...

                # ...log the running loss
                writer.add_scalar('training loss',
                                running_loss / 5,
                                epoch * len(trainloader) + i)

                # ...log a Matplotlib Figure showing the model's predictions on a
                # random mini-batch
                writer.add_figure('predictions vs. actuals',
                                plot_classes_preds(net, inputs, labels),
                                global_step=epoch * len(trainloader) + i)
                running_loss = 0.0

    # 1. gets the probability predictions in a test_size x num_classes Tensor
    # 2. gets the preds in a test_size Tensor
    # takes ~10 seconds to run
    class_probs = []
    class_label = []
    with torch.no_grad():
        for data in testloader:
            images, labels = data
            output = net(images)
            class_probs_batch = [F.softmax(el, dim=0) for el in output]

            class_probs.append(class_probs_batch)
            class_label.append(labels)

    test_probs = torch.cat([torch.stack(batch) for batch in class_probs])
    test_label = torch.cat(class_label)

    # helper function
    def add_pr_curve_tensorboard(class_index, test_probs, test_label, global_step=0):
        '''
        Takes in a "class_index" from 0 to 9 and plots the corresponding
        precision-recall curve
        '''
        tensorboard_truth = test_label == class_index
        tensorboard_probs = test_probs[:, class_index]

        writer.add_pr_curve(classes[class_index],
                            tensorboard_truth,
                            tensorboard_probs,
                            global_step=global_step)
        writer.close()

    # plot all the pr curves
    for i in range(len(classes)):
        add_pr_curve_tensorboard(i, test_probs, test_label)

    preds, probs = images_to_probs(net, images_all[40:44])
    log["preds"], log["probs"] = preds.tolist(), probs
    log["test_probs"] = test_probs.numpy()
    (log["scalars"], log["curves"], log["scopes"], log["io"], log["projected"], log["metadata"],
     log["images"]) = read_back(log_dir)
    plt.close("all")
    return log
