using System;
using System.Collections;
using System.Text;
using HfWorker.Exceptions;

namespace HfWorker.MessagePack
{
    /// <summary>
    /// Writes MessagePack into a growable buffer, always in the shortest form, which is also how the
    /// worker's encoder (msgspec) writes: so the same value gives the same bytes on both sides.
    /// </summary>
    /// <remarks>
    /// Strings are encoded straight into the buffer (no intermediate byte array). A writer can be
    /// <see cref="Reset"/> and reused. Not thread-safe. <see cref="WriteValue"/> covers plain .NET values,
    /// dictionaries and lists; any other type implements <see cref="IMessagePackWritable"/>.
    /// </remarks>
    public sealed class MessagePackWriter
    {
        private static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, true);

        private byte[] _buffer;
        private int _length;
        private int _start;

        /// <summary>A writer whose buffer starts at <paramref name="initialCapacity"/> bytes and grows as needed.</summary>
        public MessagePackWriter(int initialCapacity = 256)
        {
            if (initialCapacity < 16) initialCapacity = 16;
            _buffer = new byte[initialCapacity];
        }

        /// <summary>Bytes written since construction or the last <see cref="Reset"/>.</summary>
        public int Length
        {
            get { return _length - _start; }
        }

        /// <summary>Forget what was written; keep the buffer.</summary>
        public void Reset()
        {
            _length = 0;
            _start = 0;
        }

        /// <summary>A copy of the bytes written.</summary>
        public byte[] ToArray()
        {
            var copy = new byte[Length];
            Buffer.BlockCopy(_buffer, _start, copy, 0, copy.Length);
            return copy;
        }

        /// <summary>The bytes written, without copying; valid until the next write or reset.</summary>
        public ArraySegment<byte> WrittenBytes
        {
            get { return new ArraySegment<byte>(_buffer, _start, Length); }
        }

        /// <summary>
        /// Leave <paramref name="count"/> bytes in front of what comes next, for a frame header that is
        /// filled in once the payload's length is known (see <see cref="FillReserved"/>).
        /// </summary>
        internal void ResetWithReservedPrefix(int count)
        {
            _length = 0;
            Ensure(count);
            _length = count;
            _start = count;
        }

        /// <summary>The whole buffer including a reserved prefix, for writing a frame in one call.</summary>
        internal ArraySegment<byte> WrittenBytesWithPrefix
        {
            get { return new ArraySegment<byte>(_buffer, 0, _length); }
        }

        internal void FillReserved(int offset, byte value)
        {
            _buffer[offset] = value;
        }

        // ---- scalars -------------------------------------------------------------------------

        /// <summary>nil.</summary>
        public void WriteNil()
        {
            WriteByte(MessagePackCode.Nil);
        }

        /// <summary>true or false.</summary>
        public void WriteBoolean(bool value)
        {
            WriteByte(value ? MessagePackCode.True : MessagePackCode.False);
        }

        /// <summary>An integer in its shortest form (unsigned formats for non-negative values).</summary>
        public void WriteInt64(long value)
        {
            if (value >= 0)
            {
                WriteUInt64((ulong)value);
                return;
            }
            if (value >= -32)
            {
                WriteByte(unchecked((byte)value));
            }
            else if (value >= sbyte.MinValue)
            {
                Ensure(2);
                _buffer[_length++] = MessagePackCode.Int8;
                _buffer[_length++] = unchecked((byte)value);
            }
            else if (value >= short.MinValue)
            {
                Ensure(3);
                _buffer[_length++] = MessagePackCode.Int16;
                PutBigEndian((ulong)value, 2);
            }
            else if (value >= int.MinValue)
            {
                Ensure(5);
                _buffer[_length++] = MessagePackCode.Int32;
                PutBigEndian((ulong)value, 4);
            }
            else
            {
                Ensure(9);
                _buffer[_length++] = MessagePackCode.Int64;
                PutBigEndian((ulong)value, 8);
            }
        }

