using Xunit;

namespace ConvKit.Tests;

/// <summary>
/// Test classes that change the engine's process-wide settings (thread count, AVX-512 on or off, GEMM operand
/// modes) run alone: a test running beside them could otherwise see a setting change between two calls it compares
/// bit for bit (a backward-weights pass split over two threads sums in another order than on one).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EngineSettingsCollection
{
    public const string Name = "Engine settings";
}
