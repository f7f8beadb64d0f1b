namespace ConvKit.Kernels;

/// <summary>
/// Long-lived worker threads (one per extra core) for the kernels' coarse parallel loops. The thread pool, idle for a
/// few milliseconds between calls, was measured to join a 2-way <c>Parallel.For</c> late or not at all (a 64×56×56
/// 3×3 convolution ran as fast on 2 threads as on 1); these workers block on their own semaphore and start within
/// microseconds. One job runs at a time: a call made while a job is running (from another thread, or from inside a
/// job's body) runs its items on the calling thread instead.
/// </summary>
internal static class CoreWorkers
{
    private static readonly SemaphoreSlim[] s_go = CreateWorkers();
    private static readonly ManualResetEventSlim s_done = new(false, spinCount: 2000);
    private static int s_busy;
    private static Action<int, int>? s_body;
    private static int s_items, s_next, s_pending;
    private static Exception? s_error;

    /// <summary>Worker threads besides the caller.</summary>
    public static int Helpers => s_go.Length;

    private static SemaphoreSlim[] CreateWorkers()
    {
        var go = new SemaphoreSlim[Math.Max(0, Environment.ProcessorCount - 1)];
        for (int i = 0; i < go.Length; i++)
        {
            go[i] = new SemaphoreSlim(0);
            int id = i + 1;
            new Thread(() => Loop(id)) { IsBackground = true, Name = $"ConvKit worker {id}" }.Start();
        }
        return go;
    }

    /// <summary>body(worker, item) for every item in [0, items), handed out dynamically to the caller (worker 0) and up
    /// to threads − 1 helpers; returns when all items are done, rethrowing the first exception of any worker.</summary>
    public static void Run(int items, int threads, Action<int, int> body)
    {
        int helpers = Math.Min(Math.Min(threads, items) - 1, s_go.Length);
        if (helpers <= 0 || Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
        {
            for (int i = 0; i < items; i++) body(0, i);
            return;
        }
        try
        {
            s_body = body; s_items = items; s_next = -1; s_error = null;
            s_pending = helpers;
            s_done.Reset();
            for (int h = 0; h < helpers; h++) s_go[h].Release();
            Work(0);
            s_done.Wait();
            if (s_error is { } e) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
        }
        finally
        {
            s_body = null;
            Volatile.Write(ref s_busy, 0);
        }
    }

    private static void Loop(int id)
    {
        var go = s_go[id - 1];
        long spin = System.Diagnostics.Stopwatch.Frequency / 5000;
        while (true)
        {
            // Spin for 200 µs before blocking: kernels are called back to back, and a blocked thread took tens of
            // microseconds to wake (a quarter of a 0.3 ms depthwise layer).
            long until = System.Diagnostics.Stopwatch.GetTimestamp() + spin;
            while (go.CurrentCount == 0 && System.Diagnostics.Stopwatch.GetTimestamp() < until) Thread.SpinWait(16);
            go.Wait();
            Work(id);
            if (Interlocked.Decrement(ref s_pending) == 0) s_done.Set();
        }
    }

    private static void Work(int worker)
    {
        var body = s_body!;
        int i;
        try
        {
            while ((i = Interlocked.Increment(ref s_next)) < s_items) body(worker, i);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref s_error, e, null);
            // stop handing out items: the others finish what they hold and return
            Volatile.Write(ref s_next, s_items);
        }
    }
}
