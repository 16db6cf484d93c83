"""A plain PyTorch CNN trunk (no early exits), trained on digits and exported as a chain of ONNX segments.

This is what a PyTorch user has before branchy: a trained network. Exporting it in pieces at the places where an
exit may later branch (after each conv block here) is the only change it needs; `branchy import-onnx --no-exits`
reads the pieces, and `branchy add-exits` trains heads on the frozen trunk.

Writes into OUT_DIR:
  stage_1.onnx  conv 5x5 (1 -> 8, pad 2) + relu + max pool 2   [n, 1, 28, 28] -> [n, 8, 14, 14]
  stage_2.onnx  conv 5x5 (8 -> 32, pad 2) + relu + max pool 2  [n, 8, 14, 14] -> [n, 32, 7, 7]
  stage_3.onnx  flatten + linear 1568 -> 256 + relu             [n, 32, 7, 7]  -> [n, 256]
  exit_3.onnx   linear 256 -> 10 (logits)                        [n, 256]       -> [n, 10]
  torch-logits.safetensors  the trained network's logits on the `check` digits, for comparison after import

Usage: python3 train_export.py DIGITS_FRAME OUT_DIR [--epochs E] [--seed S] [--threads T] [--batch B]
  DIGITS_FRAME is a safetensors-style file (u64 LE header length | JSON header | data), as branchy's own
  weight files are: `x` [n, 28, 28, 1] F32 NHWC pixels, `y` [n] F32 labels, `check` [k, 28, 28, 1] F32.
Prints one JSON line: {"torch", "epochs", "seconds", "trainAccuracy", "samples"}.
"""
import argparse
import json
import struct
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
        if entry['dtype'] != 'F32':
            raise SystemExit(f'{path}: tensor {name} is {entry["dtype"]}; expected F32')
        a, b = entry['data_offsets']
        out[name] = np.frombuffer(data[start + a:start + b], dtype='<f4').reshape(entry['shape'])
    return out


def write_frame(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, dtype='<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(array.shape), 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(chunks))


def trunk():
    segments = [
        torch.nn.Sequential(torch.nn.Conv2d(1, 8, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2)),
        torch.nn.Sequential(torch.nn.Conv2d(8, 32, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2)),
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 256), torch.nn.ReLU()),
    ]
    return segments, torch.nn.Linear(256, 10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('digits')
    parser.add_argument('out')
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--batch', type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    frame = read_frame(args.digits)
    x = torch.from_numpy(frame['x'].copy()).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(frame['y'].copy()).long()
    segments, classifier = trunk()
    net = torch.nn.Sequential(*segments, classifier)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_of = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(args.seed)
    started = time.perf_counter()
    correct = 0
    for _ in range(args.epochs):
        net.train()
        correct = 0
        order = torch.randperm(len(y), generator=generator)
        for i in range(0, len(y), args.batch):
            idx = order[i:i + args.batch]
            logits = net(x[idx])
            loss = loss_of(logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            correct += int((logits.argmax(1) == y[idx]).sum())
    seconds = time.perf_counter() - started
    net.eval()

    shapes = [(1, 1, 28, 28), (1, 8, 14, 14), (1, 32, 7, 7)]
    for k, (segment, shape) in enumerate(zip(segments, shapes), start=1):
        torch.onnx.export(segment, torch.zeros(shape), f'{args.out}/stage_{k}.onnx', opset_version=13,
                          input_names=['input'], output_names=['output'],
                          dynamic_axes={'input': {0: 'batch'}, 'output': {0: 'batch'}})
    torch.onnx.export(classifier, torch.zeros((1, 256)), f'{args.out}/exit_3.onnx', opset_version=13,
                      input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'batch'}, 'output': {0: 'batch'}})
    with torch.no_grad():
        check = torch.from_numpy(frame['check'].copy()).permute(0, 3, 1, 2).contiguous()
        write_frame(f'{args.out}/torch-logits.safetensors', {'logits': net(check).numpy()})
    print(json.dumps({'torch': torch.__version__, 'epochs': args.epochs, 'seconds': round(seconds, 3),
                      'trainAccuracy': correct / len(y), 'samples': len(y)}))


if __name__ == '__main__':
    main()
