namespace ConvKit.Tensors;

/// <summary>Checked arithmetic on shapes: every size product in the library goes through here so that
/// overflow becomes a clear <see cref="ArgumentException"/> instead of a wrong allocation.</summary>
public static class ShapeMath
{
    /// <summary>Number of elements of <paramref name="shape"/>; throws when a size is negative or the product
    /// does not fit in an <see cref="int"/> (the largest .NET array).</summary>
    public static int Numel(ReadOnlySpan<int> shape, string argName)
    {
        long n = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 0)
                throw new ArgumentException($"{argName}: size {shape[i]} at dimension {i} is negative (shape {Format(shape)}).", argName);
            n *= shape[i];
            if (n > int.MaxValue)
                throw new ArgumentException($"{argName}: the product of sizes {Format(shape)} overflows Int32 ({int.MaxValue} elements at most).", argName);
        }
        return (int)n;
    }

    /// <summary>Formats a shape the way PyTorch prints it: [2, 3, 4].</summary>
    public static string Format(ReadOnlySpan<int> shape)
    {
        var sb = new System.Text.StringBuilder("[");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i]);
        }
        return sb.Append(']').ToString();
    }

    /// <summary>Row-major (C order) strides of <paramref name="shape"/>, in elements.</summary>
    public static int[] Strides(ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }
}
