using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using HfWorker.MessagePack;

namespace HfWorker.Tests.Support
{
    /// <summary>Helpers for comparing decoded values exactly (type and content) and showing them in failures.</summary>
    internal static class Values
    {
        public static byte[] FromHex(string hex)
        {
            hex = hex.Replace("-", "").Replace(" ", "");
            var bytes = new byte[hex.Length / 2];
            for (int i = 0; i < bytes.Length; i++) bytes[i] = byte.Parse(hex.Substring(2 * i, 2), NumberStyles.HexNumber);
            return bytes;
        }

        public static string ToHex(byte[] bytes)
        {
            return BitConverter.ToString(bytes).Replace("-", "").ToLowerInvariant();
        }

        public static byte[] Encode(object value)
        {
            var writer = new MessagePackWriter();
            writer.WriteValue(value);
            return writer.ToArray();
        }

        /// <summary>Tagged JSON from make_vectors.py to the values the reader produces.</summary>
        public static object Untag(object json)
        {
            var map = json as Dictionary<string, object>;
            if (map != null)
            {
                object tag;
                if (map.Count == 1 && map.TryGetValue("$bytes", out tag)) return FromHex((string)tag);
                if (map.Count == 1 && map.TryGetValue("$float", out tag))
                {
                    switch ((string)tag)
                    {
                        case "nan": return double.NaN;
                        case "inf": return double.PositiveInfinity;
                        default: return double.NegativeInfinity;
                    }
                }
                return map.ToDictionary(pair => pair.Key, pair => Untag(pair.Value));
            }
            var array = json as object[];
            if (array != null) return array.Select(Untag).ToArray();
            return json;
        }

        /// <summary>Deep equality where long 1 and double 1.0 differ, NaN equals NaN and -0.0 differs from 0.0.</summary>
        public static bool Same(object a, object b)
        {
            if (a == null || b == null) return a == null && b == null;
            if (a.GetType() != b.GetType()) return false;
            if (a is double)
            {
                return BitConverter.DoubleToInt64Bits((double)a) == BitConverter.DoubleToInt64Bits((double)b)
                    || (double.IsNaN((double)a) && double.IsNaN((double)b));
            }
            var bytes = a as byte[];
            if (bytes != null) return bytes.SequenceEqual((byte[])b);
            var array = a as object[];
            if (array != null)
            {
                var other = (object[])b;
                return array.Length == other.Length && array.Zip(other, Same).All(x => x);
            }
            var map = a as IDictionary;
            if (map != null)
            {
                var other = (IDictionary)b;
                if (map.Count != other.Count) return false;
                var keys = map.Keys.Cast<object>().ToList();
                var otherKeys = other.Keys.Cast<object>().ToList();
                // Same entries in the same order: the order of map entries is part of the bytes.
                for (int i = 0; i < keys.Count; i++)
                {
                    if (!Same(keys[i], otherKeys[i]) || !Same(map[keys[i]], other[otherKeys[i]])) return false;
                }
                return true;
            }
            return a.Equals(b);
        }

        public static string Show(object value)
        {
            if (value == null) return "null";
            var text = value as string;
            if (text != null) return "\"" + (text.Length > 40 ? text.Substring(0, 40) + "..." : text) + "\"";
            var bytes = value as byte[];
            if (bytes != null) return "bytes[" + bytes.Length + "]";
            var array = value as object[];
            if (array != null) return "[" + string.Join(", ", array.Take(8).Select(Show)) + (array.Length > 8 ? ", ...(" + array.Length + ")" : "") + "]";
            var map = value as IDictionary;
            if (map != null)
            {
                var parts = new List<string>();
                foreach (DictionaryEntry entry in map)
                {
                    if (parts.Count == 8)
                    {
                        parts.Add("...(" + map.Count + ")");
                        break;
                    }
                    parts.Add(Show(entry.Key) + ": " + Show(entry.Value));
                }
                return "{" + string.Join(", ", parts) + "}";
            }
            if (value is double) return "double " + ((double)value).ToString("R", CultureInfo.InvariantCulture);
            return value.GetType().Name + " " + Convert.ToString(value, CultureInfo.InvariantCulture);
        }
    }
}
