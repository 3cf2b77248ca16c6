using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Numerics;
using HfWorker.MessagePack;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.MessagePack
{
    /// <summary>
    /// The codec against the msgpack-test-suite data set: every listed encoding of every value decodes to
    /// that value, and encoding the value gives one of the listed encodings (the shortest, for integers,
    /// strings, binaries and containers).
    /// </summary>
    [TestFixture]
    public class MessagePackTestSuiteSpecs
    {
        private static readonly Lazy<List<Case>> Cases = new Lazy<List<Case>>(LoadCases);

        private sealed class Case
        {
            public string File;
            public string Kind;
            public object Expected;
            public Dictionary<string, object> Raw;
            public List<byte[]> Encodings;

            public override string ToString()
            {
                return File + " " + Kind + " " + Values.Show(Expected);
            }
        }

        private static List<Case> LoadCases()
        {
            var suite = (Dictionary<string, object>)MiniJson.Parse(File.ReadAllText(TestEnvironment.MessagePackTestSuite));
            var cases = new List<Case>();
            foreach (var file in suite)
            {
                foreach (Dictionary<string, object> entry in (object[])file.Value)
                {
                    // Big numbers carry "bignum" (a decimal string), and "number" too when JSON can hold them.
                    var kind = entry.ContainsKey("bignum") ? "bignum" : entry.Keys.First(k => k != "msgpack");
                    cases.Add(new Case
                    {
                        File = file.Key,
                        Kind = kind,
                        Expected = entry[kind],
                        Raw = entry,
                        Encodings = ((object[])entry["msgpack"]).Select(h => Values.FromHex((string)h)).ToList(),
                    });
                }
            }
            return cases;
        }

        [Test]
        public void The_suite_is_there_and_covers_every_kind_of_value()
        {
            var kinds = Cases.Value.Select(c => c.Kind).Distinct().OrderBy(k => k).ToArray();
            Assert.That(kinds, Is.EquivalentTo(new[] { "array", "bignum", "binary", "bool", "ext", "map", "nil", "number", "string", "timestamp" }));
            Assert.That(Cases.Value.Sum(c => c.Encodings.Count), Is.GreaterThan(200));
        }

        [Test]
        public void Every_encoding_in_the_suite_decodes_to_its_value()
        {
            var failures = new List<string>();
            foreach (var c in Cases.Value)
            {
                foreach (var bytes in c.Encodings)
                {
                    string problem = DecodeProblem(c, bytes);
                    if (problem != null) failures.Add(c + " from " + Values.ToHex(bytes) + ": " + problem);
                }
            }
            Assert.That(failures, Is.Empty);
        }

        [Test]
        public void Encoding_a_suite_value_gives_one_of_its_listed_encodings()
        {
            var failures = new List<string>();
            foreach (var c in Cases.Value)
            {
                byte[] encoded = Encode(c);
                if (encoded == null) continue;
                if (!c.Encodings.Any(e => e.SequenceEqual(encoded))) failures.Add(c + " encoded as " + Values.ToHex(encoded));
            }
            Assert.That(failures, Is.Empty);
        }

        [Test]
        public void Integers_strings_binaries_and_containers_are_encoded_in_their_shortest_form()
        {
            var failures = new List<string>();
            foreach (var c in Cases.Value.Where(c => c.Kind != "number" && c.Kind != "bignum" || IsIntegral(c)))
            {
                byte[] encoded = Encode(c);
                if (encoded == null) continue;
                // An integer is compared with the integer formats only: a float 32 can be shorter, but is not the same type.
                var sameFamily = IsIntegral(c) ? c.Encodings.Where(e => IsIntegerFormat(e[0])) : c.Encodings;
                int shortest = sameFamily.Min(e => e.Length);
                if (encoded.Length != shortest) failures.Add(c + " encoded in " + encoded.Length + " bytes (" + Values.ToHex(encoded) + "), the shortest takes " + shortest);
            }
            Assert.That(failures, Is.Empty);
        }

        private static bool IsIntegral(Case c)
        {
            return c.Kind == "bignum" || c.Expected is long;
        }

        private static byte[] Encode(Case c)
        {
            var writer = new MessagePackWriter();
            switch (c.Kind)
            {
                case "number":
                    if (c.Expected is long) writer.WriteInt64((long)c.Expected);
                    else writer.WriteDouble((double)c.Expected);
                    break;
                case "bignum":
                    var big = BigInteger.Parse((string)c.Expected, CultureInfo.InvariantCulture);
                    if (big.Sign < 0) writer.WriteInt64((long)big);
                    else writer.WriteUInt64((ulong)big);
                    break;
                case "binary":
                    writer.WriteBinary(Values.FromHex((string)c.Expected));
                    break;
                case "timestamp":
                    var parts = (object[])c.Expected;
                    writer.WriteTimestamp(new MessagePackTimestamp((long)parts[0], (uint)(long)parts[1]));
                    break;
                case "ext":
                    var ext = (object[])c.Expected;
                    writer.WriteExtension((sbyte)(long)ext[0], Values.FromHex((string)ext[1]));
                    break;
                default:
                    writer.WriteValue(c.Expected);
                    break;
            }
            return writer.ToArray();
        }

        /// <summary>Null when <paramref name="bytes"/> decodes to the case's value, else what went wrong.</summary>
        private static string DecodeProblem(Case c, byte[] bytes)
        {
            var reader = new MessagePackReader(bytes);
            try
            {
                switch (c.Kind)
                {
                    case "number":
                    {
                        double actual = reader.ReadDouble();
                        double expected = Convert.ToDouble(c.Expected, CultureInfo.InvariantCulture);
                        if (actual != expected) return "read " + actual;
                        if (c.Expected is long && reader.Position == bytes.Length && IsIntegerFormat(bytes[0]))
                        {
                            long asLong = new MessagePackReader(bytes).ReadInt64();
                            if (asLong != (long)c.Expected) return "read as long " + asLong;
                        }
                        break;
                    }
                    case "bignum":
                    {
                        var expected = BigInteger.Parse((string)c.Expected, CultureInfo.InvariantCulture);
                        if (!IsIntegerFormat(bytes[0]))
                        {
                            if (reader.ReadDouble() != (double)expected) return "read a different float";
                            break;
                        }
                        var value = reader.ReadValue();
                        var actual = value is ulong ? new BigInteger((ulong)value) : new BigInteger((long)value);
                        if (actual != expected) return "read " + actual;
                        break;
                    }
                    case "binary":
                        if (!reader.ReadBinary().SequenceEqual(Values.FromHex((string)c.Expected))) return "other bytes";
                        break;
                    case "timestamp":
                    {
                        var parts = (object[])c.Expected;
                        var ts = (MessagePackTimestamp)reader.ReadValue();
                        if (ts.Seconds != (long)parts[0] || ts.Nanoseconds != (long)parts[1]) return "read " + ts;
                        break;
                    }
                    case "ext":
                    {
                        var parts = (object[])c.Expected;
                        var ext = (MessagePackExtension)reader.ReadValue();
                        if (ext.TypeCode != (long)parts[0] || !ext.Data.SequenceEqual(Values.FromHex((string)parts[1]))) return "read " + ext;
                        break;
                    }
                    default:
                    {
                        var value = reader.ReadValue();
                        if (!Values.Same(value, c.Expected)) return "read " + Values.Show(value);
                        break;
                    }
                }
                if (!reader.End) return "bytes left over";
                return null;
            }
            catch (Exception e)
            {
                return e.GetType().Name + ": " + e.Message;
            }
        }

        private static bool IsIntegerFormat(byte code)
        {
            return code <= 0x7f || code >= 0xe0 || (code >= 0xcc && code <= 0xd3);
        }
    }
}
