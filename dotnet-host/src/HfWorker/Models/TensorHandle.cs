using System;
using HfWorker.MessagePack;

namespace HfWorker.Models
{
    /// <summary>
    /// A tensor kept in one worker: its opaque handle, the worker that holds it, its dtype and shape.
    /// Calls that use it run on that worker (<see cref="Invocation{T}.Affinity"/>); if the worker has ended, they
    /// fail with <see cref="Exceptions.TensorLostException"/> (a <see cref="Exceptions.WorkerCrashedException"/>):
    /// the tensor ended with it.
    /// </summary>
    public sealed class TensorHandle
    {
        /// <summary>
        /// A handle as the worker described it. The library makes these from the worker's answers; a fake
        /// <see cref="IHfModels"/> in a test makes its own, with no <paramref name="worker"/>.
        /// </summary>
        public TensorHandle(string id, string dtype, int[] shape, long bytes, WorkerProcess worker = null)
        {
            if (string.IsNullOrEmpty(id)) throw new ArgumentException("a tensor handle is required", "id");
            Id = id;
            Worker = worker;
            DType = dtype;
            Shape = shape ?? new int[0];
            Bytes = bytes;
        }

        /// <summary>The worker's handle (opaque).</summary>
        public string Id { get; private set; }

        /// <summary>The worker that holds the tensor (null for one a fake made).</summary>
        public WorkerProcess Worker { get; private set; }

        /// <summary>"float32", "int64"...</summary>
        public string DType { get; private set; }

        /// <summary>The dimensions.</summary>
        public int[] Shape { get; private set; }

        /// <summary>Bytes it uses in the worker.</summary>
        public long Bytes { get; private set; }

        /// <inheritdoc />
        public override string ToString()
        {
            return Id + " " + DType + ResultReading.Describe(Shape) + " on " + Worker;
        }

        internal static TensorHandle Read(MessagePackReader reader, WorkerProcess worker)
        {
            string id = null, dtype = null;
            int[] shape = null;
            long bytes = 0;
            ResultReading.ReadMap(reader, (key, r) =>
            {
                switch (key)
                {
                    case "handle": id = r.ReadString(); return true;
                    case "dtype": dtype = r.ReadString(); return true;
                    case "shape": shape = ResultReading.ReadInts(r); return true;
                    case "nbytes": bytes = r.ReadInt64(); return true;
                    default: return false;
                }
            });
            if (id == null) throw ResultReading.Missing("tensor info", "handle");
            return new TensorHandle(id, dtype, shape, bytes, worker);
        }
    }

    /// <summary>A tensor's contents fetched from the worker: raw little-endian C-order bytes with dtype and shape.</summary>
    public sealed class Tensor
    {
        /// <summary>A tensor's contents (the library reads these from <c>tensor/get</c>; a fake makes its own).</summary>
        public Tensor(byte[] data, string dtype, int[] shape)
        {
            if (data == null) throw new ArgumentNullException("data");
            Data = data;
            DType = dtype;
            Shape = shape;
        }

        /// <summary>The elements, little-endian, in C order.</summary>
        public byte[] Data { get; private set; }

        /// <summary>"float32", "int64"...</summary>
        public string DType { get; private set; }

        /// <summary>The dimensions.</summary>
        public int[] Shape { get; private set; }

        /// <summary>A float32 tensor's contents.</summary>
        public static Tensor FromSingles(float[] values, int[] shape)
        {
            if (values == null) throw new ArgumentNullException("values");
            return new Tensor(Floats.ToLittleEndian(values), "float32", shape ?? new[] { values.Length });
        }

        /// <summary>The elements of a float32 tensor.</summary>
        public float[] ToSingles()
        {
            if (DType != "float32") throw new InvalidOperationException("the tensor is " + DType + ", not float32");
            return Floats.FromLittleEndian(Data);
        }

        internal static Tensor Read(MessagePackReader reader)
        {
            byte[] data = null;
            string dtype = null;
            int[] shape = null;
            ResultReading.ReadMap(reader, (key, r) =>
            {
                switch (key)
                {
                    case "data": data = r.ReadBinary(); return true;
                    case "dtype": dtype = r.ReadString(); return true;
                    case "shape": shape = ResultReading.ReadInts(r); return true;
                    default: return false;
                }
            });
            if (data == null) throw ResultReading.Missing("tensor/get's result", "data");
            return new Tensor(data, dtype, shape ?? new int[0]);
        }
    }

    /// <summary>float32 arrays to and from the wire's little-endian bytes, whatever the machine's byte order.</summary>
    internal static class Floats
    {
        public static byte[] ToLittleEndian(float[] values)
        {
            var bytes = new byte[values.Length * 4];
            for (int i = 0; i < values.Length; i++)
            {
                uint bits = FloatBits.ToBits(values[i]);
                bytes[4 * i] = (byte)bits;
                bytes[4 * i + 1] = (byte)(bits >> 8);
                bytes[4 * i + 2] = (byte)(bits >> 16);
                bytes[4 * i + 3] = (byte)(bits >> 24);
            }
            return bytes;
        }

        public static float[] FromLittleEndian(byte[] bytes)
        {
            if (bytes.Length % 4 != 0) throw new ArgumentException("float32 data must be a multiple of 4 bytes", "bytes");
            var values = new float[bytes.Length / 4];
            for (int i = 0; i < values.Length; i++)
            {
                uint bits = (uint)(bytes[4 * i] | bytes[4 * i + 1] << 8 | bytes[4 * i + 2] << 16 | bytes[4 * i + 3] << 24);
                values[i] = FloatBits.FromBits(bits);
            }
            return values;
        }
    }
}
