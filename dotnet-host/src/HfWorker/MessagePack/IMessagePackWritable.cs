namespace HfWorker.MessagePack
{
    /// <summary>
    /// A value that writes itself as MessagePack. Implement it on params types instead of relying on
    /// reflection: the library never serializes by reflection, so it stays trimming- and AOT-safe.
    /// </summary>
    public interface IMessagePackWritable
    {
        /// <summary>Write exactly one MessagePack value (usually a map) to <paramref name="writer"/>.</summary>
        void WriteTo(MessagePackWriter writer);
    }
}
