using System;
using System.Collections.Generic;
using HfWorker.Exceptions;

namespace HfWorker.MessagePack
{
    /// <summary>Whole values: any value as plain .NET objects, skipping and slicing nested values, timestamps.</summary>
    public sealed partial class MessagePackReader
    {
        // ---- structure -----------------------------------------------------------------------

        /// <summary>Step over the next value, however nested.</summary>
        public void Skip()
        {
            SkipNested(0);
        }

        /// <summary>The bytes of the next value, however nested, as a slice (to keep or forward undecoded).</summary>
        public ArraySegment<byte> ReadRaw()
        {
            int start = _position;
            Skip();
            return new ArraySegment<byte>(_buffer, start, _position - start);
        }

        /// <summary>
        /// The next value as plain .NET objects: null, bool, long (ulong above long.MaxValue), double,
        /// float (for float 32), string, byte[], object[], <c>Dictionary&lt;string, object&gt;</c> for maps
        /// whose keys are all strings (every map the worker sends) or <c>Dictionary&lt;object, object&gt;</c>
        /// otherwise, <see cref="MessagePackTimestamp"/> and <see cref="MessagePackExtension"/>.
        /// </summary>
        public object ReadValue()
        {
            return ReadNested(0);
        }

        private object ReadNested(int depth)
        {
            if (depth > MaxDepth) throw Malformed("values nested deeper than " + MaxDepth + " levels");
            switch (NextType)
            {
                case MessagePackType.Nil:
                    _position++;
                    return null;
                case MessagePackType.Boolean:
                    return ReadBoolean();
                case MessagePackType.Integer:
                {
                    ulong magnitude;
                    bool negative;
                    ReadInteger(out magnitude, out negative);
                    if (negative) return unchecked((long)magnitude);
                    if (magnitude > long.MaxValue) return magnitude;
                    return (long)magnitude;
                }
                case MessagePackType.Float:
                    if (_buffer[_position] == MessagePackCode.Float32) return ReadSingle();
                    return ReadDouble();
                case MessagePackType.String:
                    return ReadString();
                case MessagePackType.Binary:
                    return ReadBinary();
                case MessagePackType.Array:
                {
                    int count = ReadArrayHeader();
                    var items = new object[count];
                    for (int i = 0; i < count; i++) items[i] = ReadNested(depth + 1);
                    return items;
                }
                case MessagePackType.Map:
                    return ReadMap(depth);
                default:
                {
                    int start = _position;
                    sbyte type;
                    var data = ReadExtensionSegment(out type);
                    if (type == MessagePackCode.TimestampExtension) return DecodeTimestamp(data, start);
                    var copy = new byte[data.Count];
                    Buffer.BlockCopy(data.Array, data.Offset, copy, 0, data.Count);
                    return new MessagePackExtension(type, copy);
                }
            }
        }

        private object ReadMap(int depth)
        {
            int count = ReadMapHeader();
            var keys = new object[count];
            var values = new object[count];
            bool allStrings = true;
            for (int i = 0; i < count; i++)
            {
                keys[i] = ReadNested(depth + 1);
                if (!(keys[i] is string)) allStrings = false;
                values[i] = ReadNested(depth + 1);
            }
            // Later duplicates win, as in msgspec and JSON parsers.
            if (allStrings)
            {
                var map = new Dictionary<string, object>(count, StringComparer.Ordinal);
                for (int i = 0; i < count; i++) map[(string)keys[i]] = values[i];
                return map;
            }
            var anyMap = new Dictionary<object, object>(count, MessagePackKeyComparer.Instance);
            for (int i = 0; i < count; i++)
            {
                if (keys[i] == null) throw Malformed("a map with a nil key");
                anyMap[keys[i]] = values[i];
            }
            return anyMap;
        }

        private void SkipNested(int depth)
        {
            if (depth > MaxDepth) throw Malformed("values nested deeper than " + MaxDepth + " levels");
            switch (NextType)
            {
                case MessagePackType.Nil:
                case MessagePackType.Boolean:
                    _position++;
                    return;
                case MessagePackType.Integer:
                {
                    ulong magnitude;
                    bool negative;
                    ReadInteger(out magnitude, out negative);
                    return;
                }
                case MessagePackType.Float:
                    ReadDouble();
                    return;
                case MessagePackType.String:
                    ReadStringSegment();
                    return;
                case MessagePackType.Binary:
                    ReadBinarySegment();
                    return;
                case MessagePackType.Array:
                {
                    int count = ReadArrayHeader();
                    for (int i = 0; i < count; i++) SkipNested(depth + 1);
                    return;
                }
                case MessagePackType.Map:
                {
                    int count = ReadMapHeader();
                    for (int i = 0; i < 2 * count; i++) SkipNested(depth + 1);
                    return;
                }
                default:
                {
                    sbyte type;
                    ReadExtensionSegment(out type);
                    return;
                }
            }
        }

        private MessagePackTimestamp DecodeTimestamp(ArraySegment<byte> data, int start)
        {
            var part = new MessagePackReader(data);
            switch (data.Count)
            {
                case 4:
                    return new MessagePackTimestamp((long)part.TakeBigEndian(4), 0);
                case 8:
                {
                    ulong packed = part.TakeBigEndian(8);
                    uint nanos = (uint)(packed >> 34);
                    if (nanos > 999999999) break;
                    return new MessagePackTimestamp((long)(packed & 0x3ffffffffUL), nanos);
                }
                case 12:
                {
                    uint nanos = (uint)part.TakeBigEndian(4);
                    if (nanos > 999999999) break;
                    return new MessagePackTimestamp(unchecked((long)part.TakeBigEndian(8)), nanos);
                }
            }
            _position = start;
            throw Malformed("a timestamp extension of " + data.Count + " bytes or with nanoseconds over 999,999,999");
        }
    }
}
