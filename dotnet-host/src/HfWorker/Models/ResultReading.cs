using System;
using System.Collections.Generic;
using System.Globalization;
using HfWorker.Exceptions;
using HfWorker.MessagePack;

namespace HfWorker.Models
{
    /// <summary>
    /// Reading the worker's results straight from the frame into .NET types: maps member by member,
    /// vectors into float arrays, without building an object tree first.
    /// </summary>
    internal static class ResultReading
    {
        /// <summary>Visit each member of a map; <paramref name="member"/> returns false for members it did not read (they are skipped).</summary>
        public static void ReadMap(MessagePackReader reader, Func<string, MessagePackReader, bool> member)
        {
            int count = reader.ReadMapHeader();
            for (int i = 0; i < count; i++)
            {
                string key = reader.ReadString();
                if (!member(key, reader)) reader.Skip();
            }
        }

        public static float[] ReadFloats(MessagePackReader reader)
        {
            int count = reader.ReadArrayHeader();
            var values = new float[count];
            for (int i = 0; i < count; i++) values[i] = reader.ReadSingle();
            return values;
        }

        public static int[] ReadInts(MessagePackReader reader)
        {
            int count = reader.ReadArrayHeader();
            var values = new int[count];
            for (int i = 0; i < count; i++) values[i] = reader.ReadInt32();
            return values;
        }

        public static List<T> ReadList<T>(MessagePackReader reader, Func<MessagePackReader, T> item)
        {
            int count = reader.ReadArrayHeader();
            var items = new List<T>(count);
            for (int i = 0; i < count; i++) items.Add(item(reader));
            return items;
        }

        /// <summary>One result or a list of them (pipelines return a list only when asked for several).</summary>
        public static List<T> ReadOneOrMany<T>(MessagePackReader reader, Func<MessagePackReader, T> item)
        {
            if (reader.NextType == MessagePackType.Array) return ReadList(reader, item);
            return new List<T> { item(reader) };
        }

        public static double? ReadNullableDouble(MessagePackReader reader)
        {
            if (reader.TryReadNil()) return null;
            return reader.ReadDouble();
        }

        public static Exception Missing(string what, string member)
        {
            return new MessagePackException(what + " has no \"" + member + "\"");
        }

        public static string Describe(int[] shape)
        {
            return "[" + string.Join(", ", Array.ConvertAll(shape, d => d.ToString(CultureInfo.InvariantCulture))) + "]";
        }
    }
}
