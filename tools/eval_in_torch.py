"""Evaluates a fashionnet checkpoint written by `convkit train --save` in PyTorch, on the Fashion-MNIST test set.
The safetensors file is parsed by hand (header JSON + raw little-endian data), loaded with load_state_dict into the
nn.Sequential of ../shared/bench/peer_train.py, and normalized with the mean/std ConvKit stored in __metadata__.
Usage: /usr/bin/python3 tools/eval_in_torch.py MODEL.safetensors [FASHION_MNIST_DIR]"""
import gzip, json, struct, sys, numpy as np, torch, torch.nn as nn

path = sys.argv[1]
root = (sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist") + "/"
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__", {})
dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64}
state = {}
for name, t in header.items():
    a, b = t["data_offsets"]
    state[name] = torch.from_numpy(np.frombuffer(raw[8 + n + a:8 + n + b], dtypes[t["dtype"]]).reshape(t["shape"]).copy())

net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
net.load_state_dict(state)
net.eval()
x = torch.tensor(np.frombuffer(gzip.open(root + "t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(-1, 1, 28, 28),
                 dtype=torch.float32) / 255
y = torch.tensor(np.frombuffer(gzip.open(root + "t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8).astype(np.int64))
x = (x - float(meta["convkit.mean"])) / float(meta["convkit.std"])
with torch.no_grad():
    pred = torch.cat([net(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
print(json.dumps({"model": path, "test_accuracy": (pred == y).float().mean().item(), "correct": int((pred == y).sum())}))
