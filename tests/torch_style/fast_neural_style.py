# ruff: noqa: UP008, UP032 - the repository's own spellings
"""pytorch/examples' fast_neural_style (Johnson et al. 2016) as its 2017-2020 ``neural_style.py``,
``transformer_net.py``, ``utils.py`` and ``vgg.py`` write it, at tiny sizes: 3x16x16 synthetic uint8 images from
numpy instead of an ImageFolder, and a small VGG-like frozen feature net (its weights handed in) instead of
torchvision's pretrained VGG16.

- ``TransformerNet``: ConvLayer (ReflectionPad2d + Conv2d), InstanceNorm2d(affine=True), ResidualBlocks,
  UpsampleConvLayer (``torch.nn.functional.interpolate(mode='nearest', scale_factor=)``), ReLU; the channel widths
  are a quarter of the original's and there are two residual blocks instead of five.
- ``train``: Adam, MSELoss, the style gram matrices repeated over the batch, content loss on relu2_2, style loss
  over all four relu outputs with ``gm_s[:n_batch, :, :]``, the log line (``time.ctime()`` replaced by a fixed
  string), checkpoints by ``transformer.eval().cpu()`` + ``torch.save(state_dict)``; one addition: the optimizer's
  state is saved beside each checkpoint, and ``args.resume`` restarts from one.
- ``stylize``: loads a checkpoint, deletes old ``running_mean`` / ``running_var`` keys, runs under ``torch.no_grad()``
  and saves a uint8 image (``save_image`` returns the array where the original writes a file)."""

import os
import re
from collections import namedtuple

import numpy as np
import torch
from torch.optim import Adam
from torch.utils.data import DataLoader, Dataset

NOW = "Thu Jan  1 00:00:00 1970"  # time.ctime(), fixed so that the two runs print the same lines


# ---- utils.py
def gram_matrix(y):
    (b, ch, h, w) = y.size()
    features = y.view(b, ch, w * h)
    features_t = features.transpose(1, 2)
    gram = features.bmm(features_t) / (ch * h * w)
    return gram


def normalize_batch(batch):
    # normalize using imagenet mean and std
    mean = batch.new_tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
    std = batch.new_tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
    batch = batch.div_(255.0)
    return (batch - mean) / std


def to_tensor(img):
    """transforms.ToTensor() then transforms.Lambda(lambda x: x.mul(255)) on an (H, W, 3) uint8 array."""
    img = torch.from_numpy(np.ascontiguousarray(img.transpose((2, 0, 1))))
    return img.float().div(255).mul(255)


def save_image(data):
    img = data.clone().clamp(0, 255).numpy()
    img = img.transpose(1, 2, 0).astype("uint8")
    return img


