using System;
using System.Collections.Generic;
using System.Text;
using HfWorker.Exceptions;

namespace HfWorker.MessagePack
{
    /// <summary>
    /// Reads MessagePack values one after another from a byte array, without copying the array.
    /// </summary>
    /// <remarks>
    /// Every read checks the bytes it needs and throws <see cref="MessagePackException"/> naming the
    /// offset when the data is truncated, malformed or of another type than asked: a bad frame can
    /// never read past its end or allocate more than its own size. Typed reads accept every format of
    /// their type (an integer written as uint 64 or as fixint reads the same). Not thread-safe.
    /// </remarks>
    public sealed partial class MessagePackReader
    {
        private static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, true);

        /// <summary>How deep <see cref="ReadValue"/> and <see cref="Skip"/> follow nested containers.</summary>
        public const int MaxDepth = 512;

        private readonly byte[] _buffer;
        private readonly int _end;
        private int _position;

        /// <summary>A reader over a whole array.</summary>
        public MessagePackReader(byte[] buffer) : this(buffer, 0, buffer == null ? 0 : buffer.Length)
        {
        }

        /// <summary>A reader over <paramref name="count"/> bytes of <paramref name="buffer"/> from <paramref name="offset"/>.</summary>
        public MessagePackReader(byte[] buffer, int offset, int count)
        {
            if (buffer == null) throw new ArgumentNullException("buffer");
            if (offset < 0 || count < 0 || offset > buffer.Length - count) throw new ArgumentOutOfRangeException("count");
            _buffer = buffer;
            _position = offset;
            _end = offset + count;
        }

        /// <summary>A reader over a slice.</summary>
        public MessagePackReader(ArraySegment<byte> segment) : this(segment.Array, segment.Offset, segment.Count)
        {
        }

        /// <summary>The offset of the next byte in the underlying array.</summary>
        public int Position
        {
            get { return _position; }
        }

        /// <summary>True when every byte has been read.</summary>
        public bool End
        {
            get { return _position >= _end; }
        }

        /// <summary>The type of the next value, without consuming it.</summary>
        public MessagePackType NextType
        {
            get
            {
                Need(1);
                byte code = _buffer[_position];
                if (code <= MessagePackCode.MaxPositiveFixInt || code >= MessagePackCode.MinNegativeFixInt) return MessagePackType.Integer;
                if (code <= MessagePackCode.MaxFixMap) return MessagePackType.Map;
                if (code <= MessagePackCode.MaxFixArray) return MessagePackType.Array;
                if (code <= MessagePackCode.MaxFixStr) return MessagePackType.String;
                switch (code)
                {
                    case MessagePackCode.Nil: return MessagePackType.Nil;
                    case MessagePackCode.False:
                    case MessagePackCode.True: return MessagePackType.Boolean;
                    case MessagePackCode.Bin8:
                    case MessagePackCode.Bin16:
                    case MessagePackCode.Bin32: return MessagePackType.Binary;
                    case MessagePackCode.Ext8:
                    case MessagePackCode.Ext16:
                    case MessagePackCode.Ext32:
                    case MessagePackCode.FixExt1:
                    case MessagePackCode.FixExt2:
                    case MessagePackCode.FixExt4:
                    case MessagePackCode.FixExt8:
                    case MessagePackCode.FixExt16: return MessagePackType.Extension;
                    case MessagePackCode.Float32:
                    case MessagePackCode.Float64: return MessagePackType.Float;
                    case MessagePackCode.UInt8:
                    case MessagePackCode.UInt16:
                    case MessagePackCode.UInt32:
                    case MessagePackCode.UInt64:
                    case MessagePackCode.Int8:
                    case MessagePackCode.Int16:
                    case MessagePackCode.Int32:
                    case MessagePackCode.Int64: return MessagePackType.Integer;
                    case MessagePackCode.Str8:
                    case MessagePackCode.Str16:
                    case MessagePackCode.Str32: return MessagePackType.String;
                    case MessagePackCode.Array16:
                    case MessagePackCode.Array32: return MessagePackType.Array;
                    case MessagePackCode.Map16:
                    case MessagePackCode.Map32: return MessagePackType.Map;
                    default: throw Malformed("the reserved format byte " + MessagePackCode.Describe(code));
                }
            }
        }

