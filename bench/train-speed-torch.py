"""PyTorch CPU twin of bench/train-speed.ts: trains a branchy network spec the same way and prints its throughput.

Builds the network from a branchy spec (branchy/1 JSON) with the spec's semantics (conv padding 'same' pads more at
the end, pools with padding 'ceil' round up, lrn's alpha multiplies the plain sum of squares, batch-norm momentum is
the weight of the old statistics), then trains it jointly: loss = sum over exits of w_n * cross-entropy, Adam.
Tensors are NCHW here; branchy's are NHWC, which changes the weights' layout, not the work.

Usage: python3 bench/train-speed-torch.py --spec SPEC.json --data DATA.bin --batch 64 --steps 30 --warmup 3
       --threads 1 --lr 1e-3 --beta1 0.99 --beta2 0.999 --exit-weights 1,0.3
DATA.bin holds count, height, width, channels as little-endian int32, then count*h*w*c float32 images (NHWC) and
count uint8 labels. Prints one JSON line: {"samplesPerSecond": ..., "threads": ..., "torch": ...}.
"""

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def pair(v):
    return (v, v) if isinstance(v, (int, float)) else (v[0], v[1])


def conv_pads(padding, h, w, k, s):
    """[top, bottom, left, right], as branchy's spec/shapes.ts convPads."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        def total(size, kk, ss):
            return max((math.ceil(size / ss) - 1) * ss + kk - size, 0)
        th, tw = total(h, k[0], s[0]), total(w, k[1], s[1])
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    ph, pw = pair(padding)
    return (ph, ph, pw, pw)


class Conv(nn.Module):
    def __init__(self, in_c, filters, kernel, stride, padding, bias):
        super().__init__()
        self.k, self.s, self.padding = pair(kernel), pair(stride), padding
        self.conv = nn.Conv2d(in_c, filters, self.k, self.s, bias=bias)

    def forward(self, x):
        t, b, l, r = conv_pads(self.padding, x.shape[2], x.shape[3], self.k, self.s)
        if t == b and l == r:
            return F.conv2d(x, self.conv.weight, self.conv.bias, self.s, (t, l))
        return self.conv(F.pad(x, (l, r, t, b)))


class Lrn(nn.Module):
    def __init__(self, radius, bias, alpha, beta):
        super().__init__()
        size = 2 * radius + 1
        # PyTorch divides alpha by the window size; branchy's alpha multiplies the plain sum.
        self.lrn = nn.LocalResponseNorm(size, alpha * size, beta, bias)

    def forward(self, x):
        return self.lrn(x)


class Residual(nn.Module):
    def __init__(self, in_c, filters, stride):
        super().__init__()
        self.conv1 = Conv(in_c, filters, 3, stride, "same", False)
        self.bn1 = nn.BatchNorm2d(filters, eps=1e-5, momentum=0.1)
        self.conv2 = Conv(filters, filters, 3, 1, "same", False)
        self.bn2 = nn.BatchNorm2d(filters, eps=1e-5, momentum=0.1)
        self.project = None
        if stride != 1 or in_c != filters:
            self.project = nn.Sequential(Conv(in_c, filters, 1, stride, "valid", False), nn.BatchNorm2d(filters, eps=1e-5, momentum=0.1))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.project is None else self.project(x)))


def pool(layer):
    k = pair(layer["size"])
    s = pair(layer.get("stride", layer["size"]))
    ceil = layer.get("padding", "valid") == "ceil"
    if layer["type"] == "maxPool":
        return nn.MaxPool2d(k, s, ceil_mode=ceil)
    return nn.AvgPool2d(k, s, ceil_mode=ceil, count_include_pad=False)


def build_layers(layers, shape):
    """nn.Sequential for a layer list on a per-sample NHWC shape; returns it and the output shape."""
    modules = []
    in_shape = shape
    for layer in layers:
        t = layer["type"]
        if t == "conv2d":
            m = Conv(shape[2], layer["filters"], layer["kernel"], layer.get("stride", 1), layer.get("padding", "valid"), layer.get("bias", True))
        elif t in ("maxPool", "avgPool"):
            m = pool(layer)
        elif t == "globalAvgPool":
            m = nn.AdaptiveAvgPool2d(1)
            modules.append(m)
            m = nn.Flatten()
        elif t == "relu":
            m = nn.ReLU()
        elif t == "batchNorm":
            m = (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(shape[-1], eps=layer.get("epsilon", 1e-5), momentum=1 - layer.get("momentum", 0.9))
        elif t == "dropout":
            m = nn.Dropout(layer["rate"])
        elif t == "flatten":
            m = nn.Flatten()
        elif t == "dense":
            m = nn.Linear(shape[0], layer["units"], bias=layer.get("bias", True))
        elif t == "lrn":
            m = Lrn(layer.get("depthRadius", 2), layer.get("bias", 1), layer.get("alpha", 1e-4), layer.get("beta", 0.75))
        elif t == "residual":
            m = Residual(shape[2], layer["filters"], layer.get("stride", 1))
        else:
            raise ValueError(f"layer type {t!r} is not supported by the PyTorch twin")
        modules.append(m)
        shape = out_shape(nn.Sequential(*modules), in_shape) if t not in ("relu", "dropout") else shape
    return nn.Sequential(*modules), shape


def out_shape(seq, shape):
    with torch.no_grad():
        x = torch.zeros(1, shape[2], shape[0], shape[1]) if len(shape) == 3 else torch.zeros(1, shape[0])
        seq.eval()
        y = seq(x)
        seq.train()
    return [y.shape[2], y.shape[3], y.shape[1]] if y.dim() == 4 else [y.shape[1]]


class Branchy(nn.Module):
    def __init__(self, spec):
        super().__init__()
        shape = list(spec["input"]["shape"])
        self.stages = nn.ModuleList()
        self.exits = nn.ModuleList()
        for stage, exit_ in zip(spec["stages"], spec["exits"]):
            s, shape = build_layers(stage["layers"], shape)
            e, _ = build_layers(exit_["layers"], shape)
            self.stages.append(s)
            self.exits.append(e)

    def forward(self, x):
        logits = []
        for stage, exit_ in zip(self.stages, self.exits):
            x = stage(x)
            logits.append(exit_(x))
        return logits


def read_data(path):
    raw = open(path, "rb").read()
    count, h, w, c = np.frombuffer(raw, "<i4", 4)
    n = count * h * w * c
    x = np.frombuffer(raw, "<f4", n, 16).reshape(count, h, w, c)
    y = np.frombuffer(raw, "u1", count, 16 + 4 * n)
    return torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y.astype(np.int64))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--spec", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta1", type=float, default=0.99)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--exit-weights", required=True)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    spec = json.load(open(a.spec))
    weights = [float(w) for w in a.exit_weights.split(",")]
    x, y = read_data(a.data)
    net = Branchy(spec)
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=a.lr, betas=(a.beta1, a.beta2), eps=1e-7)

    def step(i):
        start = (i * a.batch) % (x.shape[0] - a.batch + 1)
        xb, yb = x[start:start + a.batch], y[start:start + a.batch]
        optimizer.zero_grad(set_to_none=True)
        logits = net(xb)
        loss = sum(w * F.cross_entropy(l, yb) for w, l in zip(weights, logits))
        loss.backward()
        optimizer.step()
        return loss.detach()

    for i in range(a.warmup):
        step(i)
    started = time.perf_counter()
    total = torch.zeros(())
    for i in range(a.steps):
        total += step(a.warmup + i)
    last_loss = float(total) / a.steps
    seconds = time.perf_counter() - started
    print(json.dumps({"samplesPerSecond": a.steps * a.batch / seconds, "threads": torch.get_num_threads(), "torch": torch.__version__, "meanLoss": last_loss}))


if __name__ == "__main__":
    main()
