// Benchmark harness entry point (filled in by the engine work).
Console.WriteLine("bench: not implemented yet");