        // ---- scalars -------------------------------------------------------------------------

        /// <summary>Consume a nil if the next value is one.</summary>
        public bool TryReadNil()
        {
            Need(1);
            if (_buffer[_position] != MessagePackCode.Nil) return false;
            _position++;
            return true;
        }

        /// <summary>A nil; anything else throws.</summary>
        public void ReadNil()
        {
            if (!TryReadNil()) throw WrongType("nil");
        }

        /// <summary>A boolean.</summary>
        public bool ReadBoolean()
        {
            Need(1);
            byte code = _buffer[_position];
            if (code == MessagePackCode.True || code == MessagePackCode.False)
            {
                _position++;
                return code == MessagePackCode.True;
            }
            throw WrongType("a boolean");
        }

        /// <summary>An integer that fits a long (uint 64 above long.MaxValue throws).</summary>
        public long ReadInt64()
        {
            int start = _position;
            ulong magnitude;
            bool negative;
            ReadInteger(out magnitude, out negative);
            if (negative) return unchecked((long)magnitude);
            if (magnitude > long.MaxValue)
            {
                _position = start;
                throw Malformed("integer " + magnitude + " does not fit a 64-bit signed integer");
            }
            return (long)magnitude;
        }

        /// <summary>An integer that fits an int.</summary>
        public int ReadInt32()
        {
            int start = _position;
            long value = ReadInt64();
            if (value < int.MinValue || value > int.MaxValue)
            {
                _position = start;
                throw Malformed("integer " + value + " does not fit a 32-bit signed integer");
            }
            return (int)value;
        }

        /// <summary>A non-negative integer.</summary>
        public ulong ReadUInt64()
        {
            int start = _position;
            ulong magnitude;
            bool negative;
            ReadInteger(out magnitude, out negative);
            if (negative)
            {
                _position = start;
                throw Malformed("integer " + unchecked((long)magnitude) + " is negative where an unsigned one was expected");
            }
            return magnitude;
        }

        /// <summary>A number as a double: float 64, float 32 or any integer (JSON numbers have one type, so the worker's may arrive as either).</summary>
        public double ReadDouble()
        {
            Need(1);
            byte code = _buffer[_position];
            if (code == MessagePackCode.Float64)
            {
                Need(9);
                _position++;
                return BitConverter.Int64BitsToDouble(unchecked((long)TakeBigEndian(8)));
            }
            if (code == MessagePackCode.Float32)
            {
                Need(5);
                _position++;
                return FloatBits.FromBits((uint)TakeBigEndian(4));
            }
            if (NextType == MessagePackType.Integer)
            {
                ulong magnitude;
                bool negative;
                ReadInteger(out magnitude, out negative);
                return negative ? unchecked((long)magnitude) : (double)magnitude;
            }
            throw WrongType("a number");
        }

        /// <summary>A number as a float (precision beyond float 32 is lost).</summary>
        public float ReadSingle()
        {
            Need(1);
            if (_buffer[_position] == MessagePackCode.Float32)
            {
                Need(5);
                _position++;
                return FloatBits.FromBits((uint)TakeBigEndian(4));
            }
            return (float)ReadDouble();
        }

        /// <summary>A string, or null for nil.</summary>
        public string ReadString()
        {
            if (TryReadNil()) return null;
            var bytes = ReadStringSegment();
            try
            {
                return StrictUtf8.GetString(bytes.Array, bytes.Offset, bytes.Count);
            }
            catch (DecoderFallbackException e)
            {
                throw new MessagePackException("invalid UTF-8 in the string at offset " + (bytes.Offset) + ": " + e.Message, e);
            }
        }

