namespace HfWorker.MessagePack
{
    /// <summary>The kind of the next value in a MessagePack buffer, as <see cref="MessagePackReader.NextType"/> reports it.</summary>
    public enum MessagePackType
    {
        /// <summary>nil (0xc0).</summary>
        Nil,
        /// <summary>false or true.</summary>
        Boolean,
        /// <summary>Any integer format: fixint, int 8..64, uint 8..64.</summary>
        Integer,
        /// <summary>float 32 or float 64.</summary>
        Float,
        /// <summary>fixstr or str 8/16/32 (UTF-8).</summary>
        String,
        /// <summary>bin 8/16/32.</summary>
        Binary,
        /// <summary>fixarray or array 16/32.</summary>
        Array,
        /// <summary>fixmap or map 16/32.</summary>
        Map,
        /// <summary>fixext or ext 8/16/32, including the timestamp extension (type -1).</summary>
        Extension,
    }
}
