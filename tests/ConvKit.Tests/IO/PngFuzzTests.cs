using System.Buffers.Binary;
using ConvKit.Imaging;
using ConvKit.IO;
using ConvKit.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace ConvKit.Tests.IO;

/// <summary>Mutation fuzzing of the PNG decoder: every mutated file must decode or be refused with
/// <see cref="InvalidDataException"/>, nothing else. CI runs a fast subset; set CONVKIT_FUZZ_CASES (e.g. 100000)
/// for a long run.</summary>
public class PngFuzzTests(ITestOutputHelper output)
{
    private const int DefaultCases = 2000;

    private static List<byte[]> Seeds()
    {
        var seeds = new List<byte[]>();
        // Encoded here: every channel count and depth, plain and interlaced.
        int s = 0;
        foreach (var ch in new[] { 1, 2, 3, 4 })
            foreach (var max in new[] { 255, 65535 })
                seeds.Add(Png.Encode(PngTests.RandomImage(7 + ch, 5 + s % 3, ch, max, (ulong)++s), PngFilter.Adaptive, interlace: s % 2 == 0));
        // Written by the fixture generator and OpenCV: low bit depths, palettes, tRNS.
        foreach (var name in new[] { "gray1_i.png", "gray2.png", "gray4_trns.png", "pal1.png", "pal2_i.png", "pal4_trns.png", "pal8_trns.png",
                                     "rgb16_trns.png", "gray16_trns.png", "cv_rgba8.png" })
        {
            var path = Path.Combine(PngTests.Dir, name);
            if (File.Exists(path)) seeds.Add(File.ReadAllBytes(path));
        }
        return seeds;
    }

    /// <summary>Applies one to four random mutations: bit flips, byte changes, chunk length edits (with or without a
    /// fixed-up CRC so that the checks behind the CRC are reached), chunk data edits with a valid CRC, truncation.</summary>
    internal static byte[] Mutate(byte[] src, SeededRandom rng)
    {
        var b = (byte[])src.Clone();
        int n = 1 + (int)(rng.NextDouble() * 4);
        for (int m = 0; m < n; m++)
        {
            int kind = (int)(rng.NextDouble() * 7);
            int pos = (int)(rng.NextDouble() * b.Length);
            switch (kind)
            {
                case 0: b[pos] ^= (byte)(1 << (int)(rng.NextDouble() * 8)); break;
                case 1: b[pos] = (byte)(rng.NextDouble() * 256); break;
                case 2: // corrupt a chunk length
                case 3: // edit chunk data and fix the CRC
                {
                    var chunks = ChunkOffsets(b);
                    if (chunks.Count == 0) break;
                    int c = chunks[(int)(rng.NextDouble() * chunks.Count)];
                    uint len = BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(c));
                    if (kind == 2)
                    {
                        uint[] choices = [0, len + 1, len - 1, 0xFFFFFFFF, 0x80000000, (uint)(rng.NextDouble() * 100000), 13];
                        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(c), choices[(int)(rng.NextDouble() * choices.Length)]);
                    }
                    else if (len > 0 && c + 12 + len <= b.Length)
                    {
                        int at = c + 8 + (int)(rng.NextDouble() * len);
                        b[at] = rng.NextDouble() < 0.5 ? (byte)(rng.NextDouble() * 256) : (byte)(b[at] ^ 0x80);
                        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(c + 8 + (int)len), Png.Crc32(b.AsSpan(c + 4, (int)len + 4)));
                    }
                    break;
                }
                case 4: b = b[..pos]; break;
                case 5: // duplicate or drop a chunk
                {
                    var chunks = ChunkOffsets(b);
                    if (chunks.Count < 2) break;
                    int i = (int)(rng.NextDouble() * chunks.Count);
                    int start = chunks[i], end = i + 1 < chunks.Count ? chunks[i + 1] : b.Length;
                    b = rng.NextDouble() < 0.5 ? [.. b[..start], .. b[start..end], .. b[start..]] : [.. b[..start], .. b[end..]];
                    break;
                }
                default: // rewrite an IHDR field with a valid CRC
                {
                    if (b.Length < 33) break;
                    int f = 8 + 8 + (int)(rng.NextDouble() * 13);
                    b[f] = (byte)(rng.NextDouble() < 0.5 ? rng.NextDouble() * 20 : rng.NextDouble() * 256);
                    BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(29), Png.Crc32(b.AsSpan(12, 17)));
                    break;
                }
            }
            if (b.Length == 0) break;
        }
        return b;
    }

    private static List<int> ChunkOffsets(byte[] b)
    {
        var list = new List<int>();
        long pos = 8;
        while (pos + 12 <= b.Length)
        {
            list.Add((int)pos);
            pos += 12L + BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan((int)pos));
        }
        return list;
    }

    [Fact]
    public void MutatedFilesDecodeOrAreRefusedWithInvalidDataException()
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("CONVKIT_FUZZ_CASES"), out var c) && c > 0 ? c : DefaultCases;
        var seeds = Seeds();
        var rng = new SeededRandom(0xF022);
        int decoded = 0, refused = 0;
        var messages = new Dictionary<string, int>();
        for (int i = 0; i < cases; i++)
        {
            var seed = seeds[i % seeds.Count];
            var bytes = Mutate(seed, rng);
            try
            {
                var img = Image.Decode(bytes);
                Assert.True(img.Data.Length == (long)img.Width * img.Height * img.Channels);
                decoded++;
            }
            catch (InvalidDataException e)
            {
                refused++;
                var key = e.Message.Length > 40 ? e.Message[..40] : e.Message;
                messages[key] = messages.GetValueOrDefault(key) + 1;
            }
            catch (Exception e)
            {
                Assert.Fail($"case {i} (seed {i % seeds.Count}): {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }
        output.WriteLine($"{cases} cases: {decoded} decoded, {refused} refused with InvalidDataException, 0 other exceptions.");
        foreach (var (k, v) in messages.OrderByDescending(kv => kv.Value).Take(15)) output.WriteLine($"  {v,7}  {k}");
        Assert.Equal(cases, decoded + refused);
    }
}