        /// <summary>A non-negative integer in its shortest form.</summary>
        public void WriteUInt64(ulong value)
        {
            if (value <= MessagePackCode.MaxPositiveFixInt)
            {
                WriteByte((byte)value);
            }
            else if (value <= byte.MaxValue)
            {
                Ensure(2);
                _buffer[_length++] = MessagePackCode.UInt8;
                _buffer[_length++] = (byte)value;
            }
            else if (value <= ushort.MaxValue)
            {
                Ensure(3);
                _buffer[_length++] = MessagePackCode.UInt16;
                PutBigEndian(value, 2);
            }
            else if (value <= uint.MaxValue)
            {
                Ensure(5);
                _buffer[_length++] = MessagePackCode.UInt32;
                PutBigEndian(value, 4);
            }
            else
            {
                Ensure(9);
                _buffer[_length++] = MessagePackCode.UInt64;
                PutBigEndian(value, 8);
            }
        }

        /// <summary>
        /// float 64 (Python's float; what the worker always writes). NaN is written as the quiet NaN
        /// Python uses (0x7ff8000000000000), not .NET's negative one, so both sides agree on its bytes.
        /// </summary>
        public void WriteDouble(double value)
        {
            Ensure(9);
            _buffer[_length++] = MessagePackCode.Float64;
            ulong bits = double.IsNaN(value) ? CanonicalNaN : (ulong)BitConverter.DoubleToInt64Bits(value);
            PutBigEndian(bits, 8);
        }

        private const ulong CanonicalNaN = 0x7ff8000000000000UL;

        /// <summary>float 32.</summary>
        public void WriteSingle(float value)
        {
            Ensure(5);
            _buffer[_length++] = MessagePackCode.Float32;
            PutBigEndian(FloatBits.ToBits(value), 4);
        }

        /// <summary>A UTF-8 string, or nil for null. Lone surrogates are refused, as the worker would refuse them.</summary>
        public void WriteString(string value)
        {
            if (value == null)
            {
                WriteNil();
                return;
            }
            int count;
            try
            {
                count = StrictUtf8.GetByteCount(value);
            }
            catch (EncoderFallbackException e)
            {
                throw new MessagePackException("the string is not valid Unicode (a lone surrogate?): " + e.Message, e);
            }
            if (count < 32)
            {
                Ensure(1 + count);
                _buffer[_length++] = (byte)(MessagePackCode.MinFixStr | count);
            }
            else if (count <= byte.MaxValue)
            {
                Ensure(2 + count);
                _buffer[_length++] = MessagePackCode.Str8;
                _buffer[_length++] = (byte)count;
            }
            else if (count <= ushort.MaxValue)
            {
                Ensure(3 + count);
                _buffer[_length++] = MessagePackCode.Str16;
                PutBigEndian((ulong)count, 2);
            }
            else
            {
                Ensure(5 + count);
                _buffer[_length++] = MessagePackCode.Str32;
                PutBigEndian((ulong)count, 4);
            }
            _length += StrictUtf8.GetBytes(value, 0, value.Length, _buffer, _length);
        }

        /// <summary>Binary data (bin 8/16/32), or nil for null.</summary>
        public void WriteBinary(byte[] value)
        {
            if (value == null)
            {
                WriteNil();
                return;
            }
            WriteBinary(value, 0, value.Length);
        }

        /// <summary>A slice of a byte array as binary data.</summary>
        public void WriteBinary(byte[] buffer, int offset, int count)
        {
            if (buffer == null) throw new ArgumentNullException("buffer");
            if (offset < 0 || count < 0 || offset + count > buffer.Length) throw new ArgumentOutOfRangeException("count");
            if (count <= byte.MaxValue)
            {
                Ensure(2 + count);
                _buffer[_length++] = MessagePackCode.Bin8;
                _buffer[_length++] = (byte)count;
            }
            else if (count <= ushort.MaxValue)
            {
                Ensure(3 + count);
                _buffer[_length++] = MessagePackCode.Bin16;
                PutBigEndian((ulong)count, 2);
            }
            else
            {
                Ensure(5 + count);
                _buffer[_length++] = MessagePackCode.Bin32;
                PutBigEndian((ulong)count, 4);
            }
            Buffer.BlockCopy(buffer, offset, _buffer, _length, count);
            _length += count;
        }

        /// <summary>The header of an array of <paramref name="count"/> elements; write the elements next.</summary>
        public void WriteArrayHeader(int count)
        {
            if (count < 0) throw new ArgumentOutOfRangeException("count");
            WriteContainerHeader((uint)count, MessagePackCode.MinFixArray, MessagePackCode.Array16, MessagePackCode.Array32);
        }

