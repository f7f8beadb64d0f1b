using System.Diagnostics;
using ConvKit.Kernels;
int M = int.Parse(args[0]), N = int.Parse(args[1]), K = int.Parse(args[2]); Gemm.MaxThreads = int.Parse(args[3]);
var a = new float[M * K]; var b = new float[K * N]; var c = new float[M * N];
var r = new Random(1); for (int i = 0; i < a.Length; i++) a[i] = r.NextSingle(); for (int i = 0; i < b.Length; i++) b[i] = r.NextSingle();
var ts = new List<double>();
for (int it = 0; it < 30; it++) { var cpu0 = Process.GetCurrentProcess().TotalProcessorTime; Gemm.Sgemm(false, false, M, N, K, 1, a, K, b, N, 0, c, N); ts.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds); }
ts.Sort(); double ms = ts[ts.Count / 2];
Console.WriteLine($"{M}x{N}x{K} t={Gemm.MaxThreads}: {ms:F3} ms {2.0 * M * N * K / ms / 1e6:F1} GFLOP/s");
