using System.Runtime.InteropServices;

namespace HfWorker.MessagePack
{
    /// <summary>
    /// The bits of a float 32 without allocating: BitConverter.SingleToInt32Bits is not in netstandard2.0,
    /// and BitConverter.GetBytes allocates an array per value.
    /// </summary>
    [StructLayout(LayoutKind.Explicit)]
    internal struct FloatBits
    {
        [FieldOffset(0)] public float Single;
        [FieldOffset(0)] public uint Bits;

        public static uint ToBits(float value)
        {
            var u = new FloatBits();
            u.Single = value;
            return u.Bits;
        }

        public static float FromBits(uint bits)
        {
            var u = new FloatBits();
            u.Bits = bits;
            return u.Single;
        }
    }
}