        /// <summary>The header of a map of <paramref name="count"/> entries; write key, value, key, value... next.</summary>
        public void WriteMapHeader(int count)
        {
            if (count < 0) throw new ArgumentOutOfRangeException("count");
            WriteContainerHeader((uint)count, MessagePackCode.MinFixMap, MessagePackCode.Map16, MessagePackCode.Map32);
        }

        /// <summary>An extension value, in a fixext format when its length allows.</summary>
        public void WriteExtension(sbyte typeCode, byte[] data)
        {
            if (data == null) throw new ArgumentNullException("data");
            int n = data.Length;
            Ensure(6 + n);
            switch (n)
            {
                case 1: _buffer[_length++] = MessagePackCode.FixExt1; break;
                case 2: _buffer[_length++] = MessagePackCode.FixExt2; break;
                case 4: _buffer[_length++] = MessagePackCode.FixExt4; break;
                case 8: _buffer[_length++] = MessagePackCode.FixExt8; break;
                case 16: _buffer[_length++] = MessagePackCode.FixExt16; break;
                default:
                    if (n <= byte.MaxValue)
                    {
                        _buffer[_length++] = MessagePackCode.Ext8;
                        _buffer[_length++] = (byte)n;
                    }
                    else if (n <= ushort.MaxValue)
                    {
                        _buffer[_length++] = MessagePackCode.Ext16;
                        PutBigEndian((ulong)n, 2);
                    }
                    else
                    {
                        _buffer[_length++] = MessagePackCode.Ext32;
                        PutBigEndian((ulong)n, 4);
                    }
                    break;
            }
            _buffer[_length++] = unchecked((byte)typeCode);
            Buffer.BlockCopy(data, 0, _buffer, _length, n);
            _length += n;
        }

        /// <summary>A timestamp in the shortest of the three timestamp formats that holds it.</summary>
        public void WriteTimestamp(MessagePackTimestamp value)
        {
            long seconds = value.Seconds;
            uint nanos = value.Nanoseconds;
            if ((seconds >> 34) == 0)
            {
                ulong packed = ((ulong)nanos << 34) | (ulong)seconds;
                if ((packed & 0xffffffff00000000UL) == 0)
                {
                    Ensure(6);
                    _buffer[_length++] = MessagePackCode.FixExt4;
                    _buffer[_length++] = unchecked((byte)MessagePackCode.TimestampExtension);
                    PutBigEndian(packed, 4);
                    return;
                }
                Ensure(10);
                _buffer[_length++] = MessagePackCode.FixExt8;
                _buffer[_length++] = unchecked((byte)MessagePackCode.TimestampExtension);
                PutBigEndian(packed, 8);
                return;
            }
            Ensure(15);
            _buffer[_length++] = MessagePackCode.Ext8;
            _buffer[_length++] = 12;
            _buffer[_length++] = unchecked((byte)MessagePackCode.TimestampExtension);
            PutBigEndian(nanos, 4);
            PutBigEndian((ulong)seconds, 8);
        }

        /// <summary>Bytes that already are one encoded MessagePack value, copied as they are.</summary>
        public void WriteRaw(byte[] encoded)
        {
            if (encoded == null) throw new ArgumentNullException("encoded");
            WriteRaw(new ArraySegment<byte>(encoded));
        }

        /// <summary>A slice that already is one encoded MessagePack value, copied as it is.</summary>
        public void WriteRaw(ArraySegment<byte> encoded)
        {
            Ensure(encoded.Count);
            Buffer.BlockCopy(encoded.Array, encoded.Offset, _buffer, _length, encoded.Count);
            _length += encoded.Count;
        }

        // ---- any value -----------------------------------------------------------------------

        /// <summary>
        /// Write a plain .NET value: null, bool, integers, float, double, decimal (as float 64),
        /// string, char, byte[], <see cref="ArraySegment{T}"/> of bytes, <see cref="IDictionary"/>
        /// (a map, in enumeration order), any other <see cref="IEnumerable"/> (an array),
        /// <see cref="DateTime"/> and <see cref="MessagePackTimestamp"/> (timestamps),
        /// <see cref="MessagePackExtension"/>, and <see cref="IMessagePackWritable"/>.
        /// Anything else (an anonymous type, say) throws <see cref="MessagePackException"/>: there is
        /// no reflection here.
        /// </summary>
        public void WriteValue(object value)
        {
            WriteNested(value, 0);
        }

