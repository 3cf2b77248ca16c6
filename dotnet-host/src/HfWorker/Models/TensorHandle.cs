using System;
using HfWorker.MessagePack;

namespace HfWorker.Models
{
    /// <summary>
    /// A tensor kept in one worker: its opaque handle, the worker that holds it, its dtype and shape.
    /// Calls that use it run on that worker; if the worker has died, they fail with
    /// <see cref="Exceptions.WorkerCrashedException"/> (the tensor died with it).
    /// </summary>
    public sealed class TensorHandle
    {
        internal TensorHandle(string id, WorkerProcess worker, string dtype, int[] shape, long bytes)
        {
            Id = id;
            Worker = worker;
            DType = dtype;
            Shape = shape;
            Bytes = bytes;
        }

        /// <summary>The worker's handle (opaque).</summary>
        public string Id { get; private set; }

        /// <summary>The worker that holds the tensor.</summary>
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
            return new TensorHandle(id, worker, dtype, shape ?? new int[0], bytes);
        }
    }

    /// <summary>A tensor's contents fetched from the worker: raw little-endian C-order bytes with dtype and shape.</summary>
    public sealed class Tensor
    {
        internal Tensor(byte[] data, string dtype, int[] shape)
        {
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
