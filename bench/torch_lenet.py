"""The same network as a branchy model directory, in PyTorch (CPU), timed at batch 1.

Reads branchy.json and the safetensors-style weight files (u64 LE header length | JSON header | data), builds
the stages and exits of the spec as torch modules (the layers LeNet uses: conv2d, max pool incl. ceil mode,
relu, dropout, flatten in NHWC order, dense), checks its probabilities against the ones given, then times
batch-1 inference over the given digits (NHWC input, softmax included, as branchy's timers count them) each
time a line `time` arrives on stdin, so the caller can interleave its rounds with its own measurements.

Usage: python3 bench/torch_lenet.py MODEL_DIR INPUTS_FRAME THREADS
  INPUTS_FRAME holds `digits` [n, h, w, c] and `expected` [k, classes] (branchy's final-exit probabilities for
  the first k digits), both F32. Prints one JSON line when ready ({torch, threads, maxDiff}) and one per round
  ({msPerSample, samples, labels}).
"""
import json
import struct
import sys
import time

import numpy as np
import torch


def read_frame(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    start = 8 + n
    out = {}
    for name, entry in header.items():
        if name == '__metadata__':
            continue
        assert entry['dtype'] == 'F32', f'{name}: {entry["dtype"]}'
        a, b = entry['data_offsets']
        out[name] = np.frombuffer(data[start + a:start + b], dtype='<f4').reshape(entry['shape'])
    return out


class Flatten(torch.nn.Module):
    """NCHW → branchy's NHWC flatten order."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1) if x.dim() == 4 else x


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def build_piece(layers, weights, prefix, shape):
    """Modules for one stage or exit; `shape` is the per-sample input (h, w, c) or (n,)."""
    modules = []
    for i, layer in enumerate(layers):
        t = layer['type']
        w = lambda p: torch.from_numpy(weights[f'{prefix}{i}.{p}'].copy())
        if t == 'conv2d':
            k, s = pair(layer['kernel']), pair(layer.get('stride', 1))
            pad = layer.get('padding', 'valid')
            if pad == 'valid':
                pad = 0
            if not isinstance(pad, (int, list)):
                raise NotImplementedError(f'conv2d padding {pad!r}')
            ph, pw = pair(pad)
            c = shape[2]
            conv = torch.nn.Conv2d(c, layer['filters'], k, s, (ph, pw), bias=layer.get('bias', True))
            conv.weight.data = w('kernel').reshape(k[0], k[1], c, layer['filters']).permute(3, 2, 0, 1).contiguous()
            if layer.get('bias', True):
                conv.bias.data = w('bias')
            modules.append(conv)
            shape = ((shape[0] + 2 * ph - k[0]) // s[0] + 1, (shape[1] + 2 * pw - k[1]) // s[1] + 1, layer['filters'])
        elif t == 'maxPool':
            k, s = pair(layer['size']), pair(layer.get('stride', layer['size']))
            ceil = layer.get('padding', 'valid') == 'ceil'
            modules.append(torch.nn.MaxPool2d(k, s, ceil_mode=ceil))
            out = lambda n, kk, ss: -(-(n - kk) // ss) + 1 if ceil else (n - kk) // ss + 1
            shape = (out(shape[0], k[0], s[0]), out(shape[1], k[1], s[1]), shape[2])
        elif t == 'relu':
            modules.append(torch.nn.ReLU())
        elif t == 'dropout':
            pass
        elif t == 'flatten':
            modules.append(Flatten())
            shape = (int(np.prod(shape)),)
        elif t == 'dense':
            lin = torch.nn.Linear(shape[0], layer['units'], bias=layer.get('bias', True))
            lin.weight.data = w('kernel').reshape(shape[0], layer['units']).t().contiguous()
            if layer.get('bias', True):
                lin.bias.data = w('bias')
            modules.append(lin)
            shape = (layer['units'],)
        else:
            raise NotImplementedError(f'layer {t!r}')
    return modules, shape


def main():
    model_dir, inputs_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads)
    manifest = json.load(open(f'{model_dir}/branchy.json'))
    spec = manifest['spec']
    weights = {}
    for file in manifest['weights']:
        weights.update(read_frame(f'{model_dir}/{file}'))
    if len(spec['stages']) != 1:
        raise NotImplementedError('one stage (a network without early exits) only')
    stage, shape = build_piece(spec['stages'][0]['layers'], weights, 'stage1.', tuple(spec['input']['shape']))
    head, _ = build_piece(spec['exits'][0]['layers'], weights, 'exit1.', shape)
    net = torch.nn.Sequential(*stage, *head, torch.nn.Softmax(dim=1)).eval()

    inputs = read_frame(inputs_path)
    digits = torch.from_numpy(inputs['digits'].copy())
    expected = inputs['expected']
    with torch.inference_mode():
        k = expected.shape[0]
        probs = net(digits[:k].permute(0, 3, 1, 2)).numpy()
        max_diff = float(np.abs(probs - expected).max())
        for i in range(50):
            net(digits[i:i + 1].permute(0, 3, 1, 2))
        print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'maxDiff': max_diff}), flush=True)
        for line in sys.stdin:
            if line.strip() != 'time':
                continue
            t = time.perf_counter()
            labels = []
            for i in range(digits.shape[0]):
                p = net(digits[i:i + 1].permute(0, 3, 1, 2))
                labels.append(int(p.argmax(1)))
            elapsed = time.perf_counter() - t
            print(json.dumps({'msPerSample': 1000 * elapsed / digits.shape[0], 'samples': int(digits.shape[0]), 'labels': labels}), flush=True)


if __name__ == '__main__':
    main()
