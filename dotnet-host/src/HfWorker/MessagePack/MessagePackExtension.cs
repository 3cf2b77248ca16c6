using System;

namespace HfWorker.MessagePack
{
    /// <summary>
    /// An application-defined MessagePack extension value: a type code and its bytes. The reader
    /// returns timestamps (type -1) as <see cref="MessagePackTimestamp"/> instead.
    /// </summary>
    public sealed class MessagePackExtension : IEquatable<MessagePackExtension>
    {
        /// <summary>An extension value; <paramref name="data"/> is kept, not copied.</summary>
        public MessagePackExtension(sbyte typeCode, byte[] data)
        {
            if (data == null) throw new ArgumentNullException("data");
            TypeCode = typeCode;
            Data = data;
        }

        /// <summary>The extension type: 0..127 for applications, negative values are reserved by the specification.</summary>
        public sbyte TypeCode { get; private set; }

        /// <summary>The extension's payload.</summary>
        public byte[] Data { get; private set; }

        /// <inheritdoc />
        public bool Equals(MessagePackExtension other)
        {
            if (other == null || other.TypeCode != TypeCode || other.Data.Length != Data.Length) return false;
            for (int i = 0; i < Data.Length; i++)
            {
                if (Data[i] != other.Data[i]) return false;
            }
            return true;
        }

        /// <inheritdoc />
        public override bool Equals(object obj)
        {
            return Equals(obj as MessagePackExtension);
        }

        /// <inheritdoc />
        public override int GetHashCode()
        {
            int hash = TypeCode;
            foreach (byte b in Data) hash = hash * 31 + b;
            return hash;
        }

        /// <inheritdoc />
        public override string ToString()
        {
            return "ext(" + TypeCode + ", " + BitConverter.ToString(Data) + ")";
        }
    }
}