        private const int MaxDepth = 256;

        private void WriteNested(object value, int depth)
        {
            if (depth > MaxDepth) throw new MessagePackException("value nested deeper than " + MaxDepth + " levels (a cycle?)");
            if (value == null) { WriteNil(); return; }
            if (value is string s) { WriteString(s); return; }
            if (value is bool b) { WriteBoolean(b); return; }
            if (value is int i) { WriteInt64(i); return; }
            if (value is long l) { WriteInt64(l); return; }
            if (value is double d) { WriteDouble(d); return; }
            if (value is float f) { WriteSingle(f); return; }
            if (value is byte[] bytes) { WriteBinary(bytes); return; }
            if (value is IMessagePackWritable writable) { writable.WriteTo(this); return; }
            if (value is IDictionary map) { WriteMap(map, depth); return; }
            if (value is uint ui) { WriteUInt64(ui); return; }
            if (value is ulong ul) { WriteUInt64(ul); return; }
            if (value is short sh) { WriteInt64(sh); return; }
            if (value is ushort us) { WriteUInt64(us); return; }
            if (value is sbyte sb) { WriteInt64(sb); return; }
            if (value is byte by) { WriteUInt64(by); return; }
            if (value is decimal m) { WriteDouble((double)m); return; }
            if (value is char c) { WriteString(c.ToString()); return; }
            if (value is ArraySegment<byte> segment) { WriteBinary(segment.Array, segment.Offset, segment.Count); return; }
            if (value is MessagePackTimestamp ts) { WriteTimestamp(ts); return; }
            if (value is DateTime dt) { WriteTimestamp(MessagePackTimestamp.FromDateTime(dt)); return; }
            if (value is MessagePackExtension ext) { WriteExtension(ext.TypeCode, ext.Data); return; }
            if (value is IEnumerable items) { WriteArray(items, depth); return; }
            throw new MessagePackException(
                "cannot write a value of type " + value.GetType().FullName + " as MessagePack: pass a dictionary, "
                + "a list or a primitive, or implement IMessagePackWritable (there is no reflection-based serialization)");
        }

        private void WriteMap(IDictionary map, int depth)
        {
            WriteMapHeader(map.Count);
            var entry = map.GetEnumerator();
            while (entry.MoveNext())
            {
                WriteNested(entry.Key, depth + 1);
                WriteNested(entry.Value, depth + 1);
            }
        }

        private void WriteArray(IEnumerable items, int depth)
        {
            var list = items as ICollection;
            if (list == null)
            {
                var copy = new ArrayList();
                foreach (object item in items) copy.Add(item);
                list = copy;
            }
            WriteArrayHeader(list.Count);
            foreach (object item in list) WriteNested(item, depth + 1);
        }

        // ---- buffer --------------------------------------------------------------------------

        private void WriteContainerHeader(uint count, byte fixBase, byte code16, byte code32)
        {
            if (count < 16)
            {
                WriteByte((byte)(fixBase | count));
            }
            else if (count <= ushort.MaxValue)
            {
                Ensure(3);
                _buffer[_length++] = code16;
                PutBigEndian(count, 2);
            }
            else
            {
                Ensure(5);
                _buffer[_length++] = code32;
                PutBigEndian(count, 4);
            }
        }

        private void WriteByte(byte value)
        {
            Ensure(1);
            _buffer[_length++] = value;
        }

        private void PutBigEndian(ulong value, int size)
        {
            for (int shift = (size - 1) * 8; shift >= 0; shift -= 8)
            {
                _buffer[_length++] = (byte)(value >> shift);
            }
        }

        private void Ensure(int more)
        {
            long needed = (long)_length + more;
            if (needed <= _buffer.Length) return;
            if (needed > int.MaxValue - 64) throw new MessagePackException("a MessagePack value over 2 GiB cannot be written");
            long size = Math.Max(needed, (long)_buffer.Length * 2);
            if (size > int.MaxValue - 64) size = int.MaxValue - 64;
            var bigger = new byte[size];
            Buffer.BlockCopy(_buffer, 0, bigger, 0, _length);
            _buffer = bigger;
        }
    }
}
