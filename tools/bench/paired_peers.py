"""Side-by-side timing of ConvKit and PyTorch in lockstep, pass by pass.

The whole-suite alternation (convkit bench, then ../shared/bench/peers.py) puts ten or more seconds between the two
libraries' timings of one pass; on a host whose speed changes within seconds that decides many ratios. Here both
libraries stay loaded in one long-lived process each (ConvKit.Bench --serve, and this script with PyTorch), and every
pass is timed by one and then at once by the other, the order alternating by round, with the peer script's rule
(median of max(3, min(50, 1 s / one call)) calls after a warm-up call) on both sides. Each pair gives one ratio;
the report is the median ratio per pass over the rounds, with the medians of each library's GFLOP/s.

Usage (from the repository root, after dotnet build -c Release):
    /usr/bin/python3 tools/bench/paired_peers.py [threads] [rounds] [layer,layer,...] > paired.jsonl
Prints one JSON line per case and pass, then a markdown table on stderr. Both processes inherit the environment, so
    DOTNET_EnableAVX512=0 ONEDNN_MAX_CPU_ISA=AVX2 /usr/bin/python3 tools/bench/paired_peers.py 2 12
compares the two libraries on AVX2 only (the instruction set of CPUs without AVX-512, such as AMD's Zen 3).
"""
import json, os, statistics, subprocess, sys, time

import torch
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
only = set(sys.argv[3].split(",")) if len(sys.argv) > 3 else None
torch.set_num_threads(threads)
torch.manual_seed(0)
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
bench_dll = os.path.join(root, "bench/ConvKit.Bench/bin/Release/net10.0/ConvKit.Bench.dll")
layers = json.load(open(os.path.join(root, "bench/ConvKit.Bench/layers.json")))


def median_ms(fn):
    """The peer script's rule: a warm-up call, one timed call to size the run, then the median of the runs."""
    fn()
    t0 = time.perf_counter(); fn(); one = time.perf_counter() - t0
    runs = max(3, min(50, int(1.0 / max(one, 1e-6))))
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2] * 1e3


def torch_cases():
    """name -> (gflop, {pass: callable}) with the operands of peers.py's cases."""
    cases = {}
    for L in layers:
        n, c, h, w, k, r, s = (L[x] for x in "n c h w k r s".split())
        st, p, d, g = L["stride"], L["pad"], L["dil"], L["groups"]
        x = torch.randn(n, c, h, w); wt = torch.randn(k, c // g, r, s); b = torch.randn(k)
        y = F.conv2d(x, wt, b, st, p, d, g)
        gy = torch.randn_like(y)
        gflop = 2.0 * n * k * y.shape[2] * y.shape[3] * (c // g) * r * s / 1e9
        cases[L["name"]] = (gflop, {
            "fwd": (lambda x=x, wt=wt, b=b, st=st, p=p, d=d, g=g: F.conv2d(x, wt, b, st, p, d, g)),
            "bwd-data": (lambda x=x, wt=wt, gy=gy, st=st, p=p, d=d, g=g: torch.nn.grad.conv2d_input(x.shape, wt, gy, st, p, d, g)),
            "bwd-w": (lambda x=x, wt=wt, gy=gy, st=st, p=p, d=d, g=g: torch.nn.grad.conv2d_weight(x, wt.shape, gy, st, p, d, g)),
        })
    xt = torch.randn(1, 256, 16, 16); wtt = torch.randn(256, 128, 4, 4)
    cases["dcgan.convT4x4s2"] = (2.0 * 256 * 128 * 16 * 16 * 16 / 1e9, {"fwd": lambda: F.conv_transpose2d(xt, wtt, None, 2, 1)})
    x3 = torch.randn(1, 64, 8, 28, 28); w3 = torch.randn(64, 64, 3, 3, 3)
    cases["video.conv3d.3x3x3"] = (2.0 * 64 * 64 * 8 * 28 * 28 * 27 / 1e9, {"fwd": lambda: F.conv3d(x3, w3, None, 1, 1)})
    return cases


def main():
    server = subprocess.Popen(["dotnet", bench_dll, "--serve", "--threads", str(threads)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=root)
    if server.stdout.readline().strip() != "ready":
        sys.exit("ConvKit.Bench --serve did not start")

    def convkit_ms(name, pas):
        server.stdin.write(f"{name} {pas}\n"); server.stdin.flush()
        reply = server.stdout.readline().strip()
        if reply.startswith("error"):
            sys.exit(reply)
        return float(reply)

    cases = {k: v for k, v in torch_cases().items() if only is None or k in only}
    pairs = {}  # (name, pass) -> list of (convkit ms, torch ms)
    for rnd in range(rounds):
        for name, (gflop, passes) in cases.items():
            for pas, fn in passes.items():
                if rnd % 2 == 0:
                    ck = convkit_ms(name, pas); pt = median_ms(fn)
                else:
                    pt = median_ms(fn); ck = convkit_ms(name, pas)
                pairs.setdefault((name, pas), []).append((ck, pt))
        print(f"round {rnd + 1} of {rounds} done", file=sys.stderr, flush=True)
    server.stdin.write("\n"); server.stdin.flush(); server.wait()

    rows = []
    for (name, pas), ps in pairs.items():
        gflop = cases[name][0]
        ratios = [pt / ck for ck, pt in ps]
        rec = {"name": name, "pass": pas, "threads": threads, "rounds": len(ps),
               "convkit_gflops": gflop / (statistics.median(ck for ck, _ in ps) / 1e3),
               "torch_gflops": gflop / (statistics.median(pt for _, pt in ps) / 1e3),
               "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}
        print(json.dumps(rec), flush=True)
        rows.append(rec)
    print("| layer | pass | ConvKit GFLOP/s | PyTorch GFLOP/s | median of paired ratios | range |", file=sys.stderr)
    print("|---|---|---:|---:|---:|---|", file=sys.stderr)
    for r in rows:
        print(f"| {r['name']} | {r['pass']} | {r['convkit_gflops']:.1f} | {r['torch_gflops']:.1f} | "
              f"**{r['ratio_median']:.2f}x** | {r['ratio_min']:.2f}-{r['ratio_max']:.2f} |", file=sys.stderr)


if __name__ == "__main__":
    main()
