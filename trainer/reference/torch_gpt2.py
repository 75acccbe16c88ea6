"""GPT-2 in PyTorch, written independently of the ONNX graphs, as a check and a speed anchor.

  torch_gpt2.py grad CONFIG.json WEIGHTS.safetensors TOKENS.json OUT.safetensors
      mean cross-entropy (printed as "loss X") and float32 gradients under the weights' names
  torch_gpt2.py bench CONFIG.json BATCH SEQ STEPS THREADS
      AdamW training steps on random tokens; prints "tokens_per_s X", "rss_before_bytes N" (after the weights are
      made), "max_rss_bytes N" (the process's peak) and "blas PATH" (the BLAS library torch's matmuls ran on)

Needs only torch (Debian's python3-torch); safetensors are read and written by hand.
"""
import json
import math
import resource
import struct
import sys
import time

import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info["dtype"]
        a, b = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(info["shape"])
        out[name] = t
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        b = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def loss_fn(cfg, p, ids, targets):
    B, T = ids.shape
    C, H = cfg["n_embd"], cfg["n_head"]
    D = C // H
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    ln = lambda x, n: torch.nn.functional.layer_norm(x, (C,), p[n + ".weight"], p[n + ".bias"], eps)
    x = p["wte.weight"][ids] + p["wpe.weight"][:T]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for i in range(cfg["n_layer"]):
        h = f"h.{i}"
        a = ln(x, h + ".ln_1")
        qkv = a @ p[h + ".attn.c_attn.weight"] + p[h + ".attn.c_attn.bias"]
        q, k, v = qkv.split(C, dim=2)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + mask, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + o @ p[h + ".attn.c_proj.weight"] + p[h + ".attn.c_proj.bias"]
        m = ln(x, h + ".ln_2")
        f = gelu_tanh(m @ p[h + ".mlp.c_fc.weight"] + p[h + ".mlp.c_fc.bias"])
        x = x + f @ p[h + ".mlp.c_proj.weight"] + p[h + ".mlp.c_proj.bias"]
    logits = ln(x, "ln_f") @ p["wte.weight"].t()
    return torch.nn.functional.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1))


def init_params(cfg):
    C, F, V, L = cfg["n_embd"], cfg["n_inner"], cfg["vocab_size"], cfg["n_layer"]
    g = torch.Generator().manual_seed(0)
    n = lambda *s, std=0.02: (torch.randn(*s, generator=g) * std)
    p = {"wte.weight": n(V, C), "wpe.weight": n(cfg["n_positions"], C)}
    for i in range(L):
        h = f"h.{i}"
        p.update({
            h + ".ln_1.weight": torch.ones(C), h + ".ln_1.bias": torch.zeros(C),
            h + ".attn.c_attn.weight": n(C, 3 * C), h + ".attn.c_attn.bias": torch.zeros(3 * C),
            h + ".attn.c_proj.weight": n(C, C, std=0.02 / math.sqrt(2 * L)), h + ".attn.c_proj.bias": torch.zeros(C),
            h + ".ln_2.weight": torch.ones(C), h + ".ln_2.bias": torch.zeros(C),
            h + ".mlp.c_fc.weight": n(C, F), h + ".mlp.c_fc.bias": torch.zeros(F),
            h + ".mlp.c_proj.weight": n(F, C, std=0.02 / math.sqrt(2 * L)), h + ".mlp.c_proj.bias": torch.zeros(C),
        })
    p["ln_f.weight"], p["ln_f.bias"] = torch.ones(C), torch.zeros(C)
    return p


def loaded_blas():
    """The BLAS shared library mapped into this process (Debian's torch calls the generic libblas.so.3, which the
    alternatives system points at the reference BLAS or at OpenBLAS): its path, or "unknown"."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "blas" in line.split()[-1].lower()}
    return ", ".join(sorted(paths)) or "unknown"


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    cmd = sys.argv[1]
    cfg = json.load(open(sys.argv[2]))
    if cfg.get("n_inner") is None:
        cfg["n_inner"] = 4 * cfg["n_embd"]
    if cmd == "grad":
        p = {k: v.clone().requires_grad_(True) for k, v in read_safetensors(sys.argv[3]).items()}
        rows = torch.tensor(json.load(open(sys.argv[4]))["tokens"], dtype=torch.long)
        loss = loss_fn(cfg, p, rows[:, :-1], rows[:, 1:])
        loss.backward()
        print(f"loss {loss.item():.9g}")
        write_safetensors(sys.argv[5], {k: v.grad for k, v in p.items()})
    elif cmd == "bench":
        B, T, steps, threads = (int(a) for a in sys.argv[3:7])
        torch.set_num_threads(threads)
        p = {k: v.requires_grad_(True) for k, v in init_params(cfg).items()}
        rss_before = rss_bytes()
        opt = torch.optim.AdamW(p.values(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
        g = torch.Generator().manual_seed(1)
        rows = torch.randint(0, cfg["vocab_size"], (B, T + 1), generator=g)
        for s in range(steps + 2):
            if s == 2:
                t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(cfg, p, rows[:, :-1], rows[:, 1:])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(p.values(), 1.0)
            opt.step()
        dt = time.perf_counter() - t0
        print(f"tokens_per_s {steps * B * T / dt:.1f}")
        print(f"loss {loss.item():.4f}")
        print(f"rss_before_bytes {rss_before}")
        print(f"max_rss_bytes {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}")
        print(f"blas {loaded_blas()}")
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
