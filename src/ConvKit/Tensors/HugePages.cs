using System.Runtime.InteropServices;

namespace ConvKit.Tensors;

/// <summary>
/// Large uninitialized float arrays whose pages Linux may back with transparent huge pages (madvise MADV_HUGEPAGE):
/// the first touch then costs one fault per 2 MB instead of one per 4 KB page, and streaming over tens of megabytes
/// of activations misses the TLB far less often. Elsewhere, or when the call is unavailable, a plain array.
/// </summary>
internal static class HugePages
{
    /// <summary>Arrays of at least this many floats are advised (4 MB).</summary>
    internal static long Threshold = 1 << 20;

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(nint addr, nuint length, int advice);

    /// <summary>A new uninitialized array of <paramref name="length"/> floats, advised for huge pages when large.</summary>
    internal static unsafe float[] NewArray(int length)
    {
        var a = GC.AllocateUninitializedArray<float>(length);
        if (length >= Threshold && OperatingSystem.IsLinux())
        {
            fixed (float* p = a)
            {
                const long Huge = 2 << 20;
                long start = ((long)p + Huge - 1) & ~(Huge - 1), end = ((long)p + (long)length * sizeof(float)) & ~(Huge - 1);
                if (end > start)
                {
                    try { _ = Madvise((nint)start, (nuint)(end - start), 14 /* MADV_HUGEPAGE */); }
                    catch (DllNotFoundException) { Threshold = long.MaxValue; }
                    catch (EntryPointNotFoundException) { Threshold = long.MaxValue; }
                }
            }
        }
        return a;
    }
}