        /// <summary>The UTF-8 bytes of a string, without decoding or copying them (for comparing keys cheaply).</summary>
        public ArraySegment<byte> ReadStringSegment()
        {
            Need(1);
            byte code = _buffer[_position];
            int length;
            if (code >= MessagePackCode.MinFixStr && code <= MessagePackCode.MaxFixStr)
            {
                length = code & 0x1f;
                _position++;
            }
            else if (code == MessagePackCode.Str8 || code == MessagePackCode.Str16 || code == MessagePackCode.Str32)
            {
                length = ReadLengthAfterCode(code == MessagePackCode.Str8 ? 1 : code == MessagePackCode.Str16 ? 2 : 4);
            }
            else
            {
                throw WrongType("a string");
            }
            return Take(length);
        }

        /// <summary>Binary data as a new array, or null for nil.</summary>
        public byte[] ReadBinary()
        {
            if (TryReadNil()) return null;
            var segment = ReadBinarySegment();
            var copy = new byte[segment.Count];
            Buffer.BlockCopy(segment.Array, segment.Offset, copy, 0, segment.Count);
            return copy;
        }

        /// <summary>Binary data as a slice of the reader's array, without copying.</summary>
        public ArraySegment<byte> ReadBinarySegment()
        {
            Need(1);
            byte code = _buffer[_position];
            int size;
            if (code == MessagePackCode.Bin8) size = 1;
            else if (code == MessagePackCode.Bin16) size = 2;
            else if (code == MessagePackCode.Bin32) size = 4;
            else throw WrongType("binary data");
            return Take(ReadLengthAfterCode(size));
        }

        /// <summary>An array header: the number of elements that follow.</summary>
        public int ReadArrayHeader()
        {
            Need(1);
            byte code = _buffer[_position];
            int count;
            if (code >= MessagePackCode.MinFixArray && code <= MessagePackCode.MaxFixArray)
            {
                _position++;
                count = code & 0x0f;
            }
            else if (code == MessagePackCode.Array16) count = ReadLengthAfterCode(2);
            else if (code == MessagePackCode.Array32) count = ReadLengthAfterCode(4);
            else throw WrongType("an array");
            // Each element takes at least one byte: a larger count is a lie that must not size an allocation.
            if (count > _end - _position) throw Malformed("an array of " + count + " elements in " + (_end - _position) + " remaining bytes");
            return count;
        }

        /// <summary>A map header: the number of key-value pairs that follow.</summary>
        public int ReadMapHeader()
        {
            Need(1);
            byte code = _buffer[_position];
            int count;
            if (code >= MessagePackCode.MinFixMap && code <= MessagePackCode.MaxFixMap)
            {
                _position++;
                count = code & 0x0f;
            }
            else if (code == MessagePackCode.Map16) count = ReadLengthAfterCode(2);
            else if (code == MessagePackCode.Map32) count = ReadLengthAfterCode(4);
            else throw WrongType("a map");
            if (count > (_end - _position) / 2) throw Malformed("a map of " + count + " entries in " + (_end - _position) + " remaining bytes");
            return count;
        }

        /// <summary>An extension value (timestamps included, as raw extension bytes).</summary>
        public MessagePackExtension ReadExtension()
        {
            sbyte type;
            var data = ReadExtensionSegment(out type);
            var copy = new byte[data.Count];
            Buffer.BlockCopy(data.Array, data.Offset, copy, 0, data.Count);
            return new MessagePackExtension(type, copy);
        }

        /// <summary>A timestamp extension (type -1) in any of its three formats.</summary>
        public MessagePackTimestamp ReadTimestamp()
        {
            int start = _position;
            sbyte type;
            var data = ReadExtensionSegment(out type);
            if (type != MessagePackCode.TimestampExtension)
            {
                _position = start;
                throw WrongType("a timestamp");
            }
            return DecodeTimestamp(data, start);
        }

        // ---- helpers -------------------------------------------------------------------------