# ---- transformer_net.py
class TransformerNet(torch.nn.Module):
    def __init__(self):
        super(TransformerNet, self).__init__()
        # Initial convolution layers
        self.conv1 = ConvLayer(3, 8, kernel_size=9, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(8, affine=True)
        self.conv2 = ConvLayer(8, 16, kernel_size=3, stride=2)
        self.in2 = torch.nn.InstanceNorm2d(16, affine=True)
        self.conv3 = ConvLayer(16, 32, kernel_size=3, stride=2)
        self.in3 = torch.nn.InstanceNorm2d(32, affine=True)
        # Residual layers
        self.res1 = ResidualBlock(32)
        self.res2 = ResidualBlock(32)
        # Upsampling Layers
        self.deconv1 = UpsampleConvLayer(32, 16, kernel_size=3, stride=1, upsample=2)
        self.in4 = torch.nn.InstanceNorm2d(16, affine=True)
        self.deconv2 = UpsampleConvLayer(16, 8, kernel_size=3, stride=1, upsample=2)
        self.in5 = torch.nn.InstanceNorm2d(8, affine=True)
        self.deconv3 = ConvLayer(8, 3, kernel_size=9, stride=1)
        # Non-linearities
        self.relu = torch.nn.ReLU()

    def forward(self, X):
        y = self.relu(self.in1(self.conv1(X)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res1(y)
        y = self.res2(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        y = self.deconv3(y)
        return y


class ConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super(ConvLayer, self).__init__()
        reflection_padding = kernel_size // 2
        self.reflection_pad = torch.nn.ReflectionPad2d(reflection_padding)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        out = self.reflection_pad(x)
        out = self.conv2d(out)
        return out


class ResidualBlock(torch.nn.Module):
    """ResidualBlock
    introduced in: https://arxiv.org/abs/1512.03385
    recommended architecture: http://torch.ch/blog/2016/02/04/resnets.html
    """

    def __init__(self, channels):
        super(ResidualBlock, self).__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        residual = x
        out = self.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        out = out + residual
        return out


class UpsampleConvLayer(torch.nn.Module):
    """UpsampleConvLayer
    Upsamples the input and then does a convolution. This method gives better results
    compared to ConvTranspose2d.
    ref: http://distill.pub/2016/deconv-checkerboard/
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
        super(UpsampleConvLayer, self).__init__()
        self.upsample = upsample
        reflection_padding = kernel_size // 2
        self.reflection_pad = torch.nn.ReflectionPad2d(reflection_padding)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        x_in = x
        if self.upsample:
            x_in = torch.nn.functional.interpolate(x_in, mode='nearest', scale_factor=self.upsample)
        out = self.reflection_pad(x_in)
        out = self.conv2d(out)
        return out


# ---- vgg.py
def vgg_lite_features():
    """Stands in for ``models.vgg16(pretrained=True).features``: the same slicing points, fewer layers."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, kernel_size=3, padding=1), torch.nn.ReLU(inplace=True),
        torch.nn.Conv2d(8, 8, kernel_size=3, padding=1), torch.nn.ReLU(inplace=True),
        torch.nn.MaxPool2d(kernel_size=2, stride=2),
        torch.nn.Conv2d(8, 16, kernel_size=3, padding=1), torch.nn.ReLU(inplace=True),
        torch.nn.MaxPool2d(kernel_size=2, stride=2),
        torch.nn.Conv2d(16, 16, kernel_size=3, padding=1), torch.nn.ReLU(inplace=True),
        torch.nn.MaxPool2d(kernel_size=2, stride=2),
        torch.nn.Conv2d(16, 32, kernel_size=3, padding=1), torch.nn.ReLU(inplace=True),
    )


class Vgg16(torch.nn.Module):
    def __init__(self, requires_grad=False):
        super(Vgg16, self).__init__()
        vgg_pretrained_features = vgg_lite_features()
        self.slice1 = torch.nn.Sequential()
        self.slice2 = torch.nn.Sequential()
        self.slice3 = torch.nn.Sequential()
        self.slice4 = torch.nn.Sequential()
        for x in range(4):
            self.slice1.add_module(str(x), vgg_pretrained_features[x])
        for x in range(4, 7):
            self.slice2.add_module(str(x), vgg_pretrained_features[x])
        for x in range(7, 10):
            self.slice3.add_module(str(x), vgg_pretrained_features[x])
        for x in range(10, 13):
            self.slice4.add_module(str(x), vgg_pretrained_features[x])
        if not requires_grad:
            for param in self.parameters():
                param.requires_grad = False

    def forward(self, X):
        h = self.slice1(X)
        h_relu1_2 = h
        h = self.slice2(h)
        h_relu2_2 = h
        h = self.slice3(h)
        h_relu3_3 = h
        h = self.slice4(h)
        h_relu4_3 = h
        vgg_outputs = namedtuple("VggOutputs", ['relu1_2', 'relu2_2', 'relu3_3', 'relu4_3'])
        out = vgg_outputs(h_relu1_2, h_relu2_2, h_relu3_3, h_relu4_3)
        return out


# ---- neural_style.py
class ImageArrays(Dataset):
    """Stands in for ``datasets.ImageFolder(args.dataset, transform)``: (H, W, 3) uint8 arrays, label 0."""

    def __init__(self, images, transform):
        self.images = images
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.transform(self.images[index]), 0


def train(args, transformer, vgg):
    """Returns what each step saw: losses, the gradient norm, the output's mean, the style grams, printed lines."""
    device = torch.device("cuda" if args.cuda else "cpu")
    np.random.seed(args.seed)

    train_dataset = ImageArrays(args.dataset, to_tensor)
    train_loader = DataLoader(train_dataset, batch_size=args.batch_size)

    transformer = transformer.to(device)
    optimizer = Adam(transformer.parameters(), args.lr)
    mse_loss = torch.nn.MSELoss()
    vgg = vgg.to(device)

    start_epoch, start_batch = 0, 0
    if args.resume is not None:
        transformer.load_state_dict(torch.load(args.resume))
        ckpt = torch.load(args.resume + ".optim")
        optimizer.load_state_dict(ckpt["optimizer"])
        start_epoch, start_batch = ckpt["epoch"], ckpt["batch_id"] + 1

    style = to_tensor(args.style_image)
    style = style.repeat(args.batch_size, 1, 1, 1).to(device)

    features_style = vgg(normalize_batch(style))
    gram_style = [gram_matrix(y) for y in features_style]
    record = {"content": [], "style": [], "total": [], "grad_norm": [], "y_mean": [], "lines": [],
              "gram_style": [g.numpy().copy() for g in gram_style], "checkpoints": []}

    for e in range(start_epoch, args.epochs):
        transformer.train()
        agg_content_loss = 0.
        agg_style_loss = 0.
        count = 0
        for batch_id, (x, _) in enumerate(train_loader):
            n_batch = len(x)
            count += n_batch
            if e == start_epoch and batch_id < start_batch:
                continue  # done before the checkpoint (the aggregates restart: only logged lines after it differ)
            optimizer.zero_grad()

            x = x.to(device)
            y = transformer(x)

            y = normalize_batch(y)
            x = normalize_batch(x)

            features_y = vgg(y)
            features_x = vgg(x)

            content_loss = args.content_weight * mse_loss(features_y.relu2_2, features_x.relu2_2)

            style_loss = 0.
            for ft_y, gm_s in zip(features_y, gram_style):
                gm_y = gram_matrix(ft_y)
                style_loss += mse_loss(gm_y, gm_s[:n_batch, :, :])
            style_loss *= args.style_weight

            total_loss = content_loss + style_loss
            total_loss.backward()
            record["grad_norm"].append(torch.norm(torch.stack(
                [p.grad.norm() for p in transformer.parameters()])).item())
            optimizer.step()

            agg_content_loss += content_loss.item()
            agg_style_loss += style_loss.item()
            record["content"].append(content_loss.item())
            record["style"].append(style_loss.item())
            record["total"].append(total_loss.item())
            record["y_mean"].append(y.detach().mean().item())

            if (batch_id + 1) % args.log_interval == 0:
                mesg = "{}\tEpoch {}:\t[{}/{}]\tcontent: {:.6f}\tstyle: {:.6f}\ttotal: {:.6f}".format(
                    NOW, e + 1, count, len(train_dataset),
                    agg_content_loss / (batch_id + 1),
                    agg_style_loss / (batch_id + 1),
                    (agg_content_loss + agg_style_loss) / (batch_id + 1)
                )
                print(mesg)
                record["lines"].append(mesg)

            if args.checkpoint_model_dir is not None and (batch_id + 1) % args.checkpoint_interval == 0:
                transformer.eval().cpu()
                ckpt_model_filename = "ckpt_epoch_" + str(e) + "_batch_id_" + str(batch_id + 1) + ".pth"
                ckpt_model_path = os.path.join(args.checkpoint_model_dir, ckpt_model_filename)
                torch.save(transformer.state_dict(), ckpt_model_path)
                torch.save({"optimizer": optimizer.state_dict(), "epoch": e, "batch_id": batch_id},
                           ckpt_model_path + ".optim")
                record["checkpoints"].append(ckpt_model_path)
                transformer.to(device).train()

    # save model
    transformer.eval().cpu()
    save_model_filename = "epoch_" + str(args.epochs) + "_" + str(args.content_weight) + "_" + str(
        args.style_weight) + ".model"
    save_model_path = os.path.join(args.save_model_dir, save_model_filename)
    torch.save(transformer.state_dict(), save_model_path)
    print("\nDone, trained model saved at", save_model_path)
    record["model"] = save_model_path
    record["params"] = {k: v.detach().numpy().copy() for k, v in transformer.state_dict().items()}
    return record


def stylize(args):
    device = torch.device("cuda" if args.cuda else "cpu")

    content_image = to_tensor(args.content_image)
    content_image = content_image.unsqueeze(0).to(device)

    with torch.no_grad():
        style_model = TransformerNet()
        state_dict = torch.load(args.model)
        # remove saved deprecated running_* keys in InstanceNorm from the checkpoint
        for k in list(state_dict.keys()):
            if re.search(r'in\d+\.running_(mean|var)$', k):
                del state_dict[k]
        style_model.load_state_dict(state_dict)
        style_model.to(device)
        output = style_model(content_image).cpu()
    return output.numpy().copy(), save_image(output[0])
