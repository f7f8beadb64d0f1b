namespace ConvKit.Imaging;

/// <summary>
/// A built-in 5x7 pixel font (upper-case letters, digits and common punctuation; lower case is drawn as upper
/// case, unknown characters as a box) for labelling image grids without any font files.
/// </summary>
public static class BitmapFont
{
    /// <summary>Glyph width in font pixels.</summary>
    public const int GlyphWidth = 5;
    /// <summary>Glyph height in font pixels.</summary>
    public const int GlyphHeight = 7;
    /// <summary>Horizontal advance per character in font pixels (glyph plus one column of spacing).</summary>
    public const int Advance = 6;

    // Each glyph: 7 rows of 5 pixels, '#' set, '.' clear, rows separated by '|'.
    private static readonly Dictionary<char, string> Glyphs = new()
    {
        ['A'] = ".###.|#...#|#...#|#####|#...#|#...#|#...#",
        ['B'] = "####.|#...#|#...#|####.|#...#|#...#|####.",
        ['C'] = ".###.|#...#|#....|#....|#....|#...#|.###.",
        ['D'] = "####.|#...#|#...#|#...#|#...#|#...#|####.",
        ['E'] = "#####|#....|#....|####.|#....|#....|#####",
        ['F'] = "#####|#....|#....|####.|#....|#....|#....",
        ['G'] = ".###.|#...#|#....|#.###|#...#|#...#|.####",
        ['H'] = "#...#|#...#|#...#|#####|#...#|#...#|#...#",
        ['I'] = ".###.|..#..|..#..|..#..|..#..|..#..|.###.",
        ['J'] = "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
        ['K'] = "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#",
        ['L'] = "#....|#....|#....|#....|#....|#....|#####",
        ['M'] = "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#",
        ['N'] = "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#",
        ['O'] = ".###.|#...#|#...#|#...#|#...#|#...#|.###.",
        ['P'] = "####.|#...#|#...#|####.|#....|#....|#....",
        ['Q'] = ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#",
        ['R'] = "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
        ['S'] = ".####|#....|#....|.###.|....#|....#|####.",
        ['T'] = "#####|..#..|..#..|..#..|..#..|..#..|..#..",
        ['U'] = "#...#|#...#|#...#|#...#|#...#|#...#|.###.",
        ['V'] = "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
        ['W'] = "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.",
        ['X'] = "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
        ['Y'] = "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..",
        ['Z'] = "#####|....#|...#.|..#..|.#...|#....|#####",
        ['0'] = ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
        ['1'] = "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
        ['2'] = ".###.|#...#|....#|...#.|..#..|.#...|#####",
        ['3'] = "#####|...#.|..#..|...#.|....#|#...#|.###.",
        ['4'] = "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
        ['5'] = "#####|#....|####.|....#|....#|#...#|.###.",
        ['6'] = "..##.|.#...|#....|####.|#...#|#...#|.###.",
        ['7'] = "#####|....#|...#.|..#..|.#...|.#...|.#...",
        ['8'] = ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
        ['9'] = ".###.|#...#|#...#|.####|....#|...#.|.##..",
        [' '] = ".....|.....|.....|.....|.....|.....|.....",
        ['.'] = ".....|.....|.....|.....|.....|.##..|.##..",
        [','] = ".....|.....|.....|.....|.##..|..#..|.#...",
        [':'] = ".....|.##..|.##..|.....|.##..|.##..|.....",
        ['-'] = ".....|.....|.....|#####|.....|.....|.....",
        ['_'] = ".....|.....|.....|.....|.....|.....|#####",
        ['/'] = ".....|....#|...#.|..#..|.#...|#....|.....",
        ['('] = "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
        [')'] = ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
        ['['] = ".###.|.#...|.#...|.#...|.#...|.#...|.###.",
        [']'] = ".###.|...#.|...#.|...#.|...#.|...#.|.###.",
        ['='] = ".....|.....|#####|.....|#####|.....|.....",
        ['+'] = ".....|..#..|..#..|#####|..#..|..#..|.....",
        ['#'] = ".#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.",
        ['%'] = "##...|##..#|...#.|..#..|.#...|#..##|...##",
        ['\''] = "..#..|..#..|.#...|.....|.....|.....|.....",
        ['?'] = ".###.|#...#|....#|...#.|..#..|.....|..#..",
        ['!'] = "..#..|..#..|..#..|..#..|..#..|.....|..#..",
        ['*'] = ".....|..#..|#.#.#|.###.|#.#.#|..#..|.....",
        ['<'] = "...#.|..#..|.#...|#....|.#...|..#..|...#.",
        ['>'] = ".#...|..#..|...#.|....#|...#.|..#..|.#...",
    };

    private static readonly string Unknown = "#####|#...#|#...#|#...#|#...#|#...#|#####";

    /// <summary>Width in image pixels of <paramref name="text"/> drawn at <paramref name="scale"/>.</summary>
    public static int MeasureWidth(string text, int scale = 1) => text.Length == 0 ? 0 : (text.Length * Advance - 1) * scale;

    /// <summary>True when the font pixel (<paramref name="col"/>, <paramref name="row"/>) of <paramref name="c"/> is set.</summary>
    public static bool IsSet(char c, int col, int row)
    {
        if ((uint)col >= GlyphWidth || (uint)row >= GlyphHeight) return false;
        var g = Glyphs.TryGetValue(char.ToUpperInvariant(c), out var s) ? s : Unknown;
        return g[row * (GlyphWidth + 1) + col] == '#';
    }

    /// <summary>Draws <paramref name="text"/> with its top-left corner at (<paramref name="x"/>, <paramref name="y"/>),
    /// clipped to the image; <paramref name="color"/> gives one value per channel (alpha included).</summary>
    public static void DrawText(Image image, int x, int y, string text, ushort[] color, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(color);
        if (color.Length != image.Channels)
            throw new ArgumentException($"color: {color.Length} values for an image of {image.Channels} channels.", nameof(color));
        if (scale < 1) throw new ArgumentOutOfRangeException(nameof(scale), $"scale must be positive, got {scale}.");
        for (int i = 0; i < text.Length; i++)
            for (int row = 0; row < GlyphHeight; row++)
                for (int col = 0; col < GlyphWidth; col++)
                {
                    if (!IsSet(text[i], col, row)) continue;
                    for (int sy = 0; sy < scale; sy++)
                        for (int sx = 0; sx < scale; sx++)
                        {
                            int px = x + (i * Advance + col) * scale + sx, py = y + row * scale + sy;
                            if ((uint)px >= (uint)image.Width || (uint)py >= (uint)image.Height) continue;
                            for (int c = 0; c < image.Channels; c++) image[px, py, c] = color[c];
                        }
                }
    }
}