        private void ReadInteger(out ulong magnitude, out bool negative)
        {
            Need(1);
            byte code = _buffer[_position];
            negative = false;
            if (code <= MessagePackCode.MaxPositiveFixInt)
            {
                _position++;
                magnitude = code;
                return;
            }
            if (code >= MessagePackCode.MinNegativeFixInt)
            {
                _position++;
                negative = true;
                magnitude = unchecked((ulong)(long)(sbyte)code);
                return;
            }
            int size;
            bool signed;
            switch (code)
            {
                case MessagePackCode.UInt8: size = 1; signed = false; break;
                case MessagePackCode.UInt16: size = 2; signed = false; break;
                case MessagePackCode.UInt32: size = 4; signed = false; break;
                case MessagePackCode.UInt64: size = 8; signed = false; break;
                case MessagePackCode.Int8: size = 1; signed = true; break;
                case MessagePackCode.Int16: size = 2; signed = true; break;
                case MessagePackCode.Int32: size = 4; signed = true; break;
                case MessagePackCode.Int64: size = 8; signed = true; break;
                default: throw WrongType("an integer");
            }
            Need(1 + size);
            _position++;
            ulong raw = TakeBigEndian(size);
            if (!signed)
            {
                magnitude = raw;
                return;
            }
            // Sign-extend from `size` bytes to 64 bits.
            int unused = 64 - 8 * size;
            long value = unchecked((long)(raw << unused)) >> unused;
            negative = value < 0;
            magnitude = unchecked((ulong)value);
        }

        private ArraySegment<byte> ReadExtensionSegment(out sbyte type)
        {
            Need(1);
            byte code = _buffer[_position];
            int length;
            switch (code)
            {
                case MessagePackCode.FixExt1: length = 1; _position++; break;
                case MessagePackCode.FixExt2: length = 2; _position++; break;
                case MessagePackCode.FixExt4: length = 4; _position++; break;
                case MessagePackCode.FixExt8: length = 8; _position++; break;
                case MessagePackCode.FixExt16: length = 16; _position++; break;
                case MessagePackCode.Ext8: length = ReadLengthAfterCode(1); break;
                case MessagePackCode.Ext16: length = ReadLengthAfterCode(2); break;
                case MessagePackCode.Ext32: length = ReadLengthAfterCode(4); break;
                default: throw WrongType("an extension");
            }
            Need(1);
            type = unchecked((sbyte)_buffer[_position++]);
            return Take(length);
        }

        /// <summary>Skip the format byte and read a big-endian length of <paramref name="size"/> bytes.</summary>
        private int ReadLengthAfterCode(int size)
        {
            Need(1 + size);
            _position++;
            ulong length = TakeBigEndian(size);
            if (length > int.MaxValue) throw Malformed("a length or count of " + length + ", over what one value may hold");
            return (int)length;
        }

        private ulong TakeBigEndian(int size)
        {
            Need(size);
            ulong value = 0;
            for (int i = 0; i < size; i++) value = (value << 8) | _buffer[_position++];
            return value;
        }

        private ArraySegment<byte> Take(int count)
        {
            Need(count);
            var segment = new ArraySegment<byte>(_buffer, _position, count);
            _position += count;
            return segment;
        }

        private void Need(int count)
        {
            if (count > _end - _position)
            {
                throw new MessagePackException(
                    "truncated MessagePack: " + count + " bytes needed at offset " + _position + ", " + (_end - _position) + " left");
            }
        }

        private MessagePackException WrongType(string expected)
        {
            string actual;
            try
            {
                actual = NextType.ToString().ToLowerInvariant();
            }
            catch (MessagePackException)
            {
                actual = "a reserved format byte";
            }
            return new MessagePackException("expected " + expected + " at offset " + _position + ", found " + actual
                + " (" + MessagePackCode.Describe(_buffer[_position]) + ")");
        }

        private MessagePackException Malformed(string what)
        {
            return new MessagePackException("malformed MessagePack at offset " + _position + ": " + what);
        }
    }
}
